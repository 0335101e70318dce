"""A training step for any registered architecture and likelihood, and the choice of step.

`AutogradStep` is the general path: the model's own forward pass, its
likelihood's negative log-likelihood and the closed-form KL, differentiated by
autograd. It trains every architecture, likelihood and learnable parameter the
model holds. `ElboStep` (tui_vae/elbo_step.py) computes the same thing with the
gradients worked out by hand, faster, but only for the report's exact network;
`choose_step` takes it only where it provably applies and the general path
everywhere else. Both are called as step(x, labels, kl_weight, generator) ->
(objective, recon, kl), means over the batch, with every parameter's `.grad`
holding d objective / d parameter afterwards.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_vae.elbo_step import ElboStep
from tui_vae.likelihoods import Bernoulli
from tui_vae.models import CVAE, VAE
from tui_vae.objective import gaussian_kl
from tui_vae.optim import AdamUpdate

HAND_DERIVED = ElboStep.name
AUTOGRAD = "autograd"


class AutogradStep:
    """One step through autograd: forward, the (beta-weighted) negative ELBO, backward."""

    name = AUTOGRAD

    def __init__(self, model: VAE):
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None, kl_weight: float,
                 generator: torch.Generator | None) -> tuple[float, float, float]:
        for p in self.params:
            p.grad = None
        out, mu, logvar = self.model(x, labels, generator=generator)
        recon = self.model.reconstruction_nll(out, x).mean()
        kl = gaussian_kl(mu, logvar).mean()
        objective = recon + kl_weight * kl
        objective.backward()
        objective_, recon_, kl_ = torch.stack((objective, recon, kl)).detach().tolist()
        return objective_, recon_, kl_  # one host sync, as the hand-derived step


def _is_layers(module: nn.Module, *kinds: type) -> bool:
    return (type(module) is nn.Sequential and len(module) == len(kinds)
            and all(type(layer) is kind for layer, kind in zip(module, kinds)))


def hand_derived_applies(model: nn.Module) -> str | None:
    """None when ElboStep computes exactly this model's gradients, else why not.

    The hand-derived gradients hold for one network only: the report's MLP
    (Linear, ReLU | two Linear heads | Linear, ReLU, Linear) on 28x28 grey
    images, a Bernoulli likelihood with no parameters, the VAE's or CVAE's own
    methods, and nothing else that trains.
    """
    config = getattr(model, "config", None)
    if type(model) not in (VAE, CVAE) or config is None:
        return "not the built-in VAE or CVAE class"
    expected = {f"{name}.{part}" for name in ("encoder_shared.0", "fc_mu", "fc_logvar",
                                              "decoder.0", "decoder.2")
                for part in ("weight", "bias")}
    checks = [
        (config.arch == "mlp", f"architecture {config.arch}"),
        (config.likelihood == "bernoulli", f"likelihood {config.likelihood}"),
        (config.image_shape == (1, 28, 28), "images other than 28x28 grey"),
        (_is_layers(model.encoder_shared, nn.Linear, nn.ReLU), "another encoder"),
        (_is_layers(model.decoder, nn.Linear, nn.ReLU, nn.Linear), "another decoder"),
        (type(model.fc_mu) is nn.Linear and type(model.fc_logvar) is nn.Linear, "other heads"),
        (type(model.likelihood) is Bernoulli, "another likelihood module"),
        ({name for name, _ in model.named_parameters()} == expected, "other parameters"),
        (all(p.requires_grad for p in model.parameters()), "frozen parameters"),
        (not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                 for m in model.modules()), "module hooks"),
    ]
    for holds, reason in checks:
        if not holds:
            return reason
    return None


def choose_step(model: VAE, prefer: str = "auto", update: AdamUpdate | None = None):
    """The step for `model`: hand-derived where it provably applies (and `prefer` is "auto").

    With the hand-derived step, `update` (the run's optimizer step, if given)
    lays the parameters out flat first, in the order the step wants them
    (optim.AdamUpdate.flatten); the step is built after, on that layout."""
    if prefer == "auto" and hand_derived_applies(model) is None:
        if update is not None:
            update.flatten(ElboStep.parameter_order(model))
        return ElboStep(model)
    return AutogradStep(model)
