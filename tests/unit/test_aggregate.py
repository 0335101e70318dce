"""The aggregate posterior's mixture: fits known mixtures, samples them, on a real model."""

from __future__ import annotations

import math

import pytest
import torch

from tui_vae.aggregate import GaussianMixture, aggregate_posterior, fit_mixture


def test_em_recovers_a_known_mixture():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-5.0, 0.0], [5.0, 2.0]])
    pick = (torch.rand(4000, generator=generator) < 0.3).long()  # 70% first, 30% second
    points = centres[pick] + 0.5 * torch.randn((4000, 2), generator=generator)
    mixture = fit_mixture(points, components=2, seed=1)
    order = mixture.means[:, 0].argsort()
    assert mixture.weights[order].tolist() == pytest.approx([0.7, 0.3], abs=0.03)
    assert mixture.means[order].flatten().tolist() == pytest.approx([-5.0, 0.0, 5.0, 2.0],
                                                                    abs=0.1)
    assert mixture.variances[order].sqrt().flatten().tolist() == pytest.approx([0.5] * 4,
                                                                               abs=0.05)


def test_samples_follow_the_mixture_and_its_density_is_normalised():
    mixture = GaussianMixture(torch.tensor([0.25, 0.75], dtype=torch.float64),
                              torch.tensor([[-3.0], [3.0]], dtype=torch.float64),
                              torch.tensor([[1.0], [0.25]], dtype=torch.float64))
    z = mixture.sample(20000, torch.Generator().manual_seed(0))
    assert (z < 0).float().mean().item() == pytest.approx(0.25, abs=0.02)
    grid = torch.linspace(-10, 10, 4001)[:, None]
    mass = torch.trapezoid(mixture.log_density(grid).exp(), grid[:, 0]).item()
    assert mass == pytest.approx(1.0, abs=1e-3)
    assert mixture.log_density(torch.tensor([[3.0]])).item() == pytest.approx(
        math.log(0.75 / math.sqrt(2 * math.pi * 0.25)), abs=1e-3)


def test_a_fit_on_a_trained_models_codes(sample_dataset):
    from tui_vae.inference import TrainedModel
    from tui_vae.models import ModelConfig, build_model

    model = TrainedModel(build_model(ModelConfig(latent_dim=3, hidden_dim=16,
                                                 dataset="mnist-sample"), seed=0))
    mixture = aggregate_posterior(model, sample_dataset.train, limit=300)
    assert mixture.means.shape == (50, 3) and mixture.weights.sum().item() == pytest.approx(1)
    assert mixture.sample(7, torch.Generator().manual_seed(0)).shape == (7, 3)
