"""Test metrics: the sampled ELBO and the importance-weighted bound."""

import pytest

from tui_vae.evaluation import evaluate_elbo, importance_weighted_nll
from tui_vae.models import ModelConfig, build_model


def test_elbo_is_seeded_and_samples_z(sample_dataset):
    model = build_model(ModelConfig(latent_dim=4, hidden_dim=32), seed=0)
    a = evaluate_elbo(model, sample_dataset.test, seed=1)
    b = evaluate_elbo(model, sample_dataset.test, seed=1)
    c = evaluate_elbo(model, sample_dataset.test, seed=2)
    assert a == b
    assert a.recon != c.recon  # z is drawn from q(z|x), not fixed at its mean
    assert a.kl == c.kl  # the KL is in closed form
    assert a.loss == pytest.approx(a.recon + a.kl)


def test_iwae_with_one_sample_is_the_elbo_and_tightens_with_more(sample_dataset):
    model = build_model(ModelConfig(latent_dim=4, hidden_dim=32), seed=0)
    test = sample_dataset.test
    elbos = [evaluate_elbo(model, test, seed=s).loss for s in range(8)]
    elbo = sum(elbos) / len(elbos)
    spread = max(elbos) - min(elbos)
    k1 = [importance_weighted_nll(model, test, 1, seed=s) for s in range(8)]
    assert sum(k1) / len(k1) == pytest.approx(elbo, abs=max(spread, 0.5))
    k64 = importance_weighted_nll(model, test, 64, seed=0, chunk=16)
    assert k64 < elbo - spread  # a strictly tighter bound on -log p(x)
    assert importance_weighted_nll(model, test, 64, seed=0, chunk=64) == pytest.approx(k64)


def test_iwae_stays_finite_for_a_collapsed_posterior_variance(sample_dataset):
    import math

    import torch

    from tui_vae.evaluation import importance_weighted_nll
    from tui_vae.models import ModelConfig, build_model

    model = build_model(ModelConfig(latent_dim=3, hidden_dim=8), seed=0)
    with torch.no_grad():  # sigma = exp(-60): (z - mu)^2 underflows to 0, 1/sigma^2 to inf
        model.fc_logvar.weight.zero_()
        model.fc_logvar.bias.fill_(-120.0)
    split = sample_dataset.test
    assert math.isfinite(importance_weighted_nll(model, split, samples=4, seed=0))
