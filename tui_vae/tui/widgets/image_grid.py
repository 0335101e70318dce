"""ImageGrid: pictures (grey or colour) as half-block tiles, with captions, fitted to the widget.

Lines are built once per change of data, size, scale or colour system and then
served from a cache (Textual's Line API), so scrolling, redraws and resizes do
not re-render pixels. The grid shows as many tiles as fit in its region and
says how many that is (`capacity`), so a view can page by screenfuls. It only
ever draws whole rows of tiles: where a view gives it more rows than fit, the
rest are reached with `scroll_rows` (bound to keys by the view), never cut.
Its `base` is the active model's image size, (H, W): what `fit`, `capacity`
and `reduction` measure by default (the view sets it).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.filter import ANSIToTruecolor
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    import numpy as np

# numpy and the renderer load with the first images, not before the first frame
# (the first paint's budget is 0.6 s; numpy's import is ~70 ms of it).
PLAIN = Style()  # as render.PLAIN

GAP = 1  # columns between tiles


def tile_cells(shape: tuple[int, int], scale: int) -> tuple[int, int]:
    """(columns, lines) one image of `shape` pixels ((H, W) or (H, W, 3)) takes at `scale`."""
    h, w = shape[:2]
    return w * scale, -(-h * scale // 2)


def grid_capacity(width: int, height: int, shape: tuple[int, int], scale: int,
                  captions: bool) -> tuple[int, int]:
    """(columns, rows) of tiles that fit in width x height cells (at least 1 x 1)."""
    columns, rows = whole_tiles(width, height, shape, scale, captions)
    return max(1, columns), max(1, rows)


def whole_tiles(width: int, height: int, shape: tuple[int, int], scale: int,
                captions: bool) -> tuple[int, int]:
    """(columns, rows) of whole tiles that fit in width x height cells (0 where none does)."""
    cols, lines = tile_cells(shape, scale)
    return (width + GAP) // (cols + GAP), height // (lines + (1 if captions else 0))


def shrink_factors(height: int) -> tuple[int, ...]:
    """The shrink factors worth trying for images `height` pixels high: 1, 2, 4, ... while
    the image keeps at least 7 pixels (28 -> 1, 2, 4; 32 -> 1, 2, 4; 64 -> 1, 2, 4, 8)."""
    factors = [1]
    while height // (factors[-1] * 2) >= 7:
        factors.append(factors[-1] * 2)
    return tuple(factors)


def shrunk(shape: tuple[int, int], factor: int, pairs: bool = False) -> tuple[int, int]:
    """The tile shape of images of `shape` (H, W) made `factor` times smaller; with
    `pairs`, of an image and its reconstruction side by side (a 1-pixel divider)."""
    h, w = shape[0] // factor, shape[1] // factor
    return (h, 2 * w + 1) if pairs else (h, w)


class ImageGrid(Widget):
    """A grid of equally sized pictures, (H, W) grey or (H, W, 3) colour, in [0, 1] or uint8."""

    DEFAULT_CSS = """
    ImageGrid { height: 1fr; width: 1fr; }
    """

    class Fitted(Message):
        """The number of tiles that fit changed (after a resize or a scale change)."""

        def __init__(self, grid: ImageGrid, capacity: int) -> None:
            super().__init__()
            self.grid = grid
            self.capacity = capacity

    def __init__(self, *, scale: int = 1, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._images: list[np.ndarray] = []
        self._full: list[np.ndarray] | None = None  # the images unshrunk, for export
        self._captions: list[str] | None = None
        self._highlight: set[int] = set()
        self._scale = scale
        self._finer = 1  # how much of the zoom the view spent on finer images (spend_zoom)
        self._columns: int | None = None  # a fixed column count, else as many as fit
        self.first_row = 0  # the first row of tiles on screen (the rest scroll by keys)
        self.base: tuple[int, int] = (28, 28)  # the active model's image size (H, W)
        self._lines: list[Strip] | None = None
        self._fitted: tuple = ()
        self.placeholder = ""
        # Said where not one whole row fits, when a key can show it ("PgDn shows it").
        self.no_room_hint = ""

    # -- data in

    def show(self, images, captions: list[str] | None = None,
             highlight: set[int] | None = None, columns: int | None = None,
             full=None) -> None:
        """Display `images` ((N, H, W) or a list of 2-D arrays) with optional captions.

        `columns` fixes the tiles per row (a row per class, say; wrapped where
        fewer fit); else as many as fit. The row scrolled to is kept (clamped).
        `full`: the same images before the view shrank them to fit the screen,
        which `e` exports instead (a figure at 80x24 keeps the model's pixels).
        """
        import numpy as np

        from tui_vae.render import to_uint8

        self._columns = columns
        self._images = [to_uint8(np.asarray(image).squeeze()) for image in images]
        self._full = (None if full is None
                      else [to_uint8(np.asarray(image).squeeze()) for image in full])
        self._captions = list(captions) if captions is not None else None
        self._highlight = set(highlight or ())
        self.placeholder = ""
        self._invalidate()

    def clear(self, message: str = "") -> None:
        """Show no images, just a centred message (loading, nothing to show...)."""
        self._images, self._captions, self.placeholder = [], None, message
        self._full = None
        self._invalidate()

    @property
    def scale(self) -> int:
        return self._scale

    @scale.setter
    def scale(self, value: int) -> None:
        self._scale = value
        self._invalidate()
        self._post_fitted()

    @property
    def drawn_scale(self) -> int:
        """Cells per pixel across (and half-lines down) as drawn: the zoom, less what
        the view spent on showing its images less reduced."""
        return max(1, self._scale // self._finer)

    def spend_zoom(self, factor: int) -> int:
        """The reduction to show images at, given the one chosen unzoomed: where they
        are shown smaller than the model's (`factor` > 1), the zoom makes them finer
        (half the reduction at 2x) rather than their pixels larger. At 80x24 a digit is
        shown at half size; z brings it to full size, not to half size doubled."""
        finer = 1
        while factor > 1 and finer < self._scale:
            factor, finer = factor // 2, finer * 2
        if finer != self._finer:
            self._finer = finer
            self._invalidate()
        return factor

    @property
    def images(self) -> list[np.ndarray]:
        return self._images

    def exportable(self) -> np.ndarray | None:
        """The images shown, tiled as on screen (uint8, 2 black pixels apart), at the
        model's size where the view shrank them to fit; None without images."""
        if not self._images:
            return None
        import numpy as np

        from tui_vae.render import tile

        shape = self._images[0].shape
        columns = self._columns or grid_capacity(max(self.size.width, 1), 1, shape,
                                                 self.drawn_scale, False)[0]
        full = self._full if self._full and len(self._full) == len(self._images) else None
        images = full or self._images
        if self.size.height:  # laid out: the rows on screen (all ten class rows were
            first, shown, total = self.rows()  # saved where two showed)
            if 0 < shown < total:
                images = images[first * columns:(first + shown) * columns]
        return tile(np.stack(images), columns, gap=2)

    def fit(self, shape: tuple[int, int] | None = None, captions: bool = True
            ) -> tuple[int, int]:
        """(columns, rows) of tiles of `shape` (default `base`) that fit in the grid's
        current region (at least 1 x 1 once it has a size)."""
        if not self.size.width or not self.size.height:
            return 0, 0
        return grid_capacity(self.size.width, self.size.height, shape or self.base,
                             self.drawn_scale, captions)

    def capacity(self, shape: tuple[int, int] | None = None, captions: bool = True) -> int:
        """How many tiles of `shape` (default `base`) fit in the grid's current region."""
        columns, rows = self.fit(shape, captions)
        return columns * rows

    def whole(self, shape: tuple[int, int] | None = None, captions: bool = True,
              scale: int | None = None) -> int:
        """How many whole tiles of `shape` (default `base`) fit at `scale` (default the
        zoom): 0 where not even one."""
        columns, rows = whole_tiles(self.size.width, self.size.height, shape or self.base,
                                    scale or self.drawn_scale, captions)
        return columns * rows

    def reduction(self, captions: bool = True, want: int = 1, pairs: bool = False,
                  shape: tuple[int, int] | None = None) -> int:
        """The least shrink factor (1, 2, 4, ...) at which `want` whole tiles of `shape`
        (default `base`; with `pairs`, image-and-reconstruction pairs) fit; the largest
        (images of about 8 pixels) if none does.

        A 64x64 model at 80x24 shows its images at half size rather than cut.
        Measured unzoomed: a zoom the screen cannot hold says so (see `_build`)
        rather than being undone by smaller images.
        """
        factors = shrink_factors((shape or self.base)[0])
        for factor in factors:
            if self.whole(shrunk(shape or self.base, factor, pairs), captions, 1) >= want:
                return factor
        return factors[-1]

    # -- rows: layout and scrolling

    def tile_layout(self) -> tuple[int, int, int, int]:
        """(tile columns, lines per row of tiles, rows in all, rows that fit on screen)."""
        if not self._images:
            return 0, 0, 0, 0
        shape = self._images[0].shape
        cols, lines = tile_cells(shape, self.drawn_scale)
        fit_columns = grid_capacity(max(self.size.width, 1), 1, shape, self.drawn_scale,
                                    False)[0]
        columns = min(self._columns, fit_columns) if self._columns else fit_columns
        row_lines = lines + (1 if self._captions is not None else 0)
        total = -(-len(self._images) // columns)
        if self.styles.height is not None and self.styles.height.is_auto:
            return columns, row_lines, total, total  # the grid grows to its rows
        return columns, row_lines, total, min(total, self.size.height // row_lines)

    def rows(self) -> tuple[int, int, int]:
        """(first row shown, rows shown, rows in all), for a view's status line."""
        _, _, total, fit = self.tile_layout()
        return min(self.first_row, max(total - max(fit, 1), 0)), fit, total

    def scroll_rows(self, step: int) -> bool:
        """Scroll by `step` rows of tiles (clamped); whether anything moved."""
        first, fit, total = self.rows()
        if not fit:
            return False  # no whole row fits: nothing to scroll through
        row = min(max(first + step, 0), max(total - fit, 0))
        if row == first:
            return False
        self.first_row = row
        self._invalidate()
        return True

    def tile_regions(self) -> list[Region]:
        """The screen regions of the tiles drawn now (for layout checks)."""
        columns, row_lines, _, _ = self.tile_layout()
        first, fit, _ = self.rows()
        cols, lines = tile_cells(self._images[0].shape, self.drawn_scale) if columns else (0, 0)
        if not columns or cols > self.size.width:  # drawn as a "no room" line, not tiles
            return []
        x0, y0 = self.content_region.offset
        regions = []
        for row in range(fit):
            start = (first + row) * columns
            for k in range(min(columns, len(self._images) - start)):
                regions.append(Region(x0 + k * (cols + GAP), y0 + row * row_lines, cols, lines))
        return regions

    def _invalidate(self) -> None:
        self._lines = None
        self.refresh()

    def on_resize(self) -> None:
        self._invalidate()
        self._post_fitted()

    def _post_fitted(self) -> None:
        # Views choose full- or half-size tiles, with or without captions, from
        # what fits: any of these counts changing may change their choice.
        fits = tuple(self.fit(shrunk(self.base, factor), captions)
                     for factor in shrink_factors(self.base[0]) for captions in (True, False))
        if fits != self._fitted:
            self._fitted = fits
            self.post_message(self.Fitted(self, self.capacity()))

    # -- rendering

    def _system(self) -> ColorSystem | None:
        if self.app.no_color:
            return None
        return self.app.console._color_system  # Rich exposes only the name publicly

    def get_line_filters(self):
        """The app's line filters, less ANSI-to-truecolor where it would change nothing.

        In truecolor every colour the grid draws has its RGB already, and its only
        dim style (captions) has no colour to blend; the filter would hand back
        each segment unchanged, at a lookup a segment (thousands in a new grid
        of colour samples, the larger part of a frame's cost). Kept while the
        widget's own colours come from an ANSI theme, which it does convert."""
        filters = super().get_line_filters()
        if self._system() != ColorSystem.TRUECOLOR:
            return filters
        base = self.rich_style
        if any(colour is not None and colour.triplet is None
               for colour in (base.color, base.bgcolor)):
            return filters
        return [f for f in filters if not isinstance(f, ANSIToTruecolor)]

    def _tile_row(self, images: list[np.ndarray], system: ColorSystem | None):
        from tui_vae.render import halfblock_row, shade_lines

        scale = self.drawn_scale
        if scale > 1:  # each pixel repeated down and across (colour too)
            images = [image.repeat(scale, axis=0).repeat(scale, axis=1)
                      for image in images]
        if system:
            return halfblock_row(images, GAP, system)
        # No colour: shade characters, tile by tile, joined line by line.
        gap = Segment(" " * GAP, PLAIN)
        shaded = [shade_lines(image) for image in images]
        lines = []
        for line in range(len(shaded[0])):
            segments = list(shaded[0][line])
            for other in shaded[1:]:
                segments += [gap, *other[line]]
            lines.append(segments)
        return lines

    def _build(self) -> list[Strip]:
        width = self.size.width
        if not self._images:
            text = self.placeholder
            return [Strip([Segment(text.center(width)[:width], PLAIN)])] if text else []
        shape = self._images[0].shape
        cols, _ = tile_cells(shape, self.drawn_scale)
        columns, _, _, _ = self.tile_layout()
        first, fit, _ = self.rows()
        if not fit or cols > width:  # not one whole tile fits: say so rather than cut it
            what = "the image" if len(self._images) == 1 else "a whole row of images"
            text = f"(no room for {what}" + (
                "; z: back to 1x" if self._scale > 1 else "") + (
                f"; {self.no_room_hint}" if self.no_room_hint else "") + ")"
            # Wrapped, where the grid has the lines: half of 80 columns cannot hold it.
            lines = textwrap.wrap(text, max(width, 1))[:max(self.size.height, 1)]
            return [Strip([Segment(line.center(width)[:width], PLAIN)]) for line in lines]
        system = self._system()
        gap = Segment(" " * GAP, PLAIN)
        strips: list[Strip] = []

        def strip(segments: list[Segment], used: int) -> Strip:
            # The row's cell count is known: pad to the width without Strip measuring it.
            if used < width:
                return Strip([*segments, Segment(" " * (width - used), PLAIN)], width)
            return Strip(segments, used).crop(0, width)

        # Whole rows only: those that fit, from the row scrolled to.
        for start in range(first * columns, min(len(self._images), (first + fit) * columns),
                           columns):
            row = range(start, min(start + columns, len(self._images)))
            used = len(row) * (cols + GAP) - GAP
            for segments in self._tile_row([self._images[i] for i in row], system):
                strips.append(strip(segments, used))
            if self._captions is not None:
                segments = []
                for k, i in enumerate(row):
                    if k:
                        segments.append(gap)
                    text = self._captions[i][:cols].center(cols)
                    style = Style(reverse=True) if i in self._highlight else Style(dim=True)
                    segments.append(Segment(text, style))
                # Captions are free text (wide characters are possible): Strip measures them.
                strips.append(Strip(segments).crop_extend(0, width, PLAIN))
        return strips

    def render_line(self, y: int) -> Strip:
        if self._lines is None:
            self._lines = self._build()
        base = self.rich_style  # the theme's colours under unstyled cells (BuiltLines)
        if y < len(self._lines):
            return self._lines[y].apply_style(base)
        return Strip.blank(self.size.width, base)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self._lines is None:
            return max(1, len(self._build()))
        return max(1, len(self._lines))
