"""A user's protocol model (see tui_vae.user_models) dressed as one of tui-vae's VAEs.

`UserModelAdapter` has the interface of `tui_vae.models.VAE` that inference,
evaluation, ELBO surgery and the views use (`config`, `encode`,
`decode_logits`, `decode`, `reconstruction_nll`, `forward`,
`reparameterize`), so none of them needs to know where a model came from.
It turns class labels into the protocol's condition (rows of class weights)
and reads the user's decoder output through the project's registered
likelihood, so `eval`'s figures mean what they mean for the project's models.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from tui_vae.config import ModelConfig
from tui_vae.likelihoods import build_likelihood
from tui_vae.models import VAE
from tui_vae.user_models import UserModelError, working_folder_kept


class UserModelAdapter(nn.Module):
    """A protocol model with the VAE's interface; the user's module is `user`."""

    reparameterize = staticmethod(VAE.reparameterize)

    def __init__(self, user: nn.Module, config: ModelConfig, factory: str):
        super().__init__()
        self.user = user
        self.config = config
        self.factory = factory  # "package.module:function", as the user named it
        self._stalled = ""  # the call that outlived call_deadline, if one did
        self.likelihood = build_likelihood(config.likelihood, config.channels)
        if hasattr(user, "log_scale"):  # a Gaussian's scale: the user's, shared, not copied
            scale = user.log_scale
            if not isinstance(scale, nn.Parameter):
                scale = nn.Parameter(torch.as_tensor(scale, dtype=torch.float32),
                                     requires_grad=False)
            self.likelihood.log_scale = scale

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.config.image_shape)

    def condition(self, labels: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """What the user's encode and decode take as y: None for a plain VAE, else
        (N, num_classes) class weights (one-hot from class indices)."""
        if not self.config.conditional:
            return None
        if labels is None:
            raise ValueError("a conditional model needs class labels")
        if labels.is_floating_point():  # (N, classes) weights: a mix of conditions
            return labels.to(like.dtype)
        return F.one_hot(labels.long(), self.config.num_classes).to(like.dtype)

    # Set by the explorer: how long a call made on its main thread (the one that
    # draws and reads keys) may take before it is given up. None: no limit (the CLI,
    # where Ctrl-C interrupts the call itself).
    call_deadline: float | None = None

    def _call(self, what: str, method, *args):
        """The user's `method`, its failures (SystemExit too) a UserModelError naming it.

        The load's check ran encode and decode on two images; a model can still fail
        on other batch sizes (a `squeeze()` on one image, a fixed batch size), and
        that read as tui-vae's bug or, for sys.exit, quietly ended tui-vae."""
        if self.call_deadline is not None and threading.current_thread() is threading.main_thread():
            return self._call_with_deadline(what, method, args)
        try:
            with working_folder_kept():  # its os.chdir would move `--out` and exports
                return method(*args)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise self._failed(what, args, exc) from None

    def _failed(self, what: str, args: tuple, exc: BaseException) -> UserModelError:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        return UserModelError(f"your model's {what} ({self.factory}) failed on a batch "
                              f"of {len(args[0])}: {detail}")

    def _call_with_deadline(self, what: str, method, args: tuple):
        """The call on a thread of its own, waited for `call_deadline` seconds.

        A user's encode that never returned, called while a view drew, froze the
        explorer: no key, no resize and no SIGTERM reached it (kill -9 did). Past the
        deadline the call is left running on its (daemon) thread and this model's
        calls fail from then on, so the explorer stays usable and quits on q."""
        if self._stalled:
            raise UserModelError(f"your model's {self._stalled} ({self.factory}) never "
                                 f"returned; restart tui-vae to use the model again")
        # Autograd's modes belong to a thread: the call runs under the caller's.
        grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
        result: dict = {}

        def run() -> None:
            try:
                # In this order: inference_mode(False) turns gradients on again.
                with torch.inference_mode(inference), torch.set_grad_enabled(grad), \
                        working_folder_kept():
                    result["value"] = method(*args)
            except BaseException as exc:  # handed back to the caller's thread
                result["error"] = exc

        worker = threading.Thread(target=run, name=f"your model's {what}", daemon=True)
        worker.start()
        worker.join(self.call_deadline)
        if worker.is_alive():
            self._stalled = what
            raise UserModelError(f"your model's {what} ({self.factory}) did not return "
                                 f"within {self.call_deadline:g} s on a batch of "
                                 f"{len(args[0])}; it is left running (q quits)")
        if "error" in result:
            if isinstance(result["error"], KeyboardInterrupt):
                raise result["error"]
            raise self._failed(what, args, result["error"]) from None
        return result["value"]

    def _expect(self, what: str, t, n: int, shape: tuple[int, ...]) -> None:
        # The shape exactly, as the load's check asks: a channels-last (N, H, W, C) or
        # flat (N, C*H*W) output later on was reshaped into scrambled images, unsaid.
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != (n, *shape):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise UserModelError(f"your model's {what} ({self.factory}) gave {got} for a "
                                 f"batch of {n}, not {(n, *shape)}")
        if not t.is_floating_point():  # integers, bools, complex: no pixels, no codes
            raise UserModelError(f"your model's {what} ({self.factory}) gave {t.dtype} "
                                 f"numbers, not floating-point ones")

    def _as_float(self, t: torch.Tensor) -> torch.Tensor:
        """float32, as every view and metric reads (a float64 or float16 model too)."""
        return t if t.dtype == torch.float32 else t.float()

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """q(z|x): (mu, logvar), each (N, latent_dim)."""
        images = self._images(x)
        pair = self._call("encode", self.user.encode, images, self.condition(labels, images))
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise UserModelError(f"your model's encode ({self.factory}) must return "
                                 f"(mu, logvar), not {type(pair).__name__}")
        for name, t in zip(("mu", "logvar"), pair):
            self._expect(f"encode's {name}", t, len(images), (self.config.latent_dim,))
            # NaN codes on some batches reached torch.multinomial in the aggregate
            # posterior's mixture, as "unexpected RuntimeError: invalid multinomial".
            if not torch.isfinite(t).all():
                raise UserModelError(f"your model's encode ({self.factory}) gave {name} "
                                     f"values that are not finite numbers (NaN or infinity) "
                                     f"for a batch of {len(images)}")
        return self._as_float(pair[0]), self._as_float(pair[1])

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The user's decoder output, (N, C, H, W): what the likelihood reads."""
        out = self._call("decode", self.user.decode, z, self.condition(labels, z))
        self._expect("decode", out, len(z), self.config.image_shape)
        return self._as_float(out).reshape(-1, *self.config.image_shape)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """E[x|z], (N, C, H, W) in [0, 1]."""
        return self.likelihood.mean(self.decode_logits(z, labels))

    def reconstruction_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image (nats) under the model's registered likelihood."""
        return self.likelihood.nll(out, self._images(x))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None):
        """Encode, sample z once, decode: (out, mu, logvar), as VAE.forward."""
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z, labels), mu, logvar
