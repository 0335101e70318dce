"""Textual's Select, with its drop-down list safe to page before it has a size.

Textual 8.2.8's OptionList pages (pageup/pagedown) from a table of which line
each option starts on, and that table is built only once the list has a content
area. A Select opened while the terminal is tiny (or keys arriving before the
overlay's first layout, as in an input storm) left it empty, and pageup raised
KeyError in `OptionList._move_page`, ending the app. With no lines laid out
there is nothing to page through: the key does nothing.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Select
from textual.widgets._select import SelectCurrent, SelectOverlay


class PageSafeOverlay(SelectOverlay):
    """The drop-down list; paging waits until its options have lines."""

    def _move_page(self, direction) -> None:
        if (self.highlighted or 0) not in self._index_to_line:
            return  # not laid out yet (no size): nothing to page through
        super()._move_page(direction)


class PageSafeSelect(Select):
    """A Select whose drop-down is a PageSafeOverlay (everything else is Textual's)."""

    def compose(self) -> ComposeResult:
        # As Select.compose (8.2.8), with the overlay swapped.
        yield SelectCurrent(self.prompt)
        yield PageSafeOverlay(type_to_search=self._type_to_search).data_bind(
            compact=Select.compact)
