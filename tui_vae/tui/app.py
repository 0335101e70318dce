"""The explorer App: views as modes, global keys, the command palette, and the workers.

The App owns what outlives a view: the workspace (checkpoints, images, model
cache), the active model, the pair chosen for Compare, and the training run.
Training runs in a thread worker started here, not in the Train screen, so
switching views never stops it. torch is imported by a worker after the first
paint; until then the views show a loading state.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.monitor import RunMonitor
from tui_vae.tui.keymap import load_keymap
from tui_vae.tui.messages import ModelReady, PreviewReady, TrainingEvent
from tui_vae.tui.screens.generate import GenerateScreen
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.workspace import Workspace

VIEWS = {  # mode -> (key, title)
    "train": ("t", "Train"),
    "models": ("m", "Models"),
    "reconstruct": ("r", "Reconstruct"),
    "generate": ("g", "Generate"),
    "interpolate": ("i", "Interpolate"),
    "compare": ("c", "Compare"),
    "latent": ("l", "Latent"),
    "traversal": ("v", "Traversal"),
    "draw": ("d", "Draw"),
}


def _later(module: str, name: str) -> Callable[[], Screen]:
    """A factory that imports tui_vae.tui.screens.<module> when the view is first opened."""

    def make() -> Screen:
        return getattr(import_module(f"tui_vae.tui.screens.{module}"), name)()

    return make


_TORCH_THREADS: int | None = None  # torch's own default, read before any thread changed it


def use_torch_threads(training: bool) -> None:
    """Give this thread's torch work all CPU threads (training) or one (the rest).

    The setting is per thread. Measured on 2 cores: a thread that has run
    multi-threaded torch work keeps an idle OpenMP team, and while one exists
    the training thread runs ~12% slower. So the UI thread (which decodes the
    views' small grids) and the loading workers use one thread and own no
    team; the trainer gets them all, as `tui-vae train` does.
    """
    global _TORCH_THREADS
    import torch

    if _TORCH_THREADS is None:
        _TORCH_THREADS = torch.get_num_threads()
    torch.set_num_threads(_TORCH_THREADS if training else 1)


class TuiVaeApp(App):
    """Train and explore VAEs: one mode per view in VIEWS (Train, Models, ... Draw)."""

    TITLE = "tui-vae"
    CSS_PATH = "app.tcss"
    MODES = {
        # Only the first view is imported at start-up; the others on first visit
        # (every module kept off the first paint's path counts: target 0.6 s).
        "train": _later("train", "TrainScreen"),
        "models": _later("models", "ModelsScreen"),
        "reconstruct": _later("reconstruct", "ReconstructScreen"),
        "generate": GenerateScreen,
        "interpolate": _later("interpolate", "InterpolateScreen"),
        "compare": _later("compare", "CompareScreen"),
        "latent": _later("latent", "LatentScreen"),
        "traversal": _later("traversal", "TraversalScreen"),
        "draw": _later("draw", "DrawScreen"),
    }
    DEFAULT_MODE = "generate"
    AUTO_FOCUS = ""  # keys go to the view until the user tabs into a field
    BINDINGS = [
        # The view keys show in each view's tab bar rather than in the footer.
        *(Binding(key, f"switch_mode('{mode}')", title, show=False, id=f"view.{mode}")
          for mode, (key, title) in VIEWS.items()),
        Binding("z", "toggle_scale", "Zoom 1x/2x", show=False, id="app.zoom"),
        Binding("e", "export", "Export PNG", show=False, id="app.export"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, workspace: Workspace, keymap_path: Path | None = None):
        super().__init__()
        self.workspace = workspace
        self.keymap_path = keymap_path
        self.entries = []
        self.active: Path | None = None
        self.compare_pair: tuple[Path | None, Path | None] = (None, None)
        self.model = None  # TrainedModel once loaded
        self.images = None  # ViewImages once loaded
        self.generation = 0  # bumped whenever the model or the images change
        self.loading = True
        self.scale = 1
        self.monitor = RunMonitor()
        self.preview: tuple = ()  # (pairs, samples) of the run's latest epoch
        self._stop = threading.Event()

    # -- start-up

    def on_mount(self) -> None:
        if self.keymap_path is not None:
            keymap, problem = load_keymap(self.keymap_path)
            self.set_keymap(keymap)
            if problem:
                self.notify(problem, title="keymap", severity="warning")
        self.rescan()
        self.compare_pair = self.workspace.default_pair(self.entries)
        self.activate(self.workspace.default_checkpoint(self.entries))

    def rescan(self) -> None:
        """Read the checkpoint folders again (headers only: fast, no torch)."""
        try:
            self.entries = self.workspace.scan()
        except Exception as exc:  # an unreadable folder must not take the app down
            self.entries = []
            self.notify(str(exc), title="checkpoints", severity="error")

    def activate(self, path: Path | None) -> None:
        """Make `path` the active checkpoint: load it in a worker."""
        self.active = path
        if path is None:
            self.loading = False
            self.model = self.images = None  # e.g. the last checkpoint was deleted
            self.sub_title = "no checkpoint yet: train one (t)"
            self._changed()
            return
        self.loading = True
        self.sub_title = f"loading {path.name}..."
        self._changed()
        self._load(path)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, path: Path) -> None:
        use_torch_threads(training=False)
        model = self.workspace.model(path)
        images = self.workspace.images(model.config.dataset)
        self.post_message(ModelReady(path, model, images))

    def on_model_ready(self, message: ModelReady) -> None:
        if message.path != self.active:
            return  # a newer choice superseded this load
        use_torch_threads(training=False)  # before the views decode anything here
        # torch, the model and the images are loaded now, and stay: move them out
        # of the collector's reach. Measured: full collections over them paused
        # the UI for ~100 ms every few key presses in Generate.
        gc.freeze()
        self.model, self.images, self.loading = message.model, message.images, False
        self._changed()

    def describe_active(self) -> str:
        """The header line: checkpoint, kind, device and the images' source."""
        if self.model is None or self.active is None:
            return self.sub_title
        c = self.model.config
        kind = f"{'cVAE' if c.conditional else 'VAE'} z={c.latent_dim} beta={c.beta:g}"
        return f"{self.active.name} · {kind} · {self.model.device} · {self.images.source}"

    def _changed(self) -> None:
        """Tell the visible view that the model or images changed."""
        self.generation += 1
        if not self.loading and self.model is not None:
            self.sub_title = self.describe_active()
        if isinstance(self.screen, ViewScreen):
            self.screen.sync()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "load":
            self.loading, self.model = False, None
            self.sub_title = "no model loaded"
            self.notify(f"cannot load {self.active.name if self.active else ''}: {error}",
                        title="checkpoint", severity="error")
            self._changed()
        elif event.worker.group == "training":
            self.monitor.record_failure(str(error))
            self._refresh_train()
        else:
            self.notify(str(error), severity="error")

    # -- training

    def start_training(self, config) -> None:
        """Start a run (one at a time); progress arrives as TrainingEvent messages."""
        if self.monitor.active:
            self.notify("a run is already training; stop it first", severity="warning")
            return
        self._stop.clear()
        self.monitor.reset()
        self.preview = ()
        self._train(config)
        self._refresh_train()

    def stop_training(self) -> None:
        if self.monitor.active:
            self._stop.set()
            self.monitor.request_stop()
            self._refresh_train()

    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, config) -> None:
        from tui_vae.events import StepLogged
        from tui_vae.training import Trainer

        def on_event(event) -> None:
            self.monitor.record(event)
            # Step reports reach the screen through the monitor, which the Train
            # view polls; a message per step would keep the UI thread (and the
            # GIL) busy for nothing.
            if not isinstance(event, StepLogged):
                self.post_message(TrainingEvent(event))

        use_torch_threads(training=True)
        Trainer(config, on_event=on_event, stop=self._stop).run()

    def on_training_event(self, message: TrainingEvent) -> None:
        from tui_vae.events import CheckpointSaved, Failed, Finished

        event = message.event
        if isinstance(event, CheckpointSaved):
            self.rescan()
            if event.step == 0:
                self._preview(Path(event.path))
        elif isinstance(event, Finished):
            word = "stopped" if event.stopped else "finished"
            self.notify(f"training {word} after {event.epochs_done} epochs; saved {event.path}",
                        title="training")
        elif isinstance(event, Failed):
            self.notify(event.message, title="training failed", severity="error")
        self._refresh_train()

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview(self, path: Path) -> None:
        from tui_vae.gallery import training_preview

        use_torch_threads(training=False)
        model = self.workspace.model(path)
        images = self.workspace.images(model.config.dataset)
        self.post_message(PreviewReady(*training_preview(model, images)))

    def on_preview_ready(self, message: PreviewReady) -> None:
        self.preview = (message.pairs, message.samples)
        self._refresh_train()

    def _refresh_train(self) -> None:
        from tui_vae.tui.screens.train import TrainScreen

        if isinstance(self.screen, TrainScreen):
            self.screen.refresh_run()

    # -- actions

    def action_toggle_scale(self) -> None:
        self.scale = 2 if self.scale == 1 else 1
        if isinstance(self.screen, ViewScreen):
            self.screen.set_scale(self.scale)

    def action_export(self) -> None:
        """Save the images on screen as a PNG grid; the path goes in a notice."""
        from tui_vae.export import save_png

        screen = self.screen
        picture = screen.export_images() if isinstance(screen, ViewScreen) else None
        if picture is None:
            self.notify("no images on screen to export", severity="warning")
            return
        path = self.workspace.export_path(screen.TITLE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_png(path, picture)
        except OSError as exc:
            self.notify(f"export failed: {exc}", title="export", severity="error")
            return
        self.notify(f"saved {path} ({picture.shape[1]} x {picture.shape[0]} px)",
                    title="export")

    def action_help(self) -> None:
        from tui_vae.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        if self.monitor.active:  # save the run's state before leaving
            self.stop_training()
            await self.workers.wait_for_complete()
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for mode, (key, title) in VIEWS.items():
            yield SystemCommand(f"{title} view", f"Switch to the {title} view ({key})",
                                lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Start training", "Start a run with the Train form's settings",
                            self._palette_start)
        yield SystemCommand("Stop training", "Stop the run; its state is saved",
                            self.stop_training)
        yield SystemCommand("Zoom", "Images at 1x or 2x (z)", self.action_toggle_scale)
        yield SystemCommand("Export PNG", "Save the images on screen as a PNG grid (e)",
                            self.action_export)
        yield SystemCommand("Rescan checkpoints", "Read the checkpoint folders again",
                            self._palette_rescan)
        yield SystemCommand("Help", "Keys and views (?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _palette_start(self) -> None:
        async def start() -> None:
            await self.switch_mode("train")
            self.screen.action_start()

        self.call_later(start)

    def _palette_rescan(self) -> None:
        self.rescan()
        if isinstance(self.screen, ViewScreen):
            self.screen.sync(force=True)

    def valid_entries(self) -> list[CheckpointInfo]:
        return [e for e in self.entries if isinstance(e, CheckpointInfo)]
