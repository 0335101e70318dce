"""What a stuck app is doing, written from a thread of its own (storm diagnostics).

faulthandler shows where each thread is, but a Textual app that has stopped
drawing is usually not stuck in a call: its event loop is idle, and the
coroutines that should run are waiting on each other. This module, started
inside the app's process, waits for a trigger file and then writes every
thread's stack, every asyncio task's stack, the App's batch count, and each
DOM node whose message queue holds messages (with what they are).
Reading another thread's tasks is not thread-safe, so it is for an app that
has gone quiet, which is when it is asked.
"""

from __future__ import annotations

import asyncio
import collections
import faulthandler
import os
import threading
import time
import traceback


def install(trigger: str, out: str) -> None:
    """Write the report to `out` once `trigger` exists (checked 5 times a second)."""

    def watch() -> None:
        while not os.path.exists(trigger):
            time.sleep(0.2)
        with open(out, "w") as file:
            file.write("== threads\n")
            file.flush()
            faulthandler.dump_traceback(file, all_threads=True)
            for _attempt in range(5):  # the sets may change while read
                try:
                    file.write(report())
                    break
                except RuntimeError as exc:
                    file.write(f"(retry: {exc})\n")
                    time.sleep(0.1)
                except Exception:  # a report that failed says how
                    file.write(traceback.format_exc())
                    break

    threading.Thread(target=watch, daemon=True, name="hang-report").start()


# The last keys the App was given (by the driver) and the last its key handler saw.
POSTED: collections.deque = collections.deque(maxlen=12)
HANDLED: collections.deque = collections.deque(maxlen=12)


FED: collections.deque = collections.deque(maxlen=12)  # the last input read


def watch_input() -> None:
    """Record the last pieces of terminal input the driver gave its parser."""
    from textual._time import get_time
    from textual._xterm_parser import XTermParser

    feed = XTermParser.feed

    def fed(self, data):
        FED.append((round(get_time(), 3), data))
        return feed(self, data)

    XTermParser.feed = fed


def watch_keys(app_class) -> None:
    """Record, on `app_class`, each key posted to the App and each reaching its _on_key."""
    from textual import events

    post, on_key = app_class.post_message, app_class._on_key

    def posted(self, message):
        if isinstance(message, events.Key):
            POSTED.append((message.key, round(message.time, 3), threading.current_thread().name))
        return post(self, message)

    async def handled(self, event):
        HANDLED.append((event.key, round(event.time, 3)))
        return await on_key(self, event)

    app_class.post_message, app_class._on_key = posted, handled

    from textual._time import get_time

    display = app_class._display

    def displayed(self, screen, renderable):
        DISPLAYED.append((round(get_time(), 3), type(screen).__name__, self._batch_count,
                          type(renderable).__name__, type(self.screen).__name__))
        return display(self, screen, renderable)

    app_class._display = displayed


# The last frames the App was asked to show: (time, screen, batch count, kind, current).
DISPLAYED: collections.deque = collections.deque(maxlen=12)


def awaiting(coro) -> list[str]:
    """Where a suspended coroutine waits: its frame, then what it awaits, down the chain."""
    where = []
    while coro is not None and len(where) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(
            coro, "ag_frame", None)
        if frame is None:
            where.append(f"{type(coro).__name__} {coro!r:.200}")
            break
        where.append(f"{frame.f_code.co_filename.rsplit('site-packages/', 1)[-1]}:"
                     f"{frame.f_lineno} {frame.f_code.co_name}")
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                or getattr(coro, "ag_await", None))
    return where


# Where a message pump with nothing to do waits (its queue's get): not reported.
IDLE = ("message_pump.py", "_get_message")


def report() -> str:
    lines = ["== asyncio tasks (not idle)"]
    idle = 0
    for task in list(asyncio.tasks._all_tasks):
        if task.done():
            continue
        chain = awaiting(task.get_coro())
        if any(IDLE[0] in step and IDLE[1] in step for step in chain):
            idle += 1
            continue
        lines.append(f"-- {task.get_name()}")
        lines.extend("   " + step for step in chain)
    lines.append(f"({idle} idle message pumps)")
    # What the event loop has ready to run: a long queue is a backlog, not a deadlock.
    loops = {task.get_loop() for task in list(asyncio.tasks._all_tasks)}
    for loop in loops:
        ready = list(getattr(loop, "_ready", ()))
        kinds = collections.Counter(getattr(getattr(h, "_callback", None), "__qualname__", "?")
                                    for h in ready)
        lines.append(f"== loop: {len(ready)} callbacks ready {dict(kinds.most_common(6))}, "
                     f"{len(getattr(loop, '_scheduled', ()))} scheduled")
    # The App, found through its tasks (gc.get_objects misses what gc.freeze moved).
    from textual.message_pump import MessagePump

    pumps = []
    for task in list(asyncio.tasks._all_tasks):
        frame = getattr(task.get_coro(), "cr_frame", None)
        pump = frame.f_locals.get("self") if frame is not None else None
        if isinstance(pump, MessagePump) and pump not in pumps:
            pumps.append(pump)
    apps = {id(pump.app): pump.app for pump in pumps if pump._parent is not None}
    for app in apps.values():
        screen = app.screen
        lines.append(f"== app: _batch_count={app._batch_count} mode={app._current_mode!r} "
                     f"screen={screen!r} focused={app.focused!r} size={app.size} "
                     f"stack={app.screen_stack!r} dropped_keys="
                     f"{getattr(app, 'dropped_keys', None)} settling="
                     f"{getattr(app, '_settling', None)!r}")
        lines.append(f"   app_focus={app.app_focus} repaint={screen._repaint_required} "
                     f"dirty_regions={len(screen._compositor._dirty_regions)} "
                     f"compositor_size={screen._compositor.size}")
        timer = getattr(screen, "_Screen__update_timer", None)
        lines.append(f"   screen: size={screen.size} dirty={len(screen._dirty_widgets)} "
                     f"layout_required={getattr(screen, '_layout_required', '?')} "
                     f"update_timer_active={timer._active.is_set() if timer else None}")
    from textual._time import get_time

    lines.append(f"   now={get_time():.3f} newest_key={getattr(app, '_newest_key', None)}")
    lines.append(f"   frames: {list(DISPLAYED)}")
    lines.append(f"   input read: {list(FED)}")
    lines.append(f"   keys posted: {list(POSTED)}")
    lines.append(f"   keys handled: {list(HANDLED)}")
    for pump in pumps:
        waiting = list(getattr(pump._message_queue, "_queue", ()))
        if waiting:
            kinds = collections.Counter(type(m).__name__ for m in waiting)
            lines.append(f"   {pump!r}: {len(waiting)} queued {dict(kinds.most_common(6))}")
    return "\n".join(lines) + "\n"
