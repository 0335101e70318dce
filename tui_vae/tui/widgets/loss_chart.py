"""LossChart: line charts in braille dots, with labelled axes and a legend above the plot.

Each cell holds 2 x 4 dots, so a 60 x 12 chart draws 120 x 48 points. Series
are resampled to one point per dot column and joined vertically, so a curve
with thousands of steps costs the same as one with ten. A log scale helps when
the first epochs' losses dwarf the rest.

The y axis has at least three labelled ticks at round values (the linear
range is widened to the outer ticks, so the top and bottom lines are
labelled); the x axis has whole-number ticks (steps, epochs). The legend has
its own lines above the plot and wraps item by item, so it never covers the
curves. Lines are built once per change of data, scale or size and served
through Textual's Line API: no markup is parsed on a redraw.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip

from tui_vae.runs import LARGEST_DRAWN
from tui_vae.tui.widgets.built_lines import BuiltLines
from tui_vae.wording import fit_words, plural, printable

# Braille dot bits, indexed [row 0-3][column 0-1] (Unicode's dot numbering).
_DOTS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int32)
Y_AXIS_WIDTH = 8  # tick labels, right-aligned; the axis line follows
MIN_Y_TICKS = 3
# Round steps within a decade: 1, 2, 2.5, 5 (x: whole numbers only, so no 2.5 below 10).
_STEPS = (1.0, 2.0, 2.5, 5.0)


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


# Without colour (NO_COLOR), series are told apart by dash: each one's pattern of
# drawn (1) and skipped (0) dot columns, and the mark its legend shows.
DASHES = (
    ((1,), "━━━"),
    ((1, 1, 1, 1, 0, 0, 0, 0), "━ ━"),
    ((1, 0, 0, 0), "┈┈┈"),
    ((1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0), "━┈━"),
)


def dash(index: int) -> tuple[tuple[int, ...], str]:
    """Series `index`'s (pattern, legend mark) when there is no colour (they repeat)."""
    return DASHES[index % len(DASHES)]


def _drawn(values: np.ndarray, log: bool) -> np.ndarray:
    """Which values a chart places: finite, no larger than LARGEST_DRAWN (a crafted
    1e308 overflowed the axis), and positive on a log scale."""
    keep = np.isfinite(values) & (np.abs(values) <= LARGEST_DRAWN)
    return keep & (values > 0) if log else keep


def plot_dots(series: list[Series], width: int, height: int, x_range, y_range,
              log: bool, dashed: bool = False) -> np.ndarray:
    """Rasterise series onto a (4*height, 2*width) dot grid.

    Returns the grid of series indices (-1 = empty) per dot, later series on top.
    `dashed`: each series skips dot columns by its `dash` pattern (no colour).
    """
    rows, cols = 4 * height, 2 * width
    grid = np.full((rows, cols), -1, dtype=np.int32)
    transform = np.log10 if log else (lambda v: v)
    y0, y1 = transform(y_range[0]), transform(y_range[1])
    x0, x1 = x_range
    for index, s in enumerate(series):
        x, y = np.asarray(s.x, float), np.asarray(s.y, float)
        keep = _drawn(y, log)
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
        pattern = dash(index)[0]
        for k, (c, r) in enumerate(zip(columns.tolist(), dot_rows.tolist())):
            top = bottom = r
            if k + 1 < len(dot_rows):  # join to the next column's dot
                nxt = dot_rows[k + 1]
                top, bottom = min(r, (r + nxt) // 2), max(r, (r + nxt) // 2)
            if k:
                prev = dot_rows[k - 1]
                top, bottom = min(top, (r + prev + 1) // 2), max(bottom, (r + prev + 1) // 2)
            if not dashed or pattern[c % len(pattern)]:
                grid[top : bottom + 1, c] = index
    return grid


def braille_cells(grid: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Dot grid -> per line, the braille characters and each cell's series (-1 = none).

    A cell with no dot is a plain space. Where two series share a cell, the
    later one (drawn on top) owns its colour.
    """
    rows, cols = grid.shape
    blocks = grid[: rows // 4 * 4].reshape(rows // 4, 4, cols // 2, 2)
    bits = ((blocks >= 0) * _DOTS[None, :, None, :]).sum(axis=(1, 3))
    owners = blocks.max(axis=(1, 3))
    chars = np.where(bits > 0, bits + 0x2800, 0x20)
    return ["".join(map(chr, line)) for line in chars.tolist()], owners


def braille_rows(grid: np.ndarray, colors: list[str]) -> list[Text]:
    """Dot grid -> one Text of braille characters per line, coloured by series."""
    lines, owners = braille_cells(grid)
    texts = []
    for line, owner in zip(lines, owners.tolist()):
        text = Text()
        for char, o in zip(line, owner):
            text.append(char, colors[o] if o >= 0 else "")
        texts.append(text)
    return texts


def _round_steps(low: float, high: float, integer: bool) -> list[float]:
    """Round steps (1, 2, 2.5, 5 x 10^k), fine to coarse, around the span of [low, high]."""
    span = high - low if high > low else max(abs(low), 1.0)
    top = math.floor(math.log10(span))
    steps = [f * 10.0**e for e in range(top - 3, top + 2) for f in _STEPS]
    return [s for s in steps if not integer or (s >= 1 and s == round(s))]


def linear_ticks(low: float, high: float, most: int) -> tuple[list[float], float, float]:
    """Three to `most` round ticks and the range widened to the outer ones.

    The range grows to the outer ticks, so the first and last lines carry
    labels. Of the round steps, the one whose widened range the data fills
    best wins, with a small cost per tick so that near ties stay uncluttered.
    """
    most = max(most, MIN_Y_TICKS)
    span = high - low
    best, best_score = None, -math.inf
    for step in _round_steps(low, high, integer=False):
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first < MIN_Y_TICKS - 1:  # widen a flat or narrow range to three ticks
            last = first + MIN_Y_TICKS - 1
        count = last - first + 1
        if count > most:
            continue
        score = span / ((last - first) * step) - 0.02 * count
        if score > best_score:
            best, best_score = (step, first, last), score
    step, first, last = best or (_round_steps(low, high, False)[-1], 0, MIN_Y_TICKS - 1)
    ticks = [k * step for k in range(first, last + 1)]
    return ticks, ticks[0], ticks[-1]


def log_ticks(low: float, high: float, most: int) -> list[float]:
    """Ticks for a log axis on [low, high]: decades, else 1-2-5, else every mantissa.

    Falls back to round linear steps inside the range where it spans too little
    for any of those to give three ticks.
    """
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in mantissas]
        ticks = [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
        if MIN_Y_TICKS <= len(ticks) <= max(most, MIN_Y_TICKS):
            return ticks
        if len(ticks) > most:  # too many: thin them out evenly
            keep = -(-len(ticks) // max(most, MIN_Y_TICKS))
            return ticks[::keep]
    for step in reversed(_round_steps(low, high, integer=False)):  # coarse to fine
        ticks = [k * step for k in range(math.ceil(low / step - 1e-9),
                                         math.floor(high / step + 1e-9) + 1)]
        if len(ticks) >= MIN_Y_TICKS:
            return ticks
    return [low, math.sqrt(low * high), high]


def integer_ticks(low: float, high: float, width: int, label_width: int) -> list[int]:
    """Whole-number ticks on [low, high] whose labels fit `width` cells side by side."""
    most = max(1, width // (label_width + 5))  # room to read each label apart
    if high - low < 1:
        return [round(low)]
    for step in _round_steps(low, high, integer=True):
        ticks = range(math.ceil(low / step) * int(step), int(math.floor(high)) + 1, int(step))
        if len(ticks) <= most:
            return list(ticks)
    return [math.ceil(low)]


def format_tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the step between ticks needs (none for 1, 2...)."""
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return text if len(text) < Y_AXIS_WIDTH else f"{value:.3g}"


def format_value(value: float) -> str:
    """A series' latest value for the legend: three significant digits, no exponent below 1e6."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e6:  # a 1e308 once printed as 309 digits
        return f"{value:.3g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def legend_lines(items: list[tuple[str, str]], width: int) -> list[list[tuple[str, str]]]:
    """Legend items ((text, colour)) packed into lines of `width`, wrapping whole items."""
    lines: list[list[tuple[str, str]]] = [[]]
    used = 0
    for text, colour in items:
        cells = len(text) + 2  # two spaces before the next item
        if used and used + len(text) > width:
            lines.append([])
            used = 0
        lines[-1].append((text[:width], colour))
        used += cells
    return lines


class LossChart(BuiltLines):
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
        self._styles: dict[str, Style] = {}
        # What the last build showed, for tests and callers: tick values and labels.
        self.y_ticks: list[tuple[int, str]] = []  # (chart line, label)
        self.x_ticks: list[tuple[int, str]] = []  # (column, label)
        self.legend_height = 0  # lines the legend takes above the plot
        self.plot_top = 0  # first line of the plot
        self.empty_text = "no data yet"  # said where there is nothing to draw

    def watch_series(self) -> None:
        self.invalidate()

    def watch_log_scale(self) -> None:
        self.invalidate()

    def _style(self, colour: str, **flags) -> Style:
        key = colour + repr(sorted(flags.items()))
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(color=colour or None, **flags)
        return style

    def _text_line(self, parts: list[tuple[str, Style]], width: int) -> Strip:
        return Strip([Segment(text, style) for text, style in parts if text]).crop_extend(
            0, width, Style())

    def build(self, width: int, height: int) -> list[Strip]:
        bold, dim = self._style("", bold=True), self._style("", dim=True)
        drawn = [s for s in self.series if len(s.y)]
        values = [np.asarray(s.y, float) for s in drawn]
        finite = [v[_drawn(v, self.log_scale)] for v in values]
        title = self.title
        if self.log_scale:
            # A log axis has no place for zero or less: say what is left out, never
            # drop it silently (a Gaussian likelihood's loss can be negative).
            left_out = sum(int((np.isfinite(v) & (v <= 0)).sum()) for v in values)
            note = (f"  (log scale; {plural(left_out, 'value')} <= 0 not drawn)"
                    if left_out else "  (log scale)")
            if len(title + note) > width:  # the note matters more than the title's asides
                title = re.sub(r" \([^)]*\)", "", title)
            title += note
        elif len(title) > width:  # an aside cut half-way says less than none at all
            title = re.sub(r" \([^)]*\)", "", title)
        title = fit_words(title, width)
        dashed = self.app.no_color
        self.y_ticks, self.x_ticks, self.legend_height = [], [], 0
        if not drawn or not any(len(v) for v in finite):
            return [self._text_line([(title, bold)], width),
                    self._text_line([(fit_words(self.empty_text, width), dim)], width)]
        # Without colour, every curve in the terminal's own foreground: the
        # monochrome filter would turn some colours (magenta, blue) into faint greys.
        # A run's name is a file name: its control characters are drawn escaped.
        items = [(f"{dash(i)[1] if dashed else '━━'} {printable(s.name)} "
                  f"{format_value(float(s.y[-1]))}", "" if dashed else s.color)
                 for i, s in enumerate(drawn)]
        legend = legend_lines(items, width)
        beside = len(legend) == 1 and len(title) + 3 + sum(len(t) + 2 for t, _ in items) <= width
        plot_w = width - Y_AXIS_WIDTH - 1
        header = 1 if beside else 1 + len(legend)
        # Short of lines for three ticks: the legend takes the title's place.
        show_title = beside or height - header - 2 >= MIN_Y_TICKS
        header -= not show_title
        plot_h = height - header - 2  # below the plot: the x axis and its labels
        if plot_w < 4 or plot_h < 2:
            return [self._text_line([(title, bold)], width),
                    self._text_line([("(too small for a chart)", dim)], width)]
        self.legend_height = 0 if beside else len(legend)
        self.plot_top = header

        ys = np.concatenate(finite)
        low, high = float(ys.min()), float(ys.max())
        if high - low < 1e-9 * max(1.0, abs(high)):  # a flat line: centre it
            low, high = (low / 2, high * 2) if self.log_scale else (low - 1, high + 1)
        most = max(MIN_Y_TICKS, plot_h if plot_h < 8 else plot_h // 2 + 1)
        if self.log_scale:
            ticks = log_ticks(low, high, most)
        else:
            ticks, low, high = linear_ticks(low, high, most)
        xs = np.concatenate([np.asarray(s.x, float) for s in drawn])
        first, last = float(xs.min()), float(xs.max())
        # One x (a 1-epoch run): centred in a unit range, so the only tick is its own
        # (a range [x, x + 1] labelled a tick x + 1 that no data reaches).
        x_range = (first, last) if last > first else (first - 0.5, first + 0.5)
        grid = plot_dots(drawn, plot_w, plot_h, x_range, (low, high), self.log_scale, dashed)
        chars, owners = braille_cells(grid)

        # Y ticks: each on the line holding its dot row.
        transform = math.log10 if self.log_scale else (lambda v: v)
        t0, t1 = transform(low), transform(high)
        rows = 4 * plot_h
        step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        labels: dict[int, str] = {}
        for tick in ticks:
            dot = round((t1 - transform(tick)) / max(t1 - t0, 1e-12) * (rows - 1))
            labels.setdefault(min(plot_h - 1, max(0, dot // 4)),
                              format_tick(tick, tick if self.log_scale else step))
        self.y_ticks = sorted(labels.items())

        legend_parts = []
        for line_items in legend:
            parts: list[tuple[str, Style]] = []
            for text, colour in line_items:
                parts += [(text, self._style(colour)), ("  ", dim)]
            legend_parts.append(parts)
        if beside:
            strips = [self._text_line([(title, bold), ("   ", dim), *legend_parts[0]], width)]
        else:
            strips = [self._text_line([(title, bold)], width)] if show_title else []
            strips += [self._text_line(parts, width) for parts in legend_parts]
        colours = [self._style("" if dashed else s.color) for s in drawn]
        for line in range(plot_h):
            segments = [Segment(labels.get(line, "").rjust(Y_AXIS_WIDTH)[-Y_AXIS_WIDTH:], dim),
                        Segment("┤" if line in labels else "│", dim)]
            owner = owners[line]
            starts = np.concatenate(([0], np.flatnonzero(owner[1:] != owner[:-1]) + 1))
            ends = np.concatenate((starts[1:], [plot_w]))
            for a, b in zip(starts.tolist(), ends.tolist()):
                o = int(owner[a])
                segments.append(Segment(chars[line][a:b], colours[o] if o >= 0 else dim))
            strips.append(Strip(segments, Y_AXIS_WIDTH + 1 + plot_w).crop_extend(
                0, width, Style()))

        # X axis: whole-number ticks under "┬" marks, the axis name at the right if it fits.
        label_width = len(str(int(x_range[1])))
        x_ticks = integer_ticks(x_range[0], x_range[1], plot_w, label_width)
        axis = ["─"] * plot_w
        under = [" "] * (plot_w + Y_AXIS_WIDTH + 1)
        placed = []
        for tick in x_ticks:
            col = round((tick - x_range[0]) / (x_range[1] - x_range[0]) * (2 * plot_w - 1)) // 2
            text = str(tick)
            start = min(max(0, col - len(text) // 2), plot_w - len(text))
            at = Y_AXIS_WIDTH + 1 + start
            if any(c != " " for c in under[max(0, at - 1): at + len(text) + 1]):
                continue  # would touch the previous label
            axis[col] = "┬"
            under[at: at + len(text)] = text
            placed.append((col, text))
        self.x_ticks = placed
        name = self.x_label
        end = len(under)
        if name and all(c == " " for c in under[end - len(name) - 1:]):
            under[end - len(name):] = name
        strips.append(self._text_line([(" " * Y_AXIS_WIDTH + "└" + "".join(axis), dim)], width))
        strips.append(self._text_line([("".join(under), dim)], width))
        return strips
