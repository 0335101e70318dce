"""UI figures for the explorer: first paint, key-to-grid latency, in-app training speed.

    python benchmarks/ui_speed.py [--data-dir DIR] [--repeats 60] [--colour-only]

1. Time to first paint: `python -m tui_vae` started in a pseudo-terminal, until
   the first frame (the view's tab bar) arrives. Cold process, the real command.
2. Generate, cVAE: p50/p95 from a digit key to the new grid drawn, for grids
   of 16 and 100 samples: a headless Textual app; the key goes in through the
   driver as a terminal's would, and the time runs until the end of the frame
   that shows the new grid (rendered and handed to the driver). The first 5
   presses (cold caches) are reported apart.
3. Latent map, shipped VAE: p50/p95 from an arrow key to the new image
   decoded at the cursor, timed the same way.
4. Training throughput: the second of two epochs, `tui-vae train` in its own
   process (as a user runs it) against the Train view of the app in this
   process (after the Generate view has drawn, as on a real start), same
   settings; repeated, alternating, medians reported.
5. Colour: Generate on a colour 32x32 model (the shipped shapes-vae, else an
   untrained conv VAE of the same kind, said so): p50/p95 from `space` (a new
   draw) to a new grid of exactly 16 samples, in truecolor and in 256 colours;
   and a cold process opened on that model in a truecolor pseudo-terminal: its
   first frame (the tab bar) and its first frame with colour samples (the first
   half-block cell), which waits for torch and the model.
The machine's load average is printed beside the figures: they are only
comparable at a similar load.
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
        while b"Generate" not in seen:  # the tab bar (the current view): the first frame
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                raise SystemExit("no first paint within 10 s")
            seen += os.read(fd, 65536)
        times.append(time.perf_counter() - start)
        os.write(fd, b"q")
        os.waitpid(pid, 0)
        os.close(fd)
    return times


async def key_latency(checkpoint_dir: Path, data_dir, size: tuple[int, int], checkpoint: str,
                      view: str | None, keys: list[str], repeats: int, grid_id: str,
                      expect: int | None = None, system=None,
                      cpu: list[float] | None = None) -> list[float]:
    """Seconds from a key sent to the app to the end of the frame that shows the
    grid `grid_id`'s new images (timed inside the app; Pilot's own waiting is
    not counted). `keys` are pressed in turn, `repeats` presses in all. `system`
    (a rich ColorSystem) overrides the terminal's colours. `cpu` receives the UI
    thread's CPU seconds over the same spans (less sensitive to a loaded machine)."""
    from textual.screen import Screen

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.tui.widgets.image_grid import ImageGrid
    from tui_vae.workspace import Workspace

    marks: dict[str, float] = {}
    compositor_refresh, show = Screen._compositor_refresh, ImageGrid.show

    def timed_refresh(screen):  # a frame rendered and handed to the driver
        compositor_refresh(screen)
        if "shown" in marks and "drawn" not in marks:
            marks["drawn"], marks["drawn_cpu"] = time.perf_counter(), time.thread_time()

    def timed_show(grid, *args, **kwargs):  # the grid got its new images
        show(grid, *args, **kwargs)
        if grid.id == grid_id:
            marks.setdefault("shown", time.perf_counter())

    app = TuiVaeApp(Workspace(checkpoint_dir, data_dir, "cpu"))
    times = []
    Screen._compositor_refresh, ImageGrid.show = timed_refresh, timed_show
    try:
        async with app.run_test(size=size) as pilot:
            if system is not None:
                app.console._color_system = system  # what ImageGrid renders for
            await app.workers.wait_for_complete()
            app.activate(next(e.path for e in app.valid_entries() if e.path.name == checkpoint))
            await app.workers.wait_for_complete()
            await pilot.pause()
            if view:
                await pilot.press(view)
                await pilot.pause()
            grid = app.screen.query_one(f"#{grid_id}")
            if expect is not None:
                assert len(grid.images) == expect, (len(grid.images), expect)
            for i in range(repeats):
                marks.clear()
                key = keys[i % len(keys)]
                start, start_cpu = time.perf_counter(), time.thread_time()
                await pilot.press(key)  # the key goes in as a terminal driver sends it
                await pilot.pause()
                if "drawn" not in marks:
                    raise SystemExit(f"no new frame after key {key}")
                times.append(marks["drawn"] - start)
                if cpu is not None:
                    cpu.append(marks["drawn_cpu"] - start_cpu)
    finally:
        Screen._compositor_refresh, ImageGrid.show = compositor_refresh, show
    return times


async def digit_latency(checkpoint_dir: Path, data_dir, tiles: int, repeats: int,
                        cpu: list[float] | None = None) -> list[float]:
    """Generate with the shipped cVAE: digit keys, a grid of exactly `tiles` samples."""
    side = int(tiles**0.5)
    size = (side * 29 + 3, side * 14 + 6)  # a grid of exactly side x side tiles
    return await key_latency(checkpoint_dir, data_dir, size, "cvae.safetensors", None,
                             [str(d) for d in range(10)], repeats, "samples", tiles, None, cpu)


async def cursor_latency(checkpoint_dir: Path, data_dir, repeats: int) -> list[float]:
    """The Latent map of the shipped VAE (20-D, PCA) at 120 x 40: arrow keys."""
    keys = ["right"] * 5 + ["up"] * 5 + ["left"] * 5 + ["down"] * 5
    return await key_latency(checkpoint_dir, data_dir, (120, 40), "vae.safetensors", "l",
                             keys, repeats, "decoded")


async def in_app_run(config) -> None:
    """The app as a user meets it (Generate drawn from the shipped checkpoints,
    which runs torch on the UI thread), then `config` run from the Train view."""
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    app = TuiVaeApp(Workspace(Path(config.out).parent, config.data_dir, "cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("t")
        app.start_training(config)
        while app.monitor.active:  # a plain sleep: Pilot's pause would load the UI thread
            await asyncio.sleep(0.1)
        await app.workers.wait_for_complete()


def training_throughput(data_dir, repeats: int = 3) -> tuple[list[float], list[float], int]:
    """Samples/s of the second epoch of 2: `tui-vae train` (its own process, as
    a user runs it) against the Train view of the app in this process."""
    import subprocess
    import tempfile

    from tui_vae.checkpoints import read_info
    from tui_vae.data import dataset_available, load_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig

    name = "mnist" if dataset_available("mnist", data_dir) else "mnist-sample"
    images = len(load_dataset(name, data_dir).train)
    headless, in_app = [], []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(repeats):
            out = Path(folder) / f"headless{i}.safetensors"
            subprocess.run([sys.executable, "-m", "tui_vae", "train", "--epochs", "2",
                            "--device", "cpu", "--dataset", name, "--out", str(out)]
                           + (["--data-dir", str(data_dir)] if data_dir else []),
                           check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            headless.append(images / read_info(out).history[-1]["seconds"])
            out = Path(folder) / "app" / f"app{i}.safetensors"
            out.parent.mkdir(exist_ok=True)
            config = TrainConfig(model=ModelConfig(dataset=name), epochs=2, device="cpu",
                                 data_dir=str(data_dir) if data_dir else None, out=str(out),
                                 log_every=5)  # as the Train view's form sets it
            asyncio.run(in_app_run(config))
            in_app.append(images / read_info(out).history[-1]["seconds"])
    return headless, in_app, images


def colour_model(given: str | None = None) -> tuple[Path, str, str]:
    """(folder, checkpoint name, what it is) of a colour 32x32 model: `given`, else the
    shipped shapes-vae, else an untrained conv VAE of the shapes dataset in a
    temporary folder (its samples are noise: every cell a new colour, the worst case
    for drawing)."""
    import tempfile

    if given:
        return Path(given).parent, Path(given).name, given
    shipped = ROOT / "checkpoints" / "shapes-vae.safetensors"
    if shipped.exists():
        return shipped.parent, shipped.name, "the shipped shapes-vae"
    from tui_vae.checkpoints import build_metadata, save_checkpoint
    from tui_vae.datasets import dataset_spec
    from tui_vae.models import ModelConfig, build_model

    folder = Path(tempfile.mkdtemp(prefix="ui-speed-colour-"))
    config = ModelConfig(model="vae", arch="conv", latent_dim=10, hidden_dim=256,
                         dataset="shapes", channels=3, image_size=32,
                         num_classes=len(dataset_spec("shapes").classes))
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, [])
    save_checkpoint(folder / "colour-vae.safetensors", build_model(config, seed=0), meta)
    return folder, "colour-vae.safetensors", "an untrained conv VAE, shapes 32x32 (z=10)"


async def colour_latency(folder: Path, name: str, repeats: int, system,
                         cpu: list[float] | None = None) -> list[float]:
    """Generate on a colour 32x32 model: `space` (a new draw), a grid of exactly 16."""
    size = (4 * 33 + 3, 4 * 16 + 6)  # a grid of exactly 4 x 4 tiles of 32 x 16 cells
    return await key_latency(folder, None, size, name, None, ["space"], repeats, "samples",
                             16, system, cpu)


def colour_first_paint(folder: Path, name: str, repeats: int = 5) -> list[tuple[float, float]]:
    """(first frame, first frame with colour samples) in seconds, for cold processes
    opened on `folder`'s model in a 120 x 40 truecolor pseudo-terminal."""
    import fcntl
    import struct
    import termios

    times = []
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    for _ in range(repeats):
        start = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, __file__, "--open", str(folder)], env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        seen, paint = b"", None
        while "\u2580".encode() not in seen:  # a half-block cell: the samples are drawn
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise SystemExit("no colour samples within 30 s")
            seen += os.read(fd, 65536)
            if paint is None and b"Generate" in seen:
                paint = time.perf_counter() - start
        times.append((paint, time.perf_counter() - start))
        os.write(fd, b"q")
        _reap(pid)
        os.close(fd)
    return times


def _reap(pid: int, wait: float = 10.0) -> None:
    """Wait for the child to quit; kill it (it is ours) if it has not after `wait` s."""
    import signal

    deadline = time.perf_counter() + wait
    while time.perf_counter() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def open_only(folder: str) -> None:
    """The child of `colour_first_paint`: the explorer on `folder` alone (no shipped models,
    so its model is the one opened)."""
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    TuiVaeApp(Workspace(folder, None, "cpu", shipped_dir=None)).run()


def load() -> str:
    return "load average " + " / ".join(f"{v:.1f}" for v in os.getloadavg())


def colour_figures(repeats: int, given: str | None = None) -> None:
    from rich.color import ColorSystem

    folder, name, what = colour_model(given)
    for system, label in ((ColorSystem.TRUECOLOR, "truecolor"),
                          (ColorSystem.EIGHT_BIT, "256 colours")):
        cpu: list[float] = []
        times = asyncio.run(colour_latency(folder, name, repeats, system, cpu))
        times_ms = [t * 1000 for t in times[5:]]
        cpu_ms = [t * 1000 for t in cpu[5:]]
        cold = ", ".join(f"{t * 1000:.0f}" for t in times[:5])
        print(f"Generate, colour 32x32 ({what}), space -> new grid of 16, {label}: "
              f"p50 {pct(times_ms, 50):.1f} ms, p95 {pct(times_ms, 95):.1f} ms over "
              f"{len(times_ms)} presses (target p95 <= 30 ms); UI thread CPU p50 "
              f"{pct(cpu_ms, 50):.1f} ms, p95 {pct(cpu_ms, 95):.1f} ms; first 5: {cold} ms; "
              f"{load()}")
    # The grey figure of 2. again, at this moment's load: the two compare.
    cpu = []
    times_ms = [t * 1000 for t in asyncio.run(digit_latency(ROOT / "checkpoints", None, 16,
                                                            repeats, cpu))[5:]]
    cpu_ms = [t * 1000 for t in cpu[5:]]
    print(f"  same moment, grey: Generate, digit key -> new grid of 16 (shipped cVAE): "
          f"p50 {pct(times_ms, 50):.1f} ms, p95 {pct(times_ms, 95):.1f} ms; UI thread CPU "
          f"p50 {pct(cpu_ms, 50):.1f} ms, p95 {pct(cpu_ms, 95):.1f} ms; {load()}")
    paints = colour_first_paint(folder, name)
    first = [p for p, _ in paints]
    drawn = [d for _, d in paints]
    print(f"colour model opened cold (truecolor pty, 120x40): first paint median "
          f"{statistics.median(first):.3f} s, max {max(first):.3f} s (target <= 0.6 s); "
          f"first colour samples median {statistics.median(drawn):.2f} s; {load()}")
    grey = first_paint()
    print(f"  same moment, `python -m tui_vae` (grey, shipped models): first paint median "
          f"{statistics.median(grey):.3f} s, max {max(grey):.3f} s; {load()}")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("TUI_VAE_DATA_DIR"))
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--colour-only", action="store_true",
                        help="only the colour figures (5.)")
    parser.add_argument("--colour-checkpoint", help="the colour 32x32 model to time "
                        "[default: checkpoints/shapes-vae.safetensors]")
    parser.add_argument("--open", help=argparse.SUPPRESS)  # colour_first_paint's child
    args = parser.parse_args()
    if args.open:
        open_only(args.open)
        return
    if args.colour_only:
        colour_figures(args.repeats, args.colour_checkpoint)
        return

    paints = first_paint()
    print(f"first paint: median {statistics.median(paints):.3f} s, max {max(paints):.3f} s "
          f"over {len(paints)} cold starts (target <= 0.6 s)")
    for tiles in (16, 100):
        times = asyncio.run(digit_latency(ROOT / "checkpoints", args.data_dir, tiles,
                                          args.repeats))
        times_ms = [t * 1000 for t in times[5:]]  # the first presses warm caches up
        cold = ", ".join(f"{t * 1000:.0f}" for t in times[:5])
        print(f"Generate, digit key -> new grid, {tiles} samples: p50 {pct(times_ms, 50):.1f} ms,"
              f" p95 {pct(times_ms, 95):.1f} ms over {len(times_ms)} presses"
              + (" (target p95 <= 30 ms)" if tiles == 16 else "") + f"; first 5: {cold} ms")
    times_ms = [t * 1000 for t in asyncio.run(
        cursor_latency(ROOT / "checkpoints", args.data_dir, args.repeats))[5:]]
    print(f"Latent map, arrow key -> new decoded image: p50 {pct(times_ms, 50):.1f} ms, "
          f"p95 {pct(times_ms, 95):.1f} ms over {len(times_ms)} presses (target p95 <= 30 ms)")
    headless, in_app, images = training_throughput(args.data_dir)
    ratio = statistics.median(a / h for a, h in zip(in_app, headless))
    print(f"training, 2nd epoch of {images:,} images, {len(in_app)} runs each: "
          f"`tui-vae train` {statistics.median(headless):,.0f} samples/s, in the app "
          f"{statistics.median(in_app):,.0f} samples/s (medians); in-app / headless "
          f"{ratio:.0%} (target >= 85%)")
    colour_figures(args.repeats, args.colour_checkpoint)


if __name__ == "__main__":
    main()
