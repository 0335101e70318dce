"""Runs: every run in the workspace as a table, their curves overlaid, and the
rate-distortion plane with the cursor's run's reconstructions and samples.

The table follows the app's watched folders, so runs appear, finish and update
while this view is open. `space` adds or removes the cursor's run from the
chart; the chart shows one metric at a time (`k` cycles: test -ELBO, recon,
KL, train loss; `y` log scale). `p` swaps the chart for the plane, where the
cursor's run is highlighted and its pictures load beside it.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label

from tui_vae.runs import METRICS, Run, runs_from
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.checkpoint_table import CheckpointTable, Column
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.tui.widgets.loss_chart import DASHES, LossChart, Series
from tui_vae.tui.widgets.rd_plane import PlanePoint, RatePlane
from tui_vae.wording import metric, plural, printable, printable_lines

# Given as RGB, not by ANSI name: Textual draws ANSI names through its terminal
# theme, in which red and magenta are one colour, and so are cyan and bright
# cyan, green and bright green (ten names gave six colours, so two runs' curves
# and legend entries looked alike). Light enough for a dark background, and
# still ten different colours in a 256-colour terminal (tests/tui/test_runs_view.py).
COLOURS = ("#4fc3f7", "#ffa726", "#9ccc65", "#f06292", "#fff176", "#b39ddb", "#4db6ac",
           "#ff8a65", "#7986cb", "#a1887f")
RUN_WIDTH = (10, 40)  # the run column's width: the longest name, within these
COLUMNS = (Column("", 2), Column("run", 22), Column("model", 5), Column("arch", 4),
           Column("likelihood", 10), Column("beta", 5, True), Column("epochs", 6, True),
           Column("test -ELBO", 10, True), Column("recon", 7, True), Column("KL", 7, True),
           Column("time", 7, True), Column("dataset", 12))
MAX_OVERLAID = len(COLOURS)
FAR_ABOVE = 2.0  # a run's final loss this many times the best's is not overlaid at first
SURGERY_IMAGES = 2000  # ELBO surgery beside the plane: on this many test images (fast)


def _time(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}h{seconds // 60 % 60:02d}"


class RunPictures(Message):
    """A run's reconstructions and samples, loaded in a worker."""

    def __init__(self, path: Path, pairs, samples, surgery: dict) -> None:
        super().__init__()
        self.path, self.pairs, self.samples, self.surgery = path, pairs, samples, surgery


class RunsScreen(ViewScreen):
    """The runs table over a chart of their curves, or the rate-distortion plane."""

    TITLE = "Runs"
    NEEDS_MODEL = False
    FOLLOWS_ENTRIES = True
    AUTO_FOCUS = "CheckpointTable"
    BINDINGS = [
        Binding("space", "toggle_run", "Overlay", id="runs.overlay"),
        Binding("k", "next_metric", "Metric", id="runs.metric"),
        Binding("y", "toggle_log", "Log scale", id="runs.log"),
        Binding("p", "toggle_plane", "Plane/curves", id="runs.plane"),
        Binding("enter", "activate", "Use", id="runs.use"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []
        self.overlaid: set[Path] = set()
        self._colours: dict[Path, str] = {}  # each overlaid run's, in table order (redraw)
        # The data and likelihood the first choice compared (None until it is made:
        # it is made once, then the chart is the user's)
        self._key: tuple[str, str] | None = None
        self._listed: set[Path] = set()  # the runs listed at the last redraw
        self.metric = "test_loss"
        self.plane = False
        self._drawn = None  # the app's entries when last drawn
        self._pictures_for: Path | None = None
        self._shown_pictures = None  # (pairs, samples) of the cursor's run, as loaded

    def body(self) -> ComposeResult:
        # The run column gives way on a narrow screen (names cut with …), whole columns
        # up to the test -ELBO first.
        # The mark of a run on the chart is in its curve's colour (and its point's on
        # the plane): which line or point is which row, whatever the legend can show.
        yield CheckpointTable(COLUMNS, id="runs-table", yielding=1, kept=8,
                              mark_colour=self._row_colour)
        with Horizontal(id="runs-bottom"):
            yield LossChart("", "epoch", id="runs-chart")
            yield RatePlane(id="runs-plane")
            with Vertical(id="runs-pictures"):
                yield Label("", id="runs-pictures-caption", classes="dim",
                            markup=False)  # a file name
                yield ImageGrid(id="runs-recon")
                yield ImageGrid(id="runs-samples")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_mode()

    def sync(self, force: bool = False) -> None:
        # The folders are watched: a new list of entries means a redraw.
        super().sync(force or self._drawn is not self.app.entries)

    # -- drawing

    def redraw(self) -> None:
        table = self.query_one(CheckpointTable)
        before = self.runs[table.cursor_row].path if table.cursor_row < len(self.runs) else None
        self._drawn = self.app.entries
        self.runs = runs_from(self.app.entries, self.app.workspace.list_name)
        paths = [r.path for r in self.runs]
        if self._key is None and self.runs:  # once: a user who takes every run off keeps none
            # To begin with, the first runs comparable with the active model's run
            # (else the first run): its data and likelihood; a folder's or a Gaussian
            # run's losses, in other units or far larger, would flatten every other
            # curve. The active one first: a run just trained and put to use (U) was
            # left off the chart behind the shipped ones.
            # Nor, at first, a run whose loss ends over FAR_ABOVE times the best's (the
            # beta = 0 run's 507 nats set an axis to 600 under curves near 100).
            anchor = next((r for r in self.runs if r.path == self.app.active), self.runs[0])
            self._key = anchor.plane_key
            alike = [r for r in self.runs if r.plane_key == self._key]
            best = min((r.test_loss for r in alike if r.test_loss is not None
                        and math.isfinite(r.test_loss) and r.test_loss > 0), default=None)
            near = [r.path for r in alike if best is None or r.test_loss is None
                    or not r.test_loss > FAR_ABOVE * best]
            near.sort(key=lambda path: path != anchor.path)
            self.overlaid = set(near[:self.max_overlaid()])
        elif self.runs:
            # A run that appears while the app is open (one trained here, a sweep's)
            # joins the chart where it compares with the first choice and there is room.
            for r in self.runs:
                if (r.path not in self._listed and r.plane_key == self._key
                        and len(self.overlaid) < self.max_overlaid()):
                    self.overlaid.add(r.path)
        self._listed = set(paths)
        self.overlaid &= set(paths)
        # Worked out once here (the table asks for a row's colour every time it draws).
        chosen = [path for path in paths if path in self.overlaid]
        self._colours = {path: COLOURS[k % len(COLOURS)] for k, path in enumerate(chosen)}
        cursor = paths.index(before) if before in paths else None
        # The run column fits the longest name (within bounds; it narrows again on
        # a narrow screen, cut in the middle so the time stamps still differ).
        longest = max((len(r.name) for r in self.runs), default=0)
        table.set_column_width(1, max(RUN_WIDTH[0], min(longest, RUN_WIDTH[1])))
        table.set_rows(len(self.runs), self._cells, cursor)
        self._draw_chart()
        self._draw_plane()
        self._show_status()

    def _show_status(self) -> None:
        label = METRICS[self.metric][0]
        # One word for space's work in both modes ("space colour" over the plane beside
        # the footer's "Overlay"), and why no more are overlaid once the chart is full.
        count = f"{len(self.overlaid)} overlaid"
        if len(self.overlaid) >= self.max_overlaid():
            each = "a dash pattern each, without colour" if self.app.no_color else "a colour each"
            count += f" (at most {self.max_overlaid()}: {each})"
        # Columns past the table's width went unsaid at 80x24 (KL among them, the
        # plane's x axis).
        cut = self.query_one(CheckpointTable).cut_columns()
        hidden = f" · {', '.join(cut)}: a wider terminal" if cut else ""
        if self.plane:  # the metric and the log scale are the curves': not offered here
            self.set_status(f"{plural(len(self.runs), 'run')} · {count} · space overlay · "
                            f"p curves · enter use{hidden}")
        else:
            self.set_status(f"{plural(len(self.runs), 'run')} · {count} · space overlay · "
                            f"k metric ({label}) · y log · p rate-distortion plane · enter use"
                            f"{hidden}")

    def on_checkpoint_table_columns_cut(self) -> None:
        self._show_status()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("next_metric", "toggle_log") and self.plane:
            return False  # they change the curves, which the plane hides
        return super().check_action(action, parameters)

    def max_overlaid(self) -> int:
        """As many runs as the chart can tell apart: a colour each, or without colour
        (NO_COLOR) a dash pattern each."""
        return len(DASHES) if self.app.no_color else MAX_OVERLAID

    def _colour(self, path: Path) -> str:
        return self._colours.get(path, "")

    def _row_colour(self, row: int) -> str:
        return self._colour(self.runs[row].path) if row < len(self.runs) else ""

    def _cells(self, row: int) -> tuple[str, ...]:
        if row >= len(self.runs):
            return ()
        r = self.runs[row]
        mark = "■" if r.path in self.overlaid else ""
        return (mark, r.name, r.kind, r.arch, r.likelihood, f"{r.beta:g}", str(r.epochs),
                metric(r.test_loss), metric(r.recon), metric(r.kl), _time(r.seconds), r.dataset)

    def _draw_chart(self) -> None:
        chart = self.query_one("#runs-chart", LossChart)
        chart.title = f"{METRICS[self.metric][0]} per epoch, nats"
        series = []
        for run in self.runs:
            if run.path in self.overlaid:
                xs, ys = run.curve(self.metric)
                series.append(Series(run.name, self._colour(run.path), xs, ys))
        chart.series = tuple(series)
        chart.empty_text = ("no run overlaid: space adds the one under the cursor"
                            if not self.overlaid and self.runs else "no data yet")
        chart.refresh()

    def _plane_runs(self) -> list[Run]:
        """The runs on the plane: those with a test evaluation that share the cursor's
        run's data and likelihood (else the first such run's)."""
        placed = [r for r in self.runs if r.point is not None]
        selected = self.selected()
        anchor = selected if any(r is selected for r in placed) else next(iter(placed), None)
        return [r for r in placed if r.plane_key == anchor.plane_key] if anchor else []

    def _draw_plane(self) -> None:
        plane = self.query_one(RatePlane)
        runs = self._plane_runs()
        left_out = sum(r.point is not None for r in self.runs) - len(runs)
        selected = self.selected()
        # The cursor on a run with no test evaluation (the user's own model, a run
        # before its first epoch) showed another run's plane without a word.
        absent = (f"{printable(selected.name)}: no test evaluation, not on the plane; "
                  if selected is not None and selected.point is None else "")
        plane.scope = "" if not runs else (
            f"{absent}{runs[0].dataset}, {runs[0].likelihood}"
            + (f"; {plural(left_out, 'other run')} not comparable" if left_out else ""))
        plane.points = tuple(PlanePoint(f"b={r.beta:g}", *r.point, self._colour(r.path) or "white")
                             for r in runs)
        plane.cursor = next((k for k, r in enumerate(runs) if r is selected), -1)
        if self.plane:
            self._load_pictures()

    def _show_mode(self) -> None:
        self.query_one("#runs-chart").display = not self.plane
        self.query_one("#runs-plane").display = self.plane
        self.query_one("#runs-pictures").display = self.plane

    # -- the cursor's run

    def selected(self) -> Run | None:
        table = self.query_one(CheckpointTable)
        return self.runs[table.cursor_row] if table.cursor_row < len(self.runs) else None

    def on_checkpoint_table_highlighted(self) -> None:
        self._draw_plane()

    def _load_pictures(self) -> None:
        run = self.selected()
        caption = self.query_one("#runs-pictures-caption", Label)
        if run is None or run.path == self._pictures_for:
            return
        self._pictures_for = run.path
        caption.update(Text(printable(f"{run.name}: loading...")))
        self._pictures(run.path)

    @work(thread=True, exclusive=True, group="runs-pictures", exit_on_error=False)
    def _pictures(self, path: Path) -> None:
        from tui_vae.gallery import training_preview
        from tui_vae.surgery import elbo_surgery
        from tui_vae.tui.app import use_one_torch_thread

        use_one_torch_thread()
        model = self.app.workspace.model(path)
        images = self.app.workspace.images(model.config.dataset, model.config.image_shape)
        surgery = elbo_surgery(model.module, images.split, limit=SURGERY_IMAGES)
        self.post_message(RunPictures(path, *training_preview(model, images), surgery))

    def on_run_pictures(self, message: RunPictures) -> None:
        if message.path != self._pictures_for:
            return  # the cursor moved on
        s = message.surgery
        caption = self.query_one("#runs-pictures-caption", Label)
        full = (f"{message.path.stem}: rate {s['rate']:.1f} nats ({s['surgery_images']:,} "
                f"images)\n= I(x;z) {s['mutual_information']:.1f} (at most log N = "
                f"{s['mutual_information_bound']:.1f}) + KL(q(z)||p(z)) "
                f"{s['marginal_kl']:.1f}\noriginal | reconstruction, and samples")
        # A narrow column (80x24) gets the figures on lines of their own rather than
        # a figure cut at the edge (the name may be cut: the table has it whole).
        narrow = (f"{message.path.stem}\nrate {s['rate']:.1f} ({s['surgery_images']:,} "
                  f"images)\n= I(x;z) {s['mutual_information']:.1f} (<= log N "
                  f"{s['mutual_information_bound']:.1f})\n+ KL(q(z)||p(z)) "
                  f"{s['marginal_kl']:.1f}")
        width = caption.size.width
        fits = not width or max(len(line) for line in full.splitlines()) <= width
        caption.update(Text(printable_lines(full if fits else narrow)))
        self._shown_pictures = (message.pairs, message.samples)
        self._show_pictures()

    def _show_pictures(self) -> None:
        """The cursor's run's pairs and samples, halved again where a grid cannot hold
        one whole (the plane's column at 80x24 has four or five lines for each)."""
        from tui_vae.gallery import half_size, side_by_side

        if self._shown_pictures is None:
            return
        pairs, samples = self._shown_pictures
        recon = self.query_one("#runs-recon", ImageGrid)
        while len(pairs) and pairs.shape[1] >= 8 and not recon.whole(pairs.shape[1:3], False, 1):
            half = (pairs.shape[2] - 1) // 2  # original | divider | reconstruction
            pairs = side_by_side(half_size(pairs[:, :, :half]), half_size(pairs[:, :, half + 1:]))
        drawn = self.query_one("#runs-samples", ImageGrid)
        while (len(samples) and samples.shape[1] >= 8
               and not drawn.whole(samples.shape[1:3], False, 1)):
            samples = half_size(samples)
        recon.show(list(pairs))
        drawn.show(list(samples))

    def on_image_grid_fitted(self, message: ImageGrid.Fitted) -> None:
        if message.grid.id in ("runs-recon", "runs-samples"):
            self._show_pictures()  # their size depends on the room the grids have
        super().on_image_grid_fitted(message)

    def on_worker_state_changed(self, event) -> None:
        if event.worker.group == "runs-pictures" and event.worker.error is not None:
            self.query_one("#runs-pictures-caption", Label).update(
                f"cannot load the pictures: {event.worker.error}")

    # -- actions

    def action_toggle_run(self) -> None:
        run = self.selected()
        if run is None:
            return
        if run.path in self.overlaid:
            self.overlaid.discard(run.path)
        elif len(self.overlaid) >= self.max_overlaid():
            without = " without colour (each its own dash)" if self.app.no_color else ""
            self.notify(f"at most {self.max_overlaid()} runs at once{without}; remove one "
                        f"first", severity="warning")
            return
        else:
            self.overlaid.add(run.path)
        self.sync(force=True)

    def action_next_metric(self) -> None:
        keys = list(METRICS)
        self.metric = keys[(keys.index(self.metric) + 1) % len(keys)]
        self.sync(force=True)

    def action_toggle_log(self) -> None:
        chart = self.query_one("#runs-chart", LossChart)
        chart.log_scale = not chart.log_scale

    def action_toggle_plane(self) -> None:
        self.plane = not self.plane
        self._show_mode()
        self.refresh_bindings()  # k and y belong to the curves
        self.sync(force=True)

    def action_activate(self) -> None:
        run = self.selected()
        if run is not None:
            self.app.activate(run.path)
            self.notify(f"active: {run.name}", markup=False)
