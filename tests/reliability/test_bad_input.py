"""Bad input: every flag's bad values exit 2 with a message; a missing CUDA or MPS
device is a clear message in the CLI and in the app."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import TINY
from tests.conftest import run_cli

BAD_FLAGS = [
    *(["train", flag, value] for flag in ("--epochs", "--latent-dim", "--hidden-dim",
                                          "--batch-size")
      for value in ("0", "-3", "many")),
    ["train", "--beta", "-0.5"], ["train", "--beta", "nan-ish"],
    ["train", "--kl-warmup", "-1"],
    ["train", "--lr-warmup", "-1"],
    ["train", "--lr", "0"], ["train", "--lr", "-0.1"],
    ["train", "--seed", "1.5"],
    ["train", "--model", "gan"], ["train", "--dataset", "imagenet"],
    ["train", "--device", "tpu"], ["train", "--lr-schedule", "step"],
    ["train", "--resume"],  # nothing to resume without --out
    ["train", "--out", "run.txt"],  # no listing would ever show it
    ["train", "--unknown-flag"],
    ["eval"],  # the checkpoint is required
    ["eval", "vae.safetensors", "--iw-samples", "0"],
    ["eval", "vae.safetensors", "--iw-samples", "-5"],
    ["eval", "vae.safetensors", "--iw-subset", "0"],
    ["eval", "vae.safetensors", "--iw-subset", "5"],  # without --iw-samples it meant nothing
    ["eval", "vae.safetensors", "--device", "tpu"],
    ["sample", "cvae.safetensors", "--digit", "10"],
    ["sample", "cvae.safetensors", "--digit", "-1"],
    ["sample", "vae.safetensors", "--digit", "3"],  # a plain VAE has no classes
    ["sample", "vae.safetensors", "-n", "0"],
    ["sample", "vae.safetensors", "-n", "-2"],
    ["sample", "vae.safetensors", "--out", "grid.gif"],
    ["sample", "vae.safetensors", "--seed", "x"],
    ["models", "--nope"], ["models", "no-such-folder"],
    # Bounds and non-finite numbers (issue 18): once "unexpected" errors or NaN output.
    ["train", "--seed", str(2**64)], ["train", "--seed", "-1"],
    ["eval", "vae.safetensors", "--seed", str(2**64)],
    ["sample", "vae.safetensors", "--seed", str(2**64)],
    ["eval", "vae.safetensors", "--iw-samples", str(10**11)],  # days of work
    *(["train", flag, value] for flag in ("--beta", "--lr", "--kl-warmup", "--lr-warmup")
      for value in ("inf", "nan", "-inf")),
    ["train", "--epochs", str(10**7)], ["train", "--batch-size", str(2**40)],
    *(["train", "--average", value] for value in ("1", "-0.1", "nan", "inf")),
    ["sample", "vae.safetensors", "--temperature", "inf"],
    ["sample", "vae.safetensors", "--temperature", "nan"],
    ["sample", "vae.safetensors", "--temperature", "1e300"],
    ["--checkpoints", "vae.safetensors"],  # a file, not a folder
    ["--device", "tpu"], ["--keymap", "no-such-keymap.toml"],
    ["frobnicate"],
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_bad_flags_exit_2_with_a_message(workdir, args):
    result = run_cli(*args, cwd=workdir)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Error" in result.stderr and "Traceback" not in result.stderr


NAMED_FAULTS = [
    # Click's path type read "" as the working folder ("'' is a directory") and let a
    # device pass as a folder ("File exists" once the sweep tried to make it).
    (["train", "--out", ""], "an empty name names no file"),
    (["train", "--out", "."], ". is a folder, not a file"),
    (["train", "--data-dir", ""], "an empty name names no folder"),
    (["sample", ""], "an empty name names no file"),
    (["models", "/dev/null"], "/dev/null is not a folder"),
    (["sweep", "--out-dir", "/dev/null", "--beta", "1,2"], "/dev/null is not a folder"),
    # Once a parameter-count error about a model of 4e12 parameters.
    (["train", "--dataset", "shapes", "--image-size", "99999"], "must be one of 28, 32, 64"),
    (["train", "--channels", "2"], "must be one of 1, 3"),
    # Typer's conversion read "1_0" as ten and "١" (Arabic-Indic) as one, which the Train
    # form and the sweep's lists refuse: `sample --seed 1_0` drew seed 10's samples.
    (["sample", "vae", "--seed", "1_0"], "write a whole number in ASCII digits"),
    (["sample", "vae", "-n", "١"], "write a whole number in ASCII digits"),
    (["sample", "vae", "--temperature", "0_5"], "write a number in ASCII digits"),
    (["eval", "vae", "--iw-samples", "1_0"], "write a whole number in ASCII digits"),
    (["train", "--lr", "1_000"], "write a number in ASCII digits"),
    # Typer applies no bounds to a value its parser gave: they are ours, and still hold.
    (["sample", "vae", "--scale", "33"], "must be 1 to 32"),
    (["eval", "vae", "--batch-size", "0"], "must be >= 1"),
]


@pytest.mark.parametrize("args, words", NAMED_FAULTS, ids=[" ".join(a) for a, _ in NAMED_FAULTS])
def test_bad_paths_and_sizes_name_the_fault(tmp_path, args, words):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert words in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing made


@pytest.mark.parametrize("device, name", [("cuda", "CUDA"), ("mps", "MPS")])
@pytest.mark.parametrize("command", ["train", "eval"])  # sample always runs on the CPU
def test_a_missing_accelerator_is_a_clear_message(workdir, device, name, command):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    args = {"train": ["train", *TINY[:-2], "--epochs", "1", "--out", "new.safetensors"],
            "eval": ["eval", "vae.safetensors"]}[command]
    result = run_cli(*args, "--device", device, cwd=workdir)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and name in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "new.safetensors").exists()


async def test_the_app_on_a_missing_accelerator_shows_a_notice_and_runs(workdir, tmp_path):
    import torch
    from textual.worker import WorkerFailed

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    app = TuiVaeApp(Workspace(workdir, tmp_path, "cuda", shipped_dir=None))
    async with app.run_test(size=(100, 32)) as pilot:
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()
        assert any("CUDA" in n.message for n in app._notifications)
        await pilot.press("t", "m", "g")
        assert app.is_running


def test_a_symlink_loop_as_the_data_folder_is_one_line(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    result = run_cli("train", "--dataset", "mnist", "--data-dir", str(loop), "--epochs", "1",
                     "--hidden-dim", "8", "--device", "cpu", "--out", "x.safetensors",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "loop is a link that leads nowhere" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


@pytest.mark.parametrize("edit, words", [
    (lambda m: m["progress"].update(epochs_done=-5), "epochs_done"),
    (lambda m: m["progress"].update(epochs_done=10**9), "epochs_done"),
    (lambda m: m["progress"].update(step=-1), "step"),
    (lambda m: m["progress"].update(partial={"evil": 1}), "partial"),
    (lambda m: m["training"].update(seed=2**64), "training.seed"),
    (lambda m: m["training"].update(lr="fast"), "training.lr"),
    (lambda m: m.update(seed=-3), "seed"),
    # a 4,000-digit number was quoted whole, a 4 kB "line"
    (lambda m: m["progress"].update(epochs_done=10**3999), "= a 4,000-digit number is out"),
    (lambda m: m["model"].update(latent_dim=10**3999), "= a 4,000-digit number is out"),
], ids=["epochs-negative", "epochs-absurd", "step-negative", "partial-keys", "training-seed",
        "training-lr", "seed-negative", "epochs-4000-digits", "latent-4000-digits"])
def test_absurd_progress_in_metadata_is_refused_at_validation(workdir, tmp_path, edit, words):
    import shutil

    from tests.unit.test_checkpoints import rewrite_meta

    path = tmp_path / "run.safetensors"
    shutil.copy(workdir / "vae.safetensors", path)
    rewrite_meta(path, lambda m, h: edit(m))
    result = run_cli("train", *TINY, "--epochs", "3", "--resume", "--out", str(path),
                     cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "unexpected" not in lines[0], lines
    assert len(lines[0]) < 300


def test_torchvision_processed_pickles_are_never_read(tmp_path, monkeypatch):
    """Only torchvision's processed/*.pt (pickles) and no raw IDX files: refused offline,
    and nothing in the pickles runs."""
    import os
    import pickle

    import torch
    import torchvision.datasets.mnist as tv_mnist

    from tui_vae.data import load_dataset
    from tui_vae.errors import DataError

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    processed = tmp_path / "data" / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for name in ("training.pt", "test.pt"):
        (processed / name).write_bytes(pickle.dumps(Exploit()))
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))

    def offline(self, *args, **kwargs):
        raise RuntimeError("Error downloading: no network in this test")

    monkeypatch.setattr(tv_mnist.MNIST, "download", offline)
    with pytest.raises(DataError, match="downloading it failed"):
        load_dataset("mnist", tmp_path / "data")
    assert loads == [] and not marker.exists()


@pytest.mark.parametrize("settings", [{"seed": -1}, {"seed": 2**64}, {"epochs": 10**7},
                                      {"batch_size": 2**40}],
                         ids=["seed-negative", "seed-2^64", "epochs", "batch"])
def test_the_train_form_refuses_settings_a_checkpoint_could_not_hold(settings):
    """The Train form validates through TrainConfig: a run it starts always saves a
    checkpoint that validation reads back."""
    from tui_vae.config import TrainConfig
    from tui_vae.errors import TrainingError

    with pytest.raises(TrainingError):
        TrainConfig(**settings).validate()


def test_a_width_beyond_what_checkpoints_hold_is_refused_up_front(tmp_path):
    result = run_cli("train", "--dataset", "mnist-sample", "--epochs", "1", "--hidden-dim",
                     "70000", "--latent-dim", "1", "--device", "cpu", "--out", "x.safetensors",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: the hidden size must be at most 65,536"
    assert not (tmp_path / "x.safetensors").exists()


def test_a_latent_size_the_views_cannot_hold_is_refused_up_front(tmp_path):
    """z = 65,536 trained, then the Latent view's PCA asked for 32 GiB and `eval`'s
    surgery ran out of memory: z is at most 1,024, for a run and for a checkpoint."""
    result = run_cli("train", "--dataset", "mnist-sample", "--epochs", "1", "--latent-dim",
                     "1025", "--hidden-dim", "8", "--device", "cpu", "--out", "x.safetensors",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: the latent size must be at most 1,024"
    assert not (tmp_path / "x.safetensors").exists()


def test_resuming_to_no_more_epochs_trains_nothing_and_says_so(workdir, tmp_path):
    import shutil

    from tests.unit.test_checkpoints import rewrite_meta
    from tui_vae.checkpoints import read_info

    path = tmp_path / "run.safetensors"
    shutil.copy(workdir / "vae.safetensors", path)
    rewrite_meta(path, lambda m, h: m["progress"].update(epochs_done=3, step=0))
    before = path.read_bytes()
    assert read_info(path).epochs_done == 3
    # Fewer epochs than done: refused, as any flag that cannot work.
    fewer = run_cli("train", *TINY, "--epochs", "2", "--resume", "--out", str(path),
                    cwd=tmp_path)
    assert fewer.returncode == 2 and "would train nothing" in fewer.stderr, fewer.stderr
    # As many as done: a finished run, said plainly (a recipe resumes to confirm one).
    same = run_cli("train", *TINY, "--epochs", "3", "--resume", "--out", str(path),
                   cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    [line] = same.stderr.splitlines()
    assert line.startswith("nothing to train:") and "finished its 3 epochs" in line
    assert path.read_bytes() == before


@pytest.mark.parametrize("shape, words", [({"image_size": 0}, "image size must be one of"),
                                          ({"channels": 0}, "1 or 3 channels, not 0")])
def test_a_zero_image_size_or_channel_count_is_refused_not_replaced(shape, words):
    """0 once fell back to the dataset's own value, silently (`train --image-size 0`)."""
    from tui_vae.config import ModelConfig
    from tui_vae.datasets import fit_to_dataset

    problems = fit_to_dataset(ModelConfig(dataset="mnist-sample"), **shape).problems()
    assert any(words in problem for problem in problems), problems
    assert fit_to_dataset(ModelConfig(dataset="mnist-sample")).problems() == []


@pytest.mark.parametrize("lr, beta, words", [(1e-310, 1.0, "learning rate must be at least"),
                                             (4e-324, 1.0, "learning rate must be at least"),
                                             (1e-3, 1e-320, "beta must be 0 or at least")])
def test_a_subnormal_rate_or_beta_is_refused_not_saved_as_zero(lr, beta, words):
    """A training process flushes subnormal floats to zero: `--lr 1e-310` trained, and
    saved "lr": 0.0, which every reader then refused."""
    from tui_vae.config import ModelConfig, TrainConfig

    problems = TrainConfig(model=ModelConfig(dataset="mnist-sample", beta=beta), lr=lr).problems()
    assert any(words in problem for problem in problems), problems
    fine = TrainConfig(model=ModelConfig(dataset="mnist-sample", beta=0.0), lr=1e-30)
    assert fine.problems() == []


@pytest.mark.parametrize("settings, words", [
    ({"eval_batch_size": -3}, "evaluation batch size must be 1"),  # saved a test loss of 0
    ({"eval_batch_size": 0}, "evaluation batch size must be 1"),  # failed after the epoch
    ({"batch_size": 2.5}, "batch size must be a whole number"),  # slice indices TypeError
    ({"epochs": 1.5}, "epochs must be a whole number"),
    ({"seed": 1.5}, "seed must be a whole number"),  # manual_seed's RuntimeError
    ({"batch_size": True}, "batch size must be a whole number"),
    ({"lr": "0.1"}, "lr must be a number"),
    ({"out": "r/x.txt"}, "must be a .safetensors file"),  # saved, and never listed
])
def test_the_python_api_refuses_settings_of_the_wrong_kind_before_training(
        tmp_path, settings, words):
    from tui_vae.config import ModelConfig, TrainConfig
    from tui_vae.errors import TrainingError
    from tui_vae.events import Failed
    from tui_vae.training import Trainer

    config = TrainConfig(model=ModelConfig(dataset="mnist-sample", hidden_dim=8), device="cpu",
                         **{"epochs": 1, "out": str(tmp_path / "a.safetensors"), **settings})
    assert any(words in problem for problem in config.problems()), config.problems()
    with pytest.raises(TrainingError, match=words):
        config.validate()
    events = []
    with pytest.raises(TrainingError):
        Trainer(config, on_event=events.append).run()
    assert isinstance(events[-1], Failed) and not list(tmp_path.iterdir())  # nothing saved


def test_a_model_config_of_the_wrong_kind_is_one_problem_not_a_type_error():
    from tui_vae.config import ModelConfig

    assert ModelConfig(channels=1.0).problems() == ["channels must be a whole number, not 1.0"]
    assert "latent dim must be a whole number" in ModelConfig(latent_dim="3").problems()[0]
    assert "beta must be a number" in ModelConfig(beta=None).problems()[0]


def test_a_data_folder_from_the_environment_that_is_a_file_is_named_so(tmp_path):
    # --data-dir FILE said "is not a folder"; TUI_VAE_DATA_DIR=FILE tried a download
    # into it and said "[Errno 20] Not a directory".
    (tmp_path / "afile").write_text("x")
    result = run_cli("train", "--epochs", "1", "--out", "q.safetensors", cwd=tmp_path,
                     env={"TUI_VAE_DATA_DIR": "afile"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "afile is not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "download" not in result.stderr
    assert (tmp_path / "afile").read_text() == "x" and not (tmp_path / "q.safetensors").exists()


def test_an_infinite_warm_up_is_called_what_it_is():
    # "inf" was told "KL warm-up must be >= 0 epochs", which it is.
    from tui_vae.config import TrainConfig

    for name in ("kl_warmup", "lr_warmup"):
        (problem,) = TrainConfig(**{name: float("inf")}).problems()
        assert "must be a finite number of epochs" in problem
