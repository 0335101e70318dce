"""Help: what each view shows and every key, with the binding ids for remapping."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui_vae.tui.screens.sized import AppSizedScreen
from tui_vae.tui.views import VIEWS_IN_ORDER

ABOUT = ("[b]tui-vae[/b]: train and explore variational autoencoders "
         "(the report's VAE and cVAE).")
# One paragraph each: the dialog's width wraps them, not hard line breaks.
NOTES = (
    "Losses are in nats per image: -ELBO = reconstruction (-log p(x|z): BCE for a "
    "Bernoulli decoder) + KL(q(z|x) || N(0, I)).",
    "e saves the images on screen as a PNG. Ctrl+P opens the command palette.",
    "Keys can be remapped by id in the keymap file (see the README).",
)


def _grid(*widths: int) -> Table:
    """A borderless grid indented by two cells, its columns at least `widths` wide and
    a last one taking the rest: a long cell wraps inside its own column, so a wrapped
    line keeps the row's indent instead of starting at the dialog's edge."""
    table = Table.grid(padding=(0, 1), pad_edge=False)
    table.add_column(width=1)  # the indent
    for width in widths:
        table.add_column(min_width=width, overflow="fold")
    table.add_column(ratio=1, overflow="fold")
    return table


def key_table(rows: list[tuple[str, str, str]]) -> Table:
    """Key, what it does, its ids (dim): one row per `binding_rows` row."""
    table = _grid(14, 20)
    for label, description, shown in rows:
        table.add_row("", label, description, Text(shown, "dim"))
    return table


def views_table() -> Table:
    """The views: key and title, then what each shows."""
    table = _grid(max(len(v.title) for v in VIEWS_IN_ORDER) + 2)
    for view in VIEWS_IN_ORDER:
        table.add_row("", f"{view.key} {view.title}", view.help)
    return table


def keys_label(binding: Binding, keymap: dict[str, str]) -> str:
    """The binding's keys as a user types them: remapped ones, else its display, else
    each of its keys formatted (`?` rather than `question_mark`)."""
    remapped = keymap.get(binding.id or "")
    if not remapped and binding.key_display:
        return binding.key_display
    keys = (remapped or binding.key).split(",")
    return " ".join(format_key(key.strip()) for key in keys if key.strip())


def binding_rows(bindings: list[Binding], keymap: dict[str, str],
                 applies: Callable[[Binding], bool] = lambda binding: True,
                 ) -> list[tuple[str, str, str]]:
    """One row per binding that `applies`: its keys (as remapped), what it does, its ids.

    A family of bindings shown as one key takes one line: the ten class keys ("0-9")
    with their ids as a range, others with every id (draw.up/down/left/right). Plain
    strings, never markup: keys such as [ and ] must show as themselves.
    """
    rows: dict[tuple[str, str], list[str]] = {}
    for binding in bindings:
        if not binding.description or not applies(binding):
            continue
        ids = rows.setdefault((keys_label(binding, keymap), binding.description), [])
        if binding.id not in ids:
            ids.append(binding.id or "")
    lines = []
    for (label, description), ids in rows.items():
        stems = {i.rstrip("0123456789") for i in ids}  # draw.class0..9 share one
        prefixes = {i.rpartition(".")[0] for i in ids}  # draw.up, draw.down... share one
        shown = " ".join(ids)
        if len(ids) > 1 and len(stems) == 1 and all(i[-1:].isdigit() for i in ids):
            shown = f"{ids[0]}..{ids[-1].rsplit('.', 1)[-1]}"
        elif len(ids) > 1 and len(prefixes) == 1:
            shown = f"{prefixes.pop()}." + "/".join(i.rpartition(".")[2] for i in ids)
        lines.append((label, description, shown))
    return lines


class HelpScreen(ModalScreen[None], AppSizedScreen):
    """The views, the global keys and the keys of the view it was opened from."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, view: Screen) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "_keymap", {})  # Textual keeps the user's keymap here

        def applies(binding: Binding) -> bool:  # e.g. no class keys for a plain VAE
            return self.app._check_action_state(binding.action, self.view) is not False

        def app_applies(binding: Binding) -> bool:  # e.g. "Use new run" only after a run
            return self.app._check_action_state(binding.action, self.app) is not False

        app_keys = binding_rows(type(self.app).BINDINGS, keymap, app_applies)

        view_keys = binding_rows(type(self.view).BINDINGS, keymap, applies)
        title = getattr(self.view, "TITLE", "") or "this view"
        # The view's own keys first: they are what the user was looking for.
        own: RenderableType = key_table(view_keys) if view_keys else Text("  (no keys of its own)")
        parts: list[RenderableType] = [
            Text("escape or ? closes this help", "dim"), Text(),
            Text(title, "bold"), own, Text(),
            Text("Everywhere", "bold"), key_table(app_keys), Text(),
            Text.from_markup(ABOUT), Text(), Text("Views", "bold"), views_table(), Text(),
            *(Text(note) for note in NOTES)]
        with VerticalScroll(classes="dialog help"):
            yield Static(Group(*parts))

    def on_mount(self) -> None:
        # Focused, the text scrolls with the arrows, page keys, home and end at
        # once (the help is longer than an 80x24 screen); before, only after tab.
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss()
