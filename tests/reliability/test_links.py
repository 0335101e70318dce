"""Never write through a link: a symlink, a hard link (or a FIFO) planted where tui-vae writes
its run lock, metrics file, checkpoint temporaries, checkpoint or exports is
refused with one line, and the link's target is left exactly as it was."""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest

from tests.cli.test_cli import TINY
from tests.conftest import run_cli

VICTIM_TEXT = b"precious: must never be truncated or overwritten\n"


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM_TEXT)
    return path


def _one_line_error(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "unexpected" not in lines[0]
    return lines[0]


def _train(out, cwd):
    return run_cli("train", "--epochs", "1", *TINY, "--out", str(out), cwd=cwd)


def test_a_planted_lock_link_is_refused(tmp_path, victim):
    (tmp_path / ".run.safetensors.lock").symlink_to(victim)
    line = _one_line_error(_train(tmp_path / "run.safetensors", tmp_path))
    assert "symbolic link" in line and ".run.safetensors.lock" in line
    assert victim.read_bytes() == VICTIM_TEXT
    assert not (tmp_path / "run.safetensors").exists()


@pytest.mark.parametrize("name, words", [(".run.safetensors.lock", "hard links"),
                                         ("run.metrics.jsonl", "already exists")])
def test_a_planted_hard_link_is_refused(tmp_path, victim, name, words):
    """A hard link is no symlink: the same file under a second name. Writing the lock
    or the metrics there would change the victim."""
    os.link(victim, tmp_path / name)
    line = _one_line_error(_train(tmp_path / "run.safetensors", tmp_path))
    assert words in line and name in line
    assert victim.read_bytes() == VICTIM_TEXT


def test_a_planted_metrics_link_is_refused(tmp_path, victim):
    (tmp_path / "run.metrics.jsonl").symlink_to(victim)
    line = _one_line_error(_train(tmp_path / "run.safetensors", tmp_path))
    assert "symbolic link" in line and "run.metrics.jsonl" in line
    assert victim.read_bytes() == VICTIM_TEXT


def test_a_fifo_as_the_metrics_file_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "run.metrics.jsonl")
    line = _one_line_error(_train(tmp_path / "run.safetensors", tmp_path))
    assert "not a regular file" in line


def test_a_checkpoint_that_is_a_link_is_refused_before_training(tmp_path, victim):
    dangling = tmp_path / "run.safetensors"
    dangling.symlink_to(tmp_path / "elsewhere.safetensors")  # points at nothing yet
    line = _one_line_error(_train(dangling, tmp_path))
    assert "symbolic link" in line
    assert not (tmp_path / "elsewhere.safetensors").exists()
    assert dangling.is_symlink()


def test_a_planted_temporary_link_is_never_written(tmp_path, victim, monkeypatch):
    """Temporaries are created new (O_EXCL, O_NOFOLLOW): a link at the name is skipped."""
    from tui_vae.checkpoints import atomic_write_bytes

    names = iter(["planted", "planted", "fresh"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".out.bin.planted.tmp").symlink_to(victim)
    atomic_write_bytes(tmp_path / "out.bin", b"new data")
    assert (tmp_path / "out.bin").read_bytes() == b"new data"
    assert victim.read_bytes() == VICTIM_TEXT
    # Every name planted: the write fails, and still writes nothing through the link.
    monkeypatch.setattr(secrets, "token_hex", lambda n: "planted")
    (tmp_path / ".other.bin.planted.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(tmp_path / "other.bin", b"new data")
    assert victim.read_bytes() == VICTIM_TEXT
    assert not (tmp_path / "other.bin").exists()


def test_an_export_onto_a_link_is_refused(tmp_path, victim):
    from tui_vae.export import save_png

    link = tmp_path / "grid.png"
    link.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        save_png(link, np.zeros((4, 4)))
    assert victim.read_bytes() == VICTIM_TEXT and link.is_symlink()


def test_sample_out_onto_a_link_is_one_line(workdir, tmp_path, victim):
    link = tmp_path / "samples.npy"
    link.symlink_to(victim)
    line = _one_line_error(run_cli("sample", "vae.safetensors", "-n", "2", "--out", str(link),
                                   cwd=workdir))
    assert "symbolic link" in line
    assert victim.read_bytes() == VICTIM_TEXT


async def test_the_app_export_onto_a_link_is_a_notice(checkpoints, make_app, tmp_path,
                                                      victim, monkeypatch):
    from tui_vae.workspace import Workspace

    link = tmp_path / "export.png"
    link.symlink_to(victim)
    monkeypatch.setattr(Workspace, "export_path", lambda self, view: link)
    app = make_app(checkpoints)
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("symbolic link" in m for m in messages), messages
        assert app.is_running
    assert victim.read_bytes() == VICTIM_TEXT
