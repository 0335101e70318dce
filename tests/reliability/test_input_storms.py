"""Input storms, piece by piece (Pilot): which keys a storm may drop and which it
never does, the drop-down that a storm's pageup used to crash, views drawn after
batch updates and settled sizes, and a view laid out at two sizes in a row (it
used to lay itself out for ever). The minute of keys and resizes in a real
terminal is in test_ui_fuzz.py."""

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


class LayoutWatch:
    """Counts a screen's layouts from a thread of its own. A livelocked event loop
    never hands control back to the test, so the watch also ends one: after
    `seconds` it closes the App's batch update (the livelock needs it open), then
    says whether the layouts were still running."""

    def __init__(self, app, screen, seconds: float = 3.0) -> None:
        import threading

        self.layouts, self.livelocked = 0, False
        self.sized: list = []  # the sizes of the layouts asked for at a size (a Resize's)
        refresh_layout = screen._refresh_layout

        def counted(size=None, scroll=False):
            self.layouts += 1
            if size is not None:
                self.sized.append(tuple(size))
            return refresh_layout(size, scroll)

        screen._refresh_layout = counted

        def watch() -> None:
            import time

            time.sleep(seconds)
            before = self.layouts
            time.sleep(0.5)
            if self.layouts - before > 5:  # still laying out on its own, half a second on
                self.livelocked = True
                app._end_batch = lambda: None  # the timers still due to end it
                app._batch_count = 0

        threading.Thread(target=watch, daemon=True).start()


async def test_a_view_laid_out_at_two_sizes_in_a_batch_does_not_lay_out_forever(
        checkpoints, make_app):
    """In a storm the App handles resizes and view keys back to back while a view's
    own queue waits: the view is laid out at one size, then at another, before it
    reads its queue. Each layout queued a Resize to the view itself and, inside a
    view switch's batch update, a repaint behind it; the two Resizes, never side
    by side, could not merge, and each laid the view out again at its size,
    queueing the next: the view's queue never emptied, so its task never yielded,
    the App never ran the timer that ends the batch, and the UI thread laid out
    for ever, nothing drawn (as 3 of 35 one-minute storms in a pty stalled: the UI
    thread laying out, the App's held-back resize never applied)."""
    from textual.geometry import Size

    from tui_vae.tui.screens.models import ModelsScreen

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("m")
        await pilot.pause()
        models = app.screen
        assert isinstance(models, ModelsScreen)
        await pilot.press("g")
        await pilot.pause()
        watch = LayoutWatch(app, models)
        # Handled by the App in one go, as a backlog of keys and resizes is.
        app.post_message(events.Resize(Size(100, 30), Size(100, 30)))
        app.call_later(app.switch_mode, "models")
        app.post_message(events.Resize(Size(90, 28), Size(90, 28)))
        app.call_later(app.switch_mode, "generate")
        app.call_later(app.switch_mode, "models")
        await pilot.pause(0.5)
        await pilot.pause()
        assert not watch.livelocked, f"{watch.layouts} layouts and counting"
        assert watch.layouts < 20
        # The view ends laid out at the App's size, its batch updates over (drawn).
        assert app.screen is models and models._compositor.size == Size(90, 28)
        assert app._batch_count == 0


async def test_a_resize_lays_out_a_dialog_and_the_view_under_it_once(checkpoints, make_app):
    """A Resize lays a screen out at the App's size; the one a layout queues to the
    screen itself, and any older one, do nothing more. A dialog's Resize also lays
    out the view under it (which shows through)."""
    from textual.geometry import Size

    from tui_vae.tui.screens.generate import GenerateScreen
    from tui_vae.tui.screens.help import HelpScreen

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = app.screen
        assert isinstance(view, GenerateScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, HelpScreen)
        watches = [LayoutWatch(app, screen) for screen in (view, dialog)]
        await pilot.resize_terminal(90, 28)
        await pilot.pause()
        await pilot.pause()
        for screen in (view, dialog):
            assert screen._compositor.size == Size(90, 28)
        # Once each. Textual laid the dialog out twice (again at the Resize its
        # layout queued to itself) and the view four times (at the App's Resize, at
        # each of the dialog's two, and at its own); layouts that widgets ask for
        # (at no size) are not counted here.
        assert [watch.sized for watch in watches] == [[(90, 28)], [(90, 28)]]
        # A Resize that waited while the size changed again: nothing is laid out at it.
        dialog.post_message(events.Resize(Size(60, 20), Size(60, 20)))
        await pilot.pause()
        assert dialog._compositor.size == view._compositor.size == Size(90, 28)
        assert [watch.sized for watch in watches] == [[(90, 28)], [(90, 28)]]



# A process whose C heap holds ~80 MB freed by buffers (as a storm's decoding
# leaves it): a freed 16 MB block makes glibc serve later large buffers from its
# heap, and a small buffer allocated after them keeps the heap's top in use, so
# glibc keeps the space. Prints RSS (MB) then, and after release_freed_memory().
FREED_HEAP = """
import numpy as np
from tui_vae.tui.heap import release_freed_memory

def resident():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmRSS:")).split()[1]) / 1024

np.ones(16 << 20, np.uint8)
blocks = [np.ones(2 << 20, np.uint8) for _ in range(40)]
keeper = bytearray(64 << 10)
del blocks
kept = resident()
released = release_freed_memory()
print(kept, resident(), released)
"""


def test_release_freed_memory_gives_the_heap_s_free_pages_back():
    import subprocess
    import sys

    import pytest

    from tui_vae.tui import heap

    if heap._TRIM is None:
        pytest.skip("glibc's malloc_trim is not available here")
    out = subprocess.run([sys.executable, "-c", FREED_HEAP], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    kept, after, released = float(out[0]), float(out[1]), out[2]
    assert released == "True"
    assert after < kept - 60  # the 80 MB freed, no longer resident


async def test_freed_memory_is_given_back_once_input_pauses(checkpoints, make_app,
                                                            monkeypatch):
    """After a storm glibc kept the buffers the views had freed while drawing (~90 MB
    after a minute): the App gives them back once keys and resizes pause, once a
    pause, never while they keep coming."""
    from tui_vae.tui import app as app_module
    from tui_vae.tui.app import POLL_S, RELEASE_AFTER_S

    calls = []
    monkeypatch.setattr(app_module, "release_freed_memory", lambda: calls.append(get_time()))
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        for _ in range(8):  # a key every 0.3 s: input never pauses a second
            await pilot.press("f15")
            last = get_time()
            await asyncio.sleep(0.3)
        assert calls == []
        await asyncio.sleep(RELEASE_AFTER_S + POLL_S + 0.5)
        assert len(calls) == 1 and calls[0] - last >= RELEASE_AFTER_S
        await asyncio.sleep(POLL_S + 0.2)
        assert len(calls) == 1


async def test_the_screen_is_drawn_whole_after_a_resize_and_after_a_notice_expires(
        checkpoints, make_app):
    """Textual repaints only the regions whose layout changed. In tmux, after a storm
    of keys and resizes, expired notices stayed on screen for a minute, until the
    next key: the terminal had rewrapped the storm's frames, and removing a toast
    from a rack that scrolls repainted less than it had covered. Once the size holds
    still, and once a notice has gone, a full frame is drawn."""
    from textual._compositor import LayoutUpdate

    app = make_app(checkpoints)
    full = []  # the times of the full frames drawn

    async with app.run_test(size=(120, 40), notifications=True) as pilot:  # toasts on
        await app.workers.wait_for_complete()
        await pilot.pause()
        display = app._display

        def record(screen, renderable) -> None:
            if isinstance(renderable, LayoutUpdate) and not app._batch_count:
                full.append(asyncio.get_running_loop().time())
            display(screen, renderable)

        async def until(condition, seconds: float = 5.0) -> bool:
            # Polled, not slept for a fixed time: the suite's machine may be busy.
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while not condition() and loop.time() < end:
                await asyncio.sleep(0.05)
            return condition()

        from textual.widgets._toast import Toast

        app._display = record
        app.notify("a notice", timeout=1.0)
        assert await until(lambda: app.screen.query(Toast))  # drawn (on a busy machine,
        await asyncio.sleep(0.1)  # one that expired before its toast came is never drawn)
        full.clear()
        assert await until(lambda: not app._notifications)  # it expires
        assert await until(lambda: full), "no full frame once the notice had gone"
        full.clear()
        await pilot.resize_terminal(100, 30)
        await asyncio.sleep(0.2)
        drawn = len(full)  # the layout's own frames
        assert await until(lambda: len(full) > drawn), "no full frame after the resize"
