"""tui-vae installed the ordinary way: sdist -> wheel -> a fresh virtual environment.

From a folder unrelated to the checkout, the installed tool must find its
shipped models and judge (they travel in the wheel), open the explorer on the
shipped VAE and evaluate it with sample quality, offline (the bundled sample).
Built without isolation and installed without dependencies, so it runs
offline; the fresh environment borrows the heavy dependencies (torch, Textual)
from the test's own environment through a .pth file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tui_vae.paths import SHIPPED_MODELS

# What a source distribution is built from; MANIFEST.in decides what it keeps.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tui_vae", "checkpoints")
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there: a download fails at once

APP_SNIPPET = """
import asyncio, json
from pathlib import Path
import tui_vae
from tui_vae.cli import DEFAULT_CHECKPOINT_DIR
from tui_vae.tui.app import TuiVaeApp
from tui_vae.workspace import Workspace

async def main():
    # As `tui-vae` builds it with no flags: the runs folder, the shipped models beside it.
    app = TuiVaeApp(Workspace(Path(DEFAULT_CHECKPOINT_DIR), None, "cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(1200):
            if not app.loading:
                break
            await pilot.pause(0.05)
        print(json.dumps({"package": tui_vae.__file__, "active": str(app.active),
                          "loaded": app.model is not None, "header": app.sub_title}))

asyncio.run(main())
"""


def _build(python: str, hook: str, source: Path, out: Path) -> Path:
    """Run a PEP 517 hook of setuptools' backend in `source`; the built file's path."""
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    result = subprocess.run([python, "-c", code], cwd=source, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return out / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv with the wheel installed; its bin folder, site-packages and a work folder."""
    root = tmp_path_factory.mktemp("install")
    source, dist = root / "source", root / "dist"
    source.mkdir()
    dist.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "shipped"))
        else:
            shutil.copy2(path, source / name)
    sdist = _build(sys.executable, "build_sdist", source, dist)
    with tarfile.open(sdist) as archive:
        # The "data" filter where this Python has it (3.11.4+): no links out, no odd modes.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(root / "unpacked", **safe)
    unpacked = next((root / "unpacked").iterdir())
    wheel = _build(sys.executable, "build_wheel", unpacked, dist)

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stderr[-2000:]
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # Only now borrow the test environment's packages (pip above saw none of them).
    (site / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = root / "elsewhere"
    work.mkdir()
    return {"bin": venv / "bin", "site": site, "work": work, "wheel": wheel}


def _run(installed: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    empty = installed["work"] / "no-data"
    env.update({"TUI_VAE_DATA_DIR": str(empty), "COLUMNS": "200",
                "HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY,
                "http_proxy": DEAD_PROXY, "https_proxy": DEAD_PROXY})
    return subprocess.run(list(args), cwd=installed["work"], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_carries_the_shipped_models_and_the_judge(installed):
    shipped = installed["site"] / "tui_vae" / "shipped"
    for stem in SHIPPED_MODELS:
        assert (shipped / f"{stem}.safetensors").stat().st_size > 100_000
        assert (shipped / f"{stem}.metrics.jsonl").is_file()
    assert (shipped / "judge" / "mnist.safetensors").is_file()


def test_models_lists_the_shipped_models_from_any_folder(installed):
    result = _run(installed, str(installed["bin"] / "tui-vae"), "models")
    assert result.returncode == 0, result.stderr
    for stem in SHIPPED_MODELS:
        assert f"│ {stem} " in result.stdout
    assert result.stdout.count("shipped") >= len(SHIPPED_MODELS)
    assert str(installed["site"] / "tui_vae" / "shipped") in result.stdout


def test_the_app_opens_on_the_shipped_vae(installed):
    result = _run(installed, str(installed["bin"] / "python"), "-c", APP_SNIPPET)
    assert result.returncode == 0, result.stderr[-2000:]
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["package"].startswith(str(installed["site"]))  # the wheel, not the checkout
    assert state["active"] == str(installed["site"] / "tui_vae" / "shipped" / "vae.safetensors")
    assert state["loaded"] and state["header"].startswith("vae · VAE z=20")


def test_sample_finds_a_shipped_model_by_its_bare_name(installed):
    result = _run(installed, str(installed["bin"] / "tui-vae"), "sample", "cvae.safetensors",
                  "--digit", "7", "-n", "3", "--out", "s.npy")
    assert result.returncode == 0, result.stderr
    assert (installed["work"] / "s.npy").stat().st_size > 3 * 28 * 28 * 4


def test_eval_reports_sample_quality_offline_on_the_bundled_sample(installed):
    result = _run(installed, str(installed["bin"] / "tui-vae"), "eval", "vae.safetensors",
                  "--json", "--device", "cpu")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["checkpoint"].startswith(str(installed["site"]))
    assert report["sample_fallback"] and "bundled digits" in report["test_data"]
    assert report["test_size"] == 1000
    assert math.isfinite(report["frechet_distance"]) and report["frechet_distance"] > 0
    assert "quality_skipped" not in report
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: MNIST is not on disk")
