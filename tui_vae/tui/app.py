"""The explorer App: views as modes, global keys, the command palette, and the workers.

The App owns what outlives a view: the workspace (checkpoints, images, model
cache), the active model, the pair chosen for Compare, and the training run.
Training runs in a thread worker started here, not in the Train screen, so
switching views never stops it. torch is imported by a worker after the first
paint; until then the views show a loading state.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path

from textual import events, work
from textual._time import get_time
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.monitor import RunMonitor
from tui_vae.tui.heap import release_freed_memory
from tui_vae.tui.keymap import read_keymap
from tui_vae.tui.messages import (
    DefaultChosen,
    EntriesChanged,
    ModelReady,
    PreviewReady,
    TrainingEvent,
)
from tui_vae.tui.screens.generate import GenerateScreen
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.views import VIEWS, VIEWS_IN_ORDER  # noqa: F401 (VIEWS is re-exported)
from tui_vae.wording import plural, printable, printable_lines
from tui_vae.workspace import Workspace

# The checkpoint folders are looked at this often (one stat per folder while
# nothing changes), so runs saved by this app or by another process show up
# in Models on their own.
POLL_S = 1.0
# Input storms (see _on_key and _on_resize): a key that waited longer than this
# while newer keys queued behind it is dropped; a resize within this long of the
# previous one is applied once the size holds still this long.
STALE_KEY_S = 0.5
RESIZE_SETTLE_S = 0.2
# After a resize, once no other has come for this long, the whole screen is drawn again.
REPAINT_AFTER_RESIZE_S = 0.5
TOAST_GONE_S = 0.1  # after a notice expires, the same (once its toast is removed)
# The largest screen the app takes (cells): a browser tab can ask for any size, and
# one asked for 20,000 x 20,000 (2.7 GB); a negative one crashed the compositor.
MAX_COLUMNS, MAX_ROWS = 1000, 500
HEADER_SIDES = 18  # cells of the header that are not its title: the icon (8) and the clock's (10)
# Once keys and resizes have paused this long, the C heap's freed memory goes back
# to the system (tui/heap.py): after a storm, memory returns to what is in use.
RELEASE_AFTER_S = 1.0
FULL_EVERY = 30  # polls between stats of every file (a file rewritten in place)
# A scan that read this many headers has its results frozen for the collector.
MANY_READS = 1000
# How long a call of the user's own model (--model-factory) made while a view draws
# may take before it is given up (user_adapter.UserModelAdapter.call_deadline).
USER_CALL_SECONDS = 10.0


# Signals that end the app as `q` does (a run saves first); SIGHUP is absent on Windows.
_HANG_UPS = tuple(getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name))


def _later(module: str, name: str) -> Callable[[], Screen]:
    """A factory that imports tui_vae.tui.screens.<module> when the view is first opened."""

    def make() -> Screen:
        return getattr(import_module(f"tui_vae.tui.screens.{module}"), name)()

    return make


def use_one_torch_thread() -> None:
    """Run this thread's torch work on one CPU thread (the setting is per thread).

    The views decode small grids, for which one thread is as fast; and a
    thread that has run multi-threaded torch work keeps an idle OpenMP team
    whose spinning slows a run training beside it (the app's own run is a
    child process, train_child.py) by ~12% on 2 cores.
    """
    import torch

    torch.set_num_threads(1)


def sweep_outcome(configs, finished: set[int], started: int, failed: set[int],
                  stopped: bool) -> str:
    """The notice at a sweep's end: how its runs stand ("sweep finished", or what a
    stop left: runs finished, saved partway, with nothing saved, never started).
    `finished` and `failed` hold the runs' indices; the first `started` began."""
    if len(finished) == len(configs):
        return "sweep finished"
    rest = [i for i in range(started) if i not in finished and i not in failed]
    partway = sum(1 for i in rest if Path(configs[i].out).is_file())
    parts = [(len(finished), "finished"), (partway, "saved partway"), (len(failed), "failed"),
             (len(rest) - partway, "stopped with nothing saved"),
             (len(configs) - started, "not started")]
    said = ", ".join(f"{count} {words}" for count, words in parts if count)
    return f"sweep {'stopped' if stopped else 'ended'}: {said} (of {plural(len(configs), 'run')})"


def _make_folder(folder: Path) -> None:
    """Make the exports folder; a file in its place is said in words (OSError), not
    as "[Errno 17] File exists". A link in its place is refused: planted in a shared
    working folder (or a served one), it sent every export elsewhere."""
    if folder.is_symlink():
        raise OSError(f"{folder} is a link, not a folder: exports go into a folder of "
                      f"their own only (remove the link, or start tui-vae elsewhere)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OSError(f"{folder} is a file, not a folder") from None


class TuiVaeApp(App):
    """Train and explore VAEs: one mode per view in VIEWS (Train, Models, ... Draw)."""

    TITLE = "tui-vae"
    CSS_PATH = "app.tcss"
    DEFAULT_MODE = "generate"
    # Only the first view is imported at start-up; the others on first visit
    # (every module kept off the first paint's path counts: target 0.6 s).
    MODES = {view.mode: GenerateScreen if view.mode == "generate"
             else _later(view.module, view.screen) for view in VIEWS_IN_ORDER}
    AUTO_FOCUS = ""  # keys go to the view until the user tabs into a field
    BINDINGS = [
        # The view keys show in each view's tab bar rather than in the footer.
        *(Binding(key, f"switch_mode('{mode}')", title, show=False, id=f"view.{mode}")
          for mode, (key, title) in VIEWS.items()),
        Binding("z", "toggle_scale", "Zoom 1x/2x", show=False, id="app.zoom"),
        Binding("e", "export", "Export PNG", show=False, id="app.export"),
        Binding("U", "use_run", "Use new run", id="app.use_run"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        # Textual's keys panel (the palette's "Keys") closes as every panel here does.
        Binding("escape", "hide_help_panel", "Hide keys", show=False, id="app.hide_keys"),
        # No id: no keymap can take it away, and it beats any view's ctrl+c.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, workspace: Workspace, keymap_path: Path | None = None):
        super().__init__()
        self.workspace = workspace
        self.keymap_path = keymap_path
        self.entries = []  # the checkpoints, as the last scan (or a save or delete) left them
        self.entry_index: dict[Path, int] = {}  # each entry's place in `entries`, by path
        self.shipped: frozenset[Path] = frozenset()  # which of them are shipped models
        self.active: Path | None = None
        self.last_run: Path | None = None  # the run that finished last (`U` makes it active)
        self.compare_pair: tuple[Path | None, Path | None] = (None, None)
        self.model = None  # TrainedModel once loaded
        self.images = None  # ViewImages once loaded
        self.generation = 0  # bumped whenever the model or the images change
        self.loading = True
        self.scale = 1
        self.monitor = RunMonitor()
        self.preview: tuple = ()  # (pairs, samples) of the run's latest epoch
        self._child = None  # train_child.ChildRun while the app's run trains
        self._notes_said: set[str] = set()  # datasets' notes already shown
        self.sweep_stop: threading.Event | None = None  # set while a sweep runs
        self.sweep_unstarted = 0  # runs the last sweep never began (a stop came first)
        self.sweep_place: tuple[int, int] | None = None  # (run, of runs) while a sweep runs
        self.stopped_by_quit: Path | None = None  # the run a quit stopped (and it saved)
        self._header = "loading..."  # what the header says of the active model
        self._chosen = False  # a model was chosen (so the first scan's default is not applied)
        self._scan_lock = threading.Lock()  # one scan at a time
        self._posted: list | None = None  # the scan result last sent to the UI thread
        self._problems: tuple[str, ...] = ()  # unreadable folders, as last posted
        self._shown_problems: tuple[str, ...] = ()  # and as last shown in a notice
        self._polls = 0
        self._newest_key = 0.0  # when the newest key event was made (Textual's clock)
        self.dropped_keys = 0  # stale keys dropped under an input storm
        self._last_resize = 0.0
        self._settling: events.Resize | None = None  # the size a resize storm ends on
        self._settle_timer = None
        self._repaint_timer = None
        self._released_for = 0.0  # the input after which freed memory was last released
        self.crash: BaseException | None = None  # the unhandled error that ended the app
        self.crash_log: Path | None = None  # where its traceback was written
        self.crash_log_error: str | None = None  # why it could not be

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notice as plain text: messages quote file names, metadata and errors,
        which are data, never markup (a `[/x]` in a name must not break the notice),
        and their control characters escaped (an escape sequence in a file name would
        otherwise act on the terminal)."""
        super().notify(printable_lines(message), title=title, severity=severity,
                       timeout=timeout, markup=False)

    # -- start-up

    def on_mount(self) -> None:
        if self.keymap_path is not None:
            keymap, problems = read_keymap(self.keymap_path)
            self.set_keymap(keymap)  # before the first frame (the tab bar shows the keys)
            if keymap or problems:
                # After it: checking the ids imports every view.
                self.call_after_refresh(self._report_keymap, keymap, problems)
        self._watch_hang_ups()
        self._set_header("loading...")
        self._open_workspace()
        self.set_interval(POLL_S, self._poll)

    # -- the checkpoint folders, watched

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _open_workspace(self) -> None:
        """The first scan, the model to open with, and its loading: off the UI thread."""
        self._open_user_model()  # first: the user's own model opens as the active one
        entries = self._scan_now(full=False, wait=True)
        path = self.workspace.default_checkpoint(entries)
        self.post_message(DefaultChosen(path, self.workspace.default_pair(entries)))
        if path is not None:
            self._load_now(path)

    def _open_user_model(self) -> None:
        """--model-factory's model, loaded in the opening worker; a failure is one notice,
        and the app goes on with the other models."""
        if self.workspace.user_model_spec is None:
            return
        use_one_torch_thread()
        try:
            info = self.workspace.open_user_model()
            # A call of the user's code that never returns must not freeze the screen
            # (user_adapter: the call is left running, the model's views say so).
            self.workspace.model(info.path).module.call_deadline = USER_CALL_SECONDS
        except Exception as exc:  # the user's code may raise anything: said, never fatal
            from tui_vae.errors import TuiVaeError

            line = str(exc) if isinstance(exc, TuiVaeError) else (
                f"--model-factory: unexpected {type(exc).__name__}: {exc}")
            self.call_from_thread(self.notify, line, title="your model (--model-factory)",
                                  severity="error", timeout=30)

    def on_default_chosen(self, message: DefaultChosen) -> None:
        if self.compare_pair == (None, None):
            self.compare_pair = message.pair
        if not self._chosen:  # else the user chose before the first scan ended
            self.activate(message.path, load=False)

    def _poll(self) -> None:
        self._polls += 1
        self.rescan(full=self._polls % FULL_EVERY == 0)
        self._release_after_input()

    def _release_after_input(self) -> None:
        """Once input has paused RELEASE_AFTER_S, give the memory the views freed while
        drawing back to the system (once a pause)."""
        last = max(self._newest_key, self._last_resize)
        if last > self._released_for and get_time() - last > RELEASE_AFTER_S:
            self._released_for = last
            release_freed_memory()

    def rescan(self, full: bool = False) -> None:
        """Look at the checkpoint folders again, in a worker; changes come as EntriesChanged.

        Cached: only changed folders are listed and changed headers read (`full`
        also stats every file). Nothing is posted while nothing changed.
        """
        self._scan(full)

    @work(thread=True, group="scan", exit_on_error=False)
    def _scan(self, full: bool) -> None:
        self._scan_now(full, wait=False)

    def _scan_now(self, full: bool, wait: bool) -> list:
        """Scan (in a worker thread) and post what changed; the entries either way."""
        if not self._scan_lock.acquire(blocking=wait):
            return self._posted or []  # a scan is under way; the next poll catches up
        collecting = gc.isenabled()
        reads = self.workspace.header_reads
        # Measured on a cold scan of 10,000 checkpoints: the objects it builds set
        # off full collections of up to 140 ms (ten in three scans), run by whichever
        # thread allocates and holding the GIL, so keys waited. The collector rests
        # while scanning (process-wide, but for a warm poll that is well under a
        # millisecond); what a big scan built is frozen (moved out of the
        # collector's sight; the metadata holds no cycles, so refcounting still
        # frees it when replaced). Kept after the storm work: without the pause,
        # the p95 key latency in Models during cold rescans of 10,000 files
        # (benchmarks/big_folder.py) was three times as long, and the storm stalls
        # had another cause (see _end_batch).
        gc.disable()
        try:
            try:
                entries = self.workspace.scan(full)
                problems = tuple(self.workspace.scan_problems)
            except Exception as exc:  # whatever happens, the app goes on with what it has
                entries, problems = self._posted or [], (f"cannot list checkpoints: {exc}",)
            if entries is not self._posted or problems != self._problems:
                # Done here, not on the UI thread: for 10,000 entries these take tens
                # of ms (each new Path hashes its string once, then caches it).
                shipped = frozenset(e.path for e in entries if self.workspace.is_shipped(e.path))
                index = {e.path: row for row, e in enumerate(entries)}
                self.post_message(EntriesChanged(entries, shipped, problems, index))
                self._posted, self._problems = entries, problems
            return entries
        finally:
            if self.workspace.header_reads - reads >= MANY_READS:
                gc.freeze()
            if collecting:
                gc.enable()
            self._scan_lock.release()

    def on_entries_changed(self, message: EntriesChanged) -> None:
        if message.problems and message.problems != self._shown_problems:
            self.notify("\n".join(message.problems), title="checkpoints", severity="error",
                        markup=False)
        self._shown_problems = message.problems
        self.set_entries(message.entries, message.shipped, message.index)

    def set_entries(self, entries: list, shipped: frozenset[Path] | None = None,
                    index: dict[Path, int] | None = None) -> None:
        """Show `entries` as the checkpoints (UI thread): Models or Runs redraws if on screen.

        `index` (each entry's row by path) is computed here when not given.
        """
        self.entries = entries
        if shipped is not None:
            self.shipped = shipped
        self.entry_index = paths = index or {e.path: row for row, e in enumerate(entries)}
        a, b = self.compare_pair
        self.compare_pair = (a if a in paths else None, b if b in paths else None)
        if self.last_run is not None and self.last_run not in paths:
            self.last_run = None
        self.refresh_bindings()
        screen = self.shown_screen()
        if isinstance(screen, ViewScreen) and screen.FOLLOWS_ENTRIES:
            screen.sync(force=True)

    def _saved(self, path: Path) -> None:
        """A checkpoint this app just saved: its row, at once (one header read)."""
        from bisect import insort

        from tui_vae.checkpoints import BadCheckpoint, read_info

        if path.parent not in self.workspace.folders():
            return
        try:
            entry = read_info(path)
        except Exception as exc:  # listed as unreadable, as a scan would
            entry = BadCheckpoint(path, str(exc))
        entries = [e for e in self.entries if e.path != path]
        user = self.workspace.user_entry
        insort(entries, entry, key=lambda e: (e is not user, *self.workspace.list_order(e.path)))
        self.set_entries(entries)
        self.rescan()  # the listing's cache catches up in the background

    def drop_entry(self, path: Path) -> None:
        """A checkpoint this app deleted: gone from the list at once."""
        self.set_entries([e for e in self.entries if e.path != path])
        self.rescan()

    # -- the active model

    def activate(self, path: Path | None, load: bool = True) -> None:
        """Make `path` the active checkpoint: load it in a worker (unless one already does)."""
        self.active, self._chosen = path, True
        self.refresh_bindings()
        if path is None:
            self.loading = False
            self.model = self.images = None  # e.g. the last checkpoint was deleted
            self._set_header("no checkpoint yet: train one (t)")
            self._changed()
            return
        self.loading = True
        self._set_header(f"loading {path.name}...")
        self._changed()
        if load:
            self._load(path)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, path: Path) -> None:
        self._load_now(path)

    def _load_now(self, path: Path) -> None:
        use_one_torch_thread()
        model = self.workspace.model(path)
        images = self.workspace.images(model.config.dataset, model.config.image_shape)
        self.post_message(ModelReady(path, model, images))

    def on_model_ready(self, message: ModelReady) -> None:
        if message.path != self.active:
            return  # a newer choice superseded this load
        use_one_torch_thread()  # before the views decode anything here
        # torch, the model and the images are loaded now, and stay: move them out
        # of the collector's reach. Measured: full collections over them paused
        # the UI for ~100 ms every few key presses in Generate. At every model
        # chosen, not once: what the views built meanwhile (line caches, widgets)
        # goes out of reach too (with a single freeze, one storm left the UI busy
        # for over a minute, caught once inside a collection). Collected first:
        # a freeze keeps for good whatever garbage exists at that moment, and a
        # storm's many model choices grew memory ~100 MB a minute that way.
        gc.collect()
        gc.freeze()
        self.model, self.images, self.loading = message.model, message.images, False
        note = message.images.note
        if note and note not in self._notes_said:  # once a session, as the CLI says it once
            self._notes_said.add(note)
            self.notify(note, title=message.images.source, markup=False)
        self._changed()

    def describe_active(self) -> str:
        """The header line: checkpoint, kind, device and the images' source."""
        if self.model is None or self.active is None:
            return self._header
        c = self.model.config
        kind = f"{'cVAE' if c.conditional else 'VAE'} z={c.latent_dim} beta={c.beta:g}"
        # The images' source before the device: at 80 columns the tail is cut, and the
        # source is what says the images are the bundled sample, not the dataset.
        name = self.workspace.list_name(self.active)
        return f"{name} · {kind} · {self.images.source} · {self.model.device}"

    def _set_header(self, active: str, width: int | None = None) -> None:
        """The header: the running run, if any, beside what it says of the active model,
        its last parts left out whole where the header (`width`, default the app's)
        has no room for them, rather than cut mid-word by the header's own ellipsis."""
        from tui_vae.tui.screens.view import fit_status

        self._header = active
        # The header shows the view's title before it: room for the longest one, so
        # that switching views never cuts what was fitted.
        longest = max(len(title) for _, title in VIEWS.values())
        room = (width or self.size.width) - HEADER_SIDES - longest - len(" — ")
        run = self.monitor.headline()
        if run and len(run) > room:  # the run's name cut mid-way (80x24): the epoch whole
            run = self.monitor.headline(named=False)
        text = f"{run} · active: {active}" if run else active
        # A file name's control characters escaped, as in every notice.
        self.sub_title = printable(fit_status(text, room, lines=1) if room > 0 else text)

    def _changed(self) -> None:
        """Tell the visible view that the model or images changed."""
        self.generation += 1
        if not self.loading and self.model is not None:
            self._set_header(self.describe_active())
        screen = self.shown_screen()
        if isinstance(screen, ViewScreen):
            screen.sync()

    def shown_screen(self):
        """The screen on show; None once the app is closing and none is left (a
        worker's late message, a scan's result, must then touch nothing)."""
        stack = self.screen_stack
        return stack[-1] if stack else None

    def refresh_bindings(self) -> None:
        if self.screen_stack:  # none left while the app closes
            super().refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "load":
            self.loading, self.model = False, None
            self._set_header("no model loaded")
            self.notify(f"cannot load {self.active.name if self.active else ''}: {error}",
                        title="checkpoint", severity="error")
            self._changed()
        elif event.worker.group == "training":
            self.monitor.record_failure(str(error))
            self._set_header(self._header)
            self._refresh_train()
        else:
            self.notify(str(error), severity="error")

    # -- training

    def start_training(self, config) -> None:
        """Start a run (one at a time); progress arrives as TrainingEvent messages."""
        if self.monitor.active:
            self.notify("a run is already training; stop it first", severity="warning")
            return
        from tui_vae.train_child import ChildRun

        self.monitor.reset()
        self.preview = ()
        self._child = ChildRun(config, self._on_run_event)  # a stop from now on reaches it
        self._train(self._child)
        self._set_header(self._header)
        self._refresh_train()

    # -- sweeps: several runs, one after another, each the app's run in turn

    def start_sweep(self, configs) -> None:
        """Train `configs` (TrainConfigs) one after another. Each is the app's run
        while it trains, a `tui-vae train` child like a single run: the Train view
        follows its progress and says which of the sweep's runs it is."""
        if self.sweep_stop is not None or self.monitor.active:
            self.notify("a run is already training; stop it first (x)", severity="warning")
            return
        self.sweep_stop = threading.Event()
        self.sweep_place = (1, len(configs))
        self.monitor.reset()
        self.preview = ()
        self._sweep(list(configs), self.sweep_stop)
        self._set_header(self._header)
        self._refresh_train()

    @work(thread=True, exclusive=True, group="sweep", exit_on_error=False)
    def _sweep(self, configs, stop: threading.Event) -> None:
        from tui_vae.errors import TrainingError
        from tui_vae.train_child import ChildRun

        finished, started, failed = set(), 0, set()
        try:
            for index, config in enumerate(configs):
                if stop.is_set():
                    break
                started += 1
                if index:
                    self.monitor.reset()
                    self.call_from_thread(self._next_sweep_run, index + 1, len(configs))
                child = ChildRun(config, self._on_run_event)
                self._child = child  # a stop from now on reaches it
                if stop.is_set():  # one that came before: the run ends before it begins
                    child.stop()
                try:
                    child.run()
                    if not stop.is_set():
                        finished.add(index)
                except TrainingError as exc:  # the next run still goes, as in `tui-vae sweep`
                    failed.add(index)
                    self.monitor.record_failure(str(exc))
                    self.call_from_thread(self.notify, f"{Path(config.out).name}: {exc}",
                                          title="sweep run failed", severity="error",
                                          markup=False)
                finally:
                    self._child = None
            self.sweep_unstarted = len(configs) - started
            said = sweep_outcome(configs, finished, started, failed, stop.is_set())
            self.call_from_thread(self.notify, said, title="sweep")
        finally:
            self.sweep_stop, self.sweep_place = None, None
            self.call_from_thread(self._sweep_ended)

    def _sweep_ended(self) -> None:
        # The header named the sweep's run until the end: "training a new run"
        # stayed on every view after a sweep whose last run failed.
        self._set_header(self._header)
        self._refresh_train()

    def _next_sweep_run(self, number: int, count: int) -> None:
        self.sweep_place = (number, count)
        self.preview = ()
        self._set_header(self._header)
        self._refresh_train()

    def stop_training(self) -> None:
        if self.sweep_stop is not None:  # each run saves its state (SIGTERM)
            self.sweep_stop.set()
        if self.monitor.active:
            if self._child is not None:
                self._child.stop()  # it saves and ends, as after Ctrl-C
            self.monitor.request_stop()
            self._set_header(self._header)
            self._refresh_train()

    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, child) -> None:
        """The run is a `tui-vae train` child process (train_child.py says why);
        this thread reads its events."""
        try:
            child.run()
        finally:
            if self._child is child:
                self._child = None

    def _on_run_event(self, event) -> None:
        """From the training worker's thread: one event of the app's run."""
        from tui_vae.events import Finished, StepLogged

        self.monitor.record(event)
        # Step reports reach the screen through the monitor, which the Train
        # view polls; a message per step would keep the UI thread busy for nothing.
        if not isinstance(event, StepLogged):
            ended = self.monitor.snapshot()[0].ended() if isinstance(event, Finished) else ""
            self.post_message(TrainingEvent(event, ended))

    def on_training_event(self, message: TrainingEvent) -> None:
        from tui_vae.events import CheckpointSaved, Failed, Finished

        event = message.event
        if isinstance(event, CheckpointSaved):
            self._saved(Path(event.path))
            if event.step == 0:
                self._preview(Path(event.path))
        elif isinstance(event, Finished):
            offer = ""
            if event.path and Path(event.path) != self.active and Path(event.path).is_file():
                self.last_run = Path(event.path)
                offer = f"; press {self._key_of('app.use_run', 'U')} to use it"
            if event.path is None:
                said = "training stopped before its first step; nothing was saved"
            else:
                said = (f"training {message.ended}; "
                        f"saved {event.path}{offer}")
            self.notify(said, title="training", markup=False)
            self.refresh_bindings()
        elif isinstance(event, Failed):
            from tui_vae.tui.screens.train import form_words

            # The form's names, as its status line has them: the notice said
            # "--dataset mnist-sample" beside a form that offers "MNIST sample".
            self.notify(form_words(event.message), title="training failed", severity="error",
                        markup=False)
        self._set_header(self._header)  # the run's epoch, or no run any more
        self._refresh_train()

    def _key_of(self, binding_id: str, default: str) -> str:
        """The key (as the user's keymap has it) of the binding `binding_id`."""
        keys = getattr(self, "_keymap", {}).get(binding_id, default)  # Textual's keymap
        return keys.split(",")[0].strip() or default

    def action_use_run(self) -> None:
        """Make the run that finished last the active model."""
        if self.last_run is not None:
            path, self.last_run = self.last_run, None
            self.activate(path)
            self.notify(f"active: {path.name}", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "use_run":  # shown in the footer only while there is a run to use
            return self.last_run is not None and self.last_run != self.active
        if action == "hide_help_panel":
            return bool(self.screen.query("HelpPanel"))
        return True

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview(self, path: Path) -> None:
        from tui_vae.gallery import training_preview

        use_one_torch_thread()
        model = self.workspace.model(path)
        images = self.workspace.images(model.config.dataset, model.config.image_shape)
        self.post_message(PreviewReady(*training_preview(model, images)))

    def on_preview_ready(self, message: PreviewReady) -> None:
        self.preview = (message.pairs, message.samples)
        self._refresh_train()

    def _refresh_train(self) -> None:
        from tui_vae.tui.screens.train import TrainScreen

        screen = self.shown_screen()
        if isinstance(screen, TrainScreen):
            screen.refresh_run()

    # -- actions

    def action_toggle_scale(self) -> None:
        self.scale = 2 if self.scale == 1 else 1
        if isinstance(self.screen, ViewScreen):
            self.screen.set_scale(self.scale)
        from tui_vae.tui.widgets.image_grid import ImageGrid

        if not self.screen.query(ImageGrid):  # nothing here shows it: say what changed
            self.notify(f"zoom {self.scale}x: the image views draw their images "
                        f"{'twice as large' if self.scale == 2 else 'at their usual size'}",
                        timeout=3)

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
            _make_folder(path.parent)
            save_png(path, picture)
        except OSError as exc:  # in words: it read "[Errno 28] No space left on device"
            said = f"cannot write {path}: {exc.strerror}" if exc.strerror else str(exc)
            self.notify(f"export failed: {said}", title="export", severity="error")
            return
        self.notify(f"saved {path} ({picture.shape[1]} x {picture.shape[0]} px)",
                    title="export")

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """The command palette's Screenshot: an SVG of the screen beside the exports.

        Textual's own saves to ~/Downloads, which failed where that folder does not
        exist, and writes as any file is written; here it goes where `e` writes, the
        same way (atomically, never through a link). In a browser it is a download."""
        if self.is_web:
            super().action_screenshot(filename, path)
            return
        from tui_vae.export import write_bytes

        target = self.workspace.export_path("screenshot", ".svg")
        try:
            _make_folder(target.parent)
            write_bytes(target, self.export_screenshot().encode())
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", title="screenshot", severity="error")
            return
        self.notify(f"saved {target}", title="screenshot", markup=False)

    def action_help(self) -> None:
        from tui_vae.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def _report_keymap(self, keymap: dict[str, str], problems: list[str]) -> None:
        """One notice for all that the keymap file got wrong, unknown ids included."""
        from tui_vae.tui.keymap import (
            binding_ids,
            keymap_notice,
            shadowed_keys,
            shared_keys,
            unknown_ids,
            view_binding_keys,
        )

        app_keys = {b.id: b.key for b in self.BINDINGS if isinstance(b, Binding) and b.id}
        notice = keymap_notice(self.keymap_path, unknown_ids(keymap, binding_ids())
                               + shared_keys(keymap, app_keys)
                               + shadowed_keys(keymap, app_keys, view_binding_keys())
                               + problems)
        if notice:
            self.notify(notice, title="keymap", severity="warning", markup=False, timeout=15)

    # -- input storms: keys and resizes arriving faster than the views can draw

    def post_message(self, message) -> bool:
        if isinstance(message, events.Key):  # from the driver's thread: a plain store
            self._newest_key = max(self._newest_key, message.time)
        return super().post_message(message)

    async def _on_key(self, event: events.Key) -> None:
        # Textual's handler (8.2.8) that runs the bindings of a key no widget took.
        # A key held down or mashed faster than the views redraw would queue
        # without bound (each one decodes and draws a frame): a key that has
        # waited STALE_KEY_S while newer ones queued is dropped, so the app is
        # never more than that behind and the last key of a burst always counts.
        # The keys that leave somewhere are never dropped: Quit's, Ctrl-C and
        # escape (which leaves a field or dialog: dropped at a storm's end, it left
        # the keys after it typing into a field).
        if (get_time() - event.time > STALE_KEY_S and self._newest_key > event.time
                and event.key not in self._never_dropped()):
            self.dropped_keys += 1
            event.prevent_default()  # App._on_key, which runs the bindings, is skipped
            event.stop()

    def _never_dropped(self) -> set[str]:
        """Keys a storm never drops: Quit's (as remapped), Ctrl-C and escape."""
        quit_keys = getattr(self, "_keymap", {}).get("app.quit", "q")
        return {key.strip() for key in quit_keys.split(",")} | {"ctrl+c", "escape"}

    async def _on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        if not (1 <= width <= MAX_COLUMNS and 1 <= height <= MAX_ROWS):
            event.prevent_default()  # no screen is that size: the app keeps its own
            event.stop()
            return
        self._set_header(self._header, event.size.width)  # fitted to the new width
        # Once the size holds still, every cell is drawn again: Textual repaints only
        # the regions whose layout changed, and a terminal that rewraps or clips
        # its contents as it resizes (tmux does) kept pieces of storm-sized
        # frames, expired notices among them, until the next key.
        self._schedule_repaint(REPAINT_AFTER_RESIZE_S)
        # Textual's handler (8.2.8) lays out and redraws every view at the new
        # size. In a terminal being dragged (or a storm of SIGWINCH), the first
        # resize applies at once and later ones wait until the size has held
        # still RESIZE_SETTLE_S: a storm renders once, when it settles. Pilot's
        # resizes (headless) apply at once, as tests expect.
        now = get_time()
        recent, self._last_resize = now - self._last_resize < RESIZE_SETTLE_S, now
        if self.is_headless or (not recent and self._settling is None):
            return  # App._on_resize applies it now
        event.prevent_default()
        event.stop()
        self._settling = event
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_timer = self.set_timer(RESIZE_SETTLE_S, self._apply_settled_size)

    def _end_batch(self) -> None:
        # Textual's (8.2.8): while any batch update is open (a view switch's
        # delay_update, a footer's recompose), frames are rendered and then
        # discarded (App._display), and a dirty screen skips its update. Only
        # delay_update repaints when the count reaches zero, so a view switched to
        # while a footer recomposed (or the other way round) was never drawn: the
        # app sat idle on a blank or stale screen until the next key. Every batch's
        # end now repaints the screen shown.
        super()._end_batch()
        if not self._batch_count and self._running:
            try:
                self.screen.refresh()
            except ScreenStackError:  # no screen yet, or the app is closing
                pass

    def _unnotify(self, notification, refresh: bool = True) -> None:
        # Textual's (8.2.8), called as a notice expires. Removing a toast from a rack
        # that scrolls (more notices than fit) repaints less than the toast covered:
        # after a storm of keys, expired notices stayed on screen until the next key.
        # The screen is drawn whole once the toast has gone.
        super()._unnotify(notification, refresh)
        self._schedule_repaint(TOAST_GONE_S)

    def _schedule_repaint(self, delay: float) -> None:
        """Draw the whole screen again in `delay` s (restarted by a later request)."""
        if self._repaint_timer is not None:
            self._repaint_timer.stop()
        self._repaint_timer = self.set_timer(delay, self._repaint_all)

    def _repaint_all(self) -> None:
        self._repaint_timer = None
        try:
            self.screen.refresh()  # the whole screen: a full frame, every layer
        except ScreenStackError:
            pass

    async def _apply_settled_size(self) -> None:
        event, self._settling, self._settle_timer = self._settling, None, None
        if event is not None:
            # A fresh event: App._on_resize passes the one it gets on to the
            # screens, and this one had its default prevented (above), so every
            # screen skipped it and kept its old layout: after a storm, a view
            # opened before the size settled stayed drawn at a storm size (1
            # column wide) until the next resize.
            settled = events.Resize(event.size, event.virtual_size, event.container_size,
                                    event.pixel_size)
            await App._on_resize(self, settled)

    # -- hang-ups and crashes

    def _watch_hang_ups(self) -> None:
        """SIGHUP (the terminal closed, an SSH session dropped) and SIGTERM end the app
        as `q` does: a run stops after its step and saves its exact state first."""
        # Which outputs are the terminal, asked now: once it hangs up, isatty() says no.
        self._terminal = [fd for fd in (1, 2) if os.isatty(fd)]
        if getattr(self._driver, "_writer_thread", None) is not None:  # none when headless
            # A terminal gone before its hang-up must not block the UI.
            from tui_vae.tui.terminal_output import guard_the_driver

            guard_the_driver(self._driver)
        loop = asyncio.get_running_loop()
        for number in _HANG_UPS:
            try:
                loop.add_signal_handler(number, self._hang_up, number)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # no such signal here (Windows), or not the main thread

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in _HANG_UPS:
            try:
                loop.remove_signal_handler(number)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    async def _on_exit_app(self) -> None:
        # Textual's handler (8.2.8) for an exit that is not Quit's: a browser tab
        # closed (textual-serve sends a quit). The run went on training unseen to
        # its end; it now stops after its step and saves, as on a quit or hang-up.
        self.stop_training()
        await super()._on_exit_app()

    def _hang_up(self, number: int) -> None:
        if self._child is not None:  # at once: the run saves even if the UI cannot draw
            self._child.stop()
        if number == getattr(signal, "SIGHUP", None):
            # The terminal is gone: writes to it would fail (EIO) and end the app
            # before the run is saved. Send what is left to /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in self._terminal:
                os.dup2(devnull, fd)
            os.close(devnull)
        self.call_later(self.action_quit)

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook (8.2.8) for an unhandled error: the traceback goes to a log
        # file, and `tui-vae` prints one line naming it (see tui/crash.py). Under
        # Pilot (headless) the error is the test's to see: nothing is written.
        if self.crash is None and not self.is_headless:
            from tui_vae.tui.crash import write_crash_log

            self.crash = error
            try:
                self.crash_log = write_crash_log(error)
            except OSError as exc:
                self.crash_log_error = exc.strerror or str(exc)
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        from tui_vae.errors import debugging

        if self.crash is not None and not debugging():
            # The traceback is in the log, not on screen; where no log could be written,
            # the command's one line says so and how to see it (TUI_VAE_DEBUG=1).
            self._exit_renderables.clear()
            return
        super()._print_error_renderables()

    async def action_quit(self) -> None:
        if self.monitor.active or self.sweep_stop is not None:  # runs save before leaving
            progress = self.monitor.snapshot()[0]
            # A run that had finished (a sweep between two runs) has nothing to resume.
            training = (progress.path if progress.state in ("starting", "running", "stopping")
                        else None)
            self.stop_training()
            # Each worker on its own: WorkerManager.wait_for_complete (Textual 8.2.8)
            # raises at the first one cancelled meanwhile (a preview replaced by a
            # newer one), and the quit then failed before the run had saved.
            for worker in list(self.workers):
                try:
                    await worker.wait()
                except (WorkerCancelled, WorkerFailed):
                    pass  # a failure was reported by the worker's own handler
            if training and Path(training).is_file():  # said once the screen is gone
                self.stopped_by_quit = Path(training)
        else:
            self.sweep_unstarted = 0  # said only of a sweep this quit stopped
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
        yield SystemCommand("Rescan checkpoints",
                            "Look at every checkpoint file again (the folders are watched)",
                            self._palette_rescan)
        yield SystemCommand("Help", "Keys and views (?)", self.action_help)
        for command in super().get_system_commands(screen):
            # Textual's Screenshot calls its own writer, not action_screenshot: it saved
            # to ~/Downloads and failed where there is none. Ours, after the palette
            # has closed (as Textual waits), so that it is not in the picture.
            if command.title == "Screenshot":
                command = SystemCommand(command.title, "Save an SVG of the screen beside "
                                        "the exports", lambda: self.set_timer(
                                            0.1, lambda: self.action_screenshot()))
            elif command.title == "Keys":  # beside Help, two entries read as one twice
                command = SystemCommand("Keys panel", "A side panel of the keys that apply "
                                        "here now (escape hides it); ? is the full help",
                                        command.callback, command.discover)
            yield command

    def _palette_start(self) -> None:
        async def start() -> None:
            await self.switch_mode("train")
            self.screen.action_start()

        self.call_later(start)

    def _palette_rescan(self) -> None:
        self.rescan(full=True)

    def valid_entries(self) -> list[CheckpointInfo]:
        return [e for e in self.entries if isinstance(e, CheckpointInfo)]
