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
            file.write(sample_main(file))
            file.flush()
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


def watch_layouts(screen_class) -> None:
    """Record each layout of a screen: when, which, at what size, in a batch or not,
    and who asked (a storm's stall is often layouts without end, or one that never ends)."""
    import sys

    from textual._time import get_time

    refresh_layout = screen_class._refresh_layout

    def laid_out(self, size=None, scroll=False):
        frame, names = sys._getframe(1), []
        while frame is not None and len(names) < 3:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        caller = "<".join(names)
        LAYOUT_COUNT[0] += 1
        started = get_time()
        try:
            return refresh_layout(self, size, scroll)
        finally:
            LAYOUTS.append((round(started, 3), round(get_time() - started, 3),
                            type(self).__name__, str(size or self.outer_size),
                            self.app._batch_count, caller))

    screen_class._refresh_layout = laid_out


# The last layouts: (time, seconds, screen, size, batch count, caller).
LAYOUTS: collections.deque = collections.deque(maxlen=24)
LAYOUT_COUNT = [0]  # layouts since start


def watch_batches(app_class) -> None:
    """Record who opens each batch update still open (a batch left open discards every
    frame): for each begin, when and the callers' names; cleared when the count is 0."""
    import sys

    from textual._time import get_time

    begin, end = app_class._begin_batch, app_class._end_batch

    def began(self):
        frame, names = sys._getframe(1), []
        while frame is not None and len(names) < 6:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        OPEN_BATCHES.append((round(get_time(), 3), "<".join(names)))
        return begin(self)

    def ended(self):
        try:
            return end(self)
        finally:
            if not self._batch_count:
                OPEN_BATCHES.clear()

    app_class._begin_batch, app_class._end_batch = began, ended


# The batch updates begun since the count was last 0: (time, callers).
OPEN_BATCHES: list = []


def sample_main(file, samples: int = 20, every: float = 0.1) -> str:
    """Where the main thread is, sampled `samples` times: one call that never ends
    shows one stack every time; a busy loop of short calls shows many."""
    import sys

    main = threading.main_thread().ident
    seen: collections.Counter = collections.Counter()
    for _ in range(samples):
        frame = sys._current_frames().get(main)
        stack = []
        while frame is not None and len(stack) < 60:
            code = frame.f_code
            stack.append(f"{code.co_filename.rsplit('site-packages/', 1)[-1]}:"
                         f"{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        seen["\n      ".join(reversed(stack[:14]))] += 1
        time.sleep(every)
    lines = [f"== main thread, sampled {samples} times {every} s apart"]
    for stack, count in seen.most_common(5):
        lines.append(f"   {count} x\n      {stack}")
    return "\n".join(lines) + "\n"


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
    lines.append(f"   layouts ({LAYOUT_COUNT[0]} in all): {list(LAYOUTS)}")
    lines.append(f"   open batches: {OPEN_BATCHES[-12:]} ({len(OPEN_BATCHES)} in all)")
    lines.append(f"   input read: {list(FED)}")
    lines.append(f"   keys posted: {list(POSTED)}")
    lines.append(f"   keys handled: {list(HANDLED)}")
    for pump in pumps:
        waiting = list(getattr(pump._message_queue, "_queue", ()))
        if waiting:
            kinds = collections.Counter(type(m).__name__ for m in waiting)
            lines.append(f"   {pump!r}: {len(waiting)} queued {dict(kinds.most_common(6))}")
    return "\n".join(lines) + "\n"



def install_memory_report(trigger: str, out: str) -> None:
    """Each time `trigger` appears (it is then removed), append a line to `out`: RSS,
    the C heap (glibc's mallinfo2: in use, free but kept, mmapped), Python's
    allocated blocks and the objects frozen. Diagnostics for a storm's memory
    growth: live Python objects, native buffers, or freed memory not returned."""
    import ctypes
    import gc
    import sys

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
        mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        mallinfo2 = None

    def rss() -> float:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def watch() -> None:
        while True:
            while not os.path.exists(trigger):
                time.sleep(0.2)
            os.remove(trigger)
            mb = 1 << 20
            heap = ""
            if mallinfo2 is not None:
                info = mallinfo2()
                heap = (f" heap: in use {info.uordblks / mb:.0f} free {info.fordblks / mb:.0f}"
                        f" mmapped {info.hblkhd / mb:.0f} MB")
            frozen = gc.get_freeze_count()
            gc.unfreeze()  # to see every object (the frozen are out of get_objects' sight)
            kinds = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            gc.freeze()
            grown = (kinds - KINDS[0]).most_common(15) if KINDS else []
            KINDS[:] = [kinds]
            with open(out, "a") as file:
                file.write(f"RSS {rss():.0f} MB{heap}; python blocks "
                           f"{sys.getallocatedblocks()}; frozen {frozen}; "
                           f"most grown since: {grown}\n")

    threading.Thread(target=watch, daemon=True, name="memory-report").start()


KINDS: list = []  # the object counts by type at the last memory report
