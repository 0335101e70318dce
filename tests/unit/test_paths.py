"""Where the shipped models and the user's runs live, and which files count as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tui_vae.checkpoints import build_metadata, save_checkpoint
from tui_vae.models import ModelConfig, build_model
from tui_vae.paths import (
    find_checkpoint,
    runs_dir,
    shadowed_shipped,
    shipped_dir,
    shipped_files,
)
from tui_vae.wording import plural
from tui_vae.workspace import Workspace


def _save(path: Path, beta: float = 1.0, arch: str = "mlp") -> Path:
    config = ModelConfig(model="vae", arch=arch, latent_dim=3, hidden_dim=8, beta=beta,
                         dataset="mnist-sample")
    history = [{"epoch": 1, "train": {}, "test": {"loss": 1.0, "recon": 1.0, "kl": 0.0}}]
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, history)
    save_checkpoint(path, build_model(config, seed=0), meta)
    return path


def test_a_checkout_reads_its_checkpoints_folder_and_every_shipped_file_is_there():
    assert shipped_dir() == REPO / "checkpoints"
    missing = [name for name in shipped_files() if not (REPO / "checkpoints" / name).is_file()]
    assert not missing
    assert "judge/mnist.safetensors" in shipped_files()


def test_user_runs_default_to_runs_in_the_working_folder():
    from tui_vae.cli import DEFAULT_CHECKPOINT_DIR

    assert runs_dir() == Path("runs") == Path(DEFAULT_CHECKPOINT_DIR)
    workspace = Workspace(None, None, "cpu")
    assert workspace.checkpoint_dir == Path("runs")
    assert workspace.folders() == [Path("runs"), REPO / "checkpoints"]


def test_only_the_real_shipped_files_are_shipped_and_they_set_compares_pair(tmp_path):
    shipped, mine = tmp_path / "shipped", tmp_path / "runs"
    shipped.mkdir()
    mine.mkdir()
    vae, beta0 = _save(shipped / "vae.safetensors"), _save(shipped / "vae-beta0.safetensors", 0)
    # A user's runs: one saved into the shipped folder (as the old default did), one
    # in runs/ under a shipped name, one more beta = 0 run.
    stray = _save(shipped / "a-run-beta0.safetensors", 0)
    namesake = _save(mine / "vae.safetensors")
    _save(mine / "a-beta0.safetensors", 0)
    workspace = Workspace(mine, None, "cpu", shipped_dir=shipped)
    assert workspace.is_shipped(vae) and workspace.is_shipped(beta0)
    assert not workspace.is_shipped(stray) and not workspace.is_shipped(namesake)
    entries = workspace.scan()
    assert [e.path for e in entries[:2]] == [vae, beta0]  # shipped first, by name
    assert workspace.default_pair(entries) == (vae, beta0)
    assert workspace.default_checkpoint(entries) == vae
    # Protected: the shipped models cannot be deleted; the user's own files can.
    from tui_vae.errors import CheckpointError

    with pytest.raises(CheckpointError, match="shipped model"):
        workspace.delete(vae)
    assert vae.exists()
    workspace.delete(namesake)
    workspace.delete(stray)
    assert not namesake.exists() and not stray.exists()


def test_compares_pair_is_the_beta_0_runs_twin_not_the_first_of_its_kind(tmp_path):
    # A conv VAE of the same kind and latent size sorts first; the pair is still
    # the same network with and without the KL term (the report's Figure 1).
    conv = _save(tmp_path / "a-conv.safetensors", arch="conv")
    twin, without = _save(tmp_path / "b.safetensors"), _save(tmp_path / "c.safetensors", 0)
    workspace = Workspace(tmp_path, None, "cpu", shipped_dir=None)
    assert [e.path for e in workspace.scan()][:1] == [conv]
    assert workspace.default_pair(workspace.scan()) == (twin, without)


def test_the_shipped_models_pair_the_vae_with_its_beta_0_run():
    workspace = Workspace(None, None, "cpu")
    a, b = workspace.default_pair(workspace.scan())
    assert (a.name, b.name) == ("vae.safetensors", "vae-beta0.safetensors")


def test_without_shipped_models_compare_pairs_the_users_runs(tmp_path):
    with_kl, without = _save(tmp_path / "b.safetensors"), _save(tmp_path / "c.safetensors", 0)
    workspace = Workspace(tmp_path, None, "cpu", shipped_dir=None)
    assert workspace.default_pair(workspace.scan()) == (with_kl, without)


def test_a_bare_checkpoint_name_is_found_in_runs_then_the_shipped_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_checkpoint(Path("vae.safetensors")) == REPO / "checkpoints" / "vae.safetensors"
    (tmp_path / "runs").mkdir()
    mine = _save(tmp_path / "runs" / "vae.safetensors")
    assert find_checkpoint(Path("vae.safetensors")) == Path("runs") / "vae.safetensors"
    assert mine.is_file()
    assert find_checkpoint(Path("nowhere.safetensors")) == Path("nowhere.safetensors")
    assert find_checkpoint(Path("x/vae.safetensors")) == Path("x/vae.safetensors")
    # The name as the explorer and `tui-vae models` show it, without .safetensors.
    assert find_checkpoint(Path("vae")) == Path("runs") / "vae.safetensors"
    assert find_checkpoint(Path("cvae")) == REPO / "checkpoints" / "cvae.safetensors"
    _save(tmp_path / "cvae.safetensors")
    assert find_checkpoint(Path("cvae")) == Path("cvae.safetensors")  # here first
    assert find_checkpoint(Path("nowhere")) == Path("nowhere")
    # A sweep's run in a sub-folder of runs/, by the name `models` lists
    (tmp_path / "runs" / "beta").mkdir()
    swept = _save(tmp_path / "runs" / "beta" / "b0.5.safetensors")
    for name in ("beta/b0.5", "beta/b0.5.safetensors"):
        assert find_checkpoint(Path(name)) == Path("runs") / "beta" / "b0.5.safetensors"
    assert find_checkpoint(Path("runs/beta/b0.5")) == Path("runs/beta/b0.5.safetensors")
    assert swept.is_file() and find_checkpoint(Path("b0.5")) == Path("b0.5")  # not searched


def test_plural_counts():
    assert plural(1, "checkpoint") == "1 checkpoint"
    assert plural(0, "checkpoint") == "0 checkpoints"
    assert plural(1000, "image") == "1,000 images"
    assert plural(2, "class", "classes") == "2 classes"


@pytest.mark.parametrize("value, on", [("", False), ("0", False), ("false", False), ("No", False),
                                       ("off", False), ("1", True), ("yes", True),
                                       ("true", True)])
def test_tui_vae_debug_0_means_off(monkeypatch, value, on):
    """TUI_VAE_DEBUG=0 once showed 50-line tracebacks."""
    from tui_vae.errors import debugging

    monkeypatch.setenv("TUI_VAE_DEBUG", value)
    assert debugging() is on


def test_a_run_named_like_a_shipped_model_leaves_the_shipped_one_reachable(tmp_path,
                                                                         monkeypatch):
    """A newcomer's runs/cvae.safetensors took the name `cvae` from the shipped cVAE:
    `eval cvae` measured the 2-epoch run unsaid, and the Models view showed two rows
    named cvae. The shipped one is now `shipped/cvae` there, and the CLI says so."""
    monkeypatch.chdir(tmp_path)
    shipped = REPO / "checkpoints" / "cvae.safetensors"
    assert shadowed_shipped(Path("cvae"), shipped) is None
    (tmp_path / "runs").mkdir()
    mine = _save(tmp_path / "runs" / "cvae.safetensors")
    found = find_checkpoint(Path("cvae"))
    assert found == Path("runs") / "cvae.safetensors" and mine.is_file()
    assert shadowed_shipped(Path("cvae"), found) == shipped
    assert shadowed_shipped(Path("runs/cvae"), found) is None  # a path, not a bare name
    here = _save(tmp_path / "vae.safetensors")  # named as it is here: the one meant
    assert shadowed_shipped(Path("vae.safetensors"), find_checkpoint(Path("vae.safetensors"))) \
        is None and here.is_file()
    for name in ("shipped/cvae", "shipped/cvae.safetensors"):
        assert find_checkpoint(Path(name)) == shipped
    assert find_checkpoint(Path("shipped/nowhere")) == Path("shipped/nowhere")
    workspace = Workspace(Path("runs"), None, "cpu")
    names = {workspace.list_name(e.path): e.path for e in workspace.scan()}
    assert names["shipped/cvae"] == shipped and names["cvae"] == Path("runs/cvae.safetensors")
    assert "vae" in names  # not shadowed: its plain name
    # Listing the shipped folder as the user's own: no model is shadowed by itself.
    own = Workspace(REPO / "checkpoints", None, "cpu")
    assert "cvae" in {own.list_name(e.path) for e in own.scan()}
