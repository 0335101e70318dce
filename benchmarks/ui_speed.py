"""UI figures for the explorer: first paint, key-to-grid latency, in-app training speed.

    python benchmarks/ui_speed.py [--data-dir DIR] [--repeats 60]

1. Time to first paint: `python -m tui_vae` started in a pseudo-terminal, until
   the first frame (the view's tab bar) arrives. Cold process, the real command.
2. Generate, cVAE: p50/p95 from a digit key to the new grid drawn, for grids
   of 16 and 100 samples (headless Textual app driven by Pilot; the time runs
   from the key press until the app is idle again, its screen updated).
3. Training throughput: one epoch headless (the Trainer alone) against one
   epoch started from the Train view, same settings, same process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import select
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def first_paint(repeats: int = 5) -> list[float]:
    """Seconds from spawning `python -m tui_vae` to its first frame on the terminal."""
    times = []
    for _ in range(repeats):
        env = {**os.environ, "TERM": "xterm-256color"}
        start = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "tui_vae"], env)
        seen = b""
        while b"Interpolate" not in seen:  # the tab bar: the first full frame
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                raise SystemExit("no first paint within 10 s")
            seen += os.read(fd, 65536)
        times.append(time.perf_counter() - start)
        os.write(fd, b"q")
        os.waitpid(pid, 0)
        os.close(fd)
    return times


async def digit_latency(checkpoint_dir: Path, data_dir, tiles: int, repeats: int) -> list[float]:
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    side = int(tiles**0.5)
    size = (side * 29 + 3, side * 14 + 6)  # a grid of exactly side x side tiles
    workspace = Workspace(checkpoint_dir, data_dir, "cpu")
    app = TuiVaeApp(workspace)
    times = []
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        app.activate(next(e.path for e in app.valid_entries() if e.path.name == "cvae.safetensors"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        grid = app.screen.query_one("#samples")
        assert len(grid.images) == tiles, (len(grid.images), tiles)
        for i in range(repeats):
            start = time.perf_counter()
            await pilot.press(str(i % 10))
            await pilot.pause()
            times.append(time.perf_counter() - start)
    return times


async def in_app_epoch(config) -> None:
    """Run `config` from the Train view until it finishes."""
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    app = TuiVaeApp(Workspace(Path(config.out).parent, config.data_dir, "cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        app.start_training(config)
        while app.monitor.active:
            await pilot.pause(0.1)
        await app.workers.wait_for_complete()


def training_throughput(data_dir) -> tuple[float, float, int]:
    import tempfile

    from tui_vae.data import dataset_available, load_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    name = "mnist" if dataset_available("mnist", data_dir) else "mnist-sample"
    images = len(load_dataset(name, data_dir).train)
    with tempfile.TemporaryDirectory() as folder:
        def config(tag):
            return TrainConfig(model=ModelConfig(dataset=name), epochs=1, device="cpu",
                               data_dir=str(data_dir) if data_dir else None,
                               out=str(Path(folder) / f"{tag}.safetensors"), log_every=5)
        Trainer(config("warm")).run()  # first-use costs (imports, Adam set-up) out of both
        headless = Trainer(config("headless")).run().history[-1]["seconds"]
        asyncio.run(in_app_epoch(config("app")))
        from tui_vae.checkpoints import read_info

        in_app = read_info(Path(folder) / "app.safetensors").history[-1]["seconds"]
    return images / headless, images / in_app, images


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("TUI_VAE_DATA_DIR"))
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()

    paints = first_paint()
    print(f"first paint: median {statistics.median(paints):.3f} s, max {max(paints):.3f} s "
          f"over {len(paints)} cold starts (target <= 0.6 s)")
    for tiles in (16, 100):
        times = asyncio.run(digit_latency(ROOT / "checkpoints", args.data_dir, tiles,
                                          args.repeats))
        times_ms = [t * 1000 for t in times[5:]]  # the first presses warm caches up
        print(f"Generate, digit key -> new grid, {tiles} samples: p50 {pct(times_ms, 50):.1f} ms,"
              f" p95 {pct(times_ms, 95):.1f} ms over {len(times_ms)} presses"
              + (" (target p95 <= 30 ms)" if tiles == 16 else ""))
    headless, in_app, images = training_throughput(args.data_dir)
    print(f"training, one epoch of {images:,} images: headless {headless:,.0f} samples/s, "
          f"in the app {in_app:,.0f} samples/s = {in_app / headless:.0%} (target >= 85%)")


if __name__ == "__main__":
    main()
