"""Input storms, piece by piece (Pilot): which keys a storm may drop and which it
never does, and the drop-down that a storm's pageup used to crash. The minute
of keys and resizes in a real terminal is in test_ui_fuzz.py."""

from __future__ import annotations

import asyncio

from textual import events
from textual._time import get_time


def stale(key: str, character: str | None, age: float) -> events.Key:
    """A key event made `age` seconds ago (as one that queued behind a storm)."""
    event = events.Key(key, character)
    event.time = get_time() - age
    return event


async def test_stale_keys_are_dropped_but_never_escape_quit_or_ctrl_c(checkpoints, make_app):
    from textual.widgets import Input

    from tui_vae.tui.app import STALE_KEY_S
    from tui_vae.tui.screens.train import TrainScreen

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        # A view key that waited too long behind newer keys: dropped (still in Train).
        app.post_message(stale("m", "m", 2 * STALE_KEY_S))
        app.post_message(events.Key("f15", None))  # newer; bound to nothing
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert app.dropped_keys == 1
        # Escape as old: still leaves the field (it is the way out of a field).
        field = app.screen.query_one("#epochs", Input)
        field.focus()
        await pilot.pause()
        assert app.focused is field
        app.post_message(stale("escape", "\x1b", 2 * STALE_KEY_S))
        app.post_message(events.Key("f15", None))
        await pilot.pause()
        assert app.focused is None
        # q as old: still quits.
        app.post_message(stale("q", "q", 2 * STALE_KEY_S))
        app.post_message(events.Key("f15", None))
        await pilot.pause()
    assert app.return_code == 0 and not app.is_running


async def test_pageup_over_an_open_select_in_train_does_not_crash(checkpoints, make_app):
    from textual.widgets import Select

    from tui_vae.tui.screens.train import TrainScreen

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        select = app.screen.query_one("#dataset", Select)
        select.focus()
        await pilot.pause()
        # Opened and paged while a batch update holds layout back (in a storm: keys
        # within a view switch's 50 ms delay_update): the list has no lines yet, and
        # Textual's pageup looked its highlighted option's line up: KeyError.
        app._begin_batch()
        await pilot.press("enter", "pageup", "pagedown", "pageup")
        assert select.expanded
        app._end_batch()
        await pilot.pause()
        # Laid out, the list pages as usual.
        await pilot.press("pagedown")
        await pilot.pause()
        assert select.query_one("SelectOverlay").highlighted > 0
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, TrainScreen)


async def test_a_view_switched_to_during_another_batch_update_is_drawn(checkpoints, make_app):
    """A view switch (Textual's delay_update) while another batch update is open (a
    footer recomposing): frames made during the batch are discarded, so the end of
    the last batch must draw the screen, or the app sits on a stale screen."""
    from tui_vae.tui.screens.models import ModelsScreen

    app = make_app(checkpoints)
    shown = []  # frames that reached the terminal: (screen, batch count)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        display = app._display

        def record(screen, renderable) -> None:
            if renderable is not None and not app._batch_count:
                shown.append(screen)
            display(screen, renderable)

        app._display = record
        app._begin_batch()  # as Widget.batch does around a footer's recompose
        await pilot.press("m")
        await pilot.pause(0.2)  # the switch's own delay_update has ended
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert not any(isinstance(screen, ModelsScreen) for screen in shown)
        app._end_batch()
        # Not pilot.pause(): it posts to every widget, which wakes a dirty screen
        # and hides the stall. Nothing else happens here, as after a storm's last key.
        await asyncio.sleep(0.5)
        assert any(isinstance(screen, ModelsScreen) for screen in shown)


async def test_a_settled_resize_reaches_the_screen(checkpoints, make_app):
    """A resize storm is laid out once the size holds still; the size it settles on
    must reach the screen (the held-back event had its default prevented, and a
    screen given that event skipped it: the view kept the storm's layout)."""
    from textual.geometry import Size

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        held = events.Resize(Size(60, 20), Size(60, 20))
        held.prevent_default()  # as _on_resize leaves a resize it holds back
        held.stop()
        app._settling = held
        await app._apply_settled_size()
        await pilot.pause()
        await pilot.pause()
        assert app.size == Size(60, 20)
        assert app.screen._compositor.size == Size(60, 20)
