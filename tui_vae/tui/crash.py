"""When the explorer crashes: the traceback goes to a log file, the terminal gets one line.

Textual prints a full-screen traceback when an app dies of an unhandled error;
for a user that is noise, and the exit status was 0. The App records the error
here instead (the traceback, with the version and platform, in a new file in
the user's log folder) and the CLI ends with status 1 and one line naming the
file. With TUI_VAE_DEBUG=1 the traceback is shown on the terminal too.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path

from tui_vae.errors import DEBUG_ENV


def log_folder() -> Path:
    """The user's log folder for tui-vae (e.g. ~/.local/state/tui-vae/log on Linux)."""
    from platformdirs import user_log_dir

    return Path(user_log_dir("tui-vae"))


def write_crash_log(error: BaseException) -> Path:
    """Write `error`'s traceback to a new file in the log folder; return its path.

    The file is created new (O_EXCL, never through a link) and private (0600):
    a traceback can hold paths and values the user would not publish.
    """
    from tui_vae import __version__
    from tui_vae.safe_files import open_for_writing

    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join((
        f"tui-vae {__version__} crashed at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n",
        f"python {platform.python_version()} on {platform.platform()}\n",
        f"command: {' '.join(sys.argv)}\n\n",
        *traceback.format_exception(type(error), error, error.__traceback__),
    ))
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        path = folder / f"crash-{stamp}-{os.getpid()}{suffix}.log"
        try:
            fd = open_for_writing(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path
    raise FileExistsError(f"no free crash log name in {folder}")


def crash_line(error: BaseException, log: Path | None, log_error: str | None = None) -> str:
    """The one line the terminal gets: what happened and where the traceback is."""
    what = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if log is not None:
        return f"error: the explorer crashed ({what.rstrip(': ')}); the traceback is in {log}"
    return (f"error: the explorer crashed ({what.rstrip(': ')}); no log written "
            f"({log_error}); set {DEBUG_ENV}=1 for the traceback")
