"""Sweeps: the cartesian product of a few settings, each a plain `tui-vae train` run.

`plan(grid, extra, out_dir)` names one run per combination (beta0.5-latent2-seed0)
with its checkpoint in `out_dir` and the exact `tui-vae train` arguments, so a
sweep can be printed (`--dry-run`) and spread over machines by any job runner.
`Sweep.run` starts them K at a time as subprocesses on this machine; each is a
normal run (checkpoint, metrics JSONL, its own log). A stop (Ctrl-C, SIGTERM,
SIGHUP) is passed to every running child, which saves its exact state;
`resume` then continues the unfinished runs and skips the finished ones.
No torch here: the children do the work.
"""

from __future__ import annotations

import itertools
import math
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tui_vae.checkpoints import SUFFIX, read_info
from tui_vae.config import written_plainly
from tui_vae.cpu_share import share_cores
from tui_vae.errors import TuiVaeError
from tui_vae.safe_files import open_for_writing
from tui_vae.wording import plural

# The settings a sweep may vary, with how each value is written in a run's name.
SWEPT = {"beta": "beta", "latent_dim": "latent", "hidden_dim": "hidden", "seed": "seed",
         "lr": "lr", "kl_warmup": "warmup"}
MAX_RUNS = 1000


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its name, checkpoint and `tui-vae train` arguments."""

    name: str
    out: Path
    args: tuple[str, ...]  # after `tui-vae train`, --out included

    def command(self, resume: bool = False) -> list[str]:
        from tui_vae.entry import own_command

        return own_command("train", *self.args, *(["--resume"] if resume else []))

    def shell(self, resume: bool = False) -> str:
        """The command a person or a job runner would type."""
        return shlex.join(["tui-vae", "train", *self.args, *(["--resume"] if resume else [])])


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _shown(value) -> str:
    """A value as a run's name holds it: six significant digits at most."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _exact(value) -> str:
    """A value as its run's `train` option takes it: as short as `_shown` where that
    is exact, else every digit (0.0012345678 trained as 0.00123457)."""
    shown = _shown(value)
    return shown if not isinstance(value, float) or float(shown) == value else repr(value)


def parse_values(text: str, kind: type) -> list:
    """"0,0.25,1" -> [0.0, 0.25, 1.0]; ValueError for anything else, an empty entry
    ("0,,1", a slip that may hide a lost value) or repeated values."""
    parts = text.split(",")
    if len(parts) > 1 and not all(part.strip() for part in parts):
        raise ValueError(f"{text!r} has an empty entry; give values separated by single commas")
    if not written_plainly(text):  # "1_0" is likelier a slip for "1,0" than ten
        raise ValueError(f"{text!r}: write the numbers in ASCII digits (0-9), without "
                         f"underscores, separated by commas")
    try:
        values = [kind(part) for part in parts if part.strip()]
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or len(set(values)) != len(values):
        raise ValueError("give distinct values, separated by commas")
    return values


def train_args(config) -> list[str]:
    """The `tui-vae train` options that reproduce a TrainConfig (all but its beta and out)."""
    m = config.model
    args = ["--model", m.model, "--arch", m.arch, "--likelihood", m.likelihood,
            "--dataset", m.dataset, "--latent-dim", str(m.latent_dim),
            "--hidden", m.hidden_text, "--batch-size", str(config.batch_size),
            "--lr", repr(config.lr), "--lr-schedule", config.lr_schedule,
            "--lr-warmup", repr(config.lr_warmup),
            "--kl-warmup", repr(config.kl_warmup), "--average", repr(config.average),
            "--seed", str(config.seed),
            "--device", config.device]
    return args + (["--data-dir", str(config.data_dir)] if config.data_dir else [])


def plan(grid: dict[str, list], extra: list[str], out_dir: Path,
         prefix: str = "") -> list[SweepRun]:
    """One SweepRun per combination of the grid's values, `extra` arguments on each;
    checkpoints named `prefix` + the run's name."""
    unknown = set(grid) - set(SWEPT)
    if unknown:
        raise TuiVaeError(f"cannot sweep {', '.join(sorted(unknown))}")
    keys = [k for k in SWEPT if grid.get(k)]
    count = math.prod(len(grid[k]) for k in keys)  # counted before any is built
    if count > MAX_RUNS:
        raise TuiVaeError(f"the sweep has {count:,} runs; at most {MAX_RUNS} are allowed")
    combos = itertools.product(*(grid[k] for k in keys))
    runs = []
    for combo in combos:
        name = prefix + ("-".join(f"{SWEPT[k]}{_shown(v)}" for k, v in zip(keys, combo))
                         or "run")
        out = out_dir / f"{name}{SUFFIX}"
        args = [a for k, v in zip(keys, combo) for a in (_flag(k), _exact(v))]
        if any(run.name == name for run in runs):  # values written alike: one file
            raise TuiVaeError(f"two runs of the sweep would both be {name} (values that "
                              f"differ only past the digits a run's name keeps); give "
                              f"values that differ in their first 6 significant digits")
        runs.append(SweepRun(name, out, (*args, *extra, "--out", str(out))))
    return runs


def _open_log(path: Path) -> int:
    """A run's log, appended to; never through a link planted at its name."""
    try:
        return open_for_writing(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as exc:
        raise TuiVaeError(f"cannot write {path}: {exc.strerror or exc}") from None


def last_line(path: Path, tail: int = 4096) -> str:
    """The last non-empty line of a run's log (its error, when it failed), from at
    most its last `tail` bytes, as printable text; "" when there is none."""
    from tui_vae.wording import printable

    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - tail))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    said = [line.strip() for line in lines if line.strip()]
    return printable(said[-1].removeprefix("error: ")) if said else ""


def status(run: SweepRun, epochs: int) -> str:
    """"new", "unfinished" (a checkpoint short of `epochs`) or "done"."""
    if not run.out.exists():
        return "new"
    return "done" if read_info(run.out).epochs_done >= epochs else "unfinished"


@dataclass
class Sweep:
    """Runs a planned sweep, `jobs` at a time; `report(line)` hears each start and end."""

    runs: list[SweepRun]
    epochs: int
    jobs: int = 1
    resume: bool = False
    report: Callable[[str], None] = print
    stop: threading.Event = field(default_factory=threading.Event)
    failed: list[str] = field(default_factory=list)
    # Called between polls of the runs: the command's check that its output is
    # still there (it sets `stop` where it is not).
    watch: Callable[[], None] | None = None

    def child_env(self) -> dict[str, str]:
        """The runs' environment: with several at once, idle OpenMP threads sleep."""
        env = dict(os.environ)
        if self.jobs > 1:
            share_cores(env)
        return env

    def _run_named(self, name: str) -> SweepRun:
        return next(run for run in self.runs if run.name == name)

    def _finished(self, name: str) -> bool:
        try:
            return status(self._run_named(name), self.epochs) == "done"
        except TuiVaeError:  # unreadable: not a finished run
            return False

    def _log_of(self, name: str) -> Path:
        return self._run_named(name).out.with_suffix(".log")

    def _say_in_log(self, name: str, line: str) -> None:
        """A line in a stopped run's log where the run left none: one stopped while it
        was still starting (before its own handlers) wrote nothing at all."""
        path = self._log_of(name)
        try:
            if path.stat().st_size:
                return
            fd = _open_log(path)
        except (OSError, TuiVaeError):
            return  # the log is the run's record, not a reason to fail the sweep
        try:
            os.write(fd, f"{line}\n".encode())
        except OSError:
            pass
        finally:
            os.close(fd)

    def pending(self) -> list[tuple[SweepRun, bool]]:
        """(run, needs --resume) for every run not done; refuses to overwrite without resume."""
        todo = []
        for run in self.runs:
            state = status(run, self.epochs)
            if state == "done":
                if not self.resume:
                    raise TuiVaeError(f"{run.out} exists; pass --resume to finish the sweep")
                self.report(f"{run.name}: done already")
                continue
            if state == "unfinished" and not self.resume:
                raise TuiVaeError(f"{run.out} exists; pass --resume to finish the sweep")
            todo.append((run, state == "unfinished"))
        return todo

    def run(self) -> int:
        """Run what is pending; returns the number of runs that did not finish."""
        queue = self.pending()
        running: dict[str, subprocess.Popen] = {}
        unfinished = 0
        while queue or running:
            while queue and len(running) < self.jobs and not self.stop.is_set():
                run, resume = queue.pop(0)
                log = _open_log(run.out.with_suffix(".log"))
                try:
                    # Its stdin a pipe the sweep holds and never writes to: a sweep
                    # that ends in any way (kill -9 too) closes it, and the run then
                    # saves its state and stops, rather than train on unowned.
                    running[run.name] = subprocess.Popen(
                        [*run.command(resume), "--stop-on-stdin-eof"], stdout=log,
                        stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                        start_new_session=True, env=self.child_env())
                finally:
                    os.close(log)
                self.report(f"{run.name}: {'resumed' if resume else 'started'} "
                            f"({len(running)} running, {len(queue)} queued)")
            if self.stop.is_set():
                for proc in running.values():
                    proc.send_signal(signal.SIGTERM)  # each child saves its exact state
                unfinished += len(queue)
                queue = []
            time.sleep(0.2)
            if self.watch is not None:
                self.watch()
            for name, proc in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[name]
                proc.stdin.close()
                # Finished is what its checkpoint says: a run that ended as the stop
                # came may have trained to its end, and one that exited 0 without
                # saving (not tui-vae's train) was once counted as finished.
                done = code == 0 and self._finished(name)
                if done:
                    self.report(f"{name}: finished")
                elif code == 0 and not self.stop.is_set():
                    unfinished += 1
                    self.failed.append(name)
                    self.report(f"{name}: failed: it ended without saving all "
                                f"{plural(self.epochs, 'epoch')}")
                else:
                    unfinished += 1
                    word = f"failed ({code})"
                    if self.stop.is_set():
                        saved = self._run_named(name).out.exists()
                        word = "stopped, state saved" if saved else "stopped, nothing saved yet"
                        self._say_in_log(name, "stopped by the sweep: its state saved" if saved
                                         else "stopped by the sweep before it began "
                                              "training: nothing saved")
                    if code != 0 and not self.stop.is_set():
                        self.failed.append(name)
                        reason = last_line(self._log_of(name))
                        word += f": {reason}" if reason else ""
                    self.report(f"{name}: {word}")
        return unfinished
