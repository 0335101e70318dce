"""RatePlane: runs as points on the rate-distortion plane, with lines of equal -ELBO.

x is the rate (the test KL, nats) on a log axis, so a beta = 0 run's hundreds
of nats and a large beta's fraction of a nat share one plane; y is the
distortion (the test reconstruction, nats). Lines of equal -ELBO, D + R = c,
are drawn in braille dots (on the log axis they curve); each run is a marker
labelled with its beta, the cursor's run highlighted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip

from tui_vae.runs import elbo_levels
from tui_vae.tui.widgets.built_lines import BuiltLines
from tui_vae.tui.widgets.loss_chart import (
    Series,
    braille_cells,
    format_tick,
    linear_ticks,
    log_ticks,
    plot_dots,
)
from tui_vae.wording import fit_words, printable

Y_AXIS = 8
MIN_RATE = 0.01  # rates below this sit on the plane's left edge


@dataclass(frozen=True)
class PlanePoint:
    label: str  # "b=0.5"
    rate: float
    distortion: float
    color: str


class RatePlane(BuiltLines):
    """The plane; `points` and `cursor` (an index into points) are reactive."""

    DEFAULT_CSS = "RatePlane { height: 1fr; min-height: 8; }"

    points: reactive[tuple[PlanePoint, ...]] = reactive(tuple)
    cursor: reactive[int] = reactive(0)
    scope: reactive[str] = reactive("")  # which runs the plane holds, a line under its title

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.placed: dict[int, tuple[int, int]] = {}  # point -> (column, line), for tests
        self.labelled: set[int] = set()  # the points whose label is drawn, for tests
        self.levels: list[float] = []

    def watch_points(self) -> None:
        self.invalidate()

    def watch_cursor(self) -> None:
        self.invalidate()

    def watch_scope(self) -> None:
        self.invalidate()

    def _ranges(self):
        rates = [math.log10(max(p.rate, MIN_RATE)) for p in self.points]
        dists = [p.distortion for p in self.points]
        x0, x1 = min(rates), max(rates)
        pad = max(0.15 * (x1 - x0), 0.3)
        return (x0 - pad, x1 + pad), (min(dists), max(dists))

    def build(self, width: int, height: int) -> list[Strip]:
        bold, dim = Style(bold=True), Style(dim=True)
        title = "rate-distortion plane: x rate = KL (log), y distortion = recon (nats)"
        if len(title) > width:  # half of 80 columns
            title = "rate-distortion: x KL (log), y recon, nats"
        self.placed = {}
        if not self.points:
            return [Strip([Segment(title[:width], bold)]),
                    Strip([Segment("no runs with a test evaluation yet", dim)])]
        heading = [Strip([Segment(title[:width], bold)])]
        if self.scope:
            # whole words (and "; N other runs not comparable" whole or not at all)
            scope = printable(self.scope)
            if len(scope) > width and "; " in scope:
                scope = scope.split("; ")[0]
            heading.append(Strip([Segment(fit_words(scope, width), dim)]))
        plot_w, plot_h = width - Y_AXIS - 1, height - 3 - len(heading)
        if plot_w < 10 or plot_h < 3:
            return [Strip([Segment("(too small for the plane)"[:width], dim)])]
        (x0, x1), (d0, d1) = self._ranges()
        if d1 - d0 < 1e-9:
            d0, d1 = d0 - 1, d1 + 1
        ticks, d0, d1 = linear_ticks(d0 - 0.05 * (d1 - d0), d1 + 0.05 * (d1 - d0),
                                     max(3, plot_h // 2 + 1))
        # Lines of equal -ELBO: D = c - R, sampled along the log rate axis.
        self.levels = elbo_levels([(p.rate, p.distortion) for p in self.points])
        xs = np.linspace(x0, x1, 4 * plot_w)
        lines = [Series(f"{c:g}", "", tuple(xs), tuple(c - 10.0 ** xs)) for c in self.levels]
        grid = plot_dots(lines, plot_w, plot_h, (x0, x1), (d0, d1), log=False)
        grid[(grid >= 0)] = 0
        chars, _ = braille_cells(grid)
        cells = [list(line) for line in chars]
        styles: list[list[Style]] = [[dim] * plot_w for _ in range(plot_h)]
        # Markers over the lines (the cursor's last: it wins a shared cell), then
        # labels, the cursor's first, each whole beside its marker (right, else left)
        # or not at all: a label once ran into a neighbour's marker and was cut
        # there ("◆ b=● b=1"), and labels wrote over each other.
        order = sorted(range(len(self.points)), key=lambda i: i == self.cursor)
        taken: set[tuple[int, int]] = set()
        for index in order:
            p = self.points[index]
            col = round((math.log10(max(p.rate, MIN_RATE)) - x0) / (x1 - x0) * (plot_w - 1))
            row = round((d1 - p.distortion) / (d1 - d0) * (plot_h - 1))
            col, row = min(max(col, 0), plot_w - 1), min(max(row, 0), plot_h - 1)
            chosen = index == self.cursor
            cells[row][col] = "◆" if chosen else "●"
            styles[row][col] = Style(color=p.color or None, bold=True, reverse=chosen)
            taken.add((row, col))
            self.placed[index] = (col, row)
        self.labelled = set()
        on_top = {self.placed[index]: index for index in order}  # the last drawn wins
        for index in reversed(order):
            p, (col, row) = self.points[index], self.placed[index]
            if on_top[(col, row)] != index:  # its marker is under another's: no label
                continue
            width_needed = len(p.label) + 1  # a space between marker and label
            for start in (col + 1, col - width_needed):  # right, else left
                span = range(start, start + width_needed)
                if start < 0 or span[-1] >= plot_w or any((row, c) in taken for c in span):
                    continue
                text = f" {p.label}" if start > col else f"{p.label} "
                for c, char in zip(span, text):
                    cells[row][c] = char
                    styles[row][c] = Style(color=p.color or None, bold=index == self.cursor)
                    taken.add((row, c))
                self.labelled.add(index)
                break
        labels = {}
        for tick in ticks:
            line = round((d1 - tick) / (d1 - d0) * (plot_h - 1))
            labels.setdefault(line, format_tick(tick, ticks[1] - ticks[0] if len(ticks) > 1
                                                else 1.0))
        levels = ", ".join(f"{c:g}" for c in self.levels)
        # What the marks are, then the lines; the levels give way first, whole.
        key = f"◆ cursor's run · ● others · dotted: -ELBO = D + R = {levels} nats"
        if len(key) > width:
            key = "◆ cursor's run · ● others · dotted: equal -ELBO"
        strips = [*heading, Strip([Segment(fit_words(key, width), dim)])]
        for line in range(plot_h):
            segments = [Segment(labels.get(line, "").rjust(Y_AXIS)[-Y_AXIS:], dim),
                        Segment("┤" if line in labels else "│", dim)]
            segments += [Segment(char, style) for char, style in zip(cells[line], styles[line])]
            strips.append(Strip(segments).simplify())
        axis = [" "] * plot_w
        for tick in log_ticks(10 ** x0, 10 ** x1, max(3, plot_w // 8)):
            col = round((math.log10(tick) - x0) / (x1 - x0) * (plot_w - 1))
            text = format_tick(tick, tick)
            start = min(max(col - len(text) // 2, 0), plot_w - len(text))
            if all(c == " " for c in axis[max(start - 1, 0):start + len(text) + 1]):
                axis[start:start + len(text)] = text
        strips.append(Strip([Segment(" " * (Y_AXIS + 1) + "".join(axis), dim)]))
        return [s.crop_extend(0, width, Style()) for s in strips]
