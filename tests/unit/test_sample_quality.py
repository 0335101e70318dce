"""Sample-quality maths on cases with known answers; the judge and eval's report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_cli
from tui_vae.errors import CheckpointError
from tui_vae.inference import TrainedModel
from tui_vae.judge import Judge, judge_outputs, load_judge, save_judge
from tui_vae.models import ModelConfig, build_model
from tui_vae.sample_quality import (
    agreement,
    conditional_accuracy,
    frechet_distance,
    gaussian_stats,
)


def test_frechet_distance_of_identical_and_shifted_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 5)) @ rng.normal(size=(5, 5))
    mu, cov = gaussian_stats(a)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0.0, -4.0, 0.0, 0.0])  # |shift|^2 = 25
    assert frechet_distance(mu, cov, mu + shift, cov) == pytest.approx(25.0, rel=1e-6)


def test_frechet_distance_of_scaled_isotropic_gaussians():
    # N(0, a^2 I_d) vs N(0, b^2 I_d): d (a - b)^2.
    d, a, b = 4, 1.0, 3.0
    value = frechet_distance(np.zeros(d), a**2 * np.eye(d), np.zeros(d), b**2 * np.eye(d))
    assert value == pytest.approx(d * (a - b) ** 2)
    # Singular covariances stay finite and real.
    assert frechet_distance(np.zeros(3), np.zeros((3, 3)), np.ones(3), np.eye(3)) == \
        pytest.approx(3.0 + 3.0)


def test_agreement_of_a_perfect_and_a_constant_generator():
    requested = torch.arange(10).repeat_interleave(50)
    overall, per_class = agreement(requested, requested.clone(), 10)
    assert overall == 1.0 and per_class == (1.0,) * 10
    overall, per_class = agreement(requested, torch.full_like(requested, 7), 10)
    assert overall == pytest.approx(0.1)
    assert per_class[7] == 1.0 and sum(per_class) == 1.0


def test_conditional_accuracy_asks_the_judge_for_every_class():
    config = ModelConfig(model="cvae", latent_dim=3, hidden_dim=8, dataset="mnist-sample")
    model = TrainedModel(build_model(config, seed=0))
    result = conditional_accuracy(model, Judge().eval(), temperature=0.5, per_class=20)
    assert len(result.per_class) == 10 and 0.0 <= result.overall <= 1.0
    assert result.to_dict()["temperature"] == 0.5
    with pytest.raises(ValueError):
        conditional_accuracy(TrainedModel(build_model(ModelConfig(latent_dim=3, hidden_dim=8))),
                             Judge())


def test_judge_round_trip_and_refusals(tmp_path):
    judge = Judge().eval()
    path = save_judge(judge, tmp_path / "j.safetensors", {"dataset": "mnist"})
    again = load_judge(path)
    x = torch.rand(6, 1, 28, 28)
    assert torch.equal(judge_outputs(judge, x)[0], judge_outputs(again, x)[0])
    assert judge_outputs(again, x)[1].shape == (6, 128)
    (tmp_path / "junk.safetensors").write_bytes(b"garbage!" * 4)
    with pytest.raises(CheckpointError):
        load_judge(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError):
        load_judge(tmp_path / "missing.safetensors")


def test_a_judge_that_is_no_file_or_too_large_or_not_finite_is_refused_unread(tmp_path):
    import os

    from tui_vae.judge import MAX_JUDGE_BYTES

    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(CheckpointError, match="not a file"):
        load_judge(fifo)
    with pytest.raises(CheckpointError, match="not a file"):
        load_judge("/dev/zero")  # reading it would never end
    big = save_judge(Judge().eval(), tmp_path / "big.safetensors", {})
    with big.open("ab") as handle:  # a sparse tail: the header stays valid
        handle.truncate(MAX_JUDGE_BYTES + 1)
    with pytest.raises(CheckpointError, match="too large to be a judge"):
        load_judge(big)
    broken = Judge().eval()
    with torch.no_grad():
        broken.fc1.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_judge(save_judge(broken, tmp_path / "nan.safetensors", {}))


def test_eval_reports_quality_with_a_judge(tmp_path):
    from tui_vae.checkpoints import build_metadata, save_checkpoint

    config = ModelConfig(model="cvae", latent_dim=3, hidden_dim=8, dataset="mnist-sample")
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 0, "step": 0}, [])
    save_checkpoint(tmp_path / "c.safetensors", build_model(config, seed=0), meta)
    save_judge(Judge().eval(), tmp_path / "judge.safetensors", {})
    result = run_cli("eval", "c.safetensors", "--judge", "judge.safetensors", "--json",
                     "--iw-samples", "5", "--iw-subset", "50", "--device", "cpu", cwd=tmp_path,
                     timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frechet_distance"] >= 0 and report["frechet_samples"] == 10_000
    temps = [a["temperature"] for a in report["conditional_accuracy"]]
    assert 1.0 in temps and len(report["conditional_accuracy"][0]["per_class"]) == 10
    assert report["iw_images"] == 50 and report["iw_whole_test_set"] is False
    # the same figures for samples from the aggregate posterior (mixture fitted to the
    # 800 training codes of the bundled sample)
    assert report["frechet_distance_aggregate"] >= 0
    assert report["frechet_distance_aggregate"] != report["frechet_distance"]
    assert report["aggregate_fit"] == {"images": 800, "on": "train", "components": 50}
    assert len(report["conditional_accuracy_aggregate"]["per_class"]) == 10
    text = run_cli("eval", "c.safetensors", "--judge", "judge.safetensors", "--iw-samples", "5",
                   "--iw-subset", "50", "--device", "cpu", cwd=tmp_path, timeout=300)
    assert "SUBSET" in text.stdout and "conditional accuracy at T=1" in text.stdout
