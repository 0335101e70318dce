"""Writes to a terminal that has gone away never block the app.

Textual (8.2.8) queues every frame for a writer thread (a bounded queue) and
the thread ends at the first write that fails. A terminal window closed while
the app draws (a training run's charts redraw twice a second) fails a write
before its hang-up signal arrives: the thread ends, the queue fills, and the
UI thread waits for ever to queue the next frame. It never reaches the
hang-up's handler, so the run is never stopped and saved, and SIGTERM goes
unheard too. Here a frame for a writer that has ended is dropped (nobody
could see it) and the app goes on to handle the hang-up.
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
