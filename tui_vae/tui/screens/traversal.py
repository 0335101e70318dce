"""Traversal: one latent dimension varied at a time around a test digit's code,
beside the KL of every dimension and the count of active units (posterior collapse).
Where the dataset has known factors (shapes), each dimension's line also names the
factor it follows most and the correlation R (tui_vae/factors.py)."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from tui_vae.tui.screens.latent import MAP_POINTS, SHARED_ENCODING
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid, shrink_factors, shrunk

MAX_STEPS = 11  # images per row (odd: the middle one is the digit's own code)
MIN_STEPS = 3  # fewer on a row shows no traversal: smaller images rather than fewer
BAR = 16  # cells of the longest KL bar
EIGHTHS = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"  # a cell filled 0/8 .. 7/8


FACTOR_BAR = 6  # the bar's cells when the factor column shares the line


def kl_chart(kl: np.ndarray, active: np.ndarray, order: np.ndarray,
             factors: dict | None = None) -> Text:
    """A bar per dimension, largest KL first; inactive ones dimmed. With `factors`
    ({dim: factors.DimensionFactor}), each line ends with the factor the dimension
    follows most and R (dimmed under factors.WEAK: it follows none)."""
    from tui_vae.factors import WEAK

    text = Text()
    top = float(kl.max()) if len(kl) and kl.max() > 0 else 1.0
    width = FACTOR_BAR if factors else BAR
    for d in order.tolist():
        cells = kl[d] / top * width
        full = int(cells)
        bar = "\u2588" * full + (EIGHTHS[int((cells - full) * 8)] if full < width else "")
        style = "green" if active[d] else "dim"
        text.append(f"z{d:<3}", style)
        text.append(f"{bar:<{width + 1}}", style)
        if not factors:
            text.append(f"{kl[d]:6.2f}\n", style)
            continue
        text.append(f"{kl[d]:5.1f} ", style)
        row = factors[d]
        strong = row.correlation >= WEAK
        text.append(f"{row.factor[:8]:<9}", "bold" if strong else "dim")
        text.append(f"{row.correlation:.2f}"[1:] + "\n", "" if strong else "dim")
    return text


class TraversalScreen(ViewScreen):
    """Rows of images, one per latent dimension (largest KL first); the KL chart beside."""

    TITLE = "Traversal"
    BINDINGS = [
        Binding("right,n", "step(1)", "Next image", key_display="→", id="traversal.next"),
        Binding("left,p", "step(-1)", "Prev image", key_display="←", id="traversal.prev"),
        *(Binding(str(d), f"pick_class({d})", "Image of class", show=d == 0,
                  key_display="0-9", id=f"traversal.class{d}") for d in range(10)),
        Binding("down", "scroll_rows(1)", "Dimensions", key_display="↑↓",
                id="traversal.row_down"),
        Binding("up", "scroll_rows(-1)", "Dimensions", key_display="↑↓", show=False,
                id="traversal.row_up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.index = 0  # the test image whose code is traversed
        self._factors: tuple = (None, None, None)  # (model, split, report) computed last

    def body(self) -> ComposeResult:
        with Horizontal():
            yield ImageGrid(id="traversal")
            with VerticalScroll(id="kl-side"):
                yield Static(id="kl-summary")
                yield Static(id="kl-chart")

    def factor_report(self) -> dict | None:
        """{dim: DimensionFactor} over the map's test images where their factors are
        known (the shapes dataset), else None."""
        from tui_vae.datasets import dataset_spec
        from tui_vae.factors import dimension_factors

        split = self.images.split
        spec = dataset_spec(self.images.dataset)
        if getattr(split, "factors", None) is None or not spec.factor_names:
            return None
        model, seen, report = self._factors
        if model is not self.model or seen is not split:
            mu = SHARED_ENCODING.get(self.model, split).encoded.mu
            rows = dimension_factors(mu, split.factors[:len(mu)].numpy(), spec.factor_names,
                                     spec.factor_kinds or None)
            report = {row.dim: row for row in rows}
            self._factors = (self.model, split, report)
        return report

    def stats(self):
        """(kl per dim, active mask, dims by KL descending) over the map's test images."""
        from tui_vae.latent import active_units, kl_per_dimension

        encoded = SHARED_ENCODING.get(self.model, self.images.split).encoded
        kl = kl_per_dimension(encoded.mu, encoded.logvar)
        return kl, active_units(encoded.mu), np.argsort(-kl, kind="stable")

    def redraw(self) -> None:
        import torch

        from tui_vae import gallery
        from tui_vae.latent import ACTIVE_THRESHOLD, TRAVERSAL_SPAN, traversal

        model, images = self.model, self.images
        split = images.split
        if not len(split):  # guard: nothing to traverse
            self.query_one("#traversal", ImageGrid).clear("the test set holds no images")
            return
        self.index %= len(split)
        kl, active, order = self.stats()
        grid = self.query_one("#traversal", ImageGrid)
        # Full-size images when a whole row of steps fits, else half size, or smaller
        # still where half size leaves fewer than MIN_STEPS on a row (32x32 at 80x24).
        factor = 1 if grid.fit(captions=True)[0] >= MAX_STEPS else 2
        factor = max(factor, grid.reduction())
        candidates = [f for f in shrink_factors(grid.base[0]) if f >= factor] or [factor]
        factor = next((f for f in candidates
                       if grid.fit(shrunk(grid.base, f), captions=True)[0] >= MIN_STEPS),
                      candidates[-1])
        columns, _ = grid.fit(shrunk(grid.base, factor), captions=True)
        steps = min(MAX_STEPS, columns)
        steps = max(steps - (1 - steps % 2), 1)  # odd: the middle image is the digit's code
        dims = order.tolist()  # every dimension: the rows off screen scroll in by keys
        label = int(split.labels[self.index])
        mu, _ = model.encode(split.floats(torch.tensor([self.index])),
                             [label] if model.config.conditional else None)
        rows_of = traversal(model, mu[0].cpu().numpy(), dims, steps, label)
        offsets = np.linspace(-TRAVERSAL_SPAN, TRAVERSAL_SPAN, steps)
        captions = [f"z{d} {t:+.1f}" for d in dims for t in offsets]
        grid.show(gallery.shrink(rows_of, factor), captions, columns=steps, full=rows_of)
        n_active = int(active.sum())
        factors = self.factor_report()
        follows = (" · the factor it follows most, and R (its correlation)" if factors
                   else "")
        self.query_one("#kl-summary", Static).update(Text(
            f"active units: {n_active} of {len(kl)}\n"
            f"(Cov over the data of E[z_d] > {ACTIVE_THRESHOLD})\n"
            f"KL per dimension, nats, mean over {min(len(split), MAP_POINTS):,} test "
            f"images{follows}:"))
        self.query_one("#kl-chart", Static).update(kl_chart(kl, active, order, factors))
        first, count, _ = grid.rows()
        shown = ", ".join(f"z{d}" for d in dims[first:first + count])
        self.set_status(
            f"Traversal of test image {self.index} ({images.classes[label]}): rows {shown}, "
            f"each from -{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g} around its mean · "
            f"←/→ image · 0-9 next image of a class" + self.rows_note(grid))
        self.refresh_bindings()  # the row keys show only while rows are off screen

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "scroll_rows":
            _, shown, total = self.query_one("#traversal", ImageGrid).rows()
            return total > shown
        return super().check_action(action, parameters)

    def action_scroll_rows(self, step: int) -> None:
        if self.query_one("#traversal", ImageGrid).scroll_rows(step):
            self.sync(force=True)

    def action_step(self, step: int) -> None:
        if self.model is None or not len(self.images.split):
            return
        self.index = (self.index + step) % len(self.images.split)
        self.sync(force=True)

    def action_pick_class(self, label: int) -> None:
        """The next test image of class `label` after the current one."""
        if self.model is None:
            return
        labels = self.images.split.labels.numpy()
        matches = np.flatnonzero(labels == label)
        if not len(matches):
            self.notify(f"no test image of class {label}", severity="warning")
            return
        later = matches[matches > self.index]
        self.index = int(later[0] if len(later) else matches[0])
        self.sync(force=True)
