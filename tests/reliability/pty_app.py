"""Run the real `tui-vae` app in a pseudo-terminal, as a user's terminal would.

Pilot feeds events straight into the app's queue; a pty goes through the whole
path (the driver's input thread, escape-sequence parsing, SIGWINCH, writes to
a terminal), which is where a backlog of keys and resizes builds up.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path


class PtyApp:
    """A `python -m tui_vae ARGS` process on a pty; its screen output is drained."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None,
                 size: tuple[int, int] = (100, 32), code: str | None = None):
        self.controller, terminal = pty.openpty()
        self._set_size(terminal, *size)
        command = ([sys.executable, "-c", code, *args] if code
                   else [sys.executable, "-m", "tui_vae", *args])
        self.process = subprocess.Popen(
            command, cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
            start_new_session=True)
        os.close(terminal)
        self.output = bytearray()  # everything the app drew
        self.last_output = time.monotonic()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @staticmethod
    def _set_size(fd: int, columns: int, rows: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.output += chunk
                self.last_output = time.monotonic()

    def send(self, data: bytes | str) -> None:
        os.write(self.controller, data.encode() if isinstance(data, str) else data)

    def resize(self, columns: int, rows: int) -> None:
        """Change the terminal's size and tell the app, as a terminal emulator does."""
        self._set_size(self.controller, columns, rows)
        self.process.send_signal(signal.SIGWINCH)

    def output_since(self, mark: int) -> bytes:
        with self._lock:
            return bytes(self.output[mark:])

    def mark(self) -> int:
        with self._lock:
            return len(self.output)

    def wait_for_output(self, needle: bytes, since: int = 0, timeout: float = 30) -> float:
        """Seconds until `needle` appears in the output after `since`."""
        started = time.monotonic()
        while needle not in self.output_since(since):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{needle!r} not drawn within {timeout} s")
            if self.process.poll() is not None:
                raise AssertionError(f"the app ended ({self.process.returncode}): "
                                     f"{self.after_exit()}")
            time.sleep(0.01)
        return time.monotonic() - started

    def rss_mb(self) -> float:
        """Resident memory of the app's process, MB (Linux)."""
        fields = Path(f"/proc/{self.process.pid}/status").read_text().split("\n")
        line = next(f for f in fields if f.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the app has used so far (Linux)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)  # the last output, up to the pty's end
        return code

    def after_exit(self) -> str:
        """What was printed after the app left the alternate screen, escapes removed
        (Textual draws on stderr: a crash report shares the terminal with it)."""
        with self._lock:
            tail = bytes(self.output).rsplit(b"\x1b[?1049l", 1)[-1].decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", "", tail).replace("\r", "")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        try:
            os.close(self.controller)
        except OSError:
            pass
