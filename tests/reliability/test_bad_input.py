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
    ["train", "--lr", "0"], ["train", "--lr", "-0.1"],
    ["train", "--seed", "1.5"],
    ["train", "--model", "gan"], ["train", "--dataset", "cifar10"],
    ["train", "--device", "tpu"], ["train", "--lr-schedule", "step"],
    ["train", "--resume"],  # nothing to resume without --out
    ["train", "--unknown-flag"],
    ["eval"],  # the checkpoint is required
    ["eval", "vae.safetensors", "--iw-samples", "0"],
    ["eval", "vae.safetensors", "--iw-samples", "-5"],
    ["eval", "vae.safetensors", "--iw-subset", "0"],
    ["eval", "vae.safetensors", "--device", "tpu"],
    ["sample", "cvae.safetensors", "--digit", "10"],
    ["sample", "cvae.safetensors", "--digit", "-1"],
    ["sample", "vae.safetensors", "--digit", "3"],  # a plain VAE has no classes
    ["sample", "vae.safetensors", "-n", "0"],
    ["sample", "vae.safetensors", "-n", "-2"],
    ["sample", "vae.safetensors", "--out", "grid.gif"],
    ["sample", "vae.safetensors", "--seed", "x"],
    ["models", "--nope"],
    ["--checkpoints", "vae.safetensors"],  # a file, not a folder
    ["--device", "tpu"],
    ["frobnicate"],
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_bad_flags_exit_2_with_a_message(workdir, args):
    result = run_cli(*args, cwd=workdir)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Error" in result.stderr and "Traceback" not in result.stderr


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
