"""`tui-vae serve`: the explorer in a web browser, through textual-serve.

textual-serve runs a web server; each browser tab that opens the page starts
its own explorer process (the command built here) and draws its output with
xterm.js. Needs the optional `serve` extra (`pip install "tui-vae[serve]"`).
"""

from __future__ import annotations

import shlex
import socket
import sys

INSTALL_HINT = 'tui-vae serve needs textual-serve: pip install "tui-vae[serve]"'
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class ServeMissing(ImportError):
    """The optional textual-serve package is not installed."""


def app_command(app_args: list[str]) -> str:
    """The shell command each browser session runs: this Python's explorer with `app_args`."""
    return shlex.join([sys.executable, "-m", "tui_vae", *app_args])


def public_url(host: str, port: int) -> str:
    """The address browsers load; a wildcard host is named by this machine's name."""
    if host in WILDCARD_HOSTS:
        host = socket.gethostname()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def serve(app_args: list[str], host: str, port: int, url: str | None = None) -> None:
    """Serve the explorer on host:port until Ctrl-C (ServeMissing without textual-serve)."""
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise ServeMissing(INSTALL_HINT) from exc
    from tui_vae.errors import TuiVaeError

    server = Server(app_command(app_args), host=host, port=port, title="tui-vae",
                    public_url=url or public_url(host, port))
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise TuiVaeError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
