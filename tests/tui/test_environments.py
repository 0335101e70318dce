"""Unusual terminals: NO_COLOR, TERM=dumb and the C locale open every view without a traceback.

Pilot tests set the environment before the App is built (Textual reads
NO_COLOR and the colour system then); one real process per environment runs
`python -m tui_vae` in a pseudo-terminal, draws and quits on `q` with status 0.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import struct
import sys
import time
from pathlib import Path

import pytest

from tui_vae.render import SHADES, UPPER_HALF
from tui_vae.tui.app import VIEWS
from tui_vae.tui.widgets.image_grid import ImageGrid

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = {
    "no-color": {"NO_COLOR": "1"},
    "dumb": {"TERM": "dumb"},
    "c-locale": {"LANG": "C", "LC_ALL": "C"},
}


def rendered_text(app) -> str:
    """Every line the screen's widgets would send to the terminal, as plain text."""
    lines = app.screen._compositor.render_update(full=True)
    return "".join(segment.text for strip in lines.strips for segment in strip)


@pytest.mark.parametrize("name", ENVIRONMENTS)
async def test_every_view_opens(name, monkeypatch, checkpoints, make_app):
    for key, value in ENVIRONMENTS[name].items():
        monkeypatch.setenv(key, value)
    app = make_app(checkpoints)
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        for key, _title in VIEWS.values():
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            # The whole screen renders through the environment's filters.
            app.screen._compositor.render_update(full=True)
            assert app.screen.query_one("#status").render_str  # the view is there
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = rendered_text(app)
        assert app.screen.query(ImageGrid).first().images  # samples were drawn
        if name == "no-color":
            assert app.no_color
            assert UPPER_HALF not in text and any(s in text for s in SHADES[1:])
    assert app.return_code in (0, None)


def run_in_pty(args: list[str], env: dict[str, str], cwd: Path, ready, size=(32, 100),
               timeout: float = 40.0) -> tuple[int, bytes]:
    """Start the app in a pseudo-terminal, wait until `ready(output so far)`, press q.

    Returns the exit status and everything the app wrote to the terminal.
    """
    import fcntl
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, as a user would start it
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "tui_vae", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    quit_sent_at = None
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], 0.1)
            if readable:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                out += data
            if quit_sent_at is None and ready(out):
                os.write(fd, b"q")
                quit_sent_at = time.monotonic()
            elif quit_sent_at and time.monotonic() - quit_sent_at > 5:
                os.write(fd, b"q")  # a key may land before the app listens
                quit_sent_at = time.monotonic()
    finally:  # never leave the app running, whatever went wrong here
        done, status = os.waitpid(pid, os.WNOHANG)
        grace = time.monotonic() + 10
        while not done and time.monotonic() < grace:  # it may still be closing down
            time.sleep(0.1)
            done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_real_process_draws_and_quits_cleanly(name, tmp_path, checkpoints):
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = {**os.environ, "TERM": "xterm-256color", **ENVIRONMENTS[name],
           "XDG_CONFIG_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    for variable in ("TEXTUAL", "TUI_VAE_DATA_DIR", "TEXTUAL_COLOR_SYSTEM"):
        env.pop(variable, None)
    args = ["--checkpoints", str(checkpoints), "--data-dir", str(empty), "--device", "cpu"]
    # Colour shows digits in half blocks; no colour (NO_COLOR, TERM=dumb) in shades.
    colour = name == "c-locale"
    marks = [UPPER_HALF] if colour else list(SHADES[1:])
    encoded = [mark.encode() for mark in marks]
    status, out = run_in_pty(args, env, tmp_path,
                             lambda out: b"Generate" in out and any(m in out for m in encoded))
    text = out.decode("utf-8", "replace")
    assert "Traceback" not in text and "Error" not in text, text[-2000:]
    assert "Generate" in text and any(mark in text for mark in marks)
    if not colour:
        assert UPPER_HALF not in text
    assert status == 0


async def test_loss_chart_with_curves_under_no_color(monkeypatch):
    from tests.tui.test_loss_chart import ChartApp, step_series
    from tui_vae.tui.widgets.loss_chart import LossChart

    monkeypatch.setenv("NO_COLOR", "1")
    app = ChartApp()
    async with app.run_test(size=(80, 12)) as pilot:
        app.query_one(LossChart).series = step_series()
        await pilot.pause()
        assert app.no_color
        assert any("\u2800" < c <= "\u28ff" for c in rendered_text(app))


async def test_under_a_light_theme_no_view_keeps_the_terminal_s_own_background(
        checkpoints, make_app):
    """Charts, image grids, the latent map and the drawing canvas draw their cells in
    the theme's colours: cells with no colour of their own took the terminal's
    background (dark under a light theme: a black chart on a light screen)."""
    from tui_vae.tui.widgets.built_lines import BuiltLines
    from tui_vae.tui.widgets.draw_canvas import DrawCanvas
    from tui_vae.tui.widgets.latent_map import LatentMap

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-light"
        await app.workers.wait_for_complete()
        seen = set()
        for key in ("u", "g", "l", "d"):
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            for widget in app.screen.query("*"):
                if not isinstance(widget, (BuiltLines, ImageGrid, LatentMap, DrawCanvas)):
                    continue
                if not widget.size.height:
                    continue
                seen.add(type(widget).__name__)
                for y in range(widget.size.height):
                    for segment in widget.render_line(y):
                        style = segment.style
                        assert style is not None and style.bgcolor is not None, (
                            type(widget).__name__, y, segment)
        assert {"LossChart", "ImageGrid", "LatentMap", "DrawCanvas"} <= seen
