"""The Runs view's service: runs from headers, curves, plane points, -ELBO levels."""

from __future__ import annotations

from pathlib import Path

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.runs import elbo_levels, run_from, runs_from


def _entry(history, model=None, epochs=2):
    meta = {"model": model or {"model": "cvae", "latent_dim": 3, "hidden_dim": 8, "beta": 0.5,
                               "dataset": "mnist", "num_classes": 10},
            "progress": {"epochs_done": epochs}, "history": history}
    return CheckpointInfo(Path("/runs/a.safetensors"), meta, {}, 0)


def test_a_run_from_its_header_with_curves_and_its_point():
    history = [{"epoch": 1, "train": {"loss": 130.0}, "test": {"loss": 120.0, "recon": 100.0,
                                                                 "kl": 20.0}, "seconds": 2.0},
               {"epoch": 2, "train": {"loss": 110.0}, "test": {"loss": 105.0, "recon": 85.0,
                                                                 "kl": 20.0}, "seconds": 3.0}]
    run = run_from(_entry(history))
    assert (run.name, run.kind, run.arch, run.likelihood, run.beta) == (
        "a", "cVAE", "mlp", "bernoulli", 0.5)
    assert run.curve("test_loss") == ((1.0, 2.0), (120.0, 105.0))
    assert run.curve("train_loss") == ((1.0, 2.0), (130.0, 110.0))
    assert run.point == (20.0, 85.0) and run.seconds == 5.0


def test_odd_histories_give_empty_curves_not_errors():
    run = run_from(_entry([{"epoch": 1, "test": "x"}, "junk", {"test": {"loss": 1.0}}], epochs=0))
    assert run.curve("test_loss") == ((), ()) and run.point is None
    assert runs_from(["not a checkpoint"]) == []


def test_elbo_levels_are_round_and_span_the_points():
    levels = elbo_levels([(20.0, 75.0), (440.0, 63.0), (6.0, 143.0)])
    assert levels == [100.0, 200.0, 300.0, 400.0, 500.0]
    assert elbo_levels([]) == [] and elbo_levels([(1.0, 2.0)]) == [3.0]
