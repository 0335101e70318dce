"""Give the C heap's freed memory back to the system (glibc; elsewhere nothing is done).

The views decode and draw with torch and numpy on the UI thread. Once a block
of a few MB has been freed, glibc serves later large buffers from its heap
rather than mapping them apart, and keeps what they free for reuse: measured
in a storm of keys and resizes (views drawn at every size up to 250x80), the
heap's free space went from 51 to 145 MB in two minutes while what it held in
use grew by 25 MB, and the process's resident memory followed the first.
malloc_trim returns those free pages (a few ms for ~80 MB); the App calls it
once input has paused.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc (Linux)
    except (OSError, AttributeError):  # another C library, macOS, Windows
        return None


_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the system; whether any were (False where
    the C library has no malloc_trim)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
