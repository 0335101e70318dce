"""Generate: samples from the prior; for a cVAE, keys 0-9 choose the class."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message

from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid, shrunk

MIN_SAMPLES = 6  # full-size samples where this many fit whole (as Compare), else smaller

class MixtureReady(Message):
    """The aggregate posterior's mixture for a model, fitted in a worker."""

    def __init__(self, model, mixture) -> None:
        super().__init__()
        self.model, self.mixture = model, mixture


class GenerateScreen(ViewScreen):
    """A grid of decoded z ~ N(0, T^2 I); a row per class on request (cVAE)."""

    TITLE = "Generate"
    BINDINGS = [
        *(Binding(str(d), f"set_class({d})", "Class", show=d == 0, key_display="0-9",
                  id=f"generate.class{d}") for d in range(10)),
        Binding("space", "new", "New samples", id="generate.new"),
        Binding("plus,equals_sign", "temperature(1)", "Hotter", key_display="+",
                id="generate.hotter"),
        Binding("minus", "temperature(-1)", "Colder", key_display="-", id="generate.colder"),
        Binding("a", "toggle_rows", "All classes", id="generate.rows"),
        Binding("p", "toggle_sampler", "Prior/aggregate", id="generate.sampler"),
        Binding("down", "scroll_rows(1)", "Rows", key_display="↑↓", id="generate.row_down"),
        Binding("up", "scroll_rows(-1)", "Rows", key_display="↑↓", show=False,
                id="generate.row_up"),
    ]
    CLASS_ACTIONS = frozenset({"set_class", "toggle_rows"})

    def __init__(self) -> None:
        super().__init__()
        self.label = 0
        self.temperature_index = 5  # gallery.TEMPERATURES[5] == 1.0
        self.seed = 0
        self.rows = False
        self.aggregate = False  # sample z from the aggregate posterior, not the prior
        self._mixture = None  # (model, mixture) once fitted
        self._fitting_for = None  # the model a fit was started for

    def body(self) -> ComposeResult:
        yield ImageGrid(id="samples")

    @property
    def temperature(self) -> float:
        from tui_vae.gallery import TEMPERATURES

        return TEMPERATURES[self.temperature_index]

    def redraw(self) -> None:
        from tui_vae import gallery

        grid = self.query_one("#samples", ImageGrid)
        model, classes = self.model, self.images.classes
        # Full size where MIN_SAMPLES fit whole, else smaller (half size at 80x24, where
        # two full-size digits fit and ten half-size ones; z shows them full size).
        conditional = model.config.conditional
        # A row per class names its class under its first image (the status's "0 to 9,
        # top to bottom" did not say which row was which once they scrolled).
        named = self.rows and conditional
        factor = grid.spend_zoom(grid.reduction(captions=named, want=MIN_SAMPLES))
        columns, rows = grid.fit(shrunk(grid.base, factor), captions=named)
        mixture = self.mixture()
        if self.aggregate and mixture is None:
            if self._fitting_for is not model:  # first use, or another model is active
                self._fitting_for = model
                self._fit(model, self.images.split)
            grid.clear("fitting a mixture to the test images' codes...")
            self.set_status("Fitting the aggregate posterior (a Gaussian mixture over the "
                            "codes of the test images)...")
            return
        if named:
            images = gallery.class_rows(model, columns, self.temperature, self.seed, mixture)
            count = model.config.num_classes
            names = [f"class {classes[k]}" if k < len(classes) else f"class {k}"
                     for k in range(count)]
            captions = [names[k] if j == 0 else "" for k in range(count) for j in range(columns)]
            grid.show(gallery.shrink(images, factor), captions, columns=columns, full=images)
            # Each row is named under its first image: no "(0 to 9, top to bottom)".
            what = "a row per class, the same z down each column" + self.rows_note(grid)
        else:
            grid.first_row = 0
            images = gallery.samples(model, columns * rows, self.label, self.temperature,
                                     self.seed, mixture)
            grid.show(gallery.shrink(images, factor), full=images)
            what = f"class {classes[self.label]}" if conditional else "unconditional"
        keys = f"{self.class_keys()} class · a all classes · " if conditional else ""
        # What the aggregate posterior is comes after the rows' scroll hint: at 80x24
        # it pushed the hint out of the status's two lines.
        source = "the aggregate posterior" if self.aggregate else "the prior N(0, I)"
        fitted = (" · a 50-Gaussian mixture over the test images' posterior means"
                  if self.aggregate else "")
        # The temperature and the seed first, with what is drawn: at 80x24 the status's
        # two lines cut its end, and they went unseen while + and - changed them.
        self.set_status(f"Samples from {source} at temperature {self.temperature:g}, seed "
                        f"{self.seed}: {what}{fitted} · {keys}space new draw · +/- "
                        f"temperature · p {'prior' if self.aggregate else 'aggregate posterior'}")
        self.refresh_bindings()  # the row keys show only while rows are off screen

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "scroll_rows":
            if not (self.rows and self.conditional()):
                return False
            _, shown, total = self.query_one("#samples", ImageGrid).rows()
            return total > shown
        return super().check_action(action, parameters)

    def action_scroll_rows(self, step: int) -> None:
        self.query_one("#samples", ImageGrid).scroll_rows(step)
        self.sync(force=True)

    def action_set_class(self, label: int) -> None:
        if not self.takes_classes(label):
            return
        self.label, self.rows = label, False
        self.sync(force=True)

    def action_new(self) -> None:
        self.seed += 1
        self.sync(force=True)

    def action_temperature(self, step: int) -> None:
        from tui_vae.gallery import TEMPERATURES

        index = min(max(self.temperature_index + step, 0), len(TEMPERATURES) - 1)
        if index == self.temperature_index:  # at an end: a key that did nothing, said
            end = "highest" if step > 0 else "lowest"
            self.notify(f"temperature {TEMPERATURES[index]:g} is the {end} offered "
                        f"({TEMPERATURES[0]:g} to {TEMPERATURES[-1]:g})", timeout=3)
            return
        self.temperature_index = index
        self.sync(force=True)

    def mixture(self):
        """The fitted mixture for the current model when sampling from it, else None."""
        if not self.aggregate or self._mixture is None or self._mixture[0] is not self.model:
            return None
        return self._mixture[1]

    def action_toggle_sampler(self) -> None:
        self.aggregate = not self.aggregate
        self.sync(force=True)

    @work(thread=True, exclusive=True, group="aggregate", exit_on_error=False)
    def _fit(self, model, split) -> None:
        from tui_vae.aggregate import aggregate_posterior
        from tui_vae.tui.app import use_one_torch_thread

        use_one_torch_thread()
        try:
            mixture = aggregate_posterior(model, split)
        except (TuiVaeError, ValueError, RuntimeError) as exc:  # your own model, failing
            self.app.call_from_thread(self._fit_failed, model, str(exc))
            return
        self.post_message(MixtureReady(model, mixture))

    def _fit_failed(self, model, why: str) -> None:
        """Said, and back to the prior (it waited on "fitting..." for ever)."""
        self.notify(f"cannot fit the aggregate posterior: {why}", severity="error")
        if self._fitting_for is model:
            self._fitting_for = None
            self.aggregate = False
            self.sync(force=True)

    def on_mixture_ready(self, message: MixtureReady) -> None:
        self._mixture = (message.model, message.mixture)
        self.sync(force=True)

    def action_toggle_rows(self) -> None:
        self.rows = not self.rows
        self.sync(force=True)
