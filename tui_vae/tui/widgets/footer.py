"""The views' footer: Textual's, recomposed only while its screen is the one shown.

Textual's Footer removes and remounts every key whenever a screen's bindings
change, in a callback run later by its screen. Under a storm of keys (views
switched many times a second, each redraw refreshing the bindings), that
recompose ran on a screen already switched away from and never finished: the
app's batch update stayed open, nothing more was drawn and input queued without
end (in 5 of 9 one-minute storms run in a pty on this machine). A footer off screen
has nothing to show; it is recomposed when its screen is resumed (which
refreshes the bindings), and while keys or resizes keep coming it waits for
them to pause.

Textual also refreshes the bindings after every key, whether or not they
changed, and each recompose remounts every key and lays the screen out again
(tens of ms on a 2-core machine, on the path of every key: it made Generate's
key-to-grid latency 5x slower). So the footer rebuilds only when what it would
show changed.

Where the keys do not all fit on the line (80 columns), the footer leaves some
out whole, from the end, rather than cutting the last one mid-word; `? Help`
stays, and lists them all.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual._time import get_time
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

QUIET_S = 0.3  # in a terminal, keys and resizes pause this long before a rebuild


class ViewFooter(Footer):
    """A Footer that recomposes only on the current screen, and in a terminal only
    once input has paused (a key storm changes the bindings many times a second)."""

    _waiting = False
    _shown: tuple | None = None  # what the last recompose showed

    def _signature(self, screen: Screen) -> tuple:
        """What a recompose would show: the keys, their words and whether they are on."""
        return tuple((key, b.action, b.description, b.key_display, b.show, enabled, tooltip)
                     for key, (_, b, enabled, tooltip) in screen.active_bindings.items())

    def bindings_changed(self, screen: Screen) -> None:
        if not screen.is_current:
            return
        if self._shown is not None and self._signature(screen) == self._shown:
            self._bindings_ready = True  # as Textual's own bindings_changed marks it
            return
        if self.app.is_headless or self._quiet():
            super().bindings_changed(screen)
        elif not self._waiting:
            self._waiting = True
            self.set_timer(QUIET_S, self._retry)

    def _quiet(self) -> bool:
        last = max(getattr(self.app, "_newest_key", 0.0), getattr(self.app, "_last_resize", 0.0))
        return get_time() - last > QUIET_S

    def _retry(self) -> None:
        self._waiting = False
        if self.is_attached:
            self.bindings_changed(self.screen)

    async def recompose(self) -> None:
        if self.is_attached and self.screen.is_current:
            self._shown = self._signature(self.screen)
            await super().recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        items, actions = [], set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in actions:  # one key an action
                actions.add(binding.action)
                items.append((binding, enabled, tooltip))
        self._fitted_width = self._width()
        items = self._fitting(items, self._fitted_width)
        self.styles.grid_size_columns = len(items)
        for binding, enabled, tooltip in items:
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                            binding.action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)

    _fitted_width = 0

    def _width(self) -> int:
        return self.size.width or self.app.size.width

    def _fitting(self, items: list, width: int) -> list:
        """The items that fit `width` cells: Quit goes first, then the view's keys from
        the end; Help is kept (it lists every key)."""
        def cells(item) -> int:  # compact: "k Description" and a space after
            return cell_len(self.app.get_key_display(item[0])) + len(item[0].description) + 2

        kept, used = list(items), sum(map(cells, items))
        order = [i for i in kept if i[0].action == "quit"] + \
            [i for i in reversed(kept) if i[0].action not in ("quit", "help")]
        for item in order:
            if used <= width:
                break
            kept.remove(item)
            used -= cells(item)
        return kept

    def on_resize(self) -> None:
        # Another width fits other keys: rebuilt as a change of bindings is, so a
        # resize storm waits for its pause like a key storm.
        if self._bindings_ready and self.is_attached and self._width() != self._fitted_width:
            self._shown = None
            self.bindings_changed(self.screen)
