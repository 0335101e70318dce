"""One buffer each for a model's weights, their gradients and Adam's two moments.

Adam's update is elementwise, so one call can update every parameter at once
if they lie end to end in memory. torch's fused CPU kernel otherwise runs once
per parameter: one parallel region and one scalar tail each, which for the
report's MLP (ten parameters, five of them biases of 20 to 784 numbers) is a
good part of the update's time. `flatten` moves the parameters, in the order
given and each on a 64-byte boundary, their `.grad` and the optimizer's
`exp_avg` / `exp_avg_sq` into four flat buffers, each tensor becoming a view of
its stretch, and the step counts into one vector. Everyone who holds the model
or the optimizer sees tensors of the same shapes and values, written in place
as before; `FlatAdam.step` then runs the fused kernel once over the buffers.

The result equals the per-parameter kernels' but for the last bit of a few
moments: a parameter's last few numbers, which the kernel takes one at a time
rather than in a vector, fall in a vector in the flat buffer
(tests/unit/test_flat_params.py bounds the difference). It does not depend on
the thread count: the kernel splits the buffer at whole vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FlatAdam:
    """The four buffers, the step counts and the views handed out as `.grad`."""

    params: torch.Tensor
    grads: torch.Tensor
    exp_avgs: torch.Tensor
    exp_avg_sqs: torch.Tensor
    steps: torch.Tensor  # one count per parameter, all equal; state["step"] are its items
    grad_views: tuple[torch.Tensor, ...]
    order: tuple[torch.nn.Parameter, ...]

    def __post_init__(self) -> None:
        self._count = self.steps[0]  # the kernel reads one count for the one buffer
        self._places = [p.data_ptr() for p in self.order]

    def intact(self) -> bool:
        """Whether every parameter's `.grad` is still its view and its data still in
        the buffer (a step that sets `.grad` afresh, as autograd's does, or a
        `load_state_dict(assign=True)` breaks the layout)."""
        return (all(p.grad is g for p, g in zip(self.order, self.grad_views))
                and [p.data_ptr() for p in self.order] == self._places)

    def step(self, *, lr: float, beta1: float, beta2: float, weight_decay: float, eps: float,
             maximize: bool, decoupled: bool) -> None:
        """Adam's update of every parameter (what `_fused_adam_` does per parameter)."""
        self.steps.add_(1)
        kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
        kernel([self.params], [self.grads], [self.exp_avgs], [self.exp_avg_sqs], [],
               [self._count], amsgrad=False, lr=lr, beta1=beta1, beta2=beta2,
               weight_decay=weight_decay, eps=eps, maximize=maximize,
               grad_scale=None, found_inf=None)


def joined(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor | None:
    """`first` and `second` as one tensor stacked along dim 0, without a copy, where
    `second` starts right where `first` ends in one storage; otherwise None."""
    if (first.device != second.device or first.dtype != second.dtype
            or first.shape[1:] != second.shape[1:]
            or not (first.is_contiguous() and second.is_contiguous())
            or first.untyped_storage().data_ptr() != second.untyped_storage().data_ptr()
            or second.storage_offset() != first.storage_offset() + first.numel()):
        return None
    shape = (first.shape[0] + second.shape[0], *first.shape[1:])
    return first.detach().new_empty(0).set_(first.untyped_storage(), first.storage_offset(),
                                            shape)


ALIGN = 16  # elements: each stretch starts on a 64-byte boundary, as a tensor of its own would


def flatten(optimizer: torch.optim.Adam,
            order: list[torch.nn.Parameter | tuple[torch.nn.Parameter, ...]]) -> FlatAdam | None:
    """Lay the optimizer's one group out flat, in `order`; None (nothing changed)
    where it does not apply: a group other than `order`'s parameters, not fused,
    with amsgrad, of several devices or dtypes, or whose parameters lack Adam's
    state or have taken different numbers of steps.

    Each item of `order` starts on a 64-byte boundary (the matrix products read
    misaligned operands markedly slower); the parameters of a tuple lie end to
    end, so that they can be read as one (`joined`). The gaps hold zeros, which
    Adam leaves at zero."""
    items = [item if isinstance(item, tuple) else (item,) for item in order]
    params = [p for item in items for p in item]
    group = optimizer.param_groups[0] if len(optimizer.param_groups) == 1 else None
    if group is None or not group["fused"] or group["amsgrad"] or group["differentiable"]:
        return None
    if len(params) != len(group["params"]) or {id(p) for p in params} != {
            id(p) for p in group["params"]}:
        return None
    states = [optimizer.state.get(p) for p in params]
    if not all(states) or len({(p.device, p.dtype) for p in params}) != 1:
        return None
    counts = {float(s["step"]) for s in states}
    if len(counts) != 1 or any(p.is_complex() or not p.requires_grad for p in params):
        return None
    starts, end = [], 0
    for item in items:
        end = -(-end // ALIGN) * ALIGN
        for p in item:
            starts.append(end)
            end += p.numel()
    buffers = [params[0].new_zeros(end) for _ in range(4)]
    flat_params, grads, exp_avgs, exp_avg_sqs = buffers
    steps = states[0]["step"].new_full((len(params),), counts.pop())
    views = []
    with torch.no_grad():
        for index, (p, state, start) in enumerate(zip(params, states, starts)):

            def stretch(buffer, value, p=p, start=start):
                view = buffer[start:start + p.numel()].view_as(p)
                if value is not None:
                    view.copy_(value)
                return view

            p.data = stretch(flat_params, p.data)
            p.grad = stretch(grads, p.grad)
            views.append(p.grad)
            state["exp_avg"] = stretch(exp_avgs, state["exp_avg"])
            state["exp_avg_sq"] = stretch(exp_avg_sqs, state["exp_avg_sq"])
            state["step"] = steps[index]
    return FlatAdam(flat_params, grads, exp_avgs, exp_avg_sqs, steps, tuple(views),
                    tuple(params))
