"""An Input whose editing keys act in the order they were typed.

Textual's Input inserts a printable key as soon as it receives it, but its
editing keys (backspace, delete, arrows, home, end, ...) are bindings, run only
once the key has bubbled up to the app. Keys that arrive in one burst (fast
typing over SSH, a terminal that sends a line at once) then apply out of order:
"400", then End, Backspace, Backspace, "2" gave "40", the second Backspace
deleting the "2" typed after it. This Input runs its own bindings the moment it
receives their key, so every key applies in turn.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

# The longest value a field takes. A paste that the terminal sends key by key (no
# bracketed paste) costs Input time that grows with the square of the text:
# 200,000 digits held the UI for minutes and grew it to 3.5 GB.
MAX_TYPED = 200


class OrderedInput(Input):
    """Input whose own key bindings run when their key arrives, before later keys."""

    def __init__(self, *args, max_length: int = MAX_TYPED, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if self.check_action(binding.action, ()) is False:
                    continue
                event.stop()
                event.prevent_default()
                self._restart_blink()
                await self.run_action(binding.action)
                return
        await super()._on_key(event)
