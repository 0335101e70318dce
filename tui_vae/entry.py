"""The `tui-vae` command's entry point (and `python -m tui_vae`'s).

Only this module stands between Python's start and `cli.main`'s own handling of
Ctrl-C: a Ctrl-C while the command's modules still import (Typer, Rich: the
first tenth of a second) ends with one line and status 130, as it does later,
rather than a traceback.
"""

from __future__ import annotations

import sys

# Root options that take a value (the word after them is not a command).
_ROOT_VALUES = frozenset({"--checkpoints", "--data-dir", "--device", "--keymap",
                          "--model-factory", "--weights"})
_HEADLESS = frozenset({"train", "eval", "sample"})
_early: list[int] = []  # a SIGTERM or SIGHUP that came while the command started


def _command(args: list[str]) -> str | None:
    """The command word of a tui-vae command line (None: the explorer's)."""
    words = iter(args)
    for word in words:
        if word in _ROOT_VALUES:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def early_signal() -> int | None:
    """The SIGTERM or SIGHUP a headless command got while it started, if any."""
    return _early[0] if _early else None


def _note_early_signals() -> None:
    """A headless command's first second or two import torch: a SIGTERM or SIGHUP then
    is noted, for the command to act on once its imports are done
    (cli._act_on_early_signals). Raised in an import, it left modules half-loaded;
    by default it ended the command without a word."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # not all on Windows
            signal.signal(getattr(signal, name), lambda signum, frame: _early.append(signum))


def main() -> None:
    """Imports the command line and runs it."""
    if _command(sys.argv[1:]) in _HEADLESS:
        _note_early_signals()
    try:
        from tui_vae.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()


def own_command(*args: str) -> list[str]:
    """The command line that runs this tui-vae again (a run's process, a sweep's runs,
    a browser tab's explorer): this Python with -P, so that a `tui_vae` folder in the
    working folder is never imported in place of the installed package (a planted
    one ran its code; an old clone trained with its own)."""
    return [sys.executable, "-P", "-m", "tui_vae", *args]
