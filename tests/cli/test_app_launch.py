"""The README's launch command: `tui-vae` opens the explorer in a real terminal and quits on q."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

import pytest


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {needle!r} on screen within {timeout} s; got {seen[-300:]!r}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("args", [[], ["--checkpoints", "mine"]], ids=["bare", "options"])
def test_tui_vae_opens_the_explorer_and_quits(tmp_path, args):
    # The terminal's own size counts, not COLUMNS and LINES: with COLUMNS=5 the app
    # once drew in a strip five columns wide, where no tab name fits.
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "5", "LINES": "3"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, in the pseudo-terminal
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "tui_vae", *args], env)
    try:
        screen = _read_until(fd, b"Generate", timeout=60)
        assert b"Traceback" not in screen
        os.write(fd, b"?")
        _read_until(fd, b"generate.new", timeout=30)  # the help lists binding ids
        os.write(fd, b"\x1b")
        time.sleep(0.5)
        os.write(fd, b"q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                select.select([fd], [], [], 0.2) and os.read(fd, 65536)
            except OSError:
                pass
        else:
            raise AssertionError("the app did not quit on q")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_the_bare_command_skips_typers_option_parsing(tmp_path):
    """`tui-vae` alone opens the explorer directly: Typer's option coercion imports
    pydantic (about 0.2 s of the first paint); with options it parses as usual."""
    import subprocess

    code = ("import sys, tui_vae.cli as c\n"
            "c._open_explorer = lambda *a, **k: print('pydantic' in sys.modules, a, k)\n"
            "c.main()")
    bare = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert bare.stdout.split() == ["False", "()", "{}"], bare.stderr
    (tmp_path / "runs").touch()  # the runs folder's place taken by a file
    refused = subprocess.run([sys.executable, "-m", "tui_vae"], capture_output=True,
                             text=True, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: Invalid value for --checkpoints: runs (the folder "
                                      "of your runs when --checkpoints is not given) is not a "
                                      "folder")


def test_without_a_terminal_the_explorer_says_so_instead_of_drawing_into_a_file(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "tui_vae"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: the explorer needs a terminal")
