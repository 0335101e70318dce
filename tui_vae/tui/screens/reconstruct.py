"""Reconstruct: test digits beside their reconstructions, paged, filtered, ranked."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding

from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid, shrunk
from tui_vae.wording import plural

DRAWS = 3  # with `s`: the decoded mean and this many draws of z ~ q(z|x), at half size
# Full-size pairs where this many fit (as Compare); else smaller: at 80x24 one full-size
# pair fits, four at half size. z shows them full size (ImageGrid.spend_zoom).
MIN_PAIRS = 3


def spread_shape(size: tuple[int, int], factor: int) -> tuple[int, int]:
    """The tile of `s`: original | decoded mean and DRAWS draws, each `factor` times smaller."""
    h, w = size[0] // factor, size[1] // factor
    return (h, w * (DRAWS + 2) + 1)


class ReconstructScreen(ViewScreen):
    """Pairs of (test image, reconstruction) with each image's loss in nats."""

    TITLE = "Reconstruct"
    BINDINGS = [
        Binding("right,n,pagedown", "page(1)", "Next page", key_display="→", id="recon.next"),
        Binding("left,p,pageup", "page(-1)", "Prev page", key_display="←", id="recon.prev"),
        *(Binding(str(d), f"filter({d})", "Class", show=d == 0, key_display="0-9",
                  id=f"recon.class{d}") for d in range(10)),
        Binding("a", "filter(-1)", "All classes", id="recon.all"),
        Binding("w", "toggle_worst", "Worst first", id="recon.worst"),
        # s, the posterior's spread: d is Draw's key in every other view (it took
        # a newcomer who meant to go to Draw somewhere else).
        Binding("s", "toggle_draws", "Draws of z", id="recon.draws"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.label: int | None = None
        self.worst = False
        self.draws = False  # show the posterior's spread: several z ~ q(z|x) per image
        self.page = 0
        self._losses: np.ndarray | None = None
        self._losses_for = -1

    def body(self) -> ComposeResult:
        yield ImageGrid(id="pairs")

    def losses(self) -> np.ndarray:
        """Per-image losses of the current model on the current images (cached)."""
        if self._losses is None or self._losses_for != id(self.model):
            from tui_vae.gallery import per_image_losses

            self._losses = per_image_losses(self.model, self.images.split)
            self._losses_for = id(self.model)
        return self._losses

    def order(self) -> np.ndarray:
        """Indices shown, in order: filtered by class, optionally worst first."""
        labels = self.images.split.labels.numpy()
        index = np.arange(len(labels)) if self.label is None else np.flatnonzero(
            labels == self.label)
        if self.worst:
            index = index[np.argsort(-self.losses()[index], kind="stable")]
        return index

    def redraw(self) -> None:
        from tui_vae import gallery

        grid = self.query_one("#pairs", ImageGrid)
        # Pairs at full size where MIN_PAIRS fit whole, else smaller (half size at
        # 80x24); the draws at half size, or a quarter where a half-size tile is too wide.
        if self.draws:
            factor = grid.spend_zoom(2 if grid.whole(spread_shape(grid.base, 2), scale=1)
                                     else 4)
            tile = spread_shape(grid.base, factor)
        else:
            factor = grid.spend_zoom(grid.reduction(want=MIN_PAIRS, pairs=True))
            tile = shrunk(grid.base, factor, pairs=True)
        per_page = max(grid.capacity(tile), 1)
        order = self.order()
        pages = max(1, -(-len(order) // per_page))
        self.page = min(max(self.page, 0), pages - 1)
        shown = order[self.page * per_page : (self.page + 1) * per_page]
        losses = self.losses()
        classes = self.images.classes
        split = self.images.split
        if self.draws:
            tiles = gallery.posterior_spread(self.model, split, shown, DRAWS, factor=factor)
            # Exported at the model's own size, made again unshrunk (a page's few decodes).
            full = (gallery.posterior_spread(self.model, split, shown, DRAWS, factor=1)
                    if factor > 1 else None)
        else:
            originals = gallery.images_of(split, shown)
            recons = gallery.reconstructions(self.model, split, shown)
            tiles = gallery.side_by_side(gallery.shrink(originals, factor),
                                         gallery.shrink(recons, factor))
            full = gallery.side_by_side(originals, recons)
        captions = [f"#{i} {classes[int(split.labels[i])]} {losses[i]:.0f}" for i in shown]
        grid.show(tiles, captions, full=full)
        which = "all classes" if self.label is None else f"class {classes[self.label]}"
        mean = float(losses[order].mean()) if len(order) else float("nan")
        # What the tiles are comes first: a narrow status keeps its first parts.
        self.set_status(
            (f"original | the mean's decoding, then {DRAWS} draws of z ~ q(z|x) (s: pairs)"
             if self.draws else "left original, right reconstruction (s: draws of z)")
            # Which loss the captions give, second: at 80x24 they were bare numbers. It
            # is not the -ELBO (z is not sampled), and usually lies below it.
            + f" · under each: #index, class, recon at z=mu + KL (nats) · {which} · "
            f"{plural(len(order), 'image')} · {'worst first' if self.worst else 'in order'} · "
            f"page {self.page + 1}/{pages} · mean {mean:.1f} nats (z=mu, not sampled: usually "
            f"below the -ELBO, and no bound)")

    def action_page(self, step: int) -> None:
        self.page += step
        self.sync(force=True)

    def action_filter(self, label: int) -> None:
        self.label = None if label < 0 else label
        self.page = 0
        self.sync(force=True)

    def action_toggle_draws(self) -> None:
        self.draws = not self.draws
        self.page = 0
        self.sync(force=True)

    def action_toggle_worst(self) -> None:
        self.worst = not self.worst
        self.page = 0
        self.sync(force=True)
