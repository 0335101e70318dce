"""One training step of the seed's VAE or cVAE, with its gradients worked out by hand.

At the seed's sizes (784-400-20, batch 128) a CPU step spends ~2.7 ms in the
layers' matrix products. Autograd added ~1 ms on top of that and Adam's
update: its graph bookkeeping and some forty small kernels each launched from
Python. `ElboStep` computes the same objective and the same gradients from the
model's own weights with fewer, larger kernels, writes the gradients into
buffers allocated once, and runs without autograd (inference mode). Measured
on the 2-core development machine, same process, interleaved: 4.33 ms a step
with autograd and `optimizer.step()`, 3.57 ms with this and `optim.AdamUpdate`.

The model stays the definition. tests/unit/test_elbo_step.py checks the loss
parts and every gradient against autograd through `VAE.forward` and
`objective.vae_loss`, for the VAE and the cVAE, with and without the KL term,
and that twenty Adam steps either way end at the same weights.

Per batch of n images, as row vectors (' is the transpose):

    h      = relu(x W1' + b1)                    encoder_shared
    mu     = h Wm' + bm,  logvar = h Wl' + bl     fc_mu, fc_logvar (one product)
    z      = mu + std * eps,  std = exp(logvar / 2),  eps ~ N(0, I)
    h2     = relu(z W3' + b3)                     decoder[0:2]
    l      = h2 W4' + b4                          decoder[2]: Bernoulli logits

    recon  = sum over pixels of BCE(l, x), mean over images
           = sum(softplus(l) - x l) / n;          d recon / d l = (sigmoid(l) - x) / n
    kl     = sum 0.5 (mu^2 + var - logvar - 1) / n
             d kl / d mu = mu / n,                 d kl / d logvar = (var - 1) / (2 n)
    through z: d / d mu += dz,                     d / d logvar += dz * eps * std / 2

The cVAE's one-hot label joins x and z through the model's own
`encoder_input` / `decoder_input`, so conditioning is defined in one place.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_vae.flat_params import joined
from tui_vae.models import INPUT_DIM, VAE

# softplus(l) = relu(l) - log(sigmoid(|l|)), and sigmoid(|l|) = max(s, 1 - s)
# = |s - 1/2| + 1/2 with s = sigmoid(l), which the gradient needs anyway. Each
# such factor is >= 1/2, so a product of 112 of them stays above 2^-112 (no
# underflow): one log per 112 pixels instead of one per pixel, the step's most
# expensive elementwise kernel otherwise.
LOG_GROUP = 112
assert INPUT_DIM % LOG_GROUP == 0

_relu_backward = torch.ops.aten.threshold_backward


def _linear(module: nn.Module, index: int) -> nn.Linear:
    layer = module[index]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"expected a Linear layer at {module}[{index}], found {layer}")
    return layer


class ElboStep:
    """Computes a batch's loss parts and writes the gradients of the objective into `.grad`.

    `step(x, labels, kl_weight, generator)` returns (objective, recon, kl),
    each a mean over the batch's images, exactly as `objective.vae_loss`
    defines them (one host sync); afterwards every parameter's `.grad`
    holds d objective / d parameter. The `.grad` tensors are allocated here
    once and overwritten each step, so there is nothing to zero between steps.
    eps is drawn as `VAE.reparameterize` draws it, so a generator gives the
    same noise either way.
    """

    name = "hand-derived"  # the path a run reports (train_step.choose_step picks it)

    def __init__(self, model: VAE):
        self.model = model
        self.encoder = _linear(model.encoder_shared, 0)
        self.decoder_in = _linear(model.decoder, 0)
        self.decoder_out = _linear(model.decoder, 2)
        self.latent_dim = model.fc_mu.out_features
        self._bind()

    def _bind(self) -> None:
        """Gradient buffers for every parameter that has none, and the heads' views.

        fc_mu and fc_logvar read the same h: one product of the stacked heads
        serves both, forward and backward, and their gradients are halves of
        one buffer: the flat layout's own stretch where `parameter_order` laid
        them out (then the heads are not copied each step), else a buffer of
        its own. Done again whenever the heads' tensors move (`_bound`)."""
        model, latent = self.model, self.latent_dim
        for p in model.parameters():  # kept where they are (laid out flat, say)
            if p.grad is None or p.grad.shape != p.shape:
                p.grad = torch.zeros_like(p)
        mu, logvar = model.fc_mu, model.fc_logvar
        self._heads_weight = joined(mu.weight, logvar.weight)
        self._heads_bias = joined(mu.bias, logvar.bias)
        self._heads_weight_grad = joined(mu.weight.grad, logvar.weight.grad)
        self._heads_bias_grad = joined(mu.bias.grad, logvar.bias.grad)
        if self._heads_weight_grad is None:
            self._heads_weight_grad = mu.weight.new_zeros(2 * latent, mu.weight.shape[1])
            mu.weight.grad = self._heads_weight_grad[:latent]
            logvar.weight.grad = self._heads_weight_grad[latent:]
        if self._heads_bias_grad is None:
            self._heads_bias_grad = mu.bias.new_zeros(2 * latent)
            mu.bias.grad = self._heads_bias_grad[:latent]
            logvar.bias.grad = self._heads_bias_grad[latent:]
        self._binding = self._heads_tensors()

    def _heads_tensors(self) -> tuple:
        heads = (self.model.fc_mu.weight, self.model.fc_logvar.weight,
                 self.model.fc_mu.bias, self.model.fc_logvar.bias)
        return tuple(p.grad for p in heads), tuple(p.data_ptr() for p in heads)

    def _bound(self) -> bool:
        """Whether the heads' weights and gradients are where `_bind` found them."""
        (grads, places), (bound_grads, bound_places) = self._heads_tensors(), self._binding
        return places == bound_places and all(a is b for a, b in zip(grads, bound_grads))

    @staticmethod
    def parameter_order(model: VAE) -> list[nn.Parameter | tuple[nn.Parameter, ...]]:
        """The model's parameters in the order a flat layout should hold them
        (flat_params.flatten): each layer's weight and bias, the two heads'
        weights end to end and then their biases, so that the stacked heads are
        one stretch of memory."""
        enc, dec_in, dec_out = (_linear(model.encoder_shared, 0), _linear(model.decoder, 0),
                                _linear(model.decoder, 2))
        mu, logvar = model.fc_mu, model.fc_logvar
        return [enc.weight, enc.bias, (mu.weight, logvar.weight), (mu.bias, logvar.bias),
                dec_in.weight, dec_in.bias, dec_out.weight, dec_out.bias]

    def __call__(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        kl_weight: float,
        generator: torch.Generator | None = None,
    ) -> tuple[float, float, float]:
        """(objective, recon, kl) of the batch; the gradients land in `.grad`."""
        if not self._bound():
            self._bind()
        # Parameters are updated in place by the optimiser and gradients written
        # with out=, so no tensor made here outlives the step: inference mode
        # skips autograd's bookkeeping altogether.
        with torch.inference_mode():
            pixel_sum, log_sum, kl_sum = self._step(x, labels, kl_weight, generator).tolist()
        n, latent = x.shape[0], self.latent_dim
        recon = (pixel_sum - log_sum) / n
        kl = 0.5 * (kl_sum / n - latent)
        return recon + kl_weight * kl, recon, kl

    def _step(self, x, labels, kl_weight, generator) -> torch.Tensor:
        """Writes the gradients; returns the three sums the loss parts are made of."""
        model, latent = self.model, self.latent_dim
        enc, dec_in, dec_out = self.encoder, self.decoder_in, self.decoder_out
        n = x.shape[0]
        pixels = x.reshape(n, INPUT_DIM)
        heads_weight, heads_bias = self._heads_weight, self._heads_bias
        if heads_weight is None:
            heads_weight = torch.cat((model.fc_mu.weight, model.fc_logvar.weight))
        if heads_bias is None:
            heads_bias = torch.cat((model.fc_mu.bias, model.fc_logvar.bias))

        # Forward.
        x_in = model.encoder_input(x, labels)
        h = torch.addmm(enc.bias, x_in, enc.weight.t()).relu_()
        heads = torch.addmm(heads_bias, h, heads_weight.t())
        mu, logvar = heads[:, :latent], heads[:, latent:]
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        std = logvar.mul(0.5).exp_()
        var = std.square()
        noise = std.mul_(eps)  # std * eps; std itself is not needed again
        z = mu + noise
        z_in = model.decoder_input(z, labels)
        h2 = torch.addmm(dec_in.bias, z_in, dec_in.weight.t()).relu_()
        logits = torch.addmm(dec_out.bias, h2, dec_out.weight.t())

        # Loss sums. The reconstruction's summands are all >= 0 (relu(l) - x l,
        # and -log of factors <= 1), so nothing cancels in float32; the KL's -1
        # per dimension is taken off in __call__, in double precision.
        probs = torch.sigmoid(logits)
        per_pixel = logits.clamp(min=0).addcmul_(pixels, logits, value=-1)  # relu(l) - x l
        larger = (probs - 0.5).abs_().add_(0.5)  # sigmoid(|l|)
        log_larger = larger.view(-1, LOG_GROUP).prod(dim=1).log_()
        kl_terms = (var - logvar).add_(mu.square())  # mu^2 + var - logvar
        # Per image first: a whole-tensor sum of this size is split among the
        # threads, and would differ in its last bits from one thread count to
        # another (thread_probe.py); a row's sum is one thread's, in one order.
        sums = torch.stack((per_pixel.sum(dim=1).sum(), log_larger.sum(), kl_terms.sum()))

        # Backward, layer by layer from the logits; weight gradients go straight
        # into the .grad buffers.
        d_logits = probs.sub_(pixels).div_(n)
        torch.mm(d_logits.t(), h2, out=dec_out.weight.grad)
        torch.sum(d_logits, dim=0, out=dec_out.bias.grad)
        d_h2 = _relu_backward(d_logits.mm(dec_out.weight), h2, 0)
        torch.mm(d_h2.t(), z_in, out=dec_in.weight.grad)
        torch.sum(d_h2, dim=0, out=dec_in.bias.grad)
        d_z = d_h2.mm(dec_in.weight[:, :latent])  # the label's columns lead nowhere

        scale = kl_weight / n
        d_heads = torch.empty_like(heads)
        torch.add(d_z, mu, alpha=scale, out=d_heads[:, :latent])
        # d logvar = (dz * std * eps + scale * (var - 1)) / 2
        torch.addcmul(var.sub_(1.0).mul_(0.5 * scale), d_z, noise, value=0.5,
                      out=d_heads[:, latent:])
        torch.mm(d_heads.t(), h, out=self._heads_weight_grad)
        torch.sum(d_heads, dim=0, out=self._heads_bias_grad)
        d_h = _relu_backward(d_heads.mm(heads_weight), h, 0)
        torch.mm(d_h.t(), x_in, out=enc.weight.grad)
        torch.sum(d_h, dim=0, out=enc.bias.grad)
        return sums
