"""A folder of 10,000 checkpoints: scan times, and key latency while it is rescanned.

    python benchmarks/big_folder.py [--files 10000] [--presses 200]

1. Scan times of the folder: the uncached listing (`list_checkpoints`, every
   header read, as every rescan did before the cache), then the workspace's
   cached listing cold (every header read once), warm (nothing changed: one
   stat of the folder), after one save (the folder is listed and stat'ed
   again, one header read), and a full stat sweep (every file stat'ed).
2. Key -> frame latency in the Models view of the app (headless, 120 x 40)
   over the folder, p50/p95 of `down`/`up` presses: with no rescan going on,
   while the folder is rescanned without pause from a cold cache (every
   header read again in the worker), and while a file is saved every 100 ms
   (each poll then lists and stats the folder). Timed as benchmarks/ui_speed.py
   does: from the key sent through the driver to the end of the frame that
   shows the moved cursor.

The files are copies of one small valid checkpoint (a 1-D VAE with one hidden
unit, ~10 KB) with different names, in a temporary folder removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_folder(folder: Path, files: int) -> None:
    """`files` copies of one tiny valid checkpoint, named run-00000.safetensors, ..."""
    from tui_vae import checkpoints as ck
    from tui_vae.models import ModelConfig, build_model

    config = ModelConfig(latent_dim=1, hidden_dim=1, dataset="mnist-sample")
    meta = ck.build_metadata(config, {"seed": 0, "epochs": 1}, {"epochs_done": 1, "step": 0},
                             [{"epoch": 1, "train": {"loss": 200.0},
                               "test": {"loss": 201.0, "recon": 190.0, "kl": 11.0}}])
    first = folder / "run-00000.safetensors"
    ck.save_checkpoint(first, build_model(config, seed=0), meta)
    data = first.read_bytes()
    for i in range(1, files):
        (folder / f"run-{i:05d}.safetensors").write_bytes(data)


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def scan_times(folder: Path) -> None:
    from tui_vae.checkpoints import list_checkpoints
    from tui_vae.workspace import Workspace

    uncached, found = timed(lambda: list_checkpoints(folder))
    print(f"uncached listing (every header read, as each rescan did): {uncached:.2f} s "
          f"for {len(found):,} files")
    # A folder untouched for a few seconds (fresh time stamps are not trusted).
    time.sleep(2.1)
    workspace = Workspace(folder, None, "cpu", shipped_dir=None)
    cold, _ = timed(workspace.scan)
    warm = statistics.median(timed(workspace.scan)[0] for _ in range(20))
    reads = workspace._listing.reads
    saved = []
    for i in range(5):
        (folder / f"saved-{i}.safetensors").write_bytes((folder / "run-00000.safetensors")
                                                        .read_bytes())
        saved.append(timed(workspace.scan)[0])
    full, _ = timed(lambda: workspace.scan(full=True))
    print(f"cached listing: cold {cold:.2f} s ({reads:,} headers read); warm, nothing changed "
          f"{warm * 1000:.2f} ms (median of 20); after one save "
          f"{statistics.median(saved) * 1000:.0f} ms (median of 5); full stat sweep "
          f"{full * 1000:.0f} ms")
    for i in range(5):
        (folder / f"saved-{i}.safetensors").unlink()


async def key_latency(folder: Path, presses: int, load: str) -> list[float]:
    """Seconds from a key to the frame that shows the Models cursor moved, under `load`:
    "none", "cold" (rescans without pause, cache dropped each time) or "saves"."""
    from textual.screen import Screen

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.tui.widgets.checkpoint_table import CheckpointTable
    from tui_vae.workspace import Workspace

    marks: dict[str, float] = {}
    compositor_refresh, move = Screen._compositor_refresh, CheckpointTable.move_cursor

    def timed_refresh(screen):
        compositor_refresh(screen)
        if "moved" in marks:
            marks.setdefault("drawn", time.perf_counter())

    def timed_move(table, row):
        move(table, row)
        marks.setdefault("moved", time.perf_counter())

    app = TuiVaeApp(Workspace(folder, None, "cpu", shipped_dir=ROOT / "checkpoints"))
    times: list[float] = []
    scans = 0
    Screen._compositor_refresh, CheckpointTable.move_cursor = timed_refresh, timed_move
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("m")
            await pilot.pause()
            assert app.screen.query_one(CheckpointTable).row_count >= len(app.entries) > 1000

            async def keep_scanning() -> None:
                nonlocal scans
                data = (folder / "run-00000.safetensors").read_bytes()
                while True:
                    if load == "cold" and not app._scan_lock.locked():
                        app.workspace._listing.forget()
                        app.rescan()
                        scans += 1
                    elif load == "saves":
                        (folder / f"saved-{scans % 3}.safetensors").write_bytes(data)
                        scans += 1
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(keep_scanning()) if load != "none" else None
            await asyncio.sleep(0.5)
            for i in range(presses):
                key = "down" if (i // 20) % 2 == 0 else "up"
                marks.clear()
                start = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                if "drawn" not in marks:
                    raise SystemExit(f"no new frame after {key}")
                times.append(marks["drawn"] - start)
                await asyncio.sleep(0.02)  # a typist's pace, which lets the scans run
            if task:
                task.cancel()
            await app.workers.wait_for_complete()
    finally:
        Screen._compositor_refresh, CheckpointTable.move_cursor = compositor_refresh, move
    if load == "cold":
        print(f"  ({scans} cold rescans requested while keys were pressed; one runs at a time)")
    return times


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--loads", default="none,cold,saves",
                        help="which of the latency runs: none, cold, saves (comma-separated)")
    parser.add_argument("--no-scan-times", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "runs"
        folder.mkdir()
        make_folder(folder, args.files)
        if not args.no_scan_times:
            scan_times(folder)
        for load, words in (("none", "no rescan"),
                            ("cold", "rescanned without pause, every header re-read"),
                            ("saves", "a save every 100 ms, polled")):
            if load not in args.loads.split(","):
                continue
            times = [t * 1000 for t in asyncio.run(key_latency(folder, args.presses, load))]
            print(f"Models, {args.files:,} files, key -> frame, {words}: "
                  f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, "
                  f"max {max(times):.1f} ms over {len(times)} presses (target p95 < 50 ms)")
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
