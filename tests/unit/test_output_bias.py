"""A new run's decoder starts at the training images' mean (models.start_at_mean_image)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from tui_vae.checkpoints import load_checkpoint, save_checkpoint
from tui_vae.config import ARCHITECTURES, LIKELIHOODS, ModelConfig
from tui_vae.data import Split, to_floats
from tui_vae.likelihoods import build_likelihood
from tui_vae.models import build_model, start_at_mean_image
from tui_vae.training import Trainer


@pytest.mark.parametrize("shape", [(40, 6, 5), (40, 6, 5, 3), (50, 600, 600)],
                         ids=["grey", "colour", "in-slices"])  # 600x600: 11 images a slice
def test_mean_image_is_the_average_of_the_images_as_the_model_reads_them(shape):
    images = torch.randint(0, 256, shape, dtype=torch.uint8)
    split = Split(images, torch.zeros(shape[0], dtype=torch.long))
    mean = split.mean_image()
    assert mean.shape == split.image_shape and mean.dtype == torch.float32
    torch.testing.assert_close(mean, to_floats(images).mean(0), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_each_likelihood_gives_the_output_whose_mean_is_asked_for(name):
    likelihood = build_likelihood(name, 1)
    wanted = torch.linspace(0.02, 0.98, 49)
    torch.testing.assert_close(likelihood.mean(likelihood.out_for_mean(wanted)), wanted,
                               atol=1e-5, rtol=0)
    # Pixels black (or white) in every image ask for an infinite output; it stays finite.
    ends = likelihood.out_for_mean(torch.tensor([0.0, 1.0]))
    assert torch.isfinite(ends).all() and ends[0] < 0 < ends[1]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("likelihood", list(LIKELIHOODS))
def test_the_untrained_decoder_draws_the_mean_and_reconstructs_better_for_it(
        arch, likelihood, sample_dataset):
    config = ModelConfig(arch=arch, likelihood=likelihood, hidden_dim=64, latent_dim=4)
    plain, started = build_model(config, seed=0), build_model(config, seed=0)
    mean = sample_dataset.train.mean_image()
    assert start_at_mean_image(started, mean)
    last = [m for m in started.decoder.modules() if getattr(m, "bias", None) is not None][-1]
    per_bias = started.likelihood.mean(last.bias.detach())
    wanted = mean.reshape(-1) if arch == "mlp" else mean.reshape(1, -1).mean(1)
    inside = (wanted > 0.01) & (wanted < 0.99)  # outside, each likelihood has its bound
    torch.testing.assert_close(per_bias[inside], wanted[inside], atol=1e-4, rtol=0)
    assert (per_bias[wanted <= 0.01] <= 0.0101).all()
    # Only that bias moved.
    moved = [name for (name, a), b in zip(plain.state_dict().items(),
                                          started.state_dict().values()) if not torch.equal(a, b)]
    assert len(moved) == 1 and moved[0].endswith("bias")

    x = sample_dataset.test.floats()[:200]
    with torch.no_grad():
        losses = [m.reconstruction_nll(m(x, generator=torch.Generator().manual_seed(0))[0],
                                       x).mean() for m in (plain, started)]
    assert losses[1] < losses[0]


def test_a_decoder_it_cannot_read_is_left_alone(sample_dataset):
    model = build_model(ModelConfig(hidden_dim=32, latent_dim=4), seed=0)
    model.decoder = nn.Sequential(nn.Linear(4, 784, bias=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not start_at_mean_image(model, sample_dataset.train.mean_image())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.decoder = nn.Sequential(nn.Linear(4, 10))  # a bias of neither pixels nor channels
    assert not start_at_mean_image(model, sample_dataset.train.mean_image())


def test_a_new_run_says_where_it_started_and_a_resumed_one_keeps_what_it_had(
        tiny_train_config, sample_dataset, tmp_path):
    first = replace(tiny_train_config, epochs=1)
    Trainer(first, dataset=sample_dataset).run()
    checkpoint = load_checkpoint(first.out)
    assert checkpoint.meta["training"]["output_bias"] == "data-mean"

    # A run from before the start existed has no such entry; resuming it adds none.
    old_meta = {**checkpoint.meta, "training": {
        k: v for k, v in checkpoint.meta["training"].items() if k != "output_bias"}}
    old = tmp_path / "old.safetensors"
    save_checkpoint(old, checkpoint.model, old_meta, checkpoint.optimizer_state,
                    checkpoint.rng_state, checkpoint.live_weights)
    Trainer(replace(first, epochs=2, out=str(old)), resume=True, dataset=sample_dataset).run()
    assert "output_bias" not in load_checkpoint(old).meta["training"]

    Trainer(replace(first, epochs=2), resume=True, dataset=sample_dataset).run()
    assert load_checkpoint(first.out).meta["training"]["output_bias"] == "data-mean"


def test_a_malformed_start_in_a_checkpoint_is_refused(tiny_train_config, sample_dataset,
                                                      tmp_path):
    from tui_vae.errors import CheckpointError

    config = replace(tiny_train_config, epochs=1)
    Trainer(config, dataset=sample_dataset).run()
    checkpoint = load_checkpoint(config.out)
    bad = tmp_path / "bad.safetensors"
    meta = {**checkpoint.meta, "training": {**checkpoint.meta["training"], "output_bias": 3}}
    save_checkpoint(bad, checkpoint.model, meta)
    with pytest.raises(CheckpointError, match="training.output_bias"):
        load_checkpoint(bad)
