"""`tui-vae sample --out x.png`: the app's PNG writer, square-ish grids, --scale."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with an untrained tiny VAE checkpoint (sampling needs no training)."""
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.models import ModelConfig, build_model

    where = tmp_path_factory.mktemp("sample")
    config = ModelConfig(model="vae", latent_dim=3, hidden_dim=8, dataset="mnist-sample")
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, [])
    save_checkpoint(where / "vae.safetensors", build_model(config, seed=0), meta)
    return where


def _png(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "L"
        return np.asarray(image)


def test_sixteen_samples_make_a_4x4_grid_and_scale_enlarges_it(folder):
    for name, extra in (("g1.png", []), ("g3.png", ["--scale", "3"]), ("s.npy", [])):
        result = run_cli("sample", "vae.safetensors", "-n", "16", "--seed", "5",
                         "--out", name, *extra, cwd=folder)
        assert result.returncode == 0, result.stderr
    plain, big = _png(folder / "g1.png"), _png(folder / "g3.png")
    assert plain.shape == (4 * 30 - 2, 4 * 30 - 2)  # 4 x 4 tiles of 28 px, 2 px apart
    assert big.shape == (3 * plain.shape[0], 3 * plain.shape[1])
    assert (big[::3, ::3] == plain).all() and (big[2::3, 1::3] == plain).all()
    samples = np.load(folder / "s.npy")  # the same seed: the same images
    for i in (0, 5, 15):
        r, c = divmod(i, 4)
        tile = plain[r * 30 : r * 30 + 28, c * 30 : c * 30 + 28].astype(int)
        assert np.abs(tile - np.rint(samples[i] * 255)).max() <= 1
    assert (plain[28:30] == 0).all()  # the gap between rows


def test_columns_still_choose_the_width(folder):
    result = run_cli("sample", "vae.safetensors", "-n", "5", "--columns", "5", "--out", "row.png",
                     cwd=folder)
    assert result.returncode == 0, result.stderr
    assert _png(folder / "row.png").shape == (28, 5 * 30 - 2)


@pytest.mark.parametrize("args", [
    ["--scale", "0", "--out", "x.png"],
    ["--scale", "2", "--out", "x.npy"],
    ["--scale", "2"],
    ["-n", "10000", "--scale", "32", "--out", "x.png"],
])
def test_bad_scale_exits_2_with_a_message(folder, args):
    result = run_cli("sample", "vae.safetensors", *args, cwd=folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--scale" in result.stderr and "Traceback" not in result.stderr
    assert not (folder / "x.png").exists()
