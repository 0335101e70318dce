"""`tui-vae serve`: the explorer in a real headless browser (Chromium, driven by Playwright).

The browser test skips, with the reason, where the Debian Chromium is missing
(`.ci/run` installs it when apt-get is available).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # CSI and OSC sequences
HALF_BLOCKS = ("▀", "▄")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


class Screen:
    """What the page's terminal received over its websocket, and screenshots of it."""

    def __init__(self, page):
        self.page = page
        self.frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload) -> None:
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", "replace")
        self.frames.append(ESCAPES.sub("", payload))

    def text(self, since: int = 0) -> str:
        return "".join(self.frames[since:])

    def wait_for(self, predicate, since: int = 0, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text(since)):
                return self.text(since)
            self.page.wait_for_timeout(100)
        raise AssertionError(f"not drawn within {timeout} s: {self.text(since)[-500:]!r}")

    def shot(self) -> np.ndarray:
        png = self.page.locator("#terminal").screenshot()
        return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(np.int16)


def _digits_drawn(text: str) -> bool:
    return sum(text.count(c) for c in HALF_BLOCKS) >= 200  # a few 28 x 28 images at least


@pytest.fixture
def served(tmp_path):
    """`tui-vae --checkpoints DIR serve` on a free loopback port; yields (url, log path)."""
    port, log = _free_port(), tmp_path / "serve.log"
    folder = tmp_path / "my runs"
    command = [sys.executable, "-m", "tui_vae", "--checkpoints", str(folder), "serve",
               "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        # COLUMNS: the server's banner names the app command on one line.
        server = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "COLUMNS": "1000"})
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}", log, folder
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium")
def test_the_browser_draws_digits_and_a_key_changes_the_view(served):
    from playwright.sync_api import sync_playwright

    url, log, folder = served
    # The explorer's options given before and after `serve` reach the served command.
    banner = log.read_text()
    assert f"--checkpoints '{folder}'" in banner and "--device cpu" in banner, banner
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            # Offline by design: only the server's own page, scripts and websocket load.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(url) else route.abort())
            screen = Screen(page)
            page.goto(url)
            first = screen.wait_for(lambda t: _digits_drawn(t) and "Generate —" in t)
            assert "Reconstruct —" not in first
            page.wait_for_timeout(500)  # let xterm.js paint the last frames
            before = screen.shot()
            assert before.std() > 20 and (before > 200).mean() > 0.01  # bright strokes

            mark = len(screen.frames)
            page.locator("#terminal").click()  # keys go to the focused terminal
            page.keyboard.press("r")
            screen.wait_for(lambda t: "Reconstruct —" in t and _digits_drawn(t), since=mark)
            page.wait_for_timeout(500)
            after = screen.shot()
            assert after.shape == before.shape and np.abs(after - before).mean() > 2
        finally:
            browser.close()


def test_serve_refuses_a_bad_explorer_option_with_exit_2(tmp_path):
    for args, says in ((["serve", "--device", "tpu"], "tpu"), (["serve", "train"], "train"),
                       (["serve", "--port", "0"], "--port"),
                       (["serve", "--no-such-option"], "--no-such-option"),
                       # the explorer's own checks, made before listening, not in each tab
                       (["--checkpoints", "/dev/null", "serve"], "is not a folder"),
                       (["serve", "--keymap", "missing.toml"], "no such file"),
                       (["serve", "--model-factory", "mine:build"], "go together")):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "Error" in result.stderr and says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Serving" not in result.stdout


def test_without_textual_serve_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['textual_serve'] = None\n"
            "sys.argv = ['tui-vae', 'serve', '--port', '1']\n"
            "from tui_vae.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert "textual-serve" in line and "pip install" in line


def test_the_public_url_names_this_machine_for_a_wildcard_host():
    from tui_vae.serve import app_command, public_url

    assert public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url("0.0.0.0", 80) == f"http://{socket.gethostname()}:80"
    assert public_url("::1", 9000) == "http://[::1]:9000"
    assert app_command(["--checkpoints", "my runs"]).endswith("-m tui_vae --checkpoints 'my runs'")


def test_an_address_it_cannot_listen_on_is_one_line_and_never_announced(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        for host, port, reason in (("bad host", 8000, "cannot serve on bad host:8000"),
                                   ("127.0.0.1", busy_port, "in use"),
                                   ("a" * 300, 8000, "not a valid host name")):
            result = run_cli("serve", "--host", host, "--port", str(port), cwd=tmp_path)
            assert result.returncode == 1, (host, result.stdout, result.stderr)
            [line] = result.stderr.splitlines()
            assert line.startswith("error: cannot serve on") and reason in line, line
            assert "Serving" not in result.stdout


def test_an_empty_host_is_refused_not_served_on_every_interface(tmp_path):
    for host in ("", "  "):
        result = run_cli("serve", "--host", host, "--port", "8771", cwd=tmp_path)
        assert result.returncode == 1, (result.stdout, result.stderr)
        [line] = result.stderr.splitlines()
        assert "--host is empty" in line and "Serving" not in result.stdout


def test_a_public_url_must_be_a_web_address_with_a_host():
    from tui_vae.errors import TuiVaeError
    from tui_vae.serve import check_public_url

    for url in ("http://", "https://:8000", "http://host:99999", "http://host:port",
                "ftp://host", "host:8000", "//host", ""):
        with pytest.raises(TuiVaeError, match="with a host"):
            check_public_url(url)
    for url in ("http://localhost:8000", "https://example.org/vae/", "HTTP://[::1]:80"):
        check_public_url(url)


def test_a_public_url_that_is_not_a_web_address_is_refused(tmp_path):
    result = run_cli("serve", "--public-url", "javascript:alert(1)", cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert "http:// or https://" in line and "Serving" not in result.stdout


def test_a_browser_tab_asking_for_a_huge_or_negative_screen_gets_a_bounded_one():
    """A tab's URL sized the explorer at 20,000 x 20,000 (2.7 GB); a resize to -10 x -10
    crashed it."""
    from tui_vae.cli import _bounded_browser_size
    from tui_vae.tui.app import MAX_COLUMNS, MAX_ROWS

    for columns, rows, expected in (("20000", "20000", (str(MAX_COLUMNS), str(MAX_ROWS))),
                                    ("-10", "x", ("80", "24")), ("0", "0", ("1", "1")),
                                    ("120", "40", ("120", "40"))):
        env = {"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver",
               "COLUMNS": columns, "ROWS": rows}
        _bounded_browser_size(env)
        assert (env["COLUMNS"], env["ROWS"]) == expected, (columns, rows, env)
    terminal = {"COLUMNS": "20000"}  # not a browser tab: left as it is
    _bounded_browser_size(terminal)
    assert terminal == {"COLUMNS": "20000"}


async def test_an_absurd_resize_is_ignored_not_drawn(tmp_path):
    from textual import events
    from textual.geometry import Size

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    app = TuiVaeApp(Workspace(tmp_path / "runs", tmp_path, "cpu", shipped_dir=None), None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for size in (Size(-10, -10), Size(20_000, 20_000), Size(0, 5)):
            app.post_message(events.Resize(size, size))
            await pilot.pause()
            assert app.size == Size(80, 24) and app.is_running
        app.post_message(events.Resize(Size(100, 30), Size(100, 30)))
        await pilot.pause()
        assert app.size == Size(100, 30)
