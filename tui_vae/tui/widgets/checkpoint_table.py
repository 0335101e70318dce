"""CheckpointTable: a row-cursor table that draws only the rows on screen.

Textual's DataTable measures every cell of every row it is given: measured
here, 10,000 rows took about 2 s to show and ~0.1 s per cursor move or cell
update. This table keeps row count and a callback for a row's cells; a frame
formats just the visible rows (a few dozen), so its cost does not grow with
the folder. Cells are plain text, never markup (names and metadata come from
files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

# Control characters in a file name would reach the terminal as they are.
_PRINTABLE = {code: "?" for code in (*range(32), 127)}


MIN_YIELDING_WIDTH = 10  # a yielding column keeps this many cells however narrow the table
FAIR_YIELDING_WIDTH = 20  # ...and it narrows to this to keep a column more on screen


def cut_middle(text: str, width: int) -> str:
    """`text` in `width` characters, its middle replaced by "…": names that share
    a beginning (vae-mnist-2026…) differ at their end (the time stamp). A name in
    a sub-folder loses the folder first."""
    if len(text) <= width:
        return text
    folder, _, name = text.rpartition("/")
    if folder and len(name) < len(text):
        # A sub-folder's run (a sweep's beta/beta0-latent2): its own name tells it
        # from its neighbours, which share the folder ("beta/b…atent2" hid the 0).
        return ("…" + name if len(name) < width else
                name if len(name) == width else cut_middle(name, width))
    if width < 5:
        return text[:max(0, width - 1)] + "…"
    tail = (width - 1) // 2
    return text[:width - 1 - tail] + "…" + text[len(text) - tail:]


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    right: bool = False  # right-aligned (numbers)


class CheckpointTable(ScrollView, can_focus=True):
    """Rows of cells from `cells(row)`; a cursor row; a fixed header line."""

    COMPONENT_CLASSES = {"checkpoint-table--header", "checkpoint-table--cursor",
                         "checkpoint-table--even"}
    DEFAULT_CSS = """
    CheckpointTable { height: 1fr; overflow-x: hidden; }
    CheckpointTable > .checkpoint-table--header { text-style: bold; background: $panel; }
    CheckpointTable > .checkpoint-table--cursor { background: $block-cursor-blurred-background; }
    CheckpointTable:focus > .checkpoint-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    CheckpointTable > .checkpoint-table--even { background: $surface-lighten-1 50%; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "cursor_to(0)", "First", show=False, id="table.first"),
        Binding("end", "cursor_to(-1)", "Last", show=False, id="table.last"),
    ]

    class Highlighted(Message):
        """The cursor moved to another row (or the rows changed under it)."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, columns: Sequence[Column], *, id: str | None = None,
                 yielding: int | None = None, kept: int = 0,
                 mark_colour: Callable[[int], str] | None = None) -> None:
        """`yielding`: the index of a column that narrows (its cells cut with "…") where
        the table is too narrow for the first `kept` columns at their widths.
        `mark_colour(row)`: a colour for the row's first cell, or "" for none."""
        super().__init__(id=id)
        self.columns = list(columns)
        self.yielding, self.kept = yielding, kept
        self.mark_colour = mark_colour
        self.cursor_row = 0
        self._count = 0
        self._cells: Callable[[int], Sequence[str]] = lambda row: ()
        self._lines: dict[int, str] = {}  # formatted rows, until the rows change
        self._cut: list[str] = []  # the columns left off at the last width

    @property
    def row_count(self) -> int:
        return self._count

    def set_rows(self, count: int, cells: Callable[[int], Sequence[str]],
                 cursor: int | None = None) -> None:
        """Show `count` rows whose cells `cells(row)` gives; the cursor to `cursor` if given."""
        self._count, self._cells = count, cells
        self._lines.clear()
        self.virtual_size = Size(self._width(), count + 1)  # + the header line
        target = self.cursor_row if cursor is None else cursor
        self.cursor_row = max(0, min(target, count - 1))
        self._follow_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.cursor_row))

    def set_column_width(self, index: int, width: int) -> None:
        self.columns[index] = Column(self.columns[index].title, width, self.columns[index].right)

    def move_cursor(self, row: int) -> None:
        row = max(0, min(row, self._count - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self._follow_cursor()
            self.refresh()
            self.post_message(self.Highlighted(row))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else self._count - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:  # not the header
            self.move_cursor(self.scroll_offset.y + event.y - 1)

    class ColumnsCut(Message):
        """The columns left off at the table's width changed (`cut_columns`)."""

    def on_resize(self) -> None:
        self._lines.clear()  # the yielding column's width may change with the table's
        self._follow_cursor()
        self.refresh()
        cut = self.cut_columns()
        if cut != self._cut:
            self._cut = cut
            self.post_message(self.ColumnsCut())

    def cut_columns(self) -> list[str]:
        """The titles of the columns past the table's width, which it leaves off whole."""
        return [column.title for column in self.columns[self._fitting(self._widths()):]]

    def _fitting(self, widths: list[int]) -> int:
        """How many columns of `widths` fit whole in the table's width (at least one):
        a number cut at the edge ("16." of 16.15) reads as another number."""
        shown, used = self.scrollable_content_region.width, 0
        for index, width in enumerate(widths):
            used += width + bool(index)
            if shown and index and used > shown:
                return index
        return len(widths)

    def _width(self) -> int:
        return sum(c.width + 1 for c in self.columns)

    def _follow_cursor(self) -> None:
        """Scroll so the cursor row is on screen (the header takes the first line)."""
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            top = self.cursor_row
        elif self.cursor_row >= top + visible:
            top = self.cursor_row - visible + 1
        if top != self.scroll_offset.y:
            self.scroll_to(y=top, animate=False, immediate=True)

    def _widths(self) -> list[int]:
        """Each column's width as drawn at the table's present width."""
        widths = [c.width for c in self.columns]
        shown = self.scrollable_content_region.width  # less the scrollbar, when there is one
        if self.yielding is None or not shown:
            return widths
        # As many columns as leave the yielding one a fair width, at least `kept`.
        for count in range(len(widths), self.kept - 1, -1):
            others = sum(w + 1 for i, w in enumerate(widths[:count]) if i != self.yielding)
            room = shown - others
            if room >= FAIR_YIELDING_WIDTH or count <= self.kept:
                break
        widths[self.yielding] = min(widths[self.yielding], max(MIN_YIELDING_WIDTH, room))
        return widths

    def _format(self, cells: Sequence[str]) -> str:
        parts = []
        widths = self._widths()
        count = self._fitting(widths)  # whole columns or none
        for index, (column, width, cell) in enumerate(zip(self.columns[:count], widths, cells)):
            cell = cell.translate(_PRINTABLE)
            if len(cell) <= width:
                text = cell
            elif index == self.yielding:
                text = cut_middle(cell, width)
            else:
                text = cell[:max(0, width - 1)] + "…"
            parts.append(text.rjust(width) if column.right else text.ljust(width))
        return " ".join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("checkpoint-table--header")
            line = self._format([c.title for c in self.columns])
            return Strip([Segment(line, style)]).crop_extend(0, width, style)
        row = self.scroll_offset.y + y - 1
        if row >= self._count:
            return Strip.blank(width, base)
        if row not in self._lines:
            self._lines[row] = self._format(self._cells(row))
        style: Style = base
        if row == self.cursor_row:
            style = base + self.get_component_rich_style("checkpoint-table--cursor")
        elif row % 2:
            style = base + self.get_component_rich_style("checkpoint-table--even")
        line = self._lines[row]
        colour = self.mark_colour(row) if self.mark_colour else ""
        if colour:
            first = self._widths()[0]
            segments = [Segment(line[:first], style + Style(color=colour, bold=True)),
                        Segment(line[first:], style)]
            return Strip(segments).crop_extend(0, width, style)
        return Strip([Segment(line, style)]).crop_extend(0, width, style)
