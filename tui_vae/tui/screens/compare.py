"""Compare: two checkpoints side by side, by default the VAE against the beta = 0 run.

The same test digits reconstructed by both, prior samples from the same z, and
their metrics: the report's Figure 1 (ELBO against BCE-only training), live.
Tiles are full size where several fit, else half (or a quarter) size, so that
80x24 still shows whole images and a large terminal fills with more of them.
Each side draws in its own model's image shape: a colour 32x32 model beside a
grey 28x28 one is fine.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from tui_vae.checkpoints import SUFFIX
from tui_vae.config import kind_title
from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.checkpoint_table import cut_middle
from tui_vae.tui.widgets.image_grid import ImageGrid, shrink_factors, shrunk
from tui_vae.wording import printable, printable_lines

SIDES = ("a", "b")
MIN_PAIRS, MIN_SAMPLES = 3, 6  # per side, for full-size tiles


SURGERY_IMAGES = 2000  # ELBO surgery per side on this many test images (fast)


def describe(info, width: int = 0) -> str:
    """A checkpoint's name, kind and final test metrics on two lines; the name (less
    .safetensors) cut in its middle where the first line would pass `width` (0: no
    limit), so two runs named alike but for their time stamps still differ."""
    m, test = info.model_config, info.final_test or {}
    kind = kind_title(m)
    # Short enough for half of an 80-column terminal: a figure cut at its end
    # would read as another figure. The user's own model has none, and never will.
    missing = ("trained outside tui-vae: no test metrics" if m.get("model") == "user"
               else "no test metrics yet")
    metrics = (f"-ELBO {_figure(test['loss'])} = recon {_figure(test['recon'])} "
               f"+ KL {_figure(test['kl'])}"
               if {"loss", "recon", "kl"} <= set(test) else missing)
    # The settings first: at 80 columns a long name is what gets cut, not the beta.
    settings = f"{kind} z={m['latent_dim']} beta={m['beta']:g} · "
    name = info.path.name.removesuffix(SUFFIX)
    if width:
        name = cut_middle(name, max(width - len(settings), 10))
    return printable_lines(f"{settings}{name}\n{metrics}")


# What must match for a pair to be the report's Figure 1: one network, trained with
# and without the KL term.
SAME_NETWORK = ("model", "arch", "likelihood", "dataset", "latent_dim", "hidden_dim",
                "hidden_widths")


def caption(configs) -> str:
    """What the pair shows, from its two ModelConfigs (None where a side did not
    load): the report's Figure 1 only where one side is a beta = 0 run and the other
    is the same network with the KL term."""
    if None in configs:
        return "A against B: the same test images reconstructed, and samples from the same z"
    a, b = configs
    if a.dataset != b.dataset:  # each side is shown, and measured on, its own data
        from tui_vae.datasets import dataset_spec

        titles = []
        for config in (a, b):
            try:
                titles.append(dataset_spec(config.dataset).title)
            except TuiVaeError:
                titles.append(config.dataset)
        return (f"A on {titles[0]}, B on {titles[1]}: each side's own test images, so their "
                f"figures do not compare; samples from the same z")
    same = all(getattr(a, key) == getattr(b, key) for key in SAME_NETWORK)
    if same and (a.beta == 0) != (b.beta == 0):
        return ("The report's Figure 1, live: without the KL term (beta = 0) "
                "reconstructions stay sharp but prior samples fall apart")
    return "A against B: the same test images reconstructed, and samples from the same z"


def _figure(nats: float) -> str:
    """Nats to one decimal, whole from 1,000 up (the lines stay short)."""
    return f"{nats:.1f}" if abs(nats) < 1000 else f"{nats:.0f}"


class CompareScreen(ViewScreen):
    """Checkpoints A and B (chosen in Models with a and b)."""

    TITLE = "Compare"
    NEEDS_MODEL = False  # it loads its own pair
    BINDINGS = [
        Binding("space", "new", "New draw", id="compare.new"),
        Binding("x", "swap", "Swap A/B", id="compare.swap"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.seed = 0
        self._pair: tuple | None = None  # (key, {path: (model, images) or the error})
        self._pending: tuple | None = None  # the key a worker is loading
        self._drawn_pair: tuple | None = None  # the app's pair when this view last drew

    # -- loading A and B, in a worker (a checkpoint or a dataset can take seconds)

    @staticmethod
    def _pair_key(pair) -> tuple:
        """The pair with each file's mtime and size: a rewritten checkpoint loads again."""
        key = []
        for path in pair:
            try:
                stat = Path(path).stat()
                key.append((path, stat.st_mtime_ns, stat.st_size))
            except OSError:
                key.append((path, None, None))
        return tuple(key)

    def _loaded_pair(self, pair) -> dict | None:
        """The loaded pair, or None while a worker loads it (started here if need be)."""
        key = self._pair_key(pair)
        if self._pair is not None and self._pair[0] == key:
            return self._pair[1]
        if self._pending != key:
            self._pending = key
            self.set_status("Loading checkpoints A and B...")
            for grid in self.query(ImageGrid):
                grid.clear("loading...")
            self._load_pair(key)
        return None

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _load_pair(self, key: tuple) -> None:
        from tui_vae.tui.app import use_one_torch_thread

        use_one_torch_thread()
        loaded: dict = {}
        for path, *_ in key:
            try:
                from tui_vae.surgery import elbo_surgery

                model = self.app.workspace.model(Path(path))
                images = self.app.workspace.images(model.config.dataset, model.config.image_shape)
                # ELBO surgery on the first images: the prior gap beside the samples
                surgery = elbo_surgery(model.module, images.split, limit=SURGERY_IMAGES)
                loaded[path] = (model, images, surgery)
            except Exception as exc:  # one side failing must not hide the other
                loaded[path] = exc
        self.app.call_from_thread(self._pair_loaded, key, loaded)

    def _pair_loaded(self, key: tuple, loaded: dict) -> None:
        if self._pending != key:
            return  # superseded by another choice while loading
        self._pending, self._pair = None, (key, loaded)
        for path, found in loaded.items():
            if isinstance(found, Exception):
                reason = found if isinstance(found, (TuiVaeError, OSError)) else (
                    f"{type(found).__name__}: {found}")
                # "show", not "load": a model of your own may load and fail to run
                self.notify(f"cannot show {Path(path).name}: {reason}", severity="error",
                            markup=False)
        self.sync(force=True)

    def sync(self, force: bool = False) -> None:
        # A and B are chosen in Models: another pair means a redraw when this view
        # comes back, although nothing else changed.
        super().sync(force or self._drawn_pair != self.app.compare_pair)

    def body(self) -> ComposeResult:
        with Horizontal():
            for side in SIDES:
                with Vertical(classes="side"):
                    yield Label("", id=f"{side}-title", classes="section")
                    yield Label("Reconstructions (original | model)", classes="dim")
                    yield ImageGrid(id=f"{side}-recon")
                    yield Label("Prior samples", id=f"{side}-samples-title", classes="dim")
                    yield ImageGrid(id=f"{side}-samples")

    def redraw(self) -> None:
        from tui_vae import gallery

        pair = self._drawn_pair = self.app.compare_pair
        if self.app.loading:  # torch is still starting in the App's worker
            self.show_waiting()
            return
        if None in pair:
            self.set_status("Compare needs two checkpoints: choose A and B in Models (m).")
            for grid in self.query(ImageGrid):
                grid.clear("choose A and B in Models (m)")
            return
        loaded = self._loaded_pair(pair)
        if loaded is None:  # a worker is loading them: the UI thread never reads data
            return
        infos = {e.path: e for e in self.app.valid_entries()}
        models = [None if isinstance(loaded[path], Exception) else loaded[path][0]
                  for path in pair]
        configs = [m.config if m else None for m in models]
        sizes = {m.config.latent_dim for m in models if m}
        same_z = "the same z both sides" if len(sizes) == 1 else "z sizes differ"
        for side in SIDES:
            self.query_one(f"#{side}-samples-title", Label).update(f"Prior samples ({same_z})")
        for side, path in zip(SIDES, pair):
            if isinstance(loaded[path], Exception):  # said in a notice when it failed
                self.query_one(f"#{side}-title", Label).update(
                    Text(printable(f"{side.upper()}  cannot show {Path(path).name}")))
                continue
            model, images, surgery = loaded[path]
            split = images.split
            recon_grid = self.query_one(f"#{side}-recon", ImageGrid)
            sample_grid = self.query_one(f"#{side}-samples", ImageGrid)
            recon_grid.base = sample_grid.base = model.config.image_shape[1:]
            factor = self.factor(side)

            def shrink(images, factor=factor):
                return gallery.shrink(images, factor)

            count = max(recon_grid.capacity(shrunk(recon_grid.base, factor, pairs=True),
                                            captions=False), 1)
            index = [(self.seed * 7919 + 13 * k) % len(split) for k in range(count)]
            originals = gallery.images_of(split, index)
            recons = gallery.reconstructions(model, split, index)
            recon_grid.show(gallery.side_by_side(shrink(originals), shrink(recons)),
                            full=gallery.side_by_side(originals, recons))
            n = max(sample_grid.capacity(shrunk(sample_grid.base, factor), captions=False), 1)
            labels = [k % model.config.num_classes for k in range(n)]
            conditional = model.config.conditional
            drawn = model.sample(n, labels if conditional else None, 1.0, seed=self.seed)
            pictures = gallery.pictures(drawn)
            sample_grid.show(shrink(pictures), full=pictures)
            info = infos.get(Path(path))
            # "A  " leads the line: the rest of the label's width is the description's.
            # (The side's width: the label's own is that of its last text, wider or not.)
            label = self.query_one(f"#{side}-title", Label)
            room = label.parent.content_size.width - label.styles.padding.width - 3
            title = describe(info, max(room, 0)) if info else Path(path).name
            # The surgery's own rate and image count beside its parts: the rate in the
            # line above is the whole test set's, and I(x;z) is capped at log N
            # (7.6 for 2,000 images), which both sides may reach.
            # Three short lines: a side is half of 80 columns.
            title += (f"\nsurgery ({surgery['surgery_images']:,} images): rate "
                      f"{_figure(surgery['rate'])}"
                      f"\n= I(x;z) {_figure(surgery['mutual_information'])} (<= log N "
                      f"{surgery['mutual_information_bound']:.1f})"
                      f"\n+ KL(q(z)||p(z)) {_figure(surgery['marginal_kl'])}")
            label.update(Text(f"{side.upper()}  {title}"))
        self.set_status(f"{caption(configs)} · space new draw · x swap · "
                        "choose A/B in Models (m)")

    def factor(self, side: str) -> int:
        """How many times smaller than its model's images a side draws its tiles: full
        size where enough fit, else half size, else a quarter (...) where one fits whole."""
        recon = self.query_one(f"#{side}-recon", ImageGrid)
        samples = self.query_one(f"#{side}-samples", ImageGrid)

        def fits(factor: int, pairs: int, drawn: int, scale: int | None = None) -> bool:
            return (recon.whole(shrunk(recon.base, factor, pairs=True), False, scale) >= pairs
                    and samples.whole(shrunk(samples.base, factor), False, scale) >= drawn)

        if fits(1, MIN_PAIRS, MIN_SAMPLES):
            return 1
        # Smaller still only where a smaller one would not fit unzoomed (a zoom the
        # screen cannot hold is said, not undone).
        factors = shrink_factors(recon.base[0])[1:] or (1,)
        return next((f for f in factors if fits(f, 1, 1, scale=1)), factors[-1])

    def action_new(self) -> None:
        self.seed += 1
        self.sync(force=True)

    def action_swap(self) -> None:
        a, b = self.app.compare_pair
        self.app.compare_pair = (b, a)
        self.sync(force=True)
