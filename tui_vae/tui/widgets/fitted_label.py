"""A one-line title that fits its width by whole words (an ellipsis where words were
left out), never cut mid-word as a plain Label is at 80 columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_vae.wording import fit_words


class FittedLabel(Static):
    """Plain text (never markup: titles quote class names, which may be folder names),
    fitted again at every width it is drawn at."""

    DEFAULT_CSS = """
    FittedLabel { width: 1fr; height: 1; }
    """

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, markup=False)
        self.text = text

    def update(self, content="") -> None:  # the Label API the views call
        self.text = str(content)
        self.refresh()

    def render(self) -> Text:
        return Text(fit_words(self.text, self.content_size.width))
