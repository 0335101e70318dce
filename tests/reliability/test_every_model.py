"""Every model the CLI can train, and every checkpoint validation accepts, opens in
every view and command without a traceback.

Property-style: tiny models across the accepted settings (latent sizes 1 to 3, VAE
and cVAE, test sets of the bundled sample, of one image and of none), each opened
in the app, every view visited and its main keys pressed; class counts validation
refuses are refused in one line everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

# view key -> its main keys (each view's bindings, plus keys it does not bind)
VIEW_KEYS = {
    "t": ["tab", "escape"],
    "m": ["down", "up", "enter", "a", "b"],
    "r": ["right", "left", "7", "a", "w", "w"],
    "g": ["space", "plus", "minus", "7", "a", "a"],
    "i": ["space", "s", "plus", "minus", "space"],
    "c": ["space", "x"],
    "l": ["up", "right", "shift+down", "7", "space", "space"],
    "v": ["right", "left", "7", "0"],
    "d": ["space", "up", "right", "left_square_bracket", "x", "o", "7", "backspace"],
}
TINY = dict(hidden_dim=8, dataset="mnist-sample")


def _idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file of unsigned bytes (the MNIST format)."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def tiny_mnist(root: Path, test_images: int) -> Path:
    """An 'MNIST' data folder of 50 training images and `test_images` test images."""
    from tui_vae.data import load_sample

    sample = load_sample()
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = sample.images.numpy(), sample.labels.numpy()
    _idx(raw / "train-images-idx3-ubyte", images[:50])
    _idx(raw / "train-labels-idx1-ubyte", labels[:50])
    _idx(raw / "t10k-images-idx3-ubyte", images[50:50 + test_images])
    _idx(raw / "t10k-labels-idx1-ubyte", labels[50:50 + test_images])
    return root


def _train(out: Path, data_dir: Path | None = None, **model) -> Path:
    from tui_vae.data import load_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    config = ModelConfig(**{**TINY, **model})
    train = TrainConfig(model=config, epochs=1, batch_size=100, device="cpu", out=str(out),
                        data_dir=str(data_dir) if data_dir else None)
    Trainer(train, dataset=load_dataset(config.dataset, data_dir)).run()
    return out


MODELS = [  # (name, model settings); "mnist" ones see a test set of one image
    ("vae-z1", dict(model="vae", latent_dim=1)),
    ("vae-z2", dict(model="vae", latent_dim=2)),
    ("vae-z3", dict(model="vae", latent_dim=3)),
    ("cvae-z1", dict(model="cvae", latent_dim=1)),
    ("cvae-z2", dict(model="cvae", latent_dim=2)),
    ("cvae-z3-beta0", dict(model="cvae", latent_dim=3, beta=0.0)),
    ("vae-one-test-image", dict(model="vae", latent_dim=2, dataset="mnist")),
    ("cvae-one-test-image", dict(model="cvae", latent_dim=1, dataset="mnist")),
    # the open engine: every architecture and likelihood, in every view
    ("conv-vae-z2", dict(model="vae", arch="conv", latent_dim=2)),
    ("conv-cvae-continuous-bernoulli", dict(model="cvae", arch="conv", latent_dim=3,
                                            likelihood="continuous-bernoulli")),
    ("vae-gaussian-z2", dict(model="vae", latent_dim=2, likelihood="gaussian")),
    ("cvae-continuous-bernoulli-z1", dict(model="cvae", latent_dim=1,
                                          likelihood="continuous-bernoulli")),
]


@pytest.fixture(scope="session")
def every_model(tmp_path_factory) -> tuple[Path, Path]:
    """A folder of every model above, and the one-test-image data folder they share."""
    root = tmp_path_factory.mktemp("every-model")
    data = tiny_mnist(root / "data", 1)
    folder = root / "models"
    folder.mkdir()
    for name, settings in MODELS:
        uses_data = settings.get("dataset") == "mnist"
        _train(folder / f"{name}.safetensors", data if uses_data else None, **settings)
    return folder, data


async def settle(app, pilot) -> None:
    """Wait for the workers (a load that failed is the app's to report) and a redraw."""
    from textual.worker import WorkerFailed

    try:
        await app.workers.wait_for_complete()
    except WorkerFailed:
        pass
    await pilot.pause()


async def visit_every_view(app, pilot) -> None:
    """Open each view and press its main keys; the app must stay up throughout."""
    for view, keys in VIEW_KEYS.items():
        await pilot.press(view)
        await settle(app, pilot)
        await pilot.press(*keys)
        await settle(app, pilot)
        assert app.is_running, view
    # Draw's digit loader, Interpolate's pair and Traversal's digit wrap around
    await pilot.press("d", "o", "o", "o", "i", "space", "space", "v", "right", "right")
    await settle(app, pilot)
    assert app.is_running


def _app(folder: Path, data_dir: Path | None, tmp_path: Path):
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    empty = tmp_path / "no-data"
    empty.mkdir(exist_ok=True)
    workspace = Workspace(folder, data_dir or empty, "cpu", shipped_dir=None,
                          export_dir=tmp_path / "exports")
    app = TuiVaeApp(workspace)
    app.notices = []  # every notice, kept (the toasts expire)
    notify = app.notify

    def keep(message, *args, **kwargs):
        app.notices.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = keep
    return app


async def test_every_view_opens_on_every_trainable_model(every_model, tmp_path):
    folder, data = every_model
    app = _app(folder, data, tmp_path)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(app, pilot)
        for name, _ in MODELS:
            path = folder / f"{name}.safetensors"
            app.activate(path)
            await settle(app, pilot)
            assert app.model is not None and app.active == path, app.notices
            await visit_every_view(app, pilot)
    assert app.return_code in (None, 0)


async def test_a_test_set_of_no_images_is_a_notice_in_the_app(every_model, tmp_path):
    folder, _ = every_model
    empty = tiny_mnist(tmp_path / "empty-test", 0)
    one = tmp_path / "one"
    one.mkdir()
    (one / "vae.safetensors").write_bytes((folder / "vae-one-test-image.safetensors")
                                          .read_bytes())
    app = _app(one, empty, tmp_path)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(app, pilot)
        await visit_every_view(app, pilot)
    assert any("holds no images" in notice for notice in app.notices), app.notices


def test_a_test_set_of_no_images_is_one_line_in_train_and_eval(every_model, tmp_path):
    path = every_model[0] / "vae-one-test-image.safetensors"
    empty = tiny_mnist(tmp_path / "empty-test", 0)
    for args in (["train", "--dataset", "mnist", "--hidden-dim", "8", "--epochs", "1",
                  "--out", "x.safetensors", "--device", "cpu"], ["eval", str(path)]):
        result = run_cli(*args, "--data-dir", str(empty), cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "holds no images" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_eval_on_one_test_image_reports_or_refuses_in_one_line(every_model, tmp_path):
    folder, data = every_model
    path = folder / "vae-one-test-image.safetensors"
    plain = run_cli("eval", str(path), "--no-quality", "--data-dir", str(data), cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "on the 1 mnist test images" in plain.stdout
    judged = run_cli("eval", str(path), "--data-dir", str(data), cwd=tmp_path)
    assert "Traceback" not in judged.stderr
    if judged.returncode:  # the Frechet distance needs two test images at least
        assert len(judged.stderr.strip().splitlines()) == 1, judged.stderr
        assert "at least 2 test images" in judged.stderr


def _odd_cvae(folder: Path, classes: int) -> Path:
    """A cVAE checkpoint on MNIST whose condition has `classes` entries (MNIST has 10)."""
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.models import VAE, ModelConfig

    config = ModelConfig(model="cvae", latent_dim=2, num_classes=classes, **TINY)
    path = folder / f"c{classes}.safetensors"
    save_checkpoint(path, VAE(config), build_metadata(config, {"seed": 0},
                                                      {"epochs_done": 1, "step": 1}, []))
    return path


def test_a_cvae_whose_class_count_differs_from_its_dataset_is_refused_in_one_line(tmp_path):
    from tui_vae.checkpoints import list_checkpoints, read_info
    from tui_vae.errors import CheckpointError

    paths = {classes: _odd_cvae(tmp_path, classes) for classes in (1, 3, 2000)}
    for classes, path in paths.items():
        with pytest.raises(CheckpointError, match=f"has 10 classes; this one declares {classes}"):
            read_info(path)
    assert all("declares" in entry.reason for entry in list_checkpoints(tmp_path))
    for args in (["sample", str(paths[3]), "--digit", "7", "-n", "2"], ["eval", str(paths[2000])]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "declares" in result.stderr


async def test_a_refused_class_count_leaves_the_app_running(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    for classes in (1, 3, 2000):
        _odd_cvae(folder, classes)
    app = _app(folder, None, tmp_path)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(app, pilot)
        await visit_every_view(app, pilot)
    assert app.model is None
