"""An Input whose editing keys act in the order they were typed.

Textual's Input inserts a printable key as soon as it receives it, but its
editing keys (backspace, delete, arrows, home, end, ...) are bindings, run only
once the key has bubbled up to the app. Keys that arrive in one burst (fast
typing over SSH, a terminal that sends a line at once) then apply out of order:
"400", then End, Backspace, Backspace, "2" gave "40", the second Backspace
deleting the "2" typed after it. This Input runs its own bindings the moment it
receives their key, so every key applies in turn.

Tab is the same kind of key: the screen's binding moves the focus only once
the key has reached the app, and the keys behind it in the burst were already
on their way to the field it leaves ("Tab 7 Tab 8" wrote 78 into one field
instead of 7 and 8 into the next two). So this Input moves the focus itself
when its Tab arrives, and hands on every later key that reaches it while
another widget has the focus, in the order they came.
"""

from __future__ import annotations

import time

from textual import events
from textual.widgets import Input

# The longest value a field takes. A paste that the terminal sends key by key (no
# bracketed paste) costs Input time that grows with the square of the text:
# 200,000 digits held the UI for minutes and grew it to 3.5 GB.
MAX_TYPED = 200


# What a field of each type takes, said when a key it refuses is dropped.
TAKES = {"integer": "whole numbers only", "number": "numbers only"}
REFUSAL_NOTICE_S = 3.0  # at most one notice a field in this long (a paste refused whole)


class OrderedInput(Input):
    """Input whose own key bindings run when their key arrives, before later keys."""

    def __init__(self, *args, max_length: int = MAX_TYPED, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)
        self._refused_at = -REFUSAL_NOTICE_S

    def restricted(self) -> None:
        """A key the field does not take: Textual's bell alone, which many terminals
        never sound, left "0,0.5,1" typed into seed as "0051" without a word."""
        self.app.bell()
        now = time.monotonic()
        if now - self._refused_at < REFUSAL_NOTICE_S:
            return
        self._refused_at = now
        full = self.max_length and len(self.value) >= self.max_length
        takes = (f"at most {self.max_length:,} characters" if full
                 else TAKES.get(self.type, "no such character"))
        name = (self.id or "this field").replace("_", " ")
        self.app.notify(f"{name} takes {takes}: that key was not typed", timeout=3)

    async def _on_key(self, event: events.Key) -> None:
        # The screen's own record: `has_focus` follows only once the Blur arrives.
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # Typed after a Tab that moved the focus on, and queued here before it moved.
            event.stop()
            event.prevent_default()
            focused._forward_event(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
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
