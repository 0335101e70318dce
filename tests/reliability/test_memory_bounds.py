"""Bounded memory for any input: each hostile case runs the real CLI under an
address-space limit (RLIMIT_AS) and must end in one clear line, not an
allocation failure. 4 GiB: torch and OpenBLAS map ~3 GiB of address space just
to start (measured: at 3 GiB `tui-vae eval` cannot load libtorch), and every
ordinary command in these tests runs within 4 GiB."""

from __future__ import annotations

import gzip
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import run_cli
from tests.reliability.test_hostile_files import _mnist_folder
from tests.unit.test_checkpoints import rewrite_meta

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_AS and /proc are Linux's")

LIMIT = 4 * 1024**3
TINY = ["--dataset", "mnist-sample", "--hidden-dim", "32", "--latent-dim", "4",
        "--batch-size", "100", "--device", "cpu"]


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def limited(*args, cwd, timeout=120) -> subprocess.CompletedProcess:
    """`python -m tui_vae ARGS` with its address space capped at LIMIT."""
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "tui_vae", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory)


def one_line(result, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-2000:]
    for symptom in ("unexpected", "MemoryError", "allocate", "Allocator"):
        assert symptom not in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mem")
    result = run_cli("train", "--epochs", "1", *TINY, "--out", "vae.safetensors", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "vae.safetensors"


def test_an_ordinary_eval_fits_the_limit(tiny):
    """The limit is not what fails the cases below."""
    result = limited("eval", str(tiny), "--device", "cpu", "--iw-samples", "50",
                     "--iw-subset", "20", "--no-quality", cwd=tiny.parent)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("latent, hidden, words", [
    (1024, 65536, "parameters"),  # 304 million parameters: over the ceiling
    (20, 65536, "do not match"),  # 105 million: under it, but the file holds 50 thousand
], ids=["over-ceiling", "not-in-the-file"])
def test_metadata_never_sizes_an_allocation(tiny, tmp_path, latent, hidden, words):
    path = tmp_path / "big.safetensors"
    shutil.copy(tiny, path)
    rewrite_meta(path, lambda m, h: m["model"].update(latent_dim=latent, hidden_dim=hidden))
    assert path.stat().st_size < 1_000_000  # a small file (weights, moments, live weights)
    line = one_line(limited("eval", str(path), "--device", "cpu", cwd=tmp_path))
    assert words in line


@pytest.mark.parametrize("flags, code", [
    (["--hidden-dim", str(10**9)], 2),
    (["--hidden-dim", "2000000"], 2),
    (["--latent-dim", "1024", "--hidden-dim", "65536"], 2),
    (["--batch-size", "16000000"], 2),
], ids=["hidden-1e9", "hidden-2e6", "both-largest", "batch-16e6"])
def test_flags_that_size_a_model_are_checked_up_front(tmp_path, flags, code):
    result = limited("train", "--epochs", "1", "--dataset", "mnist-sample", "--device", "cpu",
                     *flags, "--out", "x.safetensors", cwd=tmp_path)
    line = one_line(result, code)
    assert "GiB" in line or "MiB" in line  # the estimate is named
    assert not (tmp_path / "x.safetensors").exists()


def _gzip_bomb(path, header: bytes, inflated: int) -> None:
    """A .gz whose stream inflates to `inflated` bytes (gzip members of zeros, repeated)."""
    chunk = 64 * 1024**2
    member = gzip.compress(bytes(chunk), compresslevel=9)
    with path.open("wb") as handle:
        handle.write(gzip.compress(header))
        for _ in range(inflated // chunk):
            handle.write(member)


def _idx_header(*shape) -> bytes:
    return bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def _gz_longer_than_header(raw):
    target = raw / "train-images-idx3-ubyte"
    header = target.read_bytes()[:16]
    target.unlink()
    _gzip_bomb(raw / "train-images-idx3-ubyte.gz", header, 3 * 1024**3)


def _gz_header_declares_gigabytes(raw):
    target = raw / "train-images-idx3-ubyte"
    target.unlink()
    _gzip_bomb(raw / "train-images-idx3-ubyte.gz", _idx_header(4_000_000, 28, 28), 3 * 1024**3)


def _sparse_tail(raw):
    with (raw / "train-images-idx3-ubyte").open("r+b") as handle:
        handle.truncate(3 * 1024**3)  # a hole: no disk used, 3 GiB to read


def _overflowing_dimensions(raw):
    path = raw / "train-images-idx3-ubyte"
    data = path.read_bytes()
    # 2^32 - 1 images of 2^32 - 1 x 28 pixels: a product that overflows 64 bits.
    path.write_bytes(_idx_header(2**32 - 1, 2**32 - 1, 28) + data[16:])


@pytest.mark.parametrize("mutate, words", [
    (_gz_longer_than_header, "longer than its header says"),
    (_gz_header_declares_gigabytes, "limit"),
    (_sparse_tail, "longer than its header says"),
    (_overflowing_dimensions, "limit"),
], ids=["gz-bomb", "gz-huge-header", "sparse-tail", "overflowing-dims"])
def test_idx_data_is_read_within_its_header(tmp_path, mutate, words):
    root = _mnist_folder(tmp_path / "data", mutate)
    result = limited("train", "--dataset", "mnist", "--data-dir", str(root), "--epochs", "1",
                     "--hidden-dim", "8", "--out", "x.safetensors", "--device", "cpu",
                     cwd=tmp_path)
    line = one_line(result)
    assert words in line and "train-images-idx3-ubyte" in line


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_the_iwae_estimator_keeps_memory_flat_for_any_sample_count(tiny):
    """500,000 samples (the most eval takes) on 20 images (one batch) take minutes;
    memory must not grow meanwhile, chunk after chunk. (A full batch of 100 images
    allocates and frees some 100 MiB a chunk: its resident size jitters by that much
    from one moment to the next, bounded but no use to this measure.)"""
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_vae", "eval", str(tiny), "--device", "cpu",
         "--iw-samples", "500000", "--iw-subset", "20", "--no-quality"],
        cwd=tiny.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=_limit_memory)
    try:
        time.sleep(5)  # torch started, the ELBO done: well into the IWAE chunks
        first = _rss_kib(process.pid)
        time.sleep(5)
        assert process.poll() is None, process.stderr.read().decode()[-500:]
        grown = _rss_kib(process.pid) - first
        # The old estimator kept every chunk's log-weights: ~35 MiB/s measured here.
        assert grown < 30 * 1024, f"grew {grown / 1024:.0f} MiB in 5 s"
    finally:
        process.kill()
        process.wait()


async def test_compare_loads_checkpoints_and_data_off_the_ui_thread(checkpoints, tmp_path):
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    calls: list[tuple[str, bool]] = []

    class Watched(Workspace):
        def model(self, path):
            calls.append(("model", threading.current_thread() is threading.main_thread()))
            return super().model(path)

        def images(self, dataset, shape=None):
            calls.append(("images", threading.current_thread() is threading.main_thread()))
            return super().images(dataset, shape)

    empty = tmp_path / "no-data"
    empty.mkdir()
    app = TuiVaeApp(Watched(checkpoints, empty, "cpu", shipped_dir=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        calls.clear()
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        grid = app.screen.query_one("#a-samples")
        assert len(grid.images) > 0  # drawn, once the worker had loaded A and B
        assert {kind for kind, _ in calls} == {"model", "images"}
        assert not any(on_ui for _, on_ui in calls), calls
        await pilot.press("space", "x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not any(on_ui for _, on_ui in calls), calls


# --------------------------------------------------------------------------- disk


def _limit_file_size(limit: int):
    def limit_it():
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_it


def test_the_preflight_writes_real_bytes(tmp_path):
    """A file-size limit below the checkpoint's size fails the pre-flight write (a probe
    of 0 bytes passed it), before any training."""
    env = {**os.environ, "COLUMNS": "120"}
    result = subprocess.run(
        [sys.executable, "-m", "tui_vae", "train", "--epochs", "1", *TINY, "--out",
         "x.safetensors"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, preexec_fn=_limit_file_size(300_000))
    line = one_line(result)
    assert "cannot write" in line and "File too large" in line
    assert "epoch" not in result.stdout.lower()  # refused before the first step
    assert not (tmp_path / "x.safetensors").exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs: a tiny checkpoint (~630 kB) fits once, not twice. Needs root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_refused_before_training(small_tmpfs, tmp_path):
    (small_tmpfs / "filler").write_bytes(bytes(700_000))
    line = one_line(run_cli("train", "--epochs", "1", *TINY, "--out",
                            str(small_tmpfs / "x.safetensors"), cwd=tmp_path))
    assert "No space left on device" in line
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]


def test_a_disk_that_fills_later_fails_with_one_line(small_tmpfs, tmp_path):
    """The pre-flight and the first save fit; the second save needs room for the new
    file beside the old one, and the disk has none."""
    out = small_tmpfs / "x.safetensors"
    result = run_cli("train", "--epochs", "3", *TINY, "--out", str(out), cwd=tmp_path)
    line = one_line(result)
    assert "cannot write" in line and "No space left on device" in line
    from tui_vae.checkpoints import read_info

    assert read_info(out).epochs_done == 1  # the last save that fitted, whole
    assert not [p for p in small_tmpfs.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_for_the_metrics_file_is_one_line(tiny_train_config, sample_dataset,
                                                      monkeypatch):
    import tui_vae.training as training
    from tui_vae.errors import TrainingError

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    # The metrics file opens onto /dev/full, whose every write fails with ENOSPC.
    monkeypatch.setattr(training, "open_for_writing",
                        lambda path, flags, mode=0o666: os.open("/dev/full", os.O_WRONLY))
    with pytest.raises(TrainingError, match=r"cannot write .*metrics\.jsonl: No space left"):
        training.Trainer(tiny_train_config, dataset=sample_dataset).run()


def test_an_absurd_latent_size_is_named_with_a_count_that_grows_with_it(tmp_path):
    # The lower bound for a model that cannot be built counted only the decoder's
    # last layer: --latent-dim 10**8 was "313,600 parameters" (784 x 400).
    result = limited("train", "--epochs", "1", "--dataset", "mnist-sample", "--device", "cpu",
                     "--latent-dim", str(10**8), "--out", "x.safetensors", cwd=tmp_path)
    line = one_line(result, 2)
    assert "at least 120,000,313,600 parameters" in line and "--latent-dim" in line
