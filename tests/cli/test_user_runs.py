"""User runs go to runs/, `models` lists them beside the shipped models, and `eval`
says what it could not measure or what it measured on (no silent drops)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.cli.test_cli import TINY
from tests.conftest import REPO, run_cli

DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there: a download fails at once
OFFLINE = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY,
           "http_proxy": DEAD_PROXY, "https_proxy": DEAD_PROXY}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder where `tui-vae train` ran with no --out: (the folder, its output)."""
    folder = tmp_path_factory.mktemp("user")
    result = run_cli("train", "--epochs", "1", *TINY, cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_train_writes_to_runs_and_models_lists_it_beside_the_shipped_ones(trained):
    folder, result = trained
    written = list((folder / "runs").glob("vae-mnist-sample-*.safetensors"))
    assert len(written) == 1 and not (folder / "checkpoints").exists()
    assert "for 1 epoch on" in result.stdout and "done: 1 epoch," in result.stdout
    listed = run_cli("models", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines()
            if line.startswith("│")}
    assert "yours" in rows[written[0].stem]
    for name in ("vae", "cvae", "vae-beta0", "vae-2d"):
        assert "shipped" in rows[name]
    assert f"runs and {REPO / 'checkpoints'}" in listed.stdout


def test_a_sweeps_sub_folder_of_runs_is_listed_and_its_runs_found_by_that_name(
        trained, tmp_path):
    """`sweep --out-dir runs/beta` (the README's example): `models` lists its runs as
    beta/NAME, and that name is enough for `sample`."""
    folder, _ = trained
    written = next((folder / "runs").glob("*.safetensors"))
    (tmp_path / "runs" / "beta").mkdir(parents=True)
    shutil.copyfile(written, tmp_path / "runs" / "beta" / "b0.5.safetensors")
    listed = run_cli("models", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines()
            if line.startswith("│")}
    assert "yours" in rows["beta/b0.5"]
    sampled = run_cli("sample", "beta/b0.5", "--out", "s.png", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert (tmp_path / "s.png").stat().st_size > 0


def test_a_run_named_like_a_shipped_model_is_said_to_be_yours(trained, tmp_path):
    """runs/cvae.safetensors took `cvae` from the shipped cVAE: `sample cvae` used it
    unsaid, and `models` at 80 columns showed two rows named cvae."""
    folder, _ = trained
    (tmp_path / "runs").mkdir()
    shutil.copyfile(next((folder / "runs").glob("*.safetensors")),
                    tmp_path / "runs" / "cvae.safetensors")
    sampled = run_cli("sample", "cvae", "-n", "1", "--out", "s.png", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stderr.strip() == ("note: cvae is your runs/cvae.safetensors; the shipped "
                                      "model of that name is shipped/cvae")
    shipped = run_cli("sample", "shipped/cvae", "-n", "1", "--digit", "3", "--out", "t.png",
                      cwd=tmp_path)
    assert shipped.returncode == 0 and shipped.stderr == "", shipped.stderr
    listed = run_cli("models", cwd=tmp_path)
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines()
            if line.startswith("│")}
    assert "yours" in rows["cvae"] and "shipped" in rows["shipped/cvae"]


def test_eval_says_in_one_line_when_the_judge_is_missing(trained, tmp_path):
    folder, _ = trained
    run = next((folder / "runs").glob("*.safetensors")).name
    code = ("import sys, tui_vae.judge as j; from pathlib import Path\n"
            f"j.SHIPPED_JUDGE = Path({str(tmp_path / 'no-judge.safetensors')!r})\n"
            f"sys.argv = ['tui-vae', 'eval', {run!r}, '--json']\n"
            "from tui_vae.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: sample quality")
    assert "no-judge.safetensors" in notes[0] and "--judge" in notes[0]
    report = json.loads(result.stdout)
    assert "frechet_distance" not in report and "no judge" in report["quality_skipped"]


def test_eval_offline_of_the_binarised_model_uses_the_sample_binarised(tmp_path):
    # It failed, telling an eval to "train offline on the bundled digits".
    result = run_cli("eval", "vae-binary", "--no-quality", "--json", "--data-dir",
                     str(tmp_path / "data"), "--device", "cpu", cwd=tmp_path, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sample_fallback"] and report["test_size"] == 1000
    assert report["test_data"].endswith("bundled digits, binarised")
    assert "MNIST, binarised is not on disk" in result.stderr
    assert report["test_loss"] < 110  # binary test images, as the model was trained on


def test_eval_offline_falls_back_to_the_bundled_sample_and_says_so(tmp_path):
    args = ("eval", "vae.safetensors", "--no-quality", "--data-dir", str(tmp_path / "data"),
            "--device", "cpu")
    result = run_cli(*args, "--json", cwd=tmp_path, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sample_fallback"] and report["test_size"] == 1000
    assert report["test_data"].endswith("bundled digits")
    assert report["checkpoint"] == str(REPO / "checkpoints" / "vae.safetensors")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "MNIST is not on disk" in result.stderr
    from tui_vae.report import format_report

    # the text form says it too
    assert "test images: the 1,000 bundled digits" in format_report(report)


def test_train_without_mnist_offline_says_how_and_leaves_no_empty_runs_folder(tmp_path):
    result = run_cli("train", "--epochs", "1", "--data-dir", str(tmp_path / "nowhere"),
                     cwd=tmp_path, env=OFFLINE)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "downloading it failed" in lines[0]
    assert lines[0].endswith("train offline on the 1,000 bundled digits: --dataset mnist-sample")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "nowhere").exists()


def test_runs_started_in_the_same_second_take_numbered_names(tmp_path):
    """Two default-named runs started within one second chose one name, and the second
    was refused ("being written by pid ..."). Here this process holds the lock of
    every name the run could choose in the next minute: it must number on."""
    from datetime import datetime, timedelta

    from tui_vae.checkpoints import SUFFIX
    from tui_vae.run_lock import RunLock

    runs = tmp_path / "runs"
    runs.mkdir()
    start = datetime.now()
    held = []
    for second in range(60):
        stamp = (start + timedelta(seconds=second)).strftime("%Y%m%d-%H%M%S")
        lock = RunLock(runs / f"vae-mnist-sample-{stamp}{SUFFIX}")
        lock.acquire()
        held.append(lock)
    try:
        result = run_cli("train", "--epochs", "1", *TINY, cwd=tmp_path)
    finally:
        for lock in held:
            lock.release()
    assert result.returncode == 0, result.stderr
    saved = [p.name for p in runs.glob(f"*{SUFFIX}")]
    assert len(saved) == 1 and saved[0].endswith(f"-2{SUFFIX}"), saved
    assert saved[0] in result.stdout
    assert not list(runs.glob(".*.lock"))  # its own lock went with the run, ours with us
