"""Opening files for writing without ever writing through a link.

A symlink or a hard link planted where tui-vae writes (a lock, a metrics file,
a temporary, an export) would otherwise make it truncate or overwrite the
link's target. `open_for_writing` opens with O_NOFOLLOW (and O_EXCL for files
that must be new), refuses anything but a regular file with one link, and
turns every refusal into one OSError whose strerror says what was found.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where links need privileges
# A FIFO opened for writing would block until a reader comes: never wait for one.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class UnsafePathError(OSError):
    """A link or a non-regular file sits where tui-vae means to write a file."""


def refuse_if_not_regular(path: Path) -> None:
    """Raise UnsafePathError if `path` exists and is a symlink or not a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(errno.ELOOP, f"{path} is a symbolic link; refusing to write "
                                           f"through it (remove it or choose another path)")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(errno.EINVAL, f"{path} is not a regular file; refusing to "
                                            f"write to it")


def open_for_writing(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """os.open(path, flags | O_NOFOLLOW) that only ever returns a regular file's fd.

    With O_EXCL in `flags` the file must be new. Truncation is the caller's
    (os.ftruncate after this check): O_TRUNC would empty a FIFO's or device's
    peer before the check could refuse it.
    """
    path = Path(path)
    if flags & os.O_TRUNC:
        raise ValueError("truncate with os.ftruncate after open_for_writing")
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK, mode)
    except FileExistsError:
        raise  # O_EXCL: the name is taken (by a link or not); nothing was opened
    except OSError:
        refuse_if_not_regular(path)  # a link or a FIFO: say so rather than ELOOP or ENXIO
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(errno.EINVAL, f"{path} is not a regular file; refusing to "
                                                f"write to it")
        if info.st_nlink > 1:  # a hard link planted at the name: writing changes the other
            raise UnsafePathError(errno.EMLINK, f"{path} has other hard links; refusing to "
                                                f"write to it (remove it or choose another "
                                                f"path)")
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd

