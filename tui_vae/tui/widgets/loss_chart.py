"""LossChart: line charts in braille dots, with a y axis, an x axis and a legend.

Each cell holds 2 x 4 dots, so a 60 x 12 chart draws 120 x 48 points. Series
are resampled to one point per dot column and joined vertically, so a curve
with thousands of steps costs the same as one with ten. A log scale helps when
the first epochs' losses dwarf the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Braille dot bits, indexed [row 0-3][column 0-1] (Unicode's dot numbering).
_DOTS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int32)
Y_AXIS_WIDTH = 8


@dataclass(frozen=True)
class Series:
    """One named line: x and y values of equal length, drawn in `color`."""

    name: str
    color: str
    x: tuple[float, ...]
    y: tuple[float, ...]


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:.3g}"
    if abs(value) >= 10:
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.3g}"


def plot_dots(series: list[Series], width: int, height: int, x_range, y_range,
              log: bool) -> np.ndarray:
    """Rasterise series onto a (4*height, 2*width) dot grid.

    Returns the grid of series indices (-1 = empty) per dot, later series on top.
    """
    rows, cols = 4 * height, 2 * width
    grid = np.full((rows, cols), -1, dtype=np.int32)
    transform = np.log10 if log else (lambda v: v)
    y0, y1 = transform(y_range[0]), transform(y_range[1])
    x0, x1 = x_range
    for index, s in enumerate(series):
        x, y = np.asarray(s.x, float), np.asarray(s.y, float)
        keep = np.isfinite(y) & (y > 0 if log else True)
        x, y = x[keep], transform(y[keep])
        if len(x) == 0:
            continue
        # One value per dot column covered by the series, then vertical joins.
        cx = (x - x0) / max(x1 - x0, 1e-12) * (cols - 1)
        first, last = int(np.ceil(cx.min() - 1e-9)), int(np.floor(cx.max() + 1e-9))
        columns = np.arange(first, last + 1) if last >= first else np.array([round(cx[0])])
        values = np.interp(columns, cx, y) if len(x) > 1 else np.full(len(columns), y[0])
        dot_rows = np.rint((y1 - values) / max(y1 - y0, 1e-12) * (rows - 1)).astype(int)
        dot_rows = np.clip(dot_rows, 0, rows - 1)
        for k, (c, r) in enumerate(zip(columns.tolist(), dot_rows.tolist())):
            top = bottom = r
            if k + 1 < len(dot_rows):  # join to the next column's dot
                nxt = dot_rows[k + 1]
                top, bottom = min(r, (r + nxt) // 2), max(r, (r + nxt) // 2)
            if k:
                prev = dot_rows[k - 1]
                top, bottom = min(top, (r + prev + 1) // 2), max(bottom, (r + prev + 1) // 2)
            grid[top : bottom + 1, c] = index
    return grid


def braille_rows(grid: np.ndarray, colors: list[str]) -> list[Text]:
    """Dot grid -> one Text of braille characters per line, coloured by series."""
    rows, cols = grid.shape
    lines = []
    for line in range(rows // 4):
        block = grid[4 * line : 4 * line + 4].reshape(4, cols // 2, 2)
        filled = block >= 0
        bits = (filled * _DOTS[:, None, :]).sum(axis=(0, 2))
        owner = block.reshape(4, cols // 2, 2).transpose(1, 0, 2).reshape(cols // 2, 8).max(1)
        text = Text()
        for b, o in zip(bits.tolist(), owner.tolist()):
            text.append(chr(0x2800 + b) if b else " ", colors[o] if o >= 0 else "")
        lines.append(text)
    return lines


class LossChart(Widget):
    """A titled line chart of loss curves; `series` and `log_scale` are reactive."""

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    """

    series: reactive[tuple[Series, ...]] = reactive(tuple)
    log_scale: reactive[bool] = reactive(False)

    def __init__(self, title: str, x_label: str = "", *, id: str | None = None):
        super().__init__(id=id)
        self.title = title
        self.x_label = x_label

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        plot_w, plot_h = width - Y_AXIS_WIDTH - 1, height - 3  # title, x axis, labels
        title = Text(self.title + ("  (log scale)" if self.log_scale else ""), style="bold")
        drawn = [s for s in self.series if len(s.y)]
        if plot_w < 4 or plot_h < 1 or not drawn:
            return Text.assemble(title, "\n", Text("no data yet", style="dim"))
        xs = np.concatenate([np.asarray(s.x, float) for s in drawn])
        ys = np.concatenate([np.asarray(s.y, float) for s in drawn])
        ys = ys[np.isfinite(ys) & ((ys > 0) if self.log_scale else True)]
        if not len(ys):
            return Text.assemble(title, "\n", Text("no data yet", style="dim"))
        x_range = (float(xs.min()), float(max(xs.max(), xs.min() + 1)))
        low, high = float(ys.min()), float(ys.max())
        if high - low < 1e-9:
            low, high = low - 1, high + 1
        if self.log_scale:
            low = max(low, 1e-6)
        grid = plot_dots(drawn, plot_w, plot_h, x_range, (low, high), self.log_scale)
        rows = braille_rows(grid, [s.color for s in drawn])
        labels = self._y_labels(low, high, plot_h)
        out = Text()
        out.append_text(title)
        out.append("   ")
        for s in drawn:
            out.append("━━ ", s.color)
            out.append(f"{s.name} {_fmt(s.y[-1])}  ")
        for line, row in enumerate(rows):
            out.append("\n")
            out.append(labels.get(line, "").rjust(Y_AXIS_WIDTH), "dim")
            out.append("┤" if line in labels else "│", "dim")
            out.append_text(row)
        out.append("\n" + " " * Y_AXIS_WIDTH + "└" + "─" * plot_w, "dim")
        left, right = _fmt(x_range[0]), _fmt(x_range[1])
        middle = self.x_label.center(max(plot_w - len(left) - len(right), 0))
        out.append("\n" + " " * (Y_AXIS_WIDTH + 1) + left + middle + right, "dim")
        return out

    def _y_labels(self, low: float, high: float, lines: int) -> dict[int, str]:
        """Tick labels keyed by the chart line they sit on."""
        if self.log_scale:
            lo, hi = math.log10(low), math.log10(high)
            ticks = [10**t for t in nice_ticks(lo, hi, max(2, lines // 3))]
            position = [(hi - math.log10(t)) / max(hi - lo, 1e-12) for t in ticks]
        else:
            ticks = nice_ticks(low, high, max(2, lines // 3))
            position = [(high - t) / max(high - low, 1e-12) for t in ticks]
        labels: dict[int, str] = {}
        for tick, pos in zip(ticks, position):
            line = min(lines - 1, max(0, int(pos * lines)))
            labels.setdefault(line, _fmt(tick))
        return labels
