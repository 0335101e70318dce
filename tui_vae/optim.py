"""The trainer's optimiser: Adam, fused where the build has it, and a lean way to step it.

`torch.optim.Adam` keeps the state (moments, step counts) and its
`state_dict()` goes into checkpoints. `AdamUpdate` runs the same update through
torch's functional Adam (`torch.optim.adam.adam`) on that same state, without
`Optimizer.step()`'s per-call wrapping (hooks, profiler records, regrouping the
state). Where the group is fused and every parameter shares one device and
dtype (the trainer's case), it goes one level further down and calls the two
kernels torch's `_fused_adam` would call (the step counts' `_foreach_add_` and
`_fused_adam_`/`_fused_adamw_`) with the lists gathered once, skipping its
per-call regrouping by device and dtype; anything else takes the functional
path. tests/unit/test_optim.py checks that both move the weights and the state
exactly as `optimizer.step()` does. `AdamUpdate.flatten` goes further still for
the hand-derived step: one kernel call over all the parameters laid end to end
(tui_vae/flat_params.py).
"""

from __future__ import annotations

import sys

import torch
from torch.optim.adam import adam as functional_adam

from tui_vae.flat_params import FlatAdam, flatten


def make_optimizer(model: torch.nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, fused where this build supports it (about 1.7x faster steps on CPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=lr, foreach=device.type != "cpu")


class AdamUpdate:
    """Calling it == `optimizer.step()`, for a one-group Adam (see the module docstring).

    Build it after any `load_state_dict()`: it keeps the state tensors the
    optimizer holds then. It makes the state of every trainable parameter that
    has none (zero moments, step 0, as Adam's own first step would), so that a
    checkpoint saved before the first step (a run stopped at once) holds
    optimizer state and can be resumed. Whenever a parameter has no gradient
    it defers to `optimizer.step()`.
    """

    def __init__(self, optimizer: torch.optim.Adam):
        if len(optimizer.param_groups) != 1:
            raise ValueError("AdamUpdate handles one parameter group")
        self.optimizer = optimizer
        self.group = optimizer.param_groups[0]
        self._state: tuple[list[torch.Tensor], ...] | None = None
        self._direct: bool | None = None  # whether the kernels can be called as they are
        self._flat: FlatAdam | None = None
        self._initialise(only_trainable=True)

    def flatten(self, order: list[torch.nn.Parameter | tuple[torch.nn.Parameter, ...]]) -> bool:
        """Lay the parameters (in `order`), their gradients and the moments out flat
        (flat_params.flatten), so that each call updates them all with one kernel;
        whether it applied. For a step that writes `.grad` in place, as the
        hand-derived one does; one that sets `.grad` afresh (autograd's) makes
        each call fall back to the per-parameter kernels."""
        group = self.group
        if not all(isinstance(v, (int, float))
                   for v in (group["weight_decay"], group["eps"], *group["betas"])):
            return False
        self._initialise()
        self._flat = flatten(self.optimizer, order)
        self._state = None  # collected afresh: the state tensors are views now
        return self._flat is not None

    def _collect(self) -> tuple[list[torch.Tensor], ...] | None:
        params = self.group["params"]
        states = [self.optimizer.state.get(p) for p in params]
        if not all(states):
            return None
        keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")
        amsgrad = self.group["amsgrad"]
        return tuple([s[k] for s in states] if k != "max_exp_avg_sq" or amsgrad else []
                     for k in keys)

    def _initialise(self, only_trainable: bool = False) -> None:
        """Adam's own lazy state, made here rather than by a first `optimizer.step()`
        (whose wrapper imports torch's compiler): as torch/optim/adam.py's _init_group.
        `only_trainable` leaves out parameters that never get a gradient, which
        Adam never makes state for."""
        from torch.optim.optimizer import _get_scalar_dtype

        group = self.group
        for p in group["params"]:
            if self.optimizer.state.get(p) or (only_trainable and not p.requires_grad):
                continue
            state = self.optimizer.state[p]
            if group["capturable"] or group["fused"]:
                state["step"] = torch.zeros((), dtype=_get_scalar_dtype(is_fused=group["fused"]),
                                            device=p.device)
            else:
                state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype(), device="cpu")
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def __call__(self) -> None:
        flat, group = self._flat, self.group
        if flat is not None and isinstance(group["lr"], (int, float)) and flat.intact():
            beta1, beta2 = group["betas"]
            with torch.no_grad():
                flat.step(lr=group["lr"], beta1=beta1, beta2=beta2,
                          weight_decay=group["weight_decay"], eps=group["eps"],
                          maximize=group["maximize"], decoupled=group["decoupled_weight_decay"])
            return
        params = self.group["params"]
        grads = [p.grad for p in params]
        if self._state is None and all(g is not None for g in grads):
            self._initialise()
        if self._state is None:
            self._state = self._collect()
        if self._state is None or any(g is None for g in grads):
            self.optimizer.step()
            return
        group = self.group
        beta1, beta2 = group["betas"]
        if self._direct is None:
            self._direct = self._kernels_apply(params)
        with torch.no_grad():  # as Optimizer.step: the update is not part of any graph
            if self._direct and isinstance(group["lr"], (int, float)):
                self._fused(params, grads, beta1, beta2)
            else:
                self._functional(params, grads, beta1, beta2)

    def _kernels_apply(self, params) -> bool:
        """Whether `_fused` does exactly what the functional path would: a fused,
        non-differentiable group of real tensors on one device with one dtype,
        plain float hyperparameters (the lr is checked at each call, since the
        trainer sets it every step), and state on the parameters' device."""
        group, steps = self.group, self._state[3]
        kinds = {(p.device, p.dtype) for p in params} | {(s.device, p.dtype)
                                                          for s, p in zip(steps, params)}
        return (bool(group["fused"]) and not group["differentiable"] and len(kinds) == 1
                and not any(p.is_complex() for p in params)
                and all(isinstance(v, (int, float))
                        for v in (group["weight_decay"], group["eps"], *group["betas"])))

    def _fused(self, params, grads, beta1, beta2) -> None:
        group = self.group
        exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = self._state
        torch._foreach_add_(steps, 1)
        kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
        kernel(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
               amsgrad=group["amsgrad"], lr=group["lr"], beta1=beta1, beta2=beta2,
               weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
               grad_scale=None, found_inf=None)

    def _functional(self, params, grads, beta1, beta2) -> None:
        group = self.group
        functional_adam(
            params, grads, *self._state,
            foreach=group["foreach"], fused=group["fused"],
            capturable=group["capturable"], differentiable=group["differentiable"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"],
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
        )


def skip_compiler_import() -> int:
    """In a process that compiles nothing (`tui-vae train`), keep torch's compiler unloaded.

    torch.optim wraps some functions in `torch._disable_dynamo`, which imports
    `torch._dynamo` (1.6-1.9 s here, README Performance) on their first call only
    to mark them as not to be compiled. Each such wrapper caches the marked
    function on the raw one; caching the raw function itself means "nothing to
    mark", which is true where nothing is compiled. Left alone where the compiler
    is already loaded (someone may be compiling). Returns how many were marked.
    """
    if "torch._dynamo" in sys.modules:
        return 0
    import torch.optim.adam as adam_module
    import torch.optim.optimizer as optimizer_module

    marked, seen = 0, set()

    def mark(candidate) -> None:
        nonlocal marked
        code = getattr(candidate, "__code__", None)
        raw = getattr(candidate, "__wrapped__", None)
        if (code is None or raw is None or code.co_name != "inner"
                or not code.co_filename.endswith("_compile.py")):
            return
        if getattr(raw, "__dynamo_disable", None) is None:
            raw.__dynamo_disable = raw
            marked += 1

    def visit(obj) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        mark(obj)
        for cell in getattr(obj, "__closure__", None) or ():  # functional adam's wrapper
            try:
                mark(cell.cell_contents)
            except ValueError:  # an empty cell
                pass

    for module in (optimizer_module, adam_module):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer):
                for member in vars(obj).values():
                    visit(member)
            else:
                visit(obj)
    return marked
