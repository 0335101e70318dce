"""Fixtures for the explorer's Pilot tests: tiny trained checkpoints, an app factory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_folder(tmp_path_factory) -> Path:
    """A VAE, a cVAE and a beta = 0 VAE, tiny, trained 1 epoch on the bundled sample."""
    from tui_vae.data import load_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    folder = tmp_path_factory.mktemp("trained")
    dataset = load_dataset("mnist-sample")
    for name, kind, beta in (("vae", "vae", 1.0), ("cvae", "cvae", 1.0),
                             ("vae-beta0", "vae", 0.0)):
        model = ModelConfig(model=kind, latent_dim=4, hidden_dim=32, beta=beta,
                            dataset="mnist-sample")
        config = TrainConfig(model=model, epochs=1, batch_size=100, device="cpu",
                             out=str(folder / f"{name}.safetensors"))
        Trainer(config, dataset=dataset).run()
    return folder


@pytest.fixture
def checkpoints(tmp_path, trained_folder) -> Path:
    """A fresh copy of the trained checkpoints (tests may delete or add files)."""
    folder = tmp_path / "checkpoints"
    shutil.copytree(trained_folder, folder)
    return folder


@pytest.fixture
def make_app(tmp_path):
    """Build the app over a checkpoint folder, with no data folder (the bundled sample)."""
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    def make(folder: Path, workspace_class=Workspace, keymap: Path | None = None):
        empty = tmp_path / "no-data"
        empty.mkdir(exist_ok=True)
        workspace = workspace_class(folder, empty, "cpu", shipped_dir=None)
        return TuiVaeApp(workspace, keymap)

    return make


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """The app gives its UI thread (pytest's own) one torch thread: put it back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
