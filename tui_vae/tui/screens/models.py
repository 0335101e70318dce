"""Models: the checkpoints (shipped and the user's), their metadata and final metrics."""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.confirm import ConfirmScreen
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.checkpoint_table import CheckpointTable, Column
from tui_vae.wording import plural

COLUMNS = (Column("", 3), Column("checkpoint", 24), Column("kind", 4), Column("z", 3, True),
           Column("hidden", 6, True), Column("beta", 4, True), Column("data", 13),
           Column("epochs", 6, True), Column("test -ELBO", 10, True), Column("recon", 7, True),
           Column("KL", 6, True), Column("MB", 5, True), Column("from", 7))
NAME_WIDTH = (10, 40)  # the checkpoint column fits the longest name within these


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class ModelsScreen(ViewScreen):
    """A table of checkpoints; enter activates, a/b pick the Compare pair, x (or delete) deletes."""

    TITLE = "Models"
    NEEDS_MODEL = False
    AUTO_FOCUS = "CheckpointTable"
    BINDINGS = [
        Binding("enter", "activate", "Use", id="models.use"),
        Binding("a", "pick('a')", "Compare A", id="models.pick_a"),
        Binding("b", "pick('b')", "Compare B", id="models.pick_b"),
        Binding("delete,x", "delete", "Delete", id="models.delete"),
    ]

    def body(self) -> ComposeResult:
        table = DataTable(id="checkpoints", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static(id="details", classes="details")

    def redraw(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        app = self.app
        a, b = app.compare_pair
        for entry in app.entries:
            key = str(entry.path)
            if not isinstance(entry, CheckpointInfo):
                table.add_row("!", Text(entry.path.name), "unreadable", *["-"] * 10, key=key)
                continue
            m, test = entry.model_config, entry.final_test or {}
            marks = ("●" if entry.path == app.active else "") + (
                "A" if entry.path == a else "") + ("B" if entry.path == b else "")
            cells = (
                marks, entry.path.name, m["model"], str(m["latent_dim"]), str(m["hidden_dim"]),
                f"{m['beta']:g}", m["dataset"], str(entry.epochs_done),
                _num(test.get("loss"), ".2f"), _num(test.get("recon"), ".2f"),
                _num(test.get("kl"), ".2f"), f"{entry.size_bytes / 1e6:.1f}",
                "shipped" if app.workspace.is_shipped(entry.path) else "yours")
            # Text, not str: a DataTable reads str cells as markup, and names and
            # metadata come from files.
            table.add_row(*(Text(cell) for cell in cells), key=key)
        if app.entries:
            table.move_cursor(row=min(keep, len(app.entries) - 1))
        folders = " and ".join(str(f) for f in app.workspace.folders())
        self.set_status(f"{plural(len(app.entries), 'checkpoint')} in {folders} · ● active · "
                        f"enter use · a/b compare · x delete · u rescan")
        self.show_details()

    def selected(self):
        table = self.query_one(DataTable)
        if not self.app.entries or table.cursor_row >= len(self.app.entries):
            return None
        return self.app.entries[table.cursor_row]

    def show_details(self) -> None:
        entry = self.selected()
        details = self.query_one("#details", Static)
        if entry is None:
            details.update("No checkpoints yet: train one in Train (t).")
        elif not isinstance(entry, CheckpointInfo):
            details.update(Text(f"{entry.path}\nunreadable: {entry.reason}"))
        else:
            meta = entry.meta
            training = json.dumps(meta.get("training", {}), separators=(", ", ": "))
            details.update(Text(
                f"{entry.path}\ncreated {meta.get('created', '-')} · updated "
                f"{meta.get('updated', '-')} · tui-vae {meta.get('package_version', '-')}\n"
                f"training: {training}"))

    def on_data_table_row_highlighted(self) -> None:
        self.show_details()

    def on_data_table_row_selected(self) -> None:
        # The table consumes enter itself and reports it as a selection.
        self.action_activate()

    def action_activate(self) -> None:
        entry = self.selected()
        if not isinstance(entry, CheckpointInfo):
            self.notify("that file cannot be loaded", severity="error")
            return
        self.app.activate(entry.path)
        self.notify(f"active: {entry.path.name}", markup=False)

    def action_pick(self, side: str) -> None:
        entry = self.selected()
        if not isinstance(entry, CheckpointInfo):
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
        shipped = " (a shipped model)" if self.app.workspace.is_shipped(entry.path) else ""

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._delete(entry.path)

        self.app.push_screen(ConfirmScreen(f"Delete {entry.path.name}{shipped}?"), done)

    def _delete(self, path: Path) -> None:
        try:
            self.app.workspace.delete(path)
        except TuiVaeError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"deleted {path.name}", markup=False)
        app = self.app
        app.rescan()
        a, b = app.compare_pair
        app.compare_pair = (None if a == path else a, None if b == path else b)
        if app.active == path:
            app.activate(app.workspace.default_checkpoint(app.entries))
        self.sync(force=True)

    def action_rescan(self) -> None:
        self.app.rescan()
        self.sync(force=True)
