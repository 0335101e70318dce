"""Models: the checkpoints (shipped and the user's), their metadata and final metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.config import ModelConfig, kind_title
from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.confirm import ConfirmScreen
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.checkpoint_table import CheckpointTable, Column
from tui_vae.wording import metric, plural, printable_lines

# The metrics before the hidden widths: a narrow table leaves columns out from the
# end, and at 80 columns it left out KL (what beta trades) to keep "hidden" (which
# the details below say too).
COLUMNS = (Column("", 3), Column("checkpoint", 24), Column("kind", 4), Column("z", 3, True),
           Column("beta", 4, True), Column("data", 13), Column("epochs", 6, True),
           Column("test -ELBO", 10, True), Column("recon", 7, True), Column("KL", 6, True),
           Column("hidden", 6, True), Column("MB", 5, True), Column("from", 7))
SURGERY_IMAGES = 2000  # ELBO surgery (s) on this many test images
NAME_WIDTH = (10, 40)  # the checkpoint column fits the longest name within these
# On a narrow screen the name gives way (cut with "…"; the details below show it
# whole), so that the columns up to KL stay on screen.
KEPT_COLUMNS = 10


# The training settings a checkpoint records, as a reader would name them.
TRAINING_WORDS = (("batch_size", "batch"), ("lr", "learning rate"), ("lr_schedule", None),
                  ("lr_warmup", "LR warm-up"), ("kl_warmup", "KL warm-up"), ("seed", "seed"))


def _when(stamp) -> str:
    """An ISO time stamp as 'YYYY-MM-DD HH:MM UTC' (as it is where it does not parse)."""
    try:
        moment = datetime.fromisoformat(str(stamp)).astimezone(UTC)
    except ValueError:
        return str(stamp)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _training_words(training: dict) -> str:
    """'batch 128 · learning rate 0.002 (cosine) · KL warm-up 0 · seed 0', and any
    setting not named here as 'key value'."""
    parts = []
    for key, word in TRAINING_WORDS:
        if key not in training:
            continue
        value = training[key]
        text = format(value, "g") if isinstance(value, float) else str(value)
        if word is None:  # the schedule qualifies the learning rate
            parts[-1:] = [f"{parts[-1]} ({text})"] if parts else [text]
        else:
            parts.append(f"{word} {text}")
    named = {key for key, _ in TRAINING_WORDS} | {"epochs"}
    parts += [f"{key} {value}" for key, value in training.items() if key not in named]
    return " · ".join(parts) or "-"


def describe_checkpoint(entry: CheckpointInfo) -> str:
    """A checkpoint's metadata in four lines of words: path, model, training, dates."""
    meta, m = entry.meta, entry.model_config
    training = meta.get("training", {})
    user = m.get("model") == "user"  # the user's own model (--model-factory)
    kind = kind_title(m)
    planned = training.get("epochs")
    epochs = (f"{entry.epochs_done} of {plural(planned, 'epoch')}" if planned
              else plural(entry.epochs_done, "epoch"))
    if user:
        return (f"{entry.path}\n"
                f"your own {kind} from {meta.get('factory', '-')} · latent "
                f"{m.get('latent_dim')} · images {m.get('channels')}x{m.get('image_size')}"
                f"x{m.get('image_size')} · {m.get('dataset')} · {m.get('likelihood')}\n"
                f"trained outside tui-vae; its weights are never deleted from here")
    config = ModelConfig.from_dict(m)
    colour = "colour" if config.channels == 3 else "grey"
    return (f"{entry.path}\n"
            f"{kind} · {config.arch} · {config.likelihood} · latent {m.get('latent_dim')} · "
            f"hidden {config.hidden_text} · "
            f"beta {m.get('beta', 0):g} · {m.get('dataset')} · "
            f"{config.image_size}x{config.image_size} {colour} · {epochs} done\n"
            f"{_training_words(training)}\n"
            f"created {_when(meta.get('created', '-'))} · updated "
            f"{_when(meta.get('updated', '-'))} · tui-vae {meta.get('package_version', '-')}")


class ModelsScreen(ViewScreen):
    """A table of checkpoints; enter activates, a/b pick the Compare pair, x (or delete) deletes."""

    TITLE = "Models"
    NEEDS_MODEL = False
    FOLLOWS_ENTRIES = True
    AUTO_FOCUS = "CheckpointTable"
    BINDINGS = [
        Binding("enter", "activate", "Use", id="models.use"),
        Binding("a", "pick('a')", "Compare A", id="models.pick_a"),
        Binding("b", "pick('b')", "Compare B", id="models.pick_b"),
        Binding("x,delete", "delete", "Delete", id="models.delete"),  # x: as the caption says
        Binding("s", "surgery", "ELBO surgery", id="models.surgery"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown = None  # the entry whose details show
        self._surgery: dict[Path, str] = {}  # ELBO surgery lines, by checkpoint (s)
        self._drawn: list | None = None  # the app's entries when the table was last drawn

    def body(self) -> ComposeResult:
        yield CheckpointTable(COLUMNS, id="checkpoints", yielding=1, kept=KEPT_COLUMNS)
        yield Static(id="details", classes="details")

    def sync(self, force: bool = False) -> None:
        # The entries change on their own (the folders are watched), also while
        # this view is hidden: a new list means a redraw.
        super().sync(force or self._drawn is not self.app.entries)

    def redraw(self) -> None:
        """Point the table at the app's entries; only the rows on screen get formatted."""
        table = self.query_one(CheckpointTable)
        self._drawn_before = self._drawn or []
        entries = self._drawn = self.app.entries
        # The name column fits the longest name of the rows on screen (a pass over
        # 10,000 names would cost the UI thread ~15 ms at every change).
        top = table.scroll_offset.y
        shown = entries[top:top + max(table.size.height, 50)]
        # Names without .safetensors (the details below give the whole file name).
        name = self.app.workspace.list_name
        longest = max((len(name(e.path)) for e in shown), default=0)
        table.set_column_width(1, max(NAME_WIDTH[0], min(longest, NAME_WIDTH[1])))
        # The cursor stays on its file when rows come or go above it.
        before = self._drawn_before
        on = before[table.cursor_row].path if table.cursor_row < len(before) else None
        cursor = self.app.entry_index.get(on) if on is not None else None
        table.set_rows(len(entries), self._cells, cursor)
        # The keys are in the footer; the marks are said here, first, so that a
        # narrow screen cuts the folders' names rather than them.
        mine, *shipped = self.app.workspace.top_folders()
        folders = " and ".join([f"{mine} (and its sub-folders)", *map(str, shipped)])
        self.set_status(f"● active · ▶ training · {plural(len(entries), 'checkpoint')} in "
                        f"{folders}, watched")
        self._details()

    def _details(self) -> None:
        """Show the selected entry's details, unless they show already (a rescan that
        changed other rows must not re-lay the screen out)."""
        entry = self.selected()
        if entry is not self._shown or entry is None:
            self._shown = entry
            self.show_details()

    def _cells(self, row: int) -> tuple[str, ...]:
        """The table's cells for entry `row` (plain text: names and metadata come from files)."""
        app, entries = self.app, self._drawn or []
        if row >= len(entries):
            return ()
        entry = entries[row]
        name = app.workspace.list_name(entry.path)
        training = app.monitor.active and app.monitor.progress.path
        marks = ("▶" if training and Path(training) == entry.path else "") + (
            "●" if entry.path == app.active else "")
        if not isinstance(entry, CheckpointInfo):
            return (marks + "!", name, "unreadable", *["-"] * 10)
        a, b = app.compare_pair
        marks += ("A" if entry.path == a else "") + ("B" if entry.path == b else "")
        m, test = entry.model_config, entry.final_test or {}
        return (
            # as Runs, Compare and the header name them ("cvae" here read as another word)
            marks, name, "user" if m["model"] == "user" else kind_title(m),
            str(m["latent_dim"]),
            f"{m['beta']:g}", m["dataset"], str(entry.epochs_done),
            metric(test.get("loss"), ".2f"), metric(test.get("recon"), ".2f"),
            metric(test.get("kl"), ".2f"), ModelConfig.from_dict(m).hidden_text,
            f"{entry.size_bytes / 1e6:.1f}",
            "shipped" if entry.path in app.shipped else "yours")

    def selected(self):
        table = self.query_one(CheckpointTable)
        if not self.app.entries or table.cursor_row >= len(self.app.entries):
            return None
        return self.app.entries[table.cursor_row]

    def show_details(self) -> None:
        entry = self.selected()
        details = self.query_one("#details", Static)
        if entry is None:
            details.update("No checkpoints yet: train one in Train (t).")
        elif not isinstance(entry, CheckpointInfo):
            details.update(Text(printable_lines(f"{entry.path}\nunreadable: {entry.reason}")))
        else:
            surgery = self._surgery.get(entry.path)
            details.update(Text(printable_lines(
                describe_checkpoint(entry) + (f"\n{surgery}" if surgery else ""))))

    def action_surgery(self) -> None:
        """ELBO surgery of the selected checkpoint (loads it: in a worker)."""
        entry = self.selected()
        if not isinstance(entry, CheckpointInfo):
            return
        self._surgery[entry.path] = "ELBO surgery: computing..."
        self.show_details()
        self._compute_surgery(entry.path)

    @work(thread=True, group="models-surgery", exit_on_error=False)
    def _compute_surgery(self, path: Path) -> None:
        from tui_vae.surgery import elbo_surgery, near_cap
        from tui_vae.tui.app import use_one_torch_thread

        use_one_torch_thread()
        try:
            model = self.app.workspace.model(path)
            images = self.app.workspace.images(model.config.dataset, model.config.image_shape)
            s = elbo_surgery(model.module, images.split, limit=SURGERY_IMAGES)
            text = (f"ELBO surgery on {s['surgery_images']:,} test images: rate {s['rate']:.2f}"
                    f" = I(x;z) {s['mutual_information']:.2f} (at most log N = "
                    f"{s['mutual_information_bound']:.2f}) + KL(q(z)||p(z)) "
                    f"{s['marginal_kl']:.2f} nats"
                    + (" (I(x;z) near its cap: the prior gap reads high at this N)"
                       if near_cap(s) else ""))
        except Exception as exc:  # a file that cannot load (or a model that fails) says why
            text = f"ELBO surgery: cannot measure {path.name}: {exc}"
        self.app.call_from_thread(self._surgery_done, path, text)

    def _surgery_done(self, path: Path, text: str) -> None:
        self._surgery[path] = text
        if (entry := self.selected()) is not None and entry.path == path:
            self.show_details()

    def on_checkpoint_table_highlighted(self) -> None:
        # Delete stays offered on a shipped model: pressed, it says why it cannot
        # (a greyed-out key would run nothing and say nothing).
        self._details()

    def action_activate(self) -> None:
        entry = self.selected()
        if not isinstance(entry, CheckpointInfo):
            if entry is not None:
                self.notify("that file cannot be loaded", severity="error")
            return
        self.app.activate(entry.path)
        self.notify(f"active: {entry.path.name}", markup=False)

    def action_pick(self, side: str) -> None:
        entry = self.selected()
        if not isinstance(entry, CheckpointInfo):
            if entry is not None:
                self.notify(f"that file cannot be loaded, so it cannot be {side.upper()}",
                            severity="error")
            return
        a, b = self.app.compare_pair
        self.app.compare_pair = (entry.path, b) if side == "a" else (a, entry.path)
        self.sync(force=True)

    def action_delete(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        progress = self.app.monitor.progress
        if self.app.monitor.active and progress.path and Path(progress.path) == entry.path:
            self.notify("that checkpoint is being trained; stop the run first",
                        severity="warning")
            return
        if self.app.workspace.is_shipped(entry.path):
            self.notify(f"{entry.path.name} is a shipped model; it cannot be deleted",
                        severity="warning", markup=False)
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._delete(entry.path)

        self.app.push_screen(ConfirmScreen(f"Delete {entry.path.name}?"), done)

    def _delete(self, path: Path) -> None:
        try:
            self.app.workspace.delete(path)
        except TuiVaeError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"deleted {path.name}", markup=False)
        app = self.app
        app.drop_entry(path)  # the row goes at once; the folder's listing follows
        if app.active == path:
            app.activate(app.workspace.default_checkpoint(app.entries))
        self.sync(force=True)
