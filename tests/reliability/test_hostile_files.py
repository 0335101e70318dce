"""Hostile and broken files: pickles that would run code, truncated or garbage
safetensors, wrong metadata, absurd headers, malformed IDX data. The CLI answers
each with one line and exit code 1; the app with an error notice, and it keeps
running."""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import struct

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.unit.test_checkpoints import rewrite_meta

TINY = ["--dataset", "mnist-sample", "--hidden-dim", "32", "--latent-dim", "4",
        "--batch-size", "100", "--device", "cpu"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A good tiny checkpoint and a folder of bad files; `marker` appears if code ran."""
    folder = tmp_path_factory.mktemp("zoo")
    good = folder / "good" / "vae.safetensors"
    good.parent.mkdir()
    result = run_cli("train", "--epochs", "1", *TINY, "--out", str(good), cwd=folder)
    assert result.returncode == 0, result.stderr
    bad = folder / "bad"
    bad.mkdir()
    marker = folder / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps(Exploit(), protocol=2)
    for name in ("evil.pt", "evil.pth", "evil.ckpt", "evil.safetensors"):
        (bad / name).write_bytes(payload)
    import torch

    torch.save({"weights": torch.zeros(3)}, bad / "torch-zip.safetensors")
    data = good.read_bytes()
    (bad / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (bad / "garbage.safetensors").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "empty.safetensors").write_bytes(b"")
    (bad / "header-length.safetensors").write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
    edits = {
        "terabytes": lambda m, h: h["model.fc_mu.weight"].update(shape=[1 << 40, 1 << 20]),
        "wrong-types": lambda m, h: m["model"].update(hidden_dim="wide"),
        "future-version": lambda m, h: m.update(format_version=99),
        "history-not-a-list": lambda m, h: m.update(history={"epoch": 1}),
        # A 627 kB file claiming 304 million parameters: refused before any allocation.
        "huge-model": lambda m, h: m["model"].update(latent_dim=1024, hidden_dim=65536),
    }
    for name, edit in edits.items():
        path = bad / f"{name}.safetensors"
        shutil.copy(good, path)
        rewrite_meta(path, edit)
    return {"good": good, "bad": sorted(bad.iterdir()), "folder": bad, "marker": marker}


async def settle(app, pilot) -> None:
    """Let the workers finish; a failed one is what these tests provoke."""
    from textual.worker import WorkerFailed

    try:
        await app.workers.wait_for_complete()
    except WorkerFailed:
        pass
    await pilot.pause()


def _one_line_error(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_every_bad_file_is_one_line_exit_1_and_nothing_runs(zoo, tmp_path):
    reasons = {}
    for path in zoo["bad"]:
        commands = [["eval", str(path), "--device", "cpu"]]
        if path.stem in ("evil", "terabytes", "truncated"):  # the same loader: a few suffice
            commands.append(["sample", str(path), "-n", "2", "--out", str(tmp_path / "s.npy")])
        for command in commands:
            reasons[path.name] = _one_line_error(run_cli(*command, cwd=tmp_path))
    assert not zoo["marker"].exists()  # no pickle was ever loaded
    assert not (tmp_path / "s.npy").exists()
    assert "pickle" in reasons["evil.pt"] and "pickle" in reasons["evil.ckpt"]
    assert "zip" in reasons["torch-zip.safetensors"]
    assert "absurd shape" in reasons["terabytes.safetensors"]
    assert "format version 99" in reasons["future-version.safetensors"]
    assert "parameters" in reasons["huge-model.safetensors"]
    # No file made the process allocate what its header claimed (terabytes).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 3 * 1024 * 1024


def test_listing_a_folder_of_bad_files_reports_them_without_failing(zoo, tmp_path):
    result = run_cli("models", str(zoo["folder"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for path in zoo["bad"]:
        if path.suffix == ".safetensors":  # a row (by its stem) or an unreadable line
            assert path.stem in result.stdout
    assert not zoo["marker"].exists()


def _mnist_folder(root, mutate=None):
    """The bundled sample written as an MNIST IDX folder; `mutate(raw_dir)` breaks it."""
    from tui_vae.data import SPLIT_FILES, load_sample

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sample = load_sample()
    for split in ("train", "test"):
        for name, array in zip(SPLIT_FILES[split], (sample.images.numpy(),
                                                    sample.labels.numpy())):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(
                int(n).to_bytes(4, "big") for n in array.shape)
            (raw / name).write_bytes(header + array.astype(np.uint8).tobytes())
    if mutate:
        mutate(raw)
    return root


def _truncate(raw):
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-500])


def _bad_magic(raw):
    path = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[2] = 0x0D  # float data: not what MNIST holds
    path.write_bytes(bytes(data))


def _fewer_labels(raw):
    path = raw / "train-labels-idx1-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:4] + (100).to_bytes(4, "big") + data[8:108])


@pytest.mark.parametrize("mutate, words", [
    (_truncate, "truncated"),
    (_bad_magic, "IDX"),
    (_fewer_labels, "labels"),
], ids=["truncated", "wrong-magic", "count-mismatch"])
def test_malformed_idx_data_is_a_clear_error(tmp_path, mutate, words):
    root = _mnist_folder(tmp_path / "data", mutate)
    result = run_cli("train", "--dataset", "mnist", "--data-dir", str(root), "--epochs", "1",
                     "--hidden-dim", "8", "--out", "x.safetensors", "--device", "cpu",
                     cwd=tmp_path)
    line = _one_line_error(result)
    assert words in line and "MNIST" in line
    assert not (tmp_path / "x.safetensors").exists()


async def test_the_app_answers_each_bad_file_with_a_notice_and_keeps_running(zoo, tmp_path):
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    folder = tmp_path / "mixed"
    shutil.copytree(zoo["folder"], folder)
    shutil.copy(zoo["good"], folder / "good.safetensors")
    app = TuiVaeApp(Workspace(folder, tmp_path / "no-data", "cpu", shipped_dir=None))
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.model is not None and app.active.name == "good.safetensors"
        for path in zoo["bad"]:
            before = len(app._notifications)
            app.activate(folder / path.name)
            await settle(app, pilot)
            assert len(app._notifications) > before, path.name
            assert list(app._notifications)[-1].severity == "error"
            assert app.is_running
        await pilot.press("m")  # the Models view lists the bad files as unreadable
        await pilot.pause()
        assert app.is_running
        app.activate(folder / "good.safetensors")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.model is not None
    assert not zoo["marker"].exists()


async def test_a_malformed_dataset_in_the_app_is_a_notice(tmp_path):
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    root = _mnist_folder(tmp_path / "data", _truncate)
    folder = tmp_path / "ckpts"
    folder.mkdir()
    result = run_cli("train", "--epochs", "1", "--dataset", "mnist", "--data-dir",
                     str(_mnist_folder(tmp_path / "good-data")), "--hidden-dim", "16",
                     "--latent-dim", "2", "--out", str(folder / "m.safetensors"),
                     "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    app = TuiVaeApp(Workspace(folder, root, "cpu", shipped_dir=None))
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("truncated" in m for m in messages), messages
        await pilot.press("r", "g", "l")
        await pilot.pause()
        assert app.is_running


# --------------------------------------------------------------------------- odd metadata


def _with_meta_text(good, path, meta_text: str) -> None:
    """`good`'s tensors with `meta_text` as the metadata (any text, even invalid JSON)."""
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["tui_vae"] = meta_text
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


def _meta(good) -> dict:
    from tui_vae.checkpoints import read_info

    return json.loads(json.dumps(read_info(good).meta))


def _odd_folder(good, folder):
    """A good checkpoint beside files each breaking one assumption of the listings."""
    folder.mkdir()
    shutil.copy(good, folder / "a-good.safetensors")

    def edited(name, edit):
        meta = _meta(good)
        edit(meta)
        _with_meta_text(good, folder / f"{name}.safetensors", json.dumps(meta))

    edited("no-test", lambda m: m["history"][-1].pop("test"))
    edited("test-list", lambda m: m["history"][-1].update(test=[1, 2]))
    edited("string-loss", lambda m: m["history"][-1]["test"].update(loss="low"))
    edited("negative-epochs", lambda m: m["progress"].update(epochs_done=-5))
    edited("seed-huge", lambda m: m.update(seed=2**64))
    deep = json.dumps({**_meta(good), "deep": "HOLE"}).replace(
        '"HOLE"', "[" * 100_000 + "]" * 100_000)
    _with_meta_text(good, folder / "deep.safetensors", deep)
    digits = json.dumps({**_meta(good), "seed": 7}).replace('"seed": 7', '"seed": 1' + "0" * 5000)
    _with_meta_text(good, folder / "digits.safetensors", digits)
    return folder


ODD = {"no-test": "test metrics", "test-list": "test metrics", "string-loss": "test metrics",
       "negative-epochs": "epochs_done", "seed-huge": "seed", "deep": "nested too deeply",
       "digits": "cannot be read"}


def test_one_odd_file_never_hides_the_good_ones(zoo, tmp_path):
    from tui_vae.checkpoints import BadCheckpoint, CheckpointInfo, list_checkpoints

    folder = _odd_folder(zoo["good"], tmp_path / "odd")
    found = {item.path.stem: item for item in list_checkpoints(folder)}
    assert isinstance(found.pop("a-good"), CheckpointInfo)
    assert set(found) == set(ODD)
    for stem, words in ODD.items():
        assert isinstance(found[stem], BadCheckpoint) and words in found[stem].reason, stem
    result = run_cli("models", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "│ a-good " in result.stdout
    unreadable = [line for line in result.stdout.splitlines() if line.startswith("unreadable:")]
    assert len(unreadable) == len(ODD)


MARKUP = "[bold]x[/bold] [/x] [link=file:///etc]y"


def _markup_folder(good, folder):
    """Markup in the file names and in every metadata field a listing shows."""
    folder.mkdir()
    meta = _meta(good)
    meta.update(created=MARKUP, updated=MARKUP, package_version=MARKUP)
    meta["training"]["note"] = MARKUP
    _with_meta_text(good, folder / "[bold]named[red].safetensors", json.dumps(meta))
    meta = _meta(good)
    meta["model"]["dataset"] = MARKUP  # refused: its reason quotes the markup
    _with_meta_text(good, folder / "[b]bad-dataset.safetensors", json.dumps(meta))
    return folder


def test_markup_in_names_and_metadata_is_shown_as_text_in_the_cli(zoo, tmp_path):
    folder = _markup_folder(zoo["good"], tmp_path / "markup")
    result = run_cli("models", str(folder), cwd=tmp_path, env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "[bold]named[red]" in result.stdout
    assert MARKUP in result.stdout  # the created column, verbatim
    assert "unreadable:" in result.stdout and "[b]bad-dataset" in result.stdout
    assert "unknown dataset" in result.stdout


def test_emoji_codes_in_names_are_printed_as_typed(tmp_path):
    # Rich turned ":x:" into an emoji: a run saved to r:x:.safetensors was told to
    # resume from "r❌.safetensors", a command that named no file.
    from tests.cli.test_cli import TINY

    missing = run_cli("eval", "zz:x:", cwd=tmp_path)
    assert missing.returncode != 0 and "zz:x:: no such checkpoint" in missing.stderr
    trained = run_cli("train", *TINY, "--epochs", "1", "--out", "r:x:.safetensors",
                      cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    said = trained.stdout + trained.stderr
    assert "checkpoint r:x:.safetensors" in said and "❌" not in said, said


async def test_markup_in_names_and_metadata_is_shown_as_text_in_the_app(zoo, tmp_path):
    from textual.widgets import Static

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    folder = _markup_folder(zoo["good"], tmp_path / "markup")
    _odd_folder(zoo["good"], tmp_path / "odd")
    for odd in (tmp_path / "odd").iterdir():
        shutil.copy(odd, folder / odd.name)
    app = TuiVaeApp(Workspace(folder, tmp_path / "no-data", "cpu", shipped_dir=None))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        table = app.screen.query_one("#checkpoints")
        drawn = "\n".join(table.render_line(y).text for y in range(table.row_count + 1))
        for name in ("[bold]named[red]", "[b]bad-dataset",
                     "a-good"):
            assert name in drawn, drawn  # drawn as written, brackets and all
        details = app.screen.query_one("#details", Static)
        seen = set()
        for row in range(table.row_count):
            table.move_cursor(row=row)
            await pilot.pause()
            shown = str(details.render())
            if "[bold]named[red]" in shown:  # created, updated and version hold markup
                seen.add("named")
                assert MARKUP in shown, shown
            if "[b]bad-dataset" in shown:
                seen.add("bad")
                assert "unreadable" in shown and MARKUP in shown, shown
        assert seen == {"named", "bad"}
        app.activate(folder / "[b]bad-dataset.safetensors")  # its reason quotes the markup
        await settle(app, pilot)
        last = list(app._notifications)[-1]
        assert "[b]bad-dataset" in last.message and MARKUP in last.message
        assert not last.markup
        assert app.is_running


async def test_escape_sequences_in_names_never_reach_the_terminal_from_the_app(zoo, tmp_path):
    """A name holding an escape sequence (colours, the terminal's title) shows escaped
    in the Models details, the header and the notices."""
    from textual.widgets import Static

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    folder = tmp_path / "escapes"
    folder.mkdir()
    name = "evil\x1b[31mred\x1b]0;PWNED\x07.safetensors"
    shutil.copy(zoo["good"], folder / name)
    app = TuiVaeApp(Workspace(folder, tmp_path / "no-data", "cpu", shipped_dir=None))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        details = str(app.screen.query_one("#details", Static).render())
        assert "evil\\x1b[31mred" in details and "\x1b" not in details
        await pilot.press("enter")  # make it active: a notice names it
        await settle(app, pilot)
        assert "\x1b" not in app.sub_title and "\x07" not in app.sub_title
        assert "evil\\x1b[31mred" in app.sub_title
        notices = [n.message for n in app._notifications]
        assert notices and not any("\x1b" in m or "\x07" in m for m in notices)
        assert app.is_running
