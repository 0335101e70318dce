"""`tui-vae serve`: the explorer in a web browser, through textual-serve.

textual-serve runs a web server; each browser tab that opens the page starts
its own explorer process (the command built here) and draws its output with
xterm.js. Needs the optional `serve` extra (`pip install "tui-vae[serve]"`).
"""

from __future__ import annotations

import shlex
import socket

INSTALL_HINT = ('tui-vae serve needs textual-serve: pip install "tui-vae[serve]" (from a '
                'clone: pip install ".[serve]"; with pipx: pipx inject tui-vae textual-serve)')
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class ServeMissing(ImportError):
    """The optional textual-serve package is not installed."""


def app_command(app_args: list[str]) -> str:
    """The shell command each browser session runs: this Python's explorer with `app_args`."""
    from tui_vae.entry import own_command

    return shlex.join(own_command(*app_args))


def public_url(host: str, port: int) -> str:
    """The address browsers load; a wildcard host is named by this machine's name."""
    if host in WILDCARD_HOSTS:
        host = socket.gethostname()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def check_address(host: str, port: int) -> None:
    """Refuse (OSError) an address this machine cannot listen on: an unknown name, a
    port in use, an address that is not this machine's.

    textual-serve prints its "Serving ... on" banner before it binds, so without this
    check a bad --host would be announced as served and then fail."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server will: a port left in TIME_WAIT by an earlier server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def check_public_url(url: str) -> None:
    """Refuse (TuiVaeError) a --public-url that browsers could not load: another
    scheme, no host, a bad port."""
    from urllib.parse import urlsplit

    from tui_vae.errors import TuiVaeError

    wrong = f"--public-url must be an http:// or https:// address with a host, not {url!r}"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number in 0..65535
    except ValueError:
        raise TuiVaeError(wrong) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == 0:
        raise TuiVaeError(wrong)


def serve(app_args: list[str], host: str, port: int, url: str | None = None) -> None:
    """Serve the explorer on host:port until Ctrl-C (ServeMissing without textual-serve)."""
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise ServeMissing(INSTALL_HINT) from exc
    from tui_vae.errors import TuiVaeError

    if not host.strip():
        # An empty name means every interface to the socket layer: a server with no
        # login that can train and write files must not go public by a slip.
        raise TuiVaeError("--host is empty; give localhost (the default), or 0.0.0.0 to "
                          "serve on every interface")
    try:
        check_address(host, port)
    except OSError as exc:
        raise TuiVaeError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    except UnicodeError:  # a label of over 63 characters, or one IDNA cannot encode
        raise TuiVaeError(f"cannot serve on {host}:{port}: not a valid host name") from None
    if url is not None:
        check_public_url(url)
    server = Server(app_command(app_args), host=host, port=port, title="tui-vae",
                    public_url=url or public_url(host, port))
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise TuiVaeError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
