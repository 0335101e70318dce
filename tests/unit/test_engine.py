"""The open engine: every architecture x likelihood x kind trains, the step is chosen
honestly, the likelihoods are what they claim, the config is the one home of choices."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from tui_vae.config import ARCHITECTURES, LIKELIHOODS, MODEL_KINDS, ModelConfig
from tui_vae.elbo_step import ElboStep
from tui_vae.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian
from tui_vae.models import build_model
from tui_vae.train_step import AutogradStep, choose_step, hand_derived_applies
from tui_vae.training import Started, Trainer

COMBINATIONS = list(itertools.product(MODEL_KINDS, ARCHITECTURES, LIKELIHOODS))


def _batch(sample_dataset, n=32):
    x = sample_dataset.train.images[:n].unsqueeze(1).float() / 255
    return x, sample_dataset.train.labels[:n]


# --------------------------------------------------------------------------- the two paths


@pytest.mark.parametrize("kind", ["vae", "cvae"])
@pytest.mark.parametrize("weight", [1.0, 0.0, 0.37])
def test_both_paths_give_the_same_loss_and_gradients_on_the_reports_model(
        kind, weight, sample_dataset):
    config = ModelConfig(model=kind, dataset="mnist-sample")  # the report's sizes
    model = build_model(config, seed=3)
    x, labels = _batch(sample_dataset)
    cond = labels if kind == "cvae" else None
    by_hand = ElboStep(model)(x, cond, weight, torch.Generator().manual_seed(5))
    hand_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    general = AutogradStep(model)(x, cond, weight, torch.Generator().manual_seed(5))
    assert general == pytest.approx(by_hand, rel=1e-5)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, hand_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_the_hand_derived_step_is_taken_only_where_it_provably_applies():
    report = build_model(ModelConfig())
    assert hand_derived_applies(report) is None
    assert choose_step(report).name == "hand-derived"
    assert choose_step(report, prefer="autograd").name == "autograd"
    assert "architecture conv" in hand_derived_applies(build_model(ModelConfig(arch="conv")))
    for likelihood in ("continuous-bernoulli", "gaussian"):
        model = build_model(ModelConfig(likelihood=likelihood))
        assert likelihood in hand_derived_applies(model)
        assert choose_step(model).name == "autograd"
    other_activation = build_model(ModelConfig())
    other_activation.encoder_shared[1] = nn.Tanh()
    assert hand_derived_applies(other_activation) == "another encoder"
    extra = build_model(ModelConfig())
    extra.register_parameter("temperature", nn.Parameter(torch.ones(1)))
    assert hand_derived_applies(extra) == "other parameters"
    hooked = build_model(ModelConfig())
    hooked.decoder.register_forward_hook(lambda *args: None)
    assert hand_derived_applies(hooked) == "module hooks"
    frozen = build_model(ModelConfig())
    frozen.fc_mu.weight.requires_grad_(False)
    assert hand_derived_applies(frozen) == "frozen parameters"


def test_the_run_says_which_path_it_took(tiny_train_config, sample_dataset, tmp_path):
    for model, expected in ((tiny_train_config.model, "hand-derived"),
                            (replace(tiny_train_config.model, likelihood="gaussian"), "autograd")):
        out = tmp_path / f"{expected}.safetensors"
        config = replace(tiny_train_config, model=model, epochs=1, out=str(out))
        events = []
        Trainer(config, on_event=events.append, dataset=sample_dataset).run()
        started = next(e for e in events if isinstance(e, Started))
        assert started.gradients == expected
        from tui_vae.checkpoints import read_info

        assert read_info(out).meta["training"]["gradients"] == expected


# --------------------------------------------------------------------------- every combination


@pytest.mark.parametrize("kind,arch,likelihood", COMBINATIONS)
def test_every_architecture_likelihood_and_kind_trains_through_the_general_path(
        kind, arch, likelihood, sample_dataset):
    config = ModelConfig(model=kind, arch=arch, likelihood=likelihood, latent_dim=4,
                         hidden_dim=48, dataset="mnist-sample")
    model = build_model(config, seed=0)
    x, labels = _batch(sample_dataset, 64)
    cond = labels if kind == "cvae" else None
    step = AutogradStep(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = []
    for i in range(25):
        losses.append(step(x, cond, 1.0, torch.Generator().manual_seed(i))[0])
        optimizer.step()
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    # Every parameter trains, a likelihood's own (the Gaussian's scale) included.
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []
    images = model.decode(torch.zeros(3, 4), labels[:3] if cond is not None else None)
    assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("arch,likelihood", [("conv", "bernoulli"), ("mlp", "gaussian")])
def test_stop_and_resume_ends_on_the_same_metrics_through_the_general_path(
        arch, likelihood, tiny_train_config, sample_dataset, tmp_path):
    from tests.unit.test_training import StopAfter, metrics_only

    model = replace(tiny_train_config.model, arch=arch, likelihood=likelihood, hidden_dim=16)
    straight = Trainer(replace(tiny_train_config, model=model, out=None),
                       dataset=sample_dataset).run()
    config = replace(tiny_train_config, model=model, out=str(tmp_path / "stopped.safetensors"))
    stopped = Trainer(config, stop=StopAfter(17), dataset=sample_dataset).run()
    assert stopped.stopped
    resumed = Trainer(config, resume=True, dataset=sample_dataset).run()
    assert metrics_only(resumed.history) == metrics_only(straight.history)


def test_a_conv_and_a_gaussian_checkpoint_load_with_their_own_parameters(
        tiny_train_config, sample_dataset, tmp_path):
    from tui_vae.inference import load

    model = replace(tiny_train_config.model, arch="conv", likelihood="gaussian", model="cvae")
    out = tmp_path / "conv.safetensors"
    Trainer(replace(tiny_train_config, model=model, epochs=1, out=str(out)),
            dataset=sample_dataset).run()
    loaded = load(out)
    assert loaded.config.arch == "conv" and loaded.config.likelihood == "gaussian"
    assert "likelihood.log_scale" in dict(loaded.module.named_parameters())
    assert loaded.sample(4, labels=7, seed=0).shape == (4, 1, 28, 28)


def test_checkpoints_from_before_the_open_engine_load_as_the_reports_mlp(tmp_path):
    from tui_vae.checkpoints import load_checkpoint, read_info
    from tui_vae.paths import shipped_dir

    path = shipped_dir() / "vae.safetensors"
    assert "arch" not in read_info(path).meta["model"]  # written before the field existed
    checkpoint = load_checkpoint(path)
    assert (checkpoint.model.config.arch, checkpoint.model.config.likelihood) == (
        "mlp", "bernoulli")
    assert hand_derived_applies(checkpoint.model) is None


# --------------------------------------------------------------------------- likelihoods


def test_the_continuous_bernoulli_is_a_normalised_density_with_the_stated_mean():
    grid = torch.linspace(0, 1, 20001)
    for logit in (-30.0, -4.0, -0.3, -1e-3, 0.0, 2e-3, 0.7, 6.0, 25.0):
        out = torch.full((grid.numel(), 1), logit)
        density = torch.exp(-ContinuousBernoulli().nll(out, grid[:, None]))
        mass = torch.trapezoid(density, grid)
        mean = torch.trapezoid(density * grid, grid)
        stated = ContinuousBernoulli().mean(torch.tensor([logit]))
        assert mass.item() == pytest.approx(1.0, abs=2e-3), logit
        assert stated.item() == pytest.approx(mean.item(), abs=2e-3), logit


def test_gaussian_and_bernoulli_match_torch_distributions():
    out, x = torch.randn(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    gaussian = Gaussian(1)
    with torch.no_grad():
        gaussian.log_scale.fill_(-1.3)
    normal = torch.distributions.Normal(torch.sigmoid(out), math.exp(-1.3))
    expected = -normal.log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian.nll(out, x), expected)
    binary = (x > 0.5).float()
    expected = -torch.distributions.Bernoulli(logits=out).log_prob(binary).flatten(1).sum(1)
    torch.testing.assert_close(Bernoulli().nll(out, binary), expected)


# --------------------------------------------------------------------------- one home for config


def test_the_cli_offers_exactly_the_registered_choices_without_importing_torch(tmp_path):
    code = ("import sys, runpy; sys.argv = ['tui-vae', 'train', '--help']\n"
            "try:\n    runpy.run_module('tui_vae', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, env={"COLUMNS": "200", "PATH": ""})
    assert result.returncode == 0, result.stderr
    for flag, registry in (("--arch", ARCHITECTURES), ("--likelihood", LIKELIHOODS),
                           ("--model", MODEL_KINDS)):
        assert f"{flag} <{'|'.join(registry)}>" in result.stdout
        for choice in registry.values():  # each entry's own help line reaches --help
            if choice.target:
                assert f"{choice.name}: {choice.help}" in " ".join(result.stdout.split())


def test_checkpoint_validation_follows_the_registries(tmp_path):
    from tui_vae.checkpoints import _check_model_config
    from tui_vae.errors import CheckpointError

    good = {**ModelConfig(arch="conv", likelihood="continuous-bernoulli").to_dict()}
    _check_model_config(tmp_path / "x", good)
    for key, bad in (("arch", "transformer"), ("likelihood", "poisson"), ("channels", 2),
                     ("image_size", 30), ("arch", 3)):
        with pytest.raises(CheckpointError):
            _check_model_config(tmp_path / "x", {**good, key: bad})


# --------------------------------------------------------------------------- binarised MNIST


def test_binarised_mnist_draws_binary_pixels_at_the_grey_levels(sample_dataset):
    from tui_vae.data import binarize_split

    grey = sample_dataset.test
    once, again = binarize_split(grey, 0), binarize_split(grey, 0)
    assert set(once.images.unique().tolist()) == {0, 255}
    assert torch.equal(once.images, again.images)  # one fixed test set
    assert not torch.equal(once.images, binarize_split(grey, 1).images)
    assert (once.images == 255).float().mean().item() == pytest.approx(
        grey.images.float().mean().item() / 255, abs=0.01)
    assert torch.equal(once.images[grey.images == 0], grey.images[grey.images == 0])


def test_the_aggregate_posterior_of_a_binarised_model_is_fitted_to_binary_images(
        sample_dataset):
    """`eval` fitted a binarised model's aggregate posterior to the codes of the grey
    training images, which the model never saw."""
    from tui_vae.data import Dataset, binarize_split, training_images_as_seen
    from tui_vae.datasets import dataset_spec

    binary = Dataset(dataset_spec("mnist-binary"), sample_dataset.train,
                     binarize_split(sample_dataset.test, 0), None)
    seen = training_images_as_seen(binary)
    assert set(seen.images.unique().tolist()) == {0, 255}
    assert torch.equal(seen.images, training_images_as_seen(binary).images)  # seeded
    assert torch.equal(seen.labels, sample_dataset.train.labels)
    assert training_images_as_seen(sample_dataset) is sample_dataset.train  # grey: as read


def test_training_on_binarised_data_draws_each_batch_afresh(
        tiny_train_config, sample_dataset, monkeypatch):
    from tui_vae.data import Dataset, binarize_split
    from tui_vae.datasets import dataset_spec

    binary = Dataset(dataset_spec("mnist-binary"), sample_dataset.train,
                     binarize_split(sample_dataset.test, 0), None)
    seen = []
    original = torch.bernoulli
    monkeypatch.setattr(torch, "bernoulli", lambda x, **kw: seen.append(x) or original(x, **kw))
    config = replace(tiny_train_config, out=None, epochs=1)
    first = Trainer(config, dataset=binary).run()
    assert len(seen) == 13  # every training batch of 800 images at batch 64
    assert Trainer(config, dataset=binary).run().history[0]["test"] == first.history[0]["test"]
    grey = Trainer(config, dataset=sample_dataset).run()
    assert grey.history[0]["test"] != first.history[0]["test"]
