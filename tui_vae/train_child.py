"""The app's run in a child process: `tui-vae train --events-json`, read line by line.

The app trains through the same command a user types, rather than in a
thread of its own process, for three reasons:
- the run shares the cores by the same rules as every other run (it is a
  `tui-vae train` that others see, and it adapts when they come and go:
  cpu_share.CompanyWatch restarts it from its checkpoint at an epoch's end);
- the app's drawing never waits for the training step's Python (one GIL each);
- a failure in the run cannot take the app down, and the app's exit stops the
  run cleanly: it saves, as after Ctrl-C.

The child prints each training event as one line of JSON on stdout
(events.event_to_json); anything it says for people goes to stderr, whose
last lines name a failure the child could not report as an event.
No torch here, and no Textual: the app's worker thread calls `run()`.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections import deque
from collections.abc import Callable

from tui_vae.errors import TrainingError
from tui_vae.events import Event, Failed, Finished, event_from_json


def train_command(config) -> list[str]:
    """The `tui-vae train` command line that runs exactly this TrainConfig."""
    from tui_vae.entry import own_command
    from tui_vae.sweep import train_args

    m = config.model
    return [*own_command("train"), *train_args(config),
            "--beta", repr(m.beta), "--image-size", str(m.image_size),
            "--channels", str(m.channels), "--epochs", str(config.epochs),
            "--gradients", config.step, "--log-every", str(config.log_every),
            "--out", str(config.out), "--events-json"]


class ChildRun:
    """One run in a child process; `run()` blocks, calling `on_event` for each event."""

    def __init__(self, config, on_event: Callable[[Event], None]):
        self.config = config
        self.on_event = on_event
        self._process: subprocess.Popen | None = None
        self._stop_sent = False
        self._lock = threading.Lock()
        self._stop_wanted = False

    def run(self) -> None:
        """Train to the end or to a stop; TrainingError when the run failed."""
        with self._lock:
            if self._stop_wanted:  # stopped before it began: nothing to save
                self.on_event(Finished(0, stopped=True, path=None))
                return
            # Its own session: the terminal's signals are the app's to handle.
            # The app stops it by closing its stdin (save and end): unlike a
            # signal, that cannot be lost while the child still starts.
            self._process = subprocess.Popen(
                train_command(self.config), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True)
        process = self._process
        said: deque[str] = deque(maxlen=20)
        reader = threading.Thread(target=lambda: said.extend(process.stderr), daemon=True)
        reader.start()
        failed: str | None = None
        finished = False
        for line in process.stdout:
            event = event_from_json(line)
            if event is None:
                continue
            failed = event.message if isinstance(event, Failed) else failed
            finished = finished or isinstance(event, Finished)
            self.on_event(event)
        code = process.wait()
        reader.join(timeout=5)
        if code == 0 and finished:
            return
        if failed:
            raise TrainingError(failed)
        words = [line.strip() for line in said if line.strip()]
        if code < 0:
            raise TrainingError(f"the training process was ended by signal {-code}")
        raise TrainingError(words[-1].removeprefix("error: ") if words
                            else f"the training process ended with exit code {code}")

    @property
    def pid(self) -> int | None:
        """The child's process id, once started (a restart keeps it: exec)."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Ask the run to save and end after its current step (before its first
        step: to end with nothing saved). Closes the child's stdin, which the child
        reads as its stop whenever it gets there, even mid-start."""
        with self._lock:
            self._stop_wanted = True
            if self._process is not None and not self._stop_sent:
                self._stop_sent = True
                with contextlib.suppress(OSError):  # the child gone already: nothing to stop
                    self._process.stdin.close()
