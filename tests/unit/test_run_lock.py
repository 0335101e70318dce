"""The run lock removes only its own checkpoint's stale temporaries."""

import os

from tui_vae.run_lock import RunLock


def test_stale_temporaries_of_this_checkpoint_go_and_no_others(tmp_path):
    mine = tmp_path / ".run[1].safetensors.ab12cd34.tmp"
    others = [tmp_path / ".run1.safetensors.ab12cd34.tmp",  # "[1]" as a pattern matches this
              tmp_path / ".other.safetensors.inflight.tmp"]
    for path in (mine, *others):
        path.write_bytes(b"partial")
    with RunLock(tmp_path / "run[1].safetensors"):
        pass
    assert not mine.exists()
    assert all(path.read_bytes() == b"partial" for path in others)
    with RunLock(tmp_path / "*.safetensors"):  # a name that is all wildcard
        pass
    assert all(path.exists() for path in others)


def test_a_run_whose_name_begins_with_this_ones_keeps_its_temporaries(tmp_path):
    """Starting x.safetensors deleted the save in flight of x.safetensors.y.safetensors
    (its temporary matched `.x.safetensors.*.tmp`), and that run failed."""
    from tui_vae.checkpoints import _new_temporary

    fd, theirs = _new_temporary(tmp_path / "x.safetensors.y.safetensors")
    os.close(fd)
    fd, mine = _new_temporary(tmp_path / "x.safetensors")
    os.close(fd)
    with RunLock(tmp_path / "x.safetensors"):
        pass
    assert theirs.exists() and not mine.exists()


def test_a_folder_named_like_a_temporary_is_left_and_blocks_nothing(tmp_path):
    folder = tmp_path / ".d.safetensors.deadbeef.tmp"
    folder.mkdir()
    (folder / "inside").write_text("kept")
    with RunLock(tmp_path / "d.safetensors"):
        pass
    assert (folder / "inside").read_text() == "kept"


def test_a_held_locks_owner_text_is_told_on_one_line(tmp_path):
    """The owner's text is whatever the lock file holds: a line break in it made the
    refusal two lines."""
    import pytest

    from tui_vae.errors import TrainingError

    held = RunLock(tmp_path / "run.safetensors")
    held.acquire()
    try:
        with open(held.path, "w") as planted:  # the same inode, still locked
            planted.write("pid 1\nerror: forged second line")
        with pytest.raises(TrainingError) as info:
            RunLock(tmp_path / "run.safetensors").acquire()
    finally:
        held.release()
    assert "\n" not in str(info.value) and "pid 1\\nerror: forged" in str(info.value)


def test_a_checkpoint_another_process_trains_is_not_deleted(tmp_path):
    """Models' delete removed a `tui-vae train` run's checkpoint mid-run: the run saved
    it again at its next epoch, its metrics cut to the epochs after the delete."""
    import pytest

    from tui_vae.errors import CheckpointError
    from tui_vae.workspace import Workspace

    path = tmp_path / "zz-cli.safetensors"
    path.write_bytes(b"a checkpoint")
    (tmp_path / "zz-cli.metrics.jsonl").write_text("{}\n")
    workspace = Workspace(tmp_path, None, "cpu", shipped_dir=None)
    training = RunLock(path)
    training.acquire()
    try:
        with pytest.raises(CheckpointError, match="being trained by pid .*; stop that run"):
            workspace.delete(path)
        assert path.exists() and (tmp_path / "zz-cli.metrics.jsonl").exists()
    finally:
        training.release()
    workspace.delete(path)  # the run is over: deleted, and no lock file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == []
