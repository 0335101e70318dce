"""The weights' moving average: its update, what a run evaluates and saves, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tui_vae.averaging import WeightAverage, average_decay
from tui_vae.checkpoints import load_checkpoint
from tui_vae.errors import CheckpointError
from tui_vae.evaluation import evaluate_elbo
from tui_vae.models import ModelConfig, build_model
from tui_vae.training import Trainer


def test_the_fused_update_is_the_formula_written_out():
    model = build_model(ModelConfig(latent_dim=3, hidden_dim=8), seed=0)
    average = WeightAverage(model, decay=0.8)
    expected = {name: p.detach().clone() for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(0)
    for step in range(1, 40):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
        average.update()
        keep = min(0.8, (1 + step) / (10 + step))  # the ramp, then the decay
        for name, p in model.named_parameters():
            expected[name] = keep * expected[name] + (1 - keep) * p.detach()
    assert average.steps == 39 and average_decay(0.8, 39) == 0.8
    assert average_decay(0.8, 1) == pytest.approx(2 / 11)
    for name, value in average.state().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("every", [3, 4])
def test_an_average_updated_every_few_steps_keeps_the_skipped_steps_decays(every):
    """At each k-th step it keeps the product of the k steps' decays: the average of
    weights that stood still between its updates."""
    model = build_model(ModelConfig(latent_dim=3, hidden_dim=8), seed=0)
    average = WeightAverage(model, decay=0.8, every=every)
    expected = {name: p.detach().clone() for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(0)
    keep = 1.0
    for step in range(1, 40):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
        before = {name: a.clone() for name, a in average.state().items()}
        average.update()
        keep *= min(0.8, (1 + step) / (10 + step))
        if step % every:  # between updates the average stands still
            assert all(torch.equal(before[k], v) for k, v in average.state().items())
            continue
        for name, p in model.named_parameters():
            expected[name] = keep * expected[name] + (1 - keep) * p.detach()
        keep = 1.0
    for name, value in average.state().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-5)


def test_a_run_keeps_the_spacing_it_started_with(tiny_train_config, sample_dataset):
    """New runs fold the weights in every AVERAGE_EVERY steps and say so; a run
    from before the spacing (none in its metadata) resumes with one a step."""
    from tests.unit.test_checkpoints import rewrite_meta
    from tui_vae.averaging import AVERAGE_EVERY

    first = replace(tiny_train_config, epochs=1)
    Trainer(first, dataset=sample_dataset).run()
    progress = load_checkpoint(first.out).meta["progress"]
    assert progress["average_every"] == AVERAGE_EVERY > 1
    rewrite_meta(Path(first.out), lambda meta, header: meta["progress"].pop("average_every"))
    trainer = Trainer(tiny_train_config, resume=True, dataset=sample_dataset)
    trainer.run()
    assert trainer.average.every == 1
    assert load_checkpoint(first.out).meta["progress"]["average_every"] == 1


def test_applied_lends_the_model_the_average_and_gives_the_weights_back():
    model = build_model(ModelConfig(latent_dim=3, hidden_dim=8), seed=0)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update()
    live = {name: p.detach().clone() for name, p in model.named_parameters()}
    with average.applied() as lent:
        for name, p in model.named_parameters():
            assert torch.equal(p, average.state()[name]) and not torch.equal(p, live[name])
            assert torch.equal(lent[name], live[name])
    assert all(torch.equal(p, live[name]) for name, p in model.named_parameters())


def test_a_run_saves_and_reports_the_average_and_keeps_the_live_weights(
        tiny_train_config, sample_dataset):
    finished = Trainer(tiny_train_config, dataset=sample_dataset).run()
    checkpoint = load_checkpoint(tiny_train_config.out)
    assert checkpoint.meta["training"]["average"] == tiny_train_config.average > 0
    live, saved = checkpoint.live_weights, checkpoint.model.state_dict()
    assert live is not None and live.keys() == saved.keys()
    assert any(not torch.equal(live[k], saved[k]) for k in live)
    # The last epoch's test figures are the saved (averaged) model's.
    again = evaluate_elbo(checkpoint.model, sample_dataset.test, seed=tiny_train_config.seed)
    assert again.loss == pytest.approx(finished.history[-1]["test"]["loss"], rel=1e-6)


def test_without_the_average_the_live_weights_are_the_model(
        tiny_train_config, sample_dataset):
    config = replace(tiny_train_config, average=0.0)
    Trainer(config, dataset=sample_dataset).run()
    checkpoint = load_checkpoint(config.out)
    assert checkpoint.live_weights is None
    assert "average_steps" not in checkpoint.meta["progress"]


def test_damaged_live_weights_leave_the_model_usable_and_refuse_a_resume(
        tiny_train_config, sample_dataset):
    """Only --resume reads the live weights: eval, sample and the app load the average."""
    Trainer(tiny_train_config, dataset=sample_dataset).run()
    path = tiny_train_config.out
    tensors = load_file(path)
    from safetensors import safe_open

    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    key = next(k for k in tensors if k.startswith("live."))
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, path, metadata=metadata)
    assert load_checkpoint(path).model is not None
    with pytest.raises(CheckpointError, match="live weights"):
        Trainer(tiny_train_config, resume=True, dataset=sample_dataset).run()


def test_a_run_without_the_average_refuses_live_weights_on_resume(
        tiny_train_config, sample_dataset):
    """A file that says its run kept no average but holds live weights is inconsistent:
    resuming it would quietly train on from the average."""
    Trainer(replace(tiny_train_config, epochs=1), dataset=sample_dataset).run()
    with pytest.raises(CheckpointError, match="holds live weights"):
        Trainer(replace(tiny_train_config, average=0.0), resume=True,
                dataset=sample_dataset).run()


def test_a_run_from_before_the_average_resumes_without_one(tiny_train_config, sample_dataset):
    """Its metadata names no average: --resume goes on as it was trained (live weights
    saved and reported), not with the new default."""
    from tests.unit.test_checkpoints import rewrite_meta
    from tui_vae.cli import _resume_settings

    first = replace(tiny_train_config, average=0.0, epochs=1)
    Trainer(first, dataset=sample_dataset).run()
    rewrite_meta(Path(first.out), lambda meta, header: (meta["training"].pop("average"),
                                                        meta["training"].pop("lr_warmup")))
    given = dict.fromkeys(("model", "arch", "likelihood", "latent_dim", "hidden_dim",
                           "hidden_widths", "beta", "dataset", "image_size", "channels",
                           "batch_size", "lr", "kl_warmup", "lr_schedule", "seed", "average",
                           "lr_warmup"))
    settings = _resume_settings(Path(first.out), {**given, "epochs": 2})
    # Nor had it a learning-rate warm-up: it goes on without one.
    assert settings["average"] == 0.0 and settings["lr_warmup"] == 0.0
