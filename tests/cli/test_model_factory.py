"""`--model-factory`: the example under docs/examples trained by its own script, then
evaluated and sampled through the CLI; bad factories are one line and the right code."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, run_cli

EXAMPLES = REPO / "docs" / "examples"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The example VAE trained for one epoch on the bundled digits by train_tiny_vae.py."""
    out = tmp_path_factory.mktemp("factory") / "tiny-sample.safetensors"
    result = subprocess.run([sys.executable, "train_tiny_vae.py", "--sample", "--epochs", "1",
                             "--out", str(out)], cwd=EXAMPLES, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "epoch 1: -ELBO" in result.stdout and out.is_file()
    return out


def test_eval_reports_the_elbo_of_the_users_model(trained):
    result = run_cli("eval", "--model-factory", "tiny_vae:build_sample", str(trained),
                     "--json", "--no-quality", "--iw-samples", "5", cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["test_size"] == 200 and report["dataset"] == "mnist-sample"
    assert report["model"]["arch"] == "user" and report["model"]["latent_dim"] == 8
    assert math.isclose(report["test_loss"], report["recon"] + report["kl"], rel_tol=1e-6)
    # trained one epoch: far better than an untrained decoder's ~543 nats (784 log 2)
    assert 100 < report["test_loss"] < 500
    assert report["nll_iw"] <= report["test_loss"] + 1.0  # the IWAE bound is tighter
    assert "mutual_information" in report  # ELBO surgery ran on it too


def test_sample_writes_the_users_samples(trained, tmp_path):
    npy = tmp_path / "samples.npy"
    result = run_cli("sample", "--model-factory", "tiny_vae:build_sample", str(trained),
                     "-n", "6", "--out", str(npy), cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    pixels = np.load(npy)
    assert pixels.shape == (6, 28, 28) and 0 <= pixels.min() <= pixels.max() <= 1
    assert pixels.std(axis=0).mean() > 0.01  # six different draws, not one image six times
    shown = run_cli("sample", "--model-factory", "tiny_vae:build_sample", str(trained),
                    "-n", "2", cwd=EXAMPLES)
    assert shown.returncode == 0, shown.stderr  # drawn here: 28 rows, two a line
    assert len(shown.stdout.splitlines()) == 14 and set(shown.stdout) - set(" \n")


def test_a_conditional_factory_samples_a_chosen_class(tmp_path):
    from safetensors.torch import save_file

    sys.path.insert(0, str(EXAMPLES))
    try:
        import tiny_vae
    finally:
        sys.path.remove(str(EXAMPLES))
    weights = tmp_path / "cvae.safetensors"
    save_file(tiny_vae.build_conditional_sample().state_dict(), str(weights))
    png = tmp_path / "sevens.png"
    result = run_cli("sample", "--model-factory", "tiny_vae:build_conditional_sample",
                     str(weights), "--digit", "7", "-n", "4", "--out", str(png), cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["eval", "--model-factory", "tiny_vae", "W"], 2, "is not package.module:function"),
    (["sample", "--model-factory", "tiny_vae:build()", "W"], 2,
     "is not package.module:function"),
    (["--model-factory", "tiny_vae:build_sample"], 2, "--model-factory and --weights go together"),
    (["eval", "--model-factory", "no_such_pkg.models:build", "TRAINED"], 1,
     "cannot import no_such_pkg.models (ModuleNotFoundError"),
    (["eval", "--model-factory", "tiny_vae:build_sample", "MISSING"], 1,
     "no such weights file"),
])
def test_bad_factories_are_one_line(trained, args, code, message):
    args = [str(trained) if a == "TRAINED" else a for a in args]
    args = [str(trained.with_name("absent.safetensors")) if a == "MISSING" else a for a in args]
    result = run_cli(*args, cwd=EXAMPLES)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if message:
        assert message in result.stderr, result.stderr


def test_a_model_that_breaks_the_protocol_is_one_line_in_the_cli(tmp_path, trained):
    (tmp_path / "wrong_latent.py").write_text(
        "from tiny_vae import TinyVAE\n\n"
        "class Wrong(TinyVAE):\n"
        "    def encode(self, x, y=None):\n"
        "        mu, logvar = super().encode(x, y)\n"
        "        return mu[:, :3], logvar\n\n"
        "def build():\n"
        "    return Wrong(dataset='mnist-sample')\n")
    result = run_cli("eval", "--model-factory", "wrong_latent:build", str(trained),
                     "--no-quality", cwd=tmp_path, env={"PYTHONPATH": str(EXAMPLES)})
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == ("error: --model-factory wrong_latent:build: encode's mu "
                                     "has shape (2, 3), not (2, 8)")


def test_a_model_whose_samples_are_not_numbers_is_one_line_naming_it(tmp_path, trained):
    # Finite for the checks' two rows, NaN for more: eval's sample quality ended in
    # "unexpected ValueError", naming neither the model nor --no-quality.
    (tmp_path / "nan_later.py").write_text(
        "import torch\n"
        "from tiny_vae import TinyVAE\n\n"
        "class NanLater(TinyVAE):\n"
        "    def decode(self, z, y=None):\n"
        "        out = super().decode(z, y)\n"
        "        return out if len(z) <= 2 else out * float('nan')\n\n"
        "def build():\n"
        "    return NanLater(dataset='mnist-sample')\n")
    result = run_cli("eval", "--model-factory", "nan_later:build", str(trained),
                     cwd=tmp_path, env={"PYTHONPATH": str(EXAMPLES)})
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"error: {trained}: cannot measure its sample quality:"), line
    assert "not finite numbers" in line and "--no-quality" in line
    assert "unexpected" not in result.stderr


def test_models_lists_the_users_model_first(trained, tmp_path):
    result = run_cli("models", str(tmp_path), "--model-factory", "tiny_vae:build_sample",
                     "--weights", str(trained), cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if trained.stem in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[:6] == [trained.stem, "user", "tiny_vae:build_sample", "bernoulli",
                         "mnist-sample", "8"], cells


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    import os
    import select
    import time

    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {needle!r} within {timeout} s; got {seen[-300:]!r}")
        if select.select([fd], [], [], min(remaining, 0.5))[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_the_explorer_opens_on_the_users_model(trained, tmp_path):
    """`tui-vae --model-factory F --weights W` in a real terminal: the header names the
    model, active; q quits. (A factory that fails: tests/tui/test_factory_model.py.)"""
    import os
    import pty
    import select
    import time

    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30",
           "TUI_VAE_DATA_DIR": str(tmp_path)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, from the examples folder, as the README says
        os.chdir(EXAMPLES)
        os.execve(sys.executable, [sys.executable, "-m", "tui_vae", "--checkpoints",
                                   str(tmp_path / "mine"), "--model-factory",
                                   "tiny_vae:build_sample", "--weights", str(trained)], env)
    try:
        screen = _read_until(fd, f"{trained.stem} · VAE z=8".encode(), timeout=90)
        assert b"Traceback" not in screen
        os.write(fd, b"q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:  # keep reading: a full terminal buffer would block the app's writes
                select.select([fd], [], [], 0.2)[0] and os.read(fd, 65536)
            except OSError:
                pass
        else:
            raise AssertionError("the app did not quit on q")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_the_examples_script_without_mnist_offline_is_one_line(tmp_path):
    """It ended in a traceback where the CLI says one line."""
    import os

    dead = "http://127.0.0.1:9"  # nothing listens there: a download fails at once
    env = {**os.environ, "TUI_VAE_DATA_DIR": str(tmp_path / "nowhere"),
           "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead}
    result = subprocess.run([sys.executable, "train_tiny_vae.py", "--epochs", "1",
                             "--out", str(tmp_path / "x.safetensors")], cwd=EXAMPLES,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: MNIST is not in") and line.endswith("--sample)")
    assert not (tmp_path / "x.safetensors").exists()
