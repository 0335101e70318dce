"""Compare: two checkpoints side by side, by default the VAE against the beta = 0 run.

The same test digits reconstructed by both, prior samples from the same z, and
their metrics: the seed report's Figure 1 (ELBO against BCE-only training), live.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid

SIDES = ("a", "b")


def describe(info) -> str:
    """A checkpoint's name, kind and final test metrics on two lines."""
    m, test = info.model_config, info.final_test or {}
    kind = "cVAE" if m["model"] == "cvae" else "VAE"
    metrics = (f"test -ELBO {test['loss']:.2f} = recon {test['recon']:.2f} + KL {test['kl']:.2f}"
               if test else "no test metrics yet")
    return f"{info.path.name}: {kind} z={m['latent_dim']} beta={m['beta']:g}\n{metrics}"


class CompareScreen(ViewScreen):
    """Checkpoints A and B (chosen in Models with a and b)."""

    TITLE = "Compare"
    NEEDS_MODEL = False  # it loads its own pair
    BINDINGS = [
        Binding("space", "new", "New digits and samples", id="compare.new"),
        Binding("x", "swap", "Swap A/B", id="compare.swap"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.seed = 0

    def body(self) -> ComposeResult:
        with Horizontal():
            for side in SIDES:
                with Vertical(classes="side"):
                    yield Label("", id=f"{side}-title", classes="section")
                    yield Label("Reconstructions (left original, right model)", classes="dim")
                    yield ImageGrid(id=f"{side}-recon")
                    yield Label("Samples from the prior (the same z on both sides)",
                                classes="dim")
                    yield ImageGrid(id=f"{side}-samples")

    def redraw(self) -> None:
        from tui_vae import gallery

        pair = self.app.compare_pair
        if self.app.loading:  # torch is still starting in the App's worker
            self.show_waiting()
            return
        if None in pair:
            self.set_status("Compare needs two checkpoints: choose A and B in Models (m).")
            for grid in self.query(ImageGrid):
                grid.clear("choose A and B in Models (m)")
            return
        infos = {e.path: e for e in self.app.valid_entries()}
        for side, path in zip(SIDES, pair):
            try:
                model = self.app.workspace.model(Path(path))
            except (TuiVaeError, OSError) as exc:
                self.notify(f"cannot load {Path(path).name}: {exc}", severity="error")
                continue
            images = self.app.workspace.images(model.config.dataset)
            split = images.split
            recon_grid = self.query_one(f"#{side}-recon", ImageGrid)
            count = max(recon_grid.capacity((28, 57), captions=False), 1)
            index = [(self.seed * 7919 + 13 * k) % len(split) for k in range(count)]
            recon_grid.show(gallery.side_by_side(gallery.images_of(split, index),
                                                 gallery.reconstructions(model, split, index)))
            sample_grid = self.query_one(f"#{side}-samples", ImageGrid)
            n = max(sample_grid.capacity(captions=False), 1)
            labels = [k % model.config.num_classes for k in range(n)]
            conditional = model.config.conditional
            drawn = model.sample(n, labels if conditional else None, 1.0, seed=self.seed)
            sample_grid.show(drawn.cpu().numpy()[:, 0])
            info = infos.get(Path(path))
            title = describe(info) if info else Path(path).name
            self.query_one(f"#{side}-title", Label).update(f"{side.upper()}  {title}")
        self.set_status("The seed's Figure 1, live: without the KL term (beta = 0) "
                        "reconstructions stay sharp but prior samples fall apart · "
                        "space new draw · x swap · choose A/B in Models (m)")

    def action_new(self) -> None:
        self.seed += 1
        self.sync(force=True)

    def action_swap(self) -> None:
        a, b = self.app.compare_pair
        self.app.compare_pair = (b, a)
        self.sync(force=True)
