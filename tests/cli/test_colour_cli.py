"""`tui-vae sample` and `eval` on a colour 32x32 model of the shapes dataset: an RGB PNG,
an (N, H, W, 3) array, colour half-blocks in the terminal, and eval's MNIST judge
skipped in its one line."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An untrained tiny colour conv VAE (sampling and evaluation need no training)."""
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.datasets import dataset_spec
    from tui_vae.models import ModelConfig, build_model

    where = tmp_path_factory.mktemp("colour-sample")
    config = ModelConfig(model="vae", arch="conv", latent_dim=3, hidden_dim=8, dataset="shapes",
                         channels=3, image_size=32,
                         num_classes=len(dataset_spec("shapes").classes))
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, [])
    save_checkpoint(where / "shapes.safetensors", build_model(config, seed=0), meta)
    return where


def test_sample_writes_colour_png_and_npy(folder):
    for name in ("grid.png", "s.npy"):
        result = run_cli("sample", "shapes.safetensors", "-n", "4", "--out", name, cwd=folder)
        assert result.returncode == 0, result.stderr
    with Image.open(folder / "grid.png") as image:
        assert image.mode == "RGB"
        grid = np.asarray(image).astype(int)
    assert grid.shape == (2 * 34 - 2, 2 * 34 - 2, 3)  # 2 x 2 tiles of 32 px, 2 px apart
    samples = np.load(folder / "s.npy")
    assert samples.shape == (4, 32, 32, 3)
    assert np.abs(grid[34:66, 34:66] - np.rint(samples[3] * 255)).max() <= 1
    assert np.abs(grid[..., 0] - grid[..., 2]).max() > 0  # not grey


def test_sample_draws_colour_half_blocks(folder):
    result = run_cli("sample", "shapes.safetensors", "-n", "3", cwd=folder,
                     env={"COLORTERM": "truecolor", "TERM": "xterm-256color",
                          "FORCE_COLOR": "1", "COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 16  # 32 pixel rows, two per line
    assert "\u2580" in result.stdout and "38;2;" in result.stdout
    colours = {part.split("m")[0] for part in result.stdout.split("\x1b[38;2;")[1:]}
    assert any(len(set(c.split(";")[:3])) > 1 for c in colours)  # some cell is not grey


def test_eval_skips_the_mnist_judge_in_one_line(folder):
    result = run_cli("eval", "shapes.safetensors", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "MNIST digits only" in report["quality_skipped"]
    assert report["test_loss"] > 0 and report["test_size"] == 2000
    assert "skipped" in result.stderr and len(result.stderr.strip().splitlines()) == 1
