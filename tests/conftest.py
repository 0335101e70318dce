"""Shared fixtures: the bundled sample, tiny model configs, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_dataset():
    from tui_vae.data import load_dataset

    return load_dataset("mnist-sample")


@pytest.fixture
def tiny_model_config():
    from tui_vae.models import ModelConfig

    return ModelConfig(model="vae", latent_dim=4, hidden_dim=32, dataset="mnist-sample")


@pytest.fixture
def tiny_train_config(tmp_path, tiny_model_config):
    from tui_vae.training import TrainConfig

    return TrainConfig(model=tiny_model_config, epochs=2, batch_size=64, device="cpu",
                       out=str(tmp_path / "tiny.safetensors"), log_every=2)


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120,
            ) -> subprocess.CompletedProcess:
    """Run `python -m tui_vae ARGS` in a subprocess and capture its output."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tui_vae", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
