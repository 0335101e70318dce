"""RunMonitor: a training run's events gathered into what a live view shows.

The training service calls back from its worker thread; the monitor keeps the
step curves (smoothed), the per-epoch history and the progress figures behind a
lock, so the UI thread can read a consistent snapshot at its own pace. Plain
Python: no Textual, no torch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui_vae.checkpoints import SUFFIX
from tui_vae.events import (
    CheckpointSaved,
    EpochEnded,
    Failed,
    Finished,
    Started,
    StepLogged,
    ThreadsChanged,
)
from tui_vae.wording import plural

SMOOTHING = 0.9  # weight of the past in the exponential moving average of step losses


@dataclass
class Progress:
    """Where a run stands."""

    epoch: int = 0  # epochs completed
    epochs: int = 0
    step: int = 0  # steps into the current epoch
    steps: int = 0  # steps per epoch
    samples_per_s: float = 0.0
    eta_s: float | None = None
    step_s: float | None = None  # seconds a step, as measured since the run started
    state: str = "idle"  # idle, starting, running, stopping, finished, stopped, failed
    message: str = ""
    path: str | None = None
    model: str = ""  # "cVAE conv/gaussian z=2", once started
    gradients: str = ""  # the step's path: "hand-derived" or "autograd"
    threads: str = ""  # "1 thread" while other work shares the cores, else ""

    def ended(self) -> str:
        """How a run that ended stands: "finished after 3 epochs", "stopped after
        2 epochs", "stopped in epoch 3 (2 epochs complete)" for a stop partway through an epoch
        (its state saved there; "after 0 epochs" read as if nothing had trained),
        or "stopped before its first step" (nothing trained, nothing saved)."""
        if self.state == "stopped" and self.step > 0:
            # and how many are whole: Models lists those ("stopped in epoch 83" beside
            # "82 epochs" there read as a disagreement)
            return (f"stopped in epoch {self.epoch + 1} "
                    f"({plural(self.epoch, 'epoch')} complete)")
        if self.state == "stopped" and self.epoch == 0 and self.path is None:
            return "stopped before its first step"
        return f"{self.state} after {plural(self.epoch, 'epoch')}"


@dataclass
class Curves:
    """Step curves (x = global step) and epoch curves (x = epoch)."""

    step: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_recon: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)


class RunMonitor:
    """Thread-safe accumulator of one run's events; `snapshot()` for the UI."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.progress = Progress()
        self.curves = Curves()
        self._ema: tuple[float, float, float] | None = None
        self._started_at = 0.0
        self._done_steps = 0  # steps completed in this session (for the ETA)
        self._first_step: int | None = None

    def reset(self, state: str = "starting") -> None:
        with self._lock:
            self.progress = Progress(state=state)
            self.curves = Curves()
            self._ema = None
            self._first_step = None

    def record(self, event) -> None:
        """Fold one training event in (called from the training thread)."""
        with self._lock:
            p, c = self.progress, self.curves
            if isinstance(event, Started):
                p.epochs, p.steps = event.config.epochs, event.steps_per_epoch
                p.state, p.path = "running", str(event.config.out) if event.config.out else None
                m = event.config.model
                p.model = (f"{'cVAE' if m.conditional else 'VAE'} {m.arch}/{m.likelihood} "
                           f"z={m.latent_dim}")
                p.gradients = event.gradients
                p.threads = ""  # a (re)started run trains on all its threads
                # Again after a restart (cpu_share.CompanyWatch): the ETA counts from here.
                self._started_at, self._first_step = time.perf_counter(), None
            elif isinstance(event, StepLogged):
                p.epoch, p.step, p.samples_per_s = event.epoch, event.step, event.samples_per_s
                parts = (event.loss, event.recon, event.kl)
                if self._ema is None:
                    self._ema = parts
                else:
                    self._ema = tuple(SMOOTHING * a + (1 - SMOOTHING) * b
                                      for a, b in zip(self._ema, parts))
                c.step.append(event.global_step)
                c.loss.append(self._ema[0])
                c.recon.append(self._ema[1])
                c.kl.append(self._ema[2])
                if self._first_step is None:
                    self._first_step = event.global_step
                self._done_steps = event.global_step - self._first_step
                elapsed = time.perf_counter() - self._started_at
                remaining = p.epochs * p.steps - event.global_step
                if self._done_steps > 0 and elapsed > 0:
                    p.step_s = elapsed / self._done_steps
                    p.eta_s = remaining * p.step_s
            elif isinstance(event, EpochEnded):
                p.epoch, p.step = event.epoch + 1, 0
                c.epoch.append(event.epoch + 1)
                c.train_loss.append(event.train["loss"])
                c.test_loss.append(event.test["loss"])
                c.test_recon.append(event.test["recon"])
                c.test_kl.append(event.test["kl"])
            elif isinstance(event, CheckpointSaved):
                p.path = event.path
            elif isinstance(event, Finished):
                p.state = "stopped" if event.stopped else "finished"
                p.path = event.path  # None: stopped before its first step, nothing saved
                p.eta_s = None
                p.epoch = event.epochs_done
            elif isinstance(event, Failed):
                p.state, p.message, p.eta_s = "failed", event.message, None
            elif isinstance(event, ThreadsChanged):
                # Short: it shares the progress line with samples/s at 80 columns.
                p.threads = (plural(event.threads, "thread")
                             if event.threads < event.full else "")

    def record_failure(self, message: str) -> None:
        """The run ended with an error that the service did not report as Failed."""
        with self._lock:
            if self.progress.state != "failed":
                self.progress.state, self.progress.message = "failed", message

    def request_stop(self) -> None:
        with self._lock:
            if self.progress.state in ("starting", "running"):
                self.progress.state = "stopping"

    @property
    def active(self) -> bool:
        return self.progress.state in ("starting", "running", "stopping")

    def headline(self, named: bool = True) -> str | None:
        """The run in a few words for the header, e.g. "training run-xyz (epoch 3/10)";
        without its name (`named=False`) where the header is too narrow for it.

        None when no run is going on. The epoch is the one being trained.
        """
        with self._lock:
            p = self.progress
            if p.state not in ("starting", "running", "stopping"):
                return None
            verb = "stopping" if p.state == "stopping" else "training"
            name = Path(p.path).name.removesuffix(SUFFIX) if p.path else "a new run"
            said = f"{verb} {name}" if named or not p.path else verb
            if not p.epochs:
                return said
            return f"{said} (epoch {min(p.epoch + 1, p.epochs)}/{p.epochs})"

    def snapshot(self) -> tuple[Progress, Curves]:
        """Copies of the progress and curves, safe to read while training goes on."""
        with self._lock:
            c = self.curves
            curves = Curves(*(list(getattr(c, name)) for name in c.__dataclass_fields__))
            return Progress(**vars(self.progress)), curves
