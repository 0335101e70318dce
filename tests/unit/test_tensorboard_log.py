"""`train --tensorboard DIR`: event files read back with TensorBoard's own reader."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, run_cli
from tui_vae.events import EpochEnded, StepLogged
from tui_vae.tensorboard_log import EPOCH_PARTS, STEP_TAGS, TensorBoardLogger, run_folder


def _accumulator(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0,
                                                         "tensors": 0})
    board.Reload()
    return board


def _decode(image_event) -> np.ndarray:
    with Image.open(io.BytesIO(image_event.encoded_image_string)) as image:
        return np.asarray(image.convert("L"))


def test_a_run_writes_step_and_epoch_scalars_and_a_sample_grid_per_epoch(tmp_path,
                                                                           tiny_train_config,
                                                                           sample_dataset):
    from tui_vae.training import Trainer

    seen = []
    logger = TensorBoardLogger(tmp_path / "tb")

    def on_event(event):
        seen.append(event)
        logger(event)

    Trainer(tiny_train_config, on_event=on_event, dataset=sample_dataset).run()
    board = _accumulator(tmp_path / "tb")
    tags = board.Tags()
    expected = {f"step/{t}" for t in STEP_TAGS} | {"epoch/seconds"} | {
        f"epoch/{split}_{part}" for split in ("train", "test") for part in EPOCH_PARTS}
    assert set(tags["scalars"]) == expected
    steps = [e for e in seen if isinstance(e, StepLogged)]
    epochs = [e for e in seen if isinstance(e, EpochEnded)]
    assert len(steps) > 2 and len(epochs) == 2
    assert [(s.step, s.value) for s in board.Scalars("step/recon")] == [
        (e.global_step, pytest.approx(e.recon, rel=1e-6)) for e in steps]
    assert [(s.step, s.value) for s in board.Scalars("epoch/test_loss")] == [
        (e.epoch + 1, pytest.approx(e.test["loss"], rel=1e-6)) for e in epochs]
    images = board.Images("samples")
    assert [i.step for i in images] == [1, 2]
    first, second = (_decode(i) for i in images)
    assert first.shape == second.shape == (4 * 30 - 2, 4 * 30 - 2)  # 16 digits, 4 x 4
    assert first.std() > 0 and not np.array_equal(first, second)  # the model moved
    assert "config/text_summary" in tags["tensors"]


def test_a_cvae_grid_has_a_class_per_column(tmp_path):
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.models import ModelConfig, build_model

    config = ModelConfig(model="cvae", latent_dim=3, hidden_dim=8, dataset="mnist-sample")
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, [])
    save_checkpoint(tmp_path / "c.safetensors", build_model(config, seed=0), meta)
    logger = TensorBoardLogger(tmp_path / "tb", samples=20)
    try:
        picture = logger.sample_grid(tmp_path / "c.safetensors")
    finally:
        logger.close()
    assert picture.shape == (2 * 30 - 2, 10 * 30 - 2) and picture.dtype == np.uint8


def test_the_cli_flag_writes_beside_the_jsonl_record(tmp_path):
    result = run_cli("train", "--dataset", "mnist-sample", "--hidden-dim", "16", "--latent-dim",
                     "2", "--batch-size", "200", "--device", "cpu", "--epochs", "1",
                     "--out", "run.safetensors", "--tensorboard", "tb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run.metrics.jsonl").is_file()  # JSONL stays the record
    folder = run_folder(tmp_path / "tb", "run.safetensors")
    assert list(folder.glob("events.out.tfevents.*"))
    board = _accumulator(folder)
    assert "epoch/test_loss" in board.Tags()["scalars"] and len(board.Images("samples")) == 1


def test_without_the_package_the_flag_says_how_to_install_it(tmp_path):
    # sys.modules[name] = None makes `import tensorboard` fail, as if it were not installed.
    code = ("import sys; sys.modules['tensorboard'] = None; sys.argv = ['tui-vae', *sys.argv[1:]]\n"
            "from tui_vae.cli import main; main()")
    args = ["train", "--dataset", "mnist-sample", "--epochs", "1", "--out", "x.safetensors",
            "--tensorboard", "tb"]
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert "tensorboard" in line and "pip install" in line
    assert not (tmp_path / "x.safetensors").exists()


def test_a_link_in_place_of_the_run_folder_is_refused_and_nothing_written(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "run").symlink_to(victim)
    result = run_cli("train", "--dataset", "mnist-sample", "--hidden-dim", "16", "--latent-dim",
                     "2", "--device", "cpu", "--epochs", "1", "--out", "run.safetensors",
                     "--tensorboard", "tb", cwd=tmp_path)
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert "symbolic link" in line
    assert list(victim.iterdir()) == []
    (tmp_path / "tb" / "file").write_text("not a folder")
    with pytest.raises(OSError, match="not a folder"):
        TensorBoardLogger(tmp_path / "tb" / "file")


def test_a_run_folder_others_can_write_is_refused(tmp_path):
    """torch opens the event file by a predictable name with a plain open(): in a run
    folder others can write, a link planted under that name received the events."""
    shared = tmp_path / "tb" / "run"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    with pytest.raises(OSError, match="can be written by other users"):
        TensorBoardLogger(shared)
    assert list(shared.iterdir()) == []
    mine = tmp_path / "tb" / "new-run"
    old_umask = os.umask(0)  # even so, a folder tui-vae makes is not others'
    try:
        TensorBoardLogger(mine).close()
    finally:
        os.umask(old_umask)
    assert not mine.stat().st_mode & 0o002
