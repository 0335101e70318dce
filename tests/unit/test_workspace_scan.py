"""The cached checkpoint listing: headers re-read only for files that changed."""

from __future__ import annotations

import os
import shutil

import pytest

from tui_vae import checkpoints as ck
from tui_vae import listing
from tui_vae.listing import CachedListing
from tui_vae.workspace import Workspace

PAST = 1_600_000_000_000_000_000  # a time stamp far from now (ns): never racy


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One small valid checkpoint to copy around."""
    from tui_vae.models import ModelConfig, build_model

    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    config = ModelConfig(latent_dim=2, hidden_dim=4, dataset="mnist-sample")
    meta = ck.build_metadata(config, {"seed": 1}, {"epochs_done": 1, "step": 0},
                             [{"epoch": 1, "train": {}, "test": {"loss": 99.0}}])
    ck.save_checkpoint(path, build_model(config, seed=0), meta)
    return path


def settle(*paths, stamp: int = PAST) -> None:
    """Give files and folders an old time stamp, as if written long ago."""
    for path in paths:
        os.utime(path, ns=(stamp, stamp))


def fill(folder, tiny, names):
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(tiny, folder / name)
        settle(folder / name)
    settle(folder)


def test_only_new_and_changed_files_are_read_again(tmp_path, tiny):
    folder = tmp_path / "runs"
    fill(folder, tiny, [f"run{i}.safetensors" for i in range(5)])
    cache = CachedListing()
    entries, changed = cache.scan([folder])
    assert changed and cache.reads == 5 and [e.path.name for e in entries][0] == "run0.safetensors"
    again, changed = cache.scan([folder])
    assert not changed and cache.reads == 5 and again == entries

    # A save (a new file renamed over the old one, as checkpoints are written) and a
    # new file; the folder's stamp moves.
    shutil.copyfile(tiny, folder / "run9.safetensors")
    settle(folder / "run9.safetensors", stamp=PAST + 5)
    shutil.copyfile(tiny, folder / ".run2.tmp")
    os.replace(folder / ".run2.tmp", folder / "run2.safetensors")
    settle(folder / "run2.safetensors", stamp=PAST + 7)
    settle(folder, stamp=PAST + 9)
    entries, changed = cache.scan([folder])
    assert changed and cache.reads == 7  # run2 and run9, nothing else
    assert [e.path.name for e in entries][-1] == "run9.safetensors"

    (folder / "run0.safetensors").unlink()
    settle(folder, stamp=PAST + 11)
    entries, changed = cache.scan([folder])
    assert changed and cache.reads == 7  # a removal reads nothing
    assert "run0.safetensors" not in {e.path.name for e in entries} and len(entries) == 5


def test_a_folder_whose_time_stamp_held_is_not_listed_again(tmp_path, tiny, monkeypatch):
    folder = tmp_path / "runs"
    fill(folder, tiny, ["a.safetensors", "b.safetensors"])
    listed = []
    names = CachedListing._names
    monkeypatch.setattr(CachedListing, "_names",
                        staticmethod(lambda f: listed.append(f) or names(f)))
    cache = CachedListing()
    cache.scan([folder])
    cache.scan([folder])
    assert len(listed) == 1
    # Rewritten in place, the folder's stamp holds: only a full scan (stat every file) sees it.
    with open(folder / "b.safetensors", "ab") as handle:
        handle.write(b"\0")
    settle(folder / "b.safetensors", stamp=PAST + 3)
    assert cache.scan([folder])[1] is False and cache.reads == 2
    entries, changed = cache.scan([folder], full=True)
    assert changed and cache.reads == 3 and len(listed) == 2
    # (one byte more after the tensors: a file the listing now names as corrupt)
    assert "1 byte after its tensors" in entries[1].reason


def test_fresh_time_stamps_are_looked_at_again(tmp_path, tiny):
    """A stamp from this very moment may hide a second change in the same clock tick."""
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copyfile(tiny, folder / "new.safetensors")  # stamped now
    cache = CachedListing()
    first, _ = cache.scan([folder])
    cache.scan([folder])
    assert cache.reads == 2  # read again: its stamp was too fresh to trust
    settle(folder / "new.safetensors", folder)
    cache.scan([folder])
    reads = cache.reads
    again, changed = cache.scan([folder])
    assert cache.reads == reads and not changed and again[0] == first[0]


def test_one_bad_file_or_folder_hides_nothing_else(tmp_path, tiny):
    good, plain_file = tmp_path / "good", tmp_path / "not-a-folder"
    fill(good, tiny, ["a.safetensors", "b.safetensors"])
    plain_file.write_text("x")

    def read(path):
        if path.name == "a.safetensors":
            raise RecursionError("maximum recursion depth exceeded")
        return ck.read_info(path)

    cache = CachedListing(read)
    entries, _ = cache.scan([plain_file, good, tmp_path / "missing"])
    assert [type(e).__name__ for e in entries] == ["BadCheckpoint", "CheckpointInfo"]
    assert "RecursionError" in entries[0].reason
    assert len(cache.problems) == 1 and "not-a-folder" in cache.problems[0]


def test_a_link_to_nothing_is_listed_as_unreadable_as_the_cli_lists_it(tmp_path, tiny):
    folder = tmp_path / "runs"
    fill(folder, tiny, ["a.safetensors"])
    (folder / "gone.safetensors").symlink_to(tmp_path / "moved-away.safetensors")
    cache = CachedListing()
    entries, _ = cache.scan([folder])
    listed = {e.path.name: e for e in entries}
    assert set(listed) == {"a.safetensors", "gone.safetensors"}
    assert isinstance(listed["gone.safetensors"], ck.BadCheckpoint)
    assert {e.path.name: type(e) for e in ck.list_checkpoints(folder)} == {
        name: type(e) for name, e in listed.items()}
    # The link's target comes back: the next scan reads it.
    shutil.copyfile(tiny, tmp_path / "moved-away.safetensors")
    entries, changed = cache.scan([folder])
    assert changed and all(isinstance(e, ck.CheckpointInfo) for e in entries)


def test_workspace_scan_hands_back_the_same_list_while_nothing_changed(tmp_path, tiny,
                                                                      monkeypatch):
    monkeypatch.setattr(listing, "RACY_NS", 0)
    user, shipped = tmp_path / "runs", tmp_path / "shipped"
    fill(user, tiny, ["aaa.safetensors"])
    fill(shipped, tiny, ["vae.safetensors", "zzz.safetensors"])
    workspace = Workspace(user, None, "cpu", shipped_dir=shipped)
    entries = workspace.scan()
    # Shipped models first (only the real shipped names), then by name.
    assert [e.path.name for e in entries] == ["vae.safetensors", "aaa.safetensors",
                                              "zzz.safetensors"]
    assert workspace.scan() is entries and workspace.scan(full=True) is entries
    shutil.copyfile(tiny, user / "bbb.safetensors")
    assert [e.path.name for e in workspace.scan()][2] == "bbb.safetensors"


def test_a_users_folder_that_is_a_link_loop_still_lists_the_shipped_models(tmp_path, tiny):
    """`--checkpoints loopA` (loopA -> loopB -> loopA) raised in the scan: the shipped
    models went unlisted ("no checkpoint yet") and a notice came at every poll."""
    shipped = tmp_path / "shipped"
    fill(shipped, tiny, ["vae.safetensors"])
    (tmp_path / "loopA").symlink_to(tmp_path / "loopB")
    (tmp_path / "loopB").symlink_to(tmp_path / "loopA")
    workspace = Workspace(tmp_path / "loopA", None, "cpu", shipped_dir=shipped)
    assert [e.path.name for e in workspace.scan()] == ["vae.safetensors"]


def test_the_sub_folders_of_the_users_folder_are_listed_too(tmp_path, tiny):
    """A sweep's --out-dir runs/beta shows beside runs/ (named beta/...), found again
    when a sub-folder comes; hidden folders and links to folders are not followed."""
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    fill(elsewhere, tiny, ["outside.safetensors"])
    runs.mkdir()
    fill(runs / "beta", tiny, ["b0.5.safetensors"])
    fill(runs / ".hidden", tiny, ["secret.safetensors"])
    (runs / "link").symlink_to(elsewhere, target_is_directory=True)
    fill(runs, tiny, ["mine.safetensors"])
    workspace = Workspace(runs, None, "cpu", shipped_dir=None)
    labels = [workspace.label(e.path) for e in workspace.scan()]
    assert sorted(labels) == ["beta/b0.5.safetensors", "mine.safetensors"]
    assert workspace.folders() == [runs, runs / "beta"] and workspace.top_folders() == [runs]
    fill(runs / "gamma", tiny, ["g1.safetensors"])  # a second sweep, made since
    settle(runs, stamp=PAST + 9)
    labels = [workspace.label(e.path) for e in workspace.scan()]
    assert "gamma/g1.safetensors" in labels and len(labels) == 3


def test_a_runs_folder_of_thousands_of_sub_folders_lists_a_bounded_number(tmp_path):
    runs = tmp_path / "runs"
    for k in range(listing.MAX_SUB_FOLDERS + 20):
        (runs / f"d{k:04d}").mkdir(parents=True)
    folders = Workspace(runs, None, "cpu", shipped_dir=None).folders()
    assert len(folders) == 1 + listing.MAX_SUB_FOLDERS and folders[1] == runs / "d0000"


def test_lists_order_runs_by_the_names_they_show(tmp_path, tiny):
    """By file name "vae.safetensors" came after "vae-binary.safetensors" ('-' before
    '.'): the lists now order by the name shown, so vae comes before vae-2d."""
    folder = tmp_path / "runs"
    fill(folder, tiny, ["vae-binary.safetensors", "vae.safetensors", "vae-2d.safetensors",
                        "cvae.safetensors"])
    workspace = Workspace(folder, shipped_dir=None)
    names = [workspace.list_name(e.path) for e in workspace.scan()]
    assert names == ["cvae", "vae", "vae-2d", "vae-binary"]


def test_lists_read_numbers_in_names_by_value(tmp_path, tiny):
    """By code point "run10" came before "run9", and "Run11" before both; a sweep's
    beta2 came before beta0.5 and lr1e-05 after lr0.001."""
    folder = tmp_path / "runs"
    fill(folder, tiny, [f"{name}.safetensors" for name in (
        "run10", "run9", "Run11", "run", "s-beta2", "s-beta0.5", "s-beta0.25", "s-lr0.001",
        "s-lr1e-05")])
    workspace = Workspace(folder, shipped_dir=None)
    names = [workspace.list_name(e.path) for e in workspace.scan()]
    assert names == ["run", "run9", "run10", "Run11", "s-beta0.25", "s-beta0.5", "s-beta2",
                     "s-lr1e-05", "s-lr0.001"]


def test_a_model_of_the_bundled_sample_is_shown_its_test_split(tmp_path):
    """The views showed all 1,000 bundled digits as "test images" to a model that had
    trained on 800 of them; `eval` used the 200 test digits."""
    import torch

    from tui_vae.data import load_dataset
    from tui_vae.workspace import SAMPLE_SOURCE, SAMPLE_TEST_SOURCE

    empty = tmp_path / "no-data"  # no MNIST here, whatever TUI_VAE_DATA_DIR says
    empty.mkdir()
    workspace = Workspace(tmp_path, empty, "cpu", shipped_dir=None)
    shown = workspace.images("mnist-sample")
    test = load_dataset("mnist-sample", None, download=False).test
    assert shown.source == SAMPLE_TEST_SOURCE and len(shown.split) == len(test) == 200
    assert torch.equal(shown.split.images, test.images)
    # a model of MNIST without MNIST on disk: all 1,000, all from MNIST's test set
    assert workspace.images("mnist").source == SAMPLE_SOURCE
    assert len(workspace.images("mnist").split) == 1000
