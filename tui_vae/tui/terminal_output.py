"""Writes to a terminal that has gone away never block the app.

Textual (8.2.8) queues every frame for a writer thread (a bounded queue) and
the thread ends at the first write that fails. A terminal window closed while
the app draws (a training run's charts redraw twice a second) fails a write
before its hang-up signal arrives: the thread ends, the queue fills, and the
UI thread waits for ever to queue the next frame. It never reaches the
hang-up's handler, so the run is never stopped and saved, and SIGTERM goes
unheard too. Here a frame for a writer that has ended is dropped (nobody
could see it) and the app goes on to handle the hang-up.

A terminal that hangs up also sends SIGCONT (the kernel does, with SIGHUP, to
the terminal's foreground processes). Textual reads SIGCONT as the end of a
Ctrl-Z and starts its application mode again, with a new writer thread whose
first write fails. So every writer the driver starts is made to drop its
writes once it ends, not only the first (`guard_the_driver`).
"""

from __future__ import annotations

import queue

# How long one wait on a full queue lasts before the writer is looked at again.
_RECHECK_S = 0.25


def drop_output_once_the_writer_ends(writer) -> bool:
    """Make `writer` (Textual's WriterThread) drop writes once its thread has ended.

    While it runs, a full queue still holds the UI back as before (the terminal
    is slow, not gone). False where `writer` is not the kind this expects."""
    pending = getattr(writer, "_queue", None)
    if not isinstance(pending, queue.Queue) or not hasattr(writer, "is_alive"):
        return False

    def write(text) -> None:
        while writer.is_alive():
            try:
                pending.put(text, timeout=_RECHECK_S)
                return
            except queue.Full:
                continue

    def stop() -> None:
        write(None)  # the end marker, dropped like a frame where the thread is gone
        writer.join()

    writer.write = write
    writer.stop = stop
    return True


def guard_the_driver(driver) -> bool:
    """Make the driver's writer, and every writer it starts later (after a Ctrl-Z,
    or the SIGCONT a hang-up brings), drop writes once its thread has ended.

    False where the driver has no writer thread of the kind expected (headless)."""
    if not drop_output_once_the_writer_ends(getattr(driver, "_writer_thread", None)):
        return False
    start = driver.start_application_mode

    def start_and_guard() -> None:
        start()
        drop_output_once_the_writer_ends(getattr(driver, "_writer_thread", None))

    driver.start_application_mode = start_and_guard
    return True
