"""Training events as terminal output: a Rich progress display, or plain lines.

The headless CLI's counterpart of the TUI's message handlers: it only reads the
events the training service emits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tui_vae import training as t
from tui_vae.wording import plural, printable


def epoch_line(event: t.EpochEnded) -> str:
    tr, te = event.train, event.test
    return (f"epoch {event.epoch + 1}/{event.epochs}  train {tr['loss']:.2f}  "
            f"test {te['loss']:.2f} (recon {te['recon']:.2f}, KL {te['kl']:.2f})  "
            f"{_seconds(event.seconds)}")


def _seconds(seconds: float) -> str:
    """An epoch's time, with the digits that say something: "1.7 s", "0.03 s" (a
    tiny run's epochs all read "0.0 s")."""
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds:.2g} s"


# The live bar's parts, most needed first, with the cells each takes (its longest
# ordinary text and the space after it). Those that do not fit the terminal are
# left out whole, so the ETA at the end is never cut off at 80 columns.
_ESSENTIAL = 14 + 5 + 11 + 12  # "epoch 100/1000", "100%", "loss 123.4", "ETA 0:00:00"
_MIN_BAR, _MAX_BAR = 10, 40
_OPTIONAL = (  # name, cells; added in this order while they fit
    ("elapsed", 8),
    ("step", 13),  # "step 469/469"
    ("recon and KL", 22),  # " (recon 90.1, KL 30.2)" after the loss
    ("rate", 17),  # "12,345 samples/s"
)


def progress_columns(width: int) -> list:
    """The live bar's columns for a terminal `width` cells wide: the bar shrinks to
    make room, then the least needed parts are left out."""
    room = width - _ESSENTIAL - _MIN_BAR - 1
    shown = set()
    for name, cells in _OPTIONAL:
        if cells <= room:
            shown.add(name)
            room -= cells
    loss = "loss {task.fields[loss]}"
    if "recon and KL" in shown:
        loss += " (recon {task.fields[recon]}, KL {task.fields[kl]})"
    columns = [TextColumn("epoch {task.fields[epoch]}"),
               BarColumn(bar_width=_MIN_BAR + min(room, _MAX_BAR - _MIN_BAR)),
               TaskProgressColumn()]
    if "step" in shown:
        columns.append(TextColumn("step {task.fields[step]}"))
    columns.append(TextColumn(loss))
    if "rate" in shown:
        columns.append(TextColumn("{task.fields[rate]} samples/s"))
    if "elapsed" in shown:
        columns.append(TimeElapsedColumn())
    return [*columns, TextColumn("ETA"), TimeRemainingColumn()]


class _ReportingConsole(Console):
    """Rich's Console, but a closed pipe is an error the reporter handles: Rich's own
    handling exits the process (status 1, not a word), which lost the run's progress
    since its last save."""

    def __init__(self, *args, **kwargs) -> None:
        # Emoji codes left as typed: "r:x:.safetensors" read "r❌.safetensors" in the
        # resume line, a command that then named no file.
        super().__init__(*args, **{"emoji": False, **kwargs})

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class ConsoleReporter:
    """Callable that renders training events; a live bar only on a terminal."""

    def __init__(self, console: Console | None = None, on_gone=None):
        self.console = console or _ReportingConsole()
        self.live = self.console.is_terminal
        # Called once if the output stops taking writes (a closed pipe, a full disk):
        # the command then stops the run after its step, and it saves (as on SIGHUP).
        self.on_gone = on_gone
        self.gone = False
        self.progress: Progress | None = None
        self.task = None
        self.saved: t.CheckpointSaved | None = None  # this run's last save
        self.data_dir: str | None = None
        self.resumed_from: tuple[int, int] | None = None

    def __call__(self, event: t.Event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler:
            handler(event)

    def _print(self, text: str) -> None:
        # markup=False and control characters escaped, line breaks too (every
        # message is one line; a break in it comes from a file name): paths and
        # names come from the user and from files. soft_wrap: no line breaks of
        # Rich's own (it assumes 80 columns off a terminal), so a log holds each
        # line whole and a resume command pastes back as one.
        try:
            (self.progress.console if self.progress else self.console).print(
                printable(text), highlight=False, markup=False, soft_wrap=True)
        except OSError as exc:  # `train | head -3`: the reader left; or `> /dev/full`
            self._output_gone(exc)
            self.console.print(printable(text), highlight=False, markup=False,
                               soft_wrap=True)

    def _output_gone(self, exc: OSError) -> None:
        """The output failed: say so on stderr, which then takes every later line."""
        if self.gone:
            raise exc
        self.gone = True
        self.progress = None  # its display wrote to the output that failed
        with contextlib.suppress(OSError):  # later flushes (at exit) must not fail again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.console.file.fileno())
            os.close(devnull)
        self.console = _ReportingConsole(stderr=True)
        self.live = False
        self.console.print(printable(f"the output stopped taking lines ({exc.strerror or exc}): "
                                     f"the run stops after this step, saving what it trained"),
                           highlight=False, markup=False, soft_wrap=True)
        if self.on_gone is not None:
            self.on_gone()

    def _on_Started(self, event: t.Started) -> None:
        c = event.config
        self.data_dir = c.data_dir
        self.resumed_from = event.resumed_from
        m, resumed = c.model, ""
        if event.resumed_from:
            epoch, step = event.resumed_from
            resumed = f", resuming at epoch {epoch + 1} step {step}"
        self._print(
            f"training {m.model.upper()} (z={m.latent_dim}, hidden={m.hidden_text}, "
            f"beta={m.beta:g}) on {m.dataset} ({event.train_size:,} train / "
            f"{event.test_size:,} test) for {plural(c.epochs, 'epoch')} on {event.device}"
            f"{resumed}")
        self._print(f"  {m.arch} network, {m.likelihood} likelihood, {event.gradients} "
                    f"gradients")
        if not self.live:
            return
        self.progress = Progress(*progress_columns(self.console.width),
                                 console=self.console, transient=True)
        done = (event.resumed_from or (0, 0))
        total = c.epochs * event.steps_per_epoch
        self.task = self.progress.add_task(
            "train", total=total, completed=done[0] * event.steps_per_epoch + done[1],
            epoch=f"{done[0] + 1}/{c.epochs}", step="-", loss="-", recon="-", kl="-", rate="-")
        self.progress.start()

    def _on_ThreadsChanged(self, event: t.ThreadsChanged) -> None:
        self._print(f"  {event.describe()}")

    def _on_StepLogged(self, event: t.StepLogged) -> None:
        if self.progress is None:
            return
        epochs = self.progress.tasks[0].total // event.steps_per_epoch
        self.progress.update(
            self.task, completed=event.global_step, epoch=f"{event.epoch + 1}/{epochs}",
            step=f"{event.step}/{event.steps_per_epoch}", loss=f"{event.loss:.1f}",
            recon=f"{event.recon:.1f}", kl=f"{event.kl:.1f}", rate=f"{event.samples_per_s:,.0f}")

    def _on_EpochEnded(self, event: t.EpochEnded) -> None:
        self._print(epoch_line(event))

    def _on_CheckpointSaved(self, event: t.CheckpointSaved) -> None:
        self.saved = event

    def _on_Finished(self, event: t.Finished) -> None:
        self.close()
        # Quoted: a path with spaces pastes back as one argument.
        data = f" --data-dir {shlex.quote(self.data_dir)}" if self.data_dir else ""
        again = (f"Continue with: tui-vae train --out {shlex.quote(event.path or '')} "
                 f"--resume{data}")
        if event.stopped and event.path and self.saved is None and self.resumed_from:
            # A resumed run stopped before its first step: its checkpoint is untouched.
            epoch, step = self.resumed_from
            where = f"in epoch {epoch + 1} after step {step}" if step else f"after epoch {epoch}"
            self._print(f"stopped before the first step; {event.path} is as it was "
                        f"({where}). {again}")
        elif event.stopped and event.path:
            where = f"after epoch {event.epochs_done}"
            if self.saved and self.saved.step:
                where = f"in epoch {self.saved.epochs_done + 1} after step {self.saved.step}"
            self._print(f"stopped {where}; state saved to {event.path}. {again}")
        elif event.path:
            self._print(f"done: {plural(event.epochs_done, 'epoch')}, "
                        f"checkpoint {printable(str(event.path))}")
        elif event.stopped:
            self._print("stopped before the first step; nothing was saved")

    def _on_Failed(self, event: t.Failed) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
