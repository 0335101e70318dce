"""The ELBO's pieces against hand computations and Monte Carlo estimates."""

import math

import torch

from tui_vae.objective import (
    gaussian_kl,
    gaussian_log_density,
    kl_weight,
    reconstruction_nll,
    standard_normal_log_density,
    vae_loss,
)


def test_reconstruction_matches_hand_computed_bce():
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, -4.0, 0.5]])
    x = torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.0, 0.5]])
    expected = []
    for row_l, row_x in zip(logits.tolist(), x.tolist()):
        total = 0.0
        for logit, t in zip(row_l, row_x):
            p = 1 / (1 + math.exp(-logit))
            total -= t * math.log(p) + (1 - t) * math.log(1 - p)
        expected.append(total)
    assert torch.allclose(reconstruction_nll(logits, x), torch.tensor(expected), atol=1e-5)


def test_reconstruction_is_finite_for_saturated_logits():
    logits = torch.tensor([[100.0, -100.0, 100.0]])
    x = torch.tensor([[1.0, 0.0, 0.0]])
    loss = reconstruction_nll(logits, x)
    assert torch.isfinite(loss).all()
    assert abs(loss.item() - 100.0) < 1e-3  # only the third pixel is wrong, by 100 nats


def test_kl_is_zero_at_the_prior_and_matches_torch_distributions():
    mu = torch.zeros(3, 5)
    logvar = torch.zeros(3, 5)
    assert torch.allclose(gaussian_kl(mu, logvar), torch.zeros(3))
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reference = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), reference, atol=1e-5)


def test_closed_form_kl_agrees_with_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.3, -1.2]], dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3, dtype=torch.float64)
    mc = (gaussian_log_density(z, mu, logvar) - standard_normal_log_density(z)).mean()
    closed = gaussian_kl(mu, logvar).item()
    standard_error = (gaussian_log_density(z, mu, logvar)
                      - standard_normal_log_density(z)).std() / math.sqrt(z.shape[0])
    assert abs(mc.item() - closed) < 4 * standard_error.item()


def test_kl_weight_ramps_linearly_then_holds():
    assert kl_weight(1.0, 0, 0.0) == 1.0
    assert kl_weight(2.0, 4, 0.0) == 0.0
    assert kl_weight(2.0, 4, 1.0) == 0.5
    assert kl_weight(2.0, 4, 10.0) == 2.0


def test_vae_loss_combines_parts_with_the_weight():
    logits, x = torch.randn(5, 784), torch.rand(5, 784)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    parts = vae_loss(logits, x, mu, logvar, kl_weight=0.25)
    assert torch.allclose(parts.recon, reconstruction_nll(logits, x).mean())
    assert torch.allclose(parts.kl, gaussian_kl(mu, logvar).mean())
    assert torch.allclose(parts.objective, parts.recon + 0.25 * parts.kl)
    assert torch.allclose(parts.elbo_loss, parts.recon + parts.kl)
    beta_zero = vae_loss(logits, x, mu, logvar, kl_weight=0.0)
    assert torch.equal(beta_zero.objective, beta_zero.recon)
