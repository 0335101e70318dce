"""The hand-written training step against autograd through the model and objective.vae_loss."""

import math

import pytest
import torch

from tui_vae.elbo_step import ElboStep
from tui_vae.models import ModelConfig, build_model
from tui_vae.objective import vae_loss
from tui_vae.optim import AdamUpdate, make_optimizer


def batch(n, seed=0, classes=10):
    """Grey-level images with exact 0s and 1s, as MNIST has, and labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    x[x < 0.5] = 0.0
    x[x > 0.9] = 1.0
    return x, torch.randint(0, classes, (n,), generator=g)


def autograd_reference(model, x, labels, weight, seed):
    """Loss parts and gradients the ordinary way: forward, vae_loss, backward."""
    model.zero_grad(set_to_none=True)
    logits, mu, logvar = model(x, labels, generator=torch.Generator().manual_seed(seed))
    parts = vae_loss(logits, x, mu, logvar, weight)
    parts.objective.backward()
    values = torch.stack((parts.objective, parts.recon, parts.kl)).detach()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return values, grads


def assert_matches_autograd(model, x, labels, weight, seed=3):
    conditional = model.config.conditional
    cond = labels if conditional else None
    expected, expected_grads = autograd_reference(model, x, cond, weight, seed)
    step = ElboStep(model)
    values = step(x, cond, weight, torch.Generator().manual_seed(seed))
    assert all(isinstance(v, float) for v in values)
    torch.testing.assert_close(torch.tensor(values), expected, rtol=2e-6, atol=2e-5)
    for name, p in model.named_parameters():
        scale = expected_grads[name].abs().max().item()
        torch.testing.assert_close(p.grad, expected_grads[name], rtol=1e-4,
                                   atol=1e-6 * max(scale, 1.0), msg=f"gradient of {name}")
    return step


@pytest.mark.parametrize("kind", ["vae", "cvae"])
@pytest.mark.parametrize("weight", [1.0, 0.0, 0.37])
@pytest.mark.parametrize("n", [1, 7, 128])
def test_loss_parts_and_every_gradient_equal_autograds(kind, weight, n):
    model = build_model(ModelConfig(model=kind, latent_dim=5, hidden_dim=32), seed=1)
    x, labels = batch(n, seed=n)
    assert_matches_autograd(model, x, labels, weight)


def test_the_seeds_sizes_match_too():
    model = build_model(ModelConfig(), seed=0)
    x, labels = batch(128)
    assert_matches_autograd(model, x, labels, 1.0)


def test_saturated_logits_give_the_exact_finite_loss():
    """Logits of +-60 make sigmoid exactly 0 or 1 in float32; the loss must stay exact."""
    model = build_model(ModelConfig(latent_dim=3, hidden_dim=16), seed=2)
    with torch.no_grad():
        model.decoder[2].bias.copy_(torch.linspace(-60.0, 60.0, 784))
    x, labels = batch(16, seed=5)
    step = assert_matches_autograd(model, x, labels, 1.0)
    assert all(math.isfinite(v) for v in step(x, None, 1.0, torch.Generator().manual_seed(0)))


def test_gradients_are_overwritten_not_accumulated():
    model = build_model(ModelConfig(latent_dim=4, hidden_dim=24), seed=4)
    step = ElboStep(model)
    buffers = [p.grad for p in model.parameters()]
    first, _ = batch(9, seed=1)
    second, _ = batch(9, seed=2)
    step(first, None, 1.0, torch.Generator().manual_seed(0))
    step(second, None, 1.0, torch.Generator().manual_seed(7))
    assert all(p.grad is b for p, b in zip(model.parameters(), buffers))
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    _, expected = autograd_reference(model, second, None, 1.0, seed=7)
    for name, grad in ours.items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6)


def test_the_noise_is_drawn_as_the_model_draws_it():
    """Same generator, same eps: the step consumes the generator as VAE.forward does."""
    model = build_model(ModelConfig(latent_dim=6, hidden_dim=20), seed=0)
    x, _ = batch(10)
    by_model, by_step = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    with torch.no_grad():
        model(x, generator=by_model)
    ElboStep(model)(x, None, 1.0, by_step)
    assert torch.equal(by_model.get_state(), by_step.get_state())


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_training_with_it_follows_autograd_training(kind):
    """Twenty Adam steps each way from the same start end at the same weights."""
    config = ModelConfig(model=kind, latent_dim=4, hidden_dim=32)
    ours, reference = build_model(config, seed=0), build_model(config, seed=0)
    device = torch.device("cpu")
    ours_opt, ref_opt = make_optimizer(ours, 1e-3, device), make_optimizer(reference, 1e-3, device)
    step, update = ElboStep(ours), AdamUpdate(ours_opt)
    noise_a, noise_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for i in range(20):
        x, labels = batch(32, seed=100 + i)
        cond = labels if config.conditional else None
        step(x, cond, 1.0, noise_a)
        update()
        logits, mu, logvar = reference(x, cond, generator=noise_b)
        ref_opt.zero_grad(set_to_none=True)
        vae_loss(logits, x, mu, logvar, 1.0).objective.backward()
        ref_opt.step()
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not torch.equal(ours.fc_mu.weight, build_model(config, seed=0).fc_mu.weight)
