"""Redraw cost of the Train view's loss charts: the project's LossChart against textual-plot.

    python benchmarks/chart_redraw.py [--points 5000] [--epochs 30] [--repeats 40]

A realistic training series: 3 step curves (loss, recon, KL) of `--points`
points each, and 4 epoch curves (train, test, test recon, test KL) of
`--epochs` points. Each redraw adds one point (as a training report does),
hands the new data to the widget and renders the whole screen (the chart
alone, 100 x 14 cells, braille) through Textual's compositor until the lines
are ready for the driver. That is the work the UI thread does twice a second
while training, sharing the GIL with the trainer. Medians and p95 in ms, wall
clock and CPU time of the UI thread (steadier on a busy machine). "decimated"
feeds textual-plot one point per dot column, as an adapter could.

textual-plot is measured only where it is installed (`pip install textual-plot`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widget import Widget  # noqa: E402

from tui_vae.tui.widgets.loss_chart import LossChart, Series  # noqa: E402

SIZE = (100, 14)
STEP_COLOURS = ("cyan", "green", "magenta")
EPOCH_COLOURS = ("cyan", "yellow", "green", "magenta")


def step_curves(n: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Loss-like curves: a fast drop, a slow tail, noise; KL rising then flat."""
    rng = np.random.default_rng(seed)
    step = np.arange(n, dtype=float) * 5
    recon = 90 + 450 * np.exp(-step / 300) + rng.normal(0, 2, n)
    kl = 25 - 20 * np.exp(-step / 200) + rng.normal(0, 0.5, n)
    return step, [recon + kl, recon, kl]


def epoch_curves(n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    epoch = np.arange(1, n + 1, dtype=float)
    test_recon = 80 + 40 / epoch
    test_kl = 25 - 5 / epoch
    return epoch, [test_recon + test_kl + 3, test_recon + test_kl, test_recon, test_kl]


class Bench(App):
    def __init__(self, widget: Widget):
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def ours_update(chart: LossChart, x: np.ndarray, ys: list[np.ndarray], names) -> None:
    chart.series = tuple(Series(name, colour, tuple(x.tolist()), tuple(y.tolist()))
                         for name, colour, y in zip(names, STEP_COLOURS + EPOCH_COLOURS, ys))


def plot_update(plot, x: np.ndarray, ys: list[np.ndarray], names) -> None:
    from textual_plot import HiResMode

    plot.clear()
    for name, colour, y in zip(names, STEP_COLOURS + EPOCH_COLOURS, ys):
        plot.plot(x, y, line_style=colour, hires_mode=HiResMode.BRAILLE, label=name)


def frame_text(app: App) -> str:
    update = app.screen._compositor.render_update(full=True)
    return "".join(segment.text for strip in update.strips for segment in strip)


async def measure(widget: Widget, update, data, repeats: int
                  ) -> tuple[list[float], list[float], str]:
    """ms per redraw (wall clock, and CPU time of this thread): data in, lines rendered."""
    app = Bench(widget)
    times, cpu = [], []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for i in range(repeats + 3):
            x, ys, names = data(i)
            start, start_cpu = time.perf_counter(), time.thread_time()
            update(widget, x, ys, names)
            frame_text(app)
            text = frame_text(app)  # a parent may draw into its children: settle them too
            elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
            if i >= 3:  # the first redraws warm caches
                times.append(elapsed * 1000)
                cpu.append(elapsed_cpu * 1000)
            await pilot.pause()
    return times, cpu, text


def summary(label: str, times: list[float], cpu: list[float], text: str) -> str:
    braille = sum(0x2800 < ord(c) <= 0x28FF for c in text)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    return (f"  {label:<26} median {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms"
            f"   CPU median {statistics.median(cpu):7.2f} ms   ({braille} braille cells)")


def decimated(update, columns: int = 2 * SIZE[0]):
    """textual-plot fed one point per dot column, as an adapter could do for it."""

    def feed(widget, x, ys, names):
        if len(x) > columns:
            grid = np.linspace(x[0], x[-1], columns)
            ys = [np.interp(grid, x, y) for y in ys]
            x = grid
        update(widget, x, ys, names)

    return feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()

    def steps(i):
        x, ys = step_curves(args.points - args.repeats + i)
        return x, ys, ("loss", "recon", "KL")

    def epochs(i):
        x, ys = epoch_curves(max(2, args.epochs - args.repeats + i))
        return x, ys, ("train", "test", "test recon", "test KL")

    try:
        from textual_plot import PlotWidget
    except ImportError:
        PlotWidget = None
    print(f"chart redraw, {SIZE[0]}x{SIZE[1]} cells, {args.repeats} redraws each")
    for title, data in ((f"steps: 3 curves x {args.points} points", steps),
                        (f"epochs: 4 curves x {args.epochs} points", epochs)):
        print(title)
        result = asyncio.run(measure(LossChart("loss"), ours_update, data, args.repeats))
        print(summary("LossChart", *result))
        if PlotWidget is None:
            print("  textual-plot  not installed")
            continue
        result = asyncio.run(measure(PlotWidget(), plot_update, data, args.repeats))
        print(summary("textual-plot", *result))
        result = asyncio.run(measure(PlotWidget(), decimated(plot_update), data, args.repeats))
        print(summary("textual-plot, decimated", *result))


if __name__ == "__main__":
    main()
