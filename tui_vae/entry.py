"""The `tui-vae` command's entry point (and `python -m tui_vae`'s).

Only this module stands between Python's start and `cli.main`'s own handling of
Ctrl-C: a Ctrl-C while the command's modules still import (Typer, Rich: the
first tenth of a second) ends with one line and status 130, as it does later,
rather than a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Imports the command line and runs it."""
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
