"""Hostile image folders given to `tui-vae train --dataset folder:PATH`.

FIFOs, devices and dangling links where images should be, a folder nested
deeper than Python's recursion limit, a relative path: each is a skipped file
counted in one line, or one line and exit code 1, within a timeout; never a
hang, a traceback or a checkpoint that cannot find its folder again.
"""

import json
import os
import struct
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli
from tui_vae import data, image_folder
from tui_vae.datasets import dataset_spec
from tui_vae.errors import DataError

TINY = ["--epochs", "1", "--hidden-dim", "8", "--latent-dim", "2", "--batch-size", "4",
        "--image-size", "28", "--channels", "1"]


def _images(folder, count, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(start, start + count):
        Image.new("L", (20, 20), 10 * k).save(folder / f"{k}.png")


def _train(tmp_path, dataset, *more, timeout=60):
    out = tmp_path / "run.safetensors"
    return out, run_cli("train", "--dataset", dataset, *TINY, *more, "--out", str(out),
                        "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
                        timeout=timeout)


def _dataset_of(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(json.loads(raw[8:8 + length])["__metadata__"]["tui_vae"])["model"][
        "dataset"]


def _load(tmp_path, dataset):
    """The folder read in this process (a FIFO read blocking would hang it: an alarm
    turns that into a failure)."""
    import signal

    def hung(*_):
        raise AssertionError("reading the folder waited on a FIFO or device")

    data._load_cached.cache_clear()
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        return data.load_dataset(dataset, tmp_path / "data", image_size=28, channels=1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_fifos_devices_and_dangling_links_are_skipped_never_waited_on(tmp_path):
    pics = tmp_path / "pics"
    for name in ("cats", "dogs"):
        _images(pics / name, 4)
        os.mkfifo(pics / name / "pipe.png")  # read blocking, it would wait for ever
        (pics / name / "zero.png").symlink_to("/dev/zero")
        (pics / name / "gone.png").symlink_to(tmp_path / "nowhere")
        (pics / name / "loop").symlink_to(pics)  # a link to a folder: not followed
    _images(tmp_path / "flat", 4)
    os.mkfifo(tmp_path / "flat" / "pipe.png")
    (tmp_path / "flat" / "zero.png").symlink_to("/dev/zero")
    flat = _load(tmp_path, f"folder:{tmp_path / 'flat'}")
    assert len(flat.train) + len(flat.test) == 4 and "skipped 2 of 6 files" in flat.note
    out, result = _train(tmp_path, f"folder:{pics}", "--model", "cvae")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "skipped 6 of 14 files" in result.stderr, result.stderr
    assert "not a regular file" in result.stderr or "No such file" in result.stderr


def test_a_folder_nested_deeper_than_the_recursion_limit_is_read(tmp_path):
    pics = tmp_path / "pics"
    _images(pics / "a", 2)
    _images(pics / "b", 2, start=5)
    here = Path.cwd()
    os.chdir(pics / "b")  # relative mkdirs: the full path passes PATH_MAX
    try:
        for _ in range(1100):
            os.mkdir("d")
            os.chdir("d")
        Image.new("L", (20, 20), 200).save("deep.png")
    finally:
        os.chdir(here)
    try:
        dataset = _load(tmp_path, f"folder:{pics}")
        assert len(dataset.train) + len(dataset.test) == 5 and dataset.note == ""
    finally:
        _remove_deep(pics / "b")


def _remove_deep(top):
    """Remove a folder nested too deep for shutil.rmtree (it recurses, as pytest's
    clean-up of old temporary folders does), from the bottom up."""
    depth, here = 0, os.getcwd()
    os.chdir(top)
    try:
        while os.path.isdir("d"):
            os.chdir("d")
            depth += 1
        for name in os.listdir("."):
            os.unlink(name)
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(here)


def test_link_loops_as_the_folder_or_among_its_classes(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DataError, match="cannot use .*loop as an image folder: Symlink loop"):
        _load(tmp_path, f"folder:{tmp_path / 'loop'}")
    pics = tmp_path / "pics"
    _images(pics / "a", 2)
    _images(pics / "b", 2, start=3)
    (pics / "c").symlink_to(pics / "c")  # is_dir() raises on it: no class, the others are
    dataset = _load(tmp_path, f"folder:{pics}")
    assert dataset.classes == ("a", "b") and len(dataset.train) + len(dataset.test) == 4


def test_a_class_folder_that_cannot_be_listed_is_named_in_the_note(tmp_path, monkeypatch):
    pics = tmp_path / "pics"
    _images(pics / "a", 3)
    _images(pics / "b", 3)
    spec = dataset_spec(f"folder:{pics}")
    for path in (pics / "b").iterdir():  # gone between the spec and the read, as
        path.unlink()                    # unreadable (chmod 000) is to a non-root user
    (pics / "b").rmdir()
    loaded = image_folder.load(spec, tmp_path / "data", 28, 1)
    assert "1 sub-folder could not be listed" in loaded.note and str(pics / "b") in loaded.note


def test_only_unusable_files_or_one_image_is_one_line(tmp_path):
    for name in ("torn", "one"):
        (tmp_path / name).mkdir()
    (tmp_path / "torn" / "a.png").write_text("a text file named .png")
    os.mkfifo(tmp_path / "torn" / "b.png")
    _images(tmp_path / "one", 1)
    with pytest.raises(DataError, match="1 of 1 image files could be read; at least 2"):
        _load(tmp_path, f"folder:{tmp_path / 'one'}")
    _, result = _train(tmp_path, f"folder:{tmp_path / 'torn'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "0 of 2 image files could be read" in lines[0], lines


def test_a_relative_folder_is_recorded_absolute_so_it_loads_from_elsewhere(tmp_path,
                                                                           monkeypatch):
    _images(tmp_path / "pics", 6)
    out, result = _train(tmp_path, "folder:pics")
    assert result.returncode == 0, result.stderr
    assert _dataset_of(out) == f"folder:{tmp_path / 'pics'}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert len(_load(tmp_path, _dataset_of(out)).test) >= 1


MARKUP = ("[bold]x[red]", "[i]b")  # folder names that Rich would read as markup


async def test_class_folders_named_like_markup_show_as_written(tmp_path, make_app):
    """A folder's class names are folder names: text, never markup, in every view."""
    from tests.tui.test_views import activate, settle
    from tui_vae.config import ModelConfig
    from tui_vae.datasets import fit_to_dataset
    from tui_vae.training import TrainConfig, Trainer

    pics = tmp_path / "pics"
    for index, name in enumerate(MARKUP):
        for k in range(6):
            (pics / name).mkdir(parents=True, exist_ok=True)
            Image.new("L", (28, 28), 40 * k + 100 * index).save(pics / name / f"{k}.png")
    folder = tmp_path / "runs"
    folder.mkdir()
    model = fit_to_dataset(ModelConfig(model="cvae", latent_dim=2, hidden_dim=16,
                                       dataset=f"folder:{pics}"), image_size=28, channels=1)
    Trainer(TrainConfig(model=model, epochs=1, batch_size=8, device="cpu",
                        out=str(folder / "markup.safetensors"))).run()
    app = make_app(folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await activate(app, pilot, "markup.safetensors")
        shown = {}
        for view, widget in (("g", "#status"), ("l", "#latent-info"), ("i", "#sweep-title"),
                             ("d", "#draw-classes-title")):
            await pilot.press(view, "0")
            await settle(app, pilot)
            shown[view] = str(app.screen.query_one(widget).render())
        assert all(MARKUP[0] in text for text in shown.values()), shown


def test_control_characters_in_folder_and_file_names_never_reach_the_terminal(tmp_path):
    pics = tmp_path / "pics"
    for index, name in enumerate(("a\x1b[2Jclear", "b\nnewline")):
        _images(pics / name, 3, start=3 * index)
    (pics / "a\x1b[2Jclear" / "\x1b]0;title\x07.png").write_text("not an image")
    dataset = _load(tmp_path, f"folder:{pics}")
    assert dataset.classes == ("a\\x1b[2Jclear", "b\\nnewline")
    assert len(dataset.train) + len(dataset.test) == 6
    assert "\\x1b]0;title\\x07.png" in dataset.note
    assert not any(ord(ch) < 32 for ch in dataset.note + "".join(dataset.classes))
