"""Latent map: the test set's posterior means as a class-coloured scatter, and a cursor
whose latent point is decoded live beside it. For a 2-D plain VAE, `space` swaps
the scatter for the manifold grid (images decoded over the plane)."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui_vae.errors import TuiVaeError
from tui_vae.latent import HOLE_RATIO
from tui_vae.render import CLASS_COLORS, class_symbol
from tui_vae.tui.screens.view import ViewScreen, arrow_bindings
from tui_vae.tui.widgets.image_grid import ImageGrid, shrink_factors, shrunk
from tui_vae.tui.widgets.latent_map import LatentMap

MAP_POINTS = 5000  # test images encoded for the map: more than a terminal can tell apart
FAST = 5  # cells a shifted arrow moves the cursor


def class_legend(classes: tuple[str, ...], width: int = 32, colour: bool = True) -> Text:
    """Each class's colour swatch (without colour: the character its points are drawn
    with), key and name, as many to a line as fit in `width`."""
    legend, used = Text(), 0
    if not colour:
        if all(name == class_symbol(i) for i, name in enumerate(classes)):  # digits
            return Text(f"each point is drawn as its class, {classes[0]}-{classes[-1]}")
        legend.append("each point is its class's character:\n")
    for index, name in enumerate(classes):
        if colour:
            swatch = ("\u2588\u2588", CLASS_COLORS[index % len(CLASS_COLORS)])
            entry = f" {index} {name}" if name != str(index) else f" {index}"
        else:
            swatch, entry = (class_symbol(index), "bold"), f" {name}"
        cells = len(swatch[0]) + len(entry)
        if used and used + 2 + cells > width:
            legend.append("\n")
            used = 0
        elif used:
            legend.append("  ")
            used += 2
        legend.append(*swatch)
        legend.append(entry)
        used += cells
    return legend


class EncodedCache:
    """The active model's encoding of the map's points, computed once per model
    and shared by the views that need it (Latent, Draw, Traversal)."""

    def __init__(self) -> None:
        self._for = None
        self.encoded = None
        self.projection = None
        self.xy = None
        self._holes = None

    def holes(self):
        """300 prior samples and which lie in holes of the aggregate posterior, fitted
        once per model (a mixture fit: a few tenths of a second)."""
        from tui_vae.latent import prior_samples_in_holes

        if self._holes is None:
            self._holes = prior_samples_in_holes(self.encoded.mu, self.encoded.logvar)
        return self._holes

    def get(self, model, split):
        from tui_vae.latent import encode_split, pca

        if self._for is not model:
            self.encoded = encode_split(model, split, MAP_POINTS)
            self.projection = pca(self.encoded.mu)
            self.xy = self.projection.to_plane(self.encoded.mu)
            self._holes = None
            self._for = model
        return self


SHARED_ENCODING = EncodedCache()


class LatentScreen(ViewScreen):
    """The scatter (or manifold) on the left; the decoded cursor and the legend on the right."""

    TITLE = "Latent"
    BINDINGS = [
        # Each family one line in the Keys panel and in the help ("arrows  Cursor" then
        # "↓ Down", "← Left", "→ Right" read as if up were missing).
        *arrow_bindings(lambda dx, dy: f"move({dx}, {dy})", "Cursor", "latent."),
        *arrow_bindings(lambda dx, dy: f"move({dx * FAST}, {dy * FAST})", f"Cursor x{FAST}",
                        "latent.fast_", modifier="shift"),
        *(Binding(str(d), f"set_class({d})", "Class", show=d == 0, key_display="0-9",
                  id=f"latent.class{d}") for d in range(10)),
        Binding("space", "toggle_manifold", "Manifold", id="latent.manifold"),
        Binding("p", "cycle_prior", "Prior", id="latent.prior"),
    ]
    CLASS_ACTIONS = frozenset({"set_class"})
    MAP_ACTIONS = frozenset({"move", "set_class", "cycle_prior"})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # The manifold grid exists only for a plain VAE with a 2-D latent.
        if action == "toggle_manifold":
            config = self.model.config if self.model is not None else None
            return config is not None and config.latent_dim == 2 and not config.conditional
        if action in self.MAP_ACTIONS and self.manifold:
            return False  # over the manifold grid there is no cursor and no prior drawn
        return super().check_action(action, parameters)

    def __init__(self) -> None:
        super().__init__()
        self.label = 0  # the condition a cVAE decodes the cursor with
        self.manifold = False
        self._awaited_size = 0  # frames the manifold grid has waited for its size
        self.prior = 0  # 0 off, 1 the prior's contours, 2 contours and prior samples
        self.cache = SHARED_ENCODING

    def body(self) -> ComposeResult:
        with Horizontal():
            yield LatentMap(id="map")
            yield ImageGrid(id="manifold", classes="hidden")
            with Vertical(id="latent-side"):
                yield Static("decoded at the cursor", classes="dim", id="decoded-title")
                yield ImageGrid(id="decoded")
                yield Static(id="latent-info", markup=False)  # quotes class names
                yield Static(id="legend")

    def redraw(self) -> None:
        model, images = self.model, self.images
        cache = self.cache.get(model, images.split)
        latent_map = self.query_one("#map", LatentMap)
        manifold = self.query_one("#manifold", ImageGrid)
        two_d = model.config.latent_dim == 2 and not model.config.conditional
        self.manifold = self.manifold and two_d
        latent_map.set_class(self.manifold, "hidden")
        manifold.set_class(not self.manifold, "hidden")
        # Over the grid there is no cursor to decode and no scatter to key.
        for side in ("#decoded-title", "#decoded", "#legend"):
            self.query_one(side).set_class(self.manifold, "hidden")
        if self.manifold:
            from tui_vae.gallery import manifold_grid, shrink

            # Small tiles (14 or 16 pixels: half a 28x28 or 32x32 image, a quarter
            # of a 64x64 one): a terminal fits few full-size images, and the grid
            # is about the layout of the plane more than about detail. Smaller still
            # where 2 x 2 would not fit whole (zoomed at 80x24 it drew nothing).
            preferred = 4 if manifold.base[0] > 32 else 2
            factors = [f for f in shrink_factors(manifold.base[0]) if f >= preferred]
            for factor in factors or [preferred]:
                columns, rows = manifold.fit(shrunk(manifold.base, factor), captions=False)
                if min(columns, rows) >= 2:
                    break
            if not columns and self._awaited_size < 10:
                # Shown just now: the grid has no size until a layout after this
                # one (it was drawn 2 x 2 in a corner on returning to the view).
                # A few frames at most; a terminal too small for any tile still
                # gets its 2 x 2.
                self._awaited_size += 1
                self.set_timer(0.05, self._redraw_manifold)
                return
            self._awaited_size = 0
            n = max(min(columns, rows), 2)
            decoded = manifold_grid(model, n)
            manifold.show(shrink(decoded, factor), columns=n, full=decoded)
        from tui_vae.latent import map_bounds

        layers = self._prior_layers(cache)
        # With the prior shown, the map also holds its 3 sigma ring (codes may sit far inside).
        bounds = map_bounds(np.vstack([cache.xy, layers[0][0]]), 0.0) if layers else None
        latent_map.set_points(cache.xy, cache.encoded.labels, bounds)
        latent_map.set_overlay(layers)
        self.query_one("#legend", Static).update(
            class_legend(images.classes, colour=not self.app.no_color))
        if self.manifold:
            n = int(round(len(manifold.images) ** 0.5))
            self.query_one("#decoded", ImageGrid).clear()
            self.query_one("#latent-info", Static).update(
                f"the manifold: {n} x {n} images decoded over the latent plane at the "
                f"prior's quantiles (equal prior mass per tile)")
            self.set_status("Manifold grid of the 2-D latent · space back to the map · "
                            "e export")
        else:
            self._show_cursor()

    def _redraw_manifold(self) -> None:
        """The manifold again, once its grid has a size (if it is still what is shown)."""
        if self.model is not None and self.images is not None and self.manifold:
            self.redraw()

    def _prior_layers(self, cache) -> list:
        """The prior's 1-2-3 sigma contours and, on request, prior samples (holes marked)."""
        from tui_vae.latent import prior_contours
        from tui_vae.tui.widgets.latent_map import CONTOUR, HOLE, NEAR

        if not self.prior:
            return []
        layers = [(prior_contours(cache.projection), CONTOUR)]
        if self.prior == 2:
            z, holes = cache.holes()
            xy = cache.projection.to_plane(z)
            layers += [(xy[~holes], NEAR), (xy[holes], HOLE)]
            self.holes = (int(holes.sum()), len(holes))
        return layers

    def action_cycle_prior(self) -> None:
        self.prior = (self.prior + 1) % 3
        self.sync(force=True)

    def _show_cursor(self) -> None:
        """The image at the cursor; a model that fails (your own, on a batch its check
        did not try: the map encodes a thousand images) is a notice, not a crash."""
        try:
            self._show_cursor_now()
        except (TuiVaeError, ValueError, RuntimeError) as exc:
            self.tell_once(exc)

    def _show_cursor_now(self) -> None:
        from tui_vae.latent import decode_at

        cache = self.cache.get(self.model, self.images.split)  # this model's, never another's
        latent_map = self.query_one("#map", LatentMap)
        if not latent_map.size.area:
            # Shown again just now (back from the manifold): without its size the
            # cursor's cell maps to far outside the plane. Its Resized message,
            # once laid out, brings this back.
            return
        point = latent_map.cursor_point()
        z = cache.projection.to_latent(point)
        model = self.model
        conditional = model.config.conditional
        decoded = self.query_one("#decoded", ImageGrid)
        image = decode_at(model, z, self.label)
        factor = decoded.reduction(captions=False)  # smaller where it would not fit whole
        from tui_vae.gallery import shrink

        decoded.show(shrink(image[None], factor), full=[image])
        p = cache.projection
        if p.exact:
            how = ("the 2-D latent, drawn exactly" if len(p.mean) == 2
                   else "the 1-D latent, drawn exactly along x")
        else:
            how = (f"PCA of the {len(p.mean)}-D means: the axes keep "
                   f"{p.explained[0]:.0%} + {p.explained[1]:.0%} of the variance")
        where = ", ".join(f"{v:+.2f}" for v in point)
        condition = f"\ndecoded as class {self.images.classes[self.label]}" if conditional else ""
        prior = ""
        if self.prior:
            plain = self.app.no_color
            prior = f"\n{'dotted' if plain else 'dark grey'} rings: the prior's 1, 2, 3 sigma"
            if self.prior == 2:
                near, hole = ("+", "@") if plain else ("grey", "white")
                prior += (f"\nprior samples: {near} where the codes' aggregate posterior "
                          f"q(z) has mass, {hole} in a hole of it, q(z) < "
                          f"p(z)/{1 / HOLE_RATIO:g} "
                          f"({self.holes[0]} of {self.holes[1]})")
        # The map draws a subset (MAP_POINTS) where the test set is larger: say both,
        # since the caption names the whole set.
        total = len(self.images.split)
        shown = (f"{len(cache.xy):,} test images" if len(cache.xy) >= total
                 else f"{len(cache.xy):,} of the {total:,} test images")
        self.query_one("#latent-info", Static).update(
            f"{shown}\n{how}\ncursor at ({where}){condition}{prior}")
        keys = f"{self.class_keys()} decode as class · " if conditional else ""
        keys += "p prior · "
        manifold = "space manifold grid · " if model.config.latent_dim == 2 and not conditional \
            else ""
        self.set_status(f"Latent map of {self.images.source}: arrows move the cursor "
                        f"(shift: {FAST} cells) · {keys}{manifold}e export")

    def on_latent_map_resized(self) -> None:
        if self.model is not None and self.images is not None and not self.manifold:
            self._show_cursor()

    def action_move(self, d_col: int, d_line: int) -> None:
        if self.model is None or self.manifold:
            return
        self.query_one("#map", LatentMap).move_cursor(d_col, d_line)
        self._show_cursor()

    def action_set_class(self, label: int) -> None:
        if not self.takes_classes(label):
            return
        self.label = label
        self._show_cursor()

    def action_toggle_manifold(self) -> None:
        if self.model is None:
            return
        config = self.model.config
        if config.latent_dim != 2 or config.conditional:
            self.notify("the manifold grid needs a plain VAE with a 2-D latent "
                        "(the shipped vae-2d)", severity="warning")
            return
        self.manifold = not self.manifold
        self.refresh_bindings()
        self.sync(force=True)
