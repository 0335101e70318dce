"""A yes/no dialog: y or enter confirms, n or escape cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui_vae.tui.screens.sized import AppSizedScreen


class ConfirmScreen(ModalScreen[bool], AppSizedScreen):
    """Asks a question; dismisses with True (yes) or False (no)."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, markup=False)  # it may quote a file name
            yield Label("y / enter: yes    n / escape: no", classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
