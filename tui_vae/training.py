"""The training service: plain Python that the CLI and the TUI both drive.

`Trainer(config, on_event, stop).run()` trains a VAE or cVAE and reports through
small frozen event dataclasses. The whole dataset sits in memory as uint8; each
epoch draws a permutation and slices batches from it (no DataLoader, no
per-sample transform). A `stop` flag (anything with `is_set()`) is checked
before every step; stopping saves the exact mid-epoch state, so `resume=True`
continues as if nothing had happened: same seed, same metrics.

What made it fast on a 2-core CPU (measured, see the issue notes and
benchmarks/train_speed.py): fused Adam (8.2 -> 4.8 ms a step at batch 128);
the loss and gradients computed by hand instead of by autograd, and Adam
stepped through torch's functional API (4.33 -> 3.57 ms; `elbo_step`,
`optim`); flushing denormals to zero (without it, epochs slow from 2.2 to
3.4 s as Adam's second moments and the gradients shrink into the denormal
range); uint8 data converted per batch; one host sync per step.

Evaluated and saved are the weights' moving average (`averaging`, on unless
`average` is 0): a given test -ELBO comes an epoch sooner; the checkpoint also
holds the live weights, which `resume` trains on from.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch

from tui_vae.averaging import AVERAGE_EVERY, WeightAverage
from tui_vae.checkpoints import (  # noqa: F401  (metrics_path is part of this API)
    Checkpoint,
    build_metadata,
    check_live_weights,
    load_checkpoint,
    metrics_path,
    save_checkpoint,
)
from tui_vae.config import LR_SCHEDULES as SCHEDULE_CHOICES
from tui_vae.config import ModelConfig, TrainConfig  # noqa: F401 (TrainConfig is part of this API)
from tui_vae.cpu_share import ThreadShare
from tui_vae.data import Dataset, load_dataset, to_floats
from tui_vae.devices import resolve_device
from tui_vae.errors import CheckpointError, TrainingError, TuiVaeError
from tui_vae.evaluation import evaluate_elbo
from tui_vae.events import (  # noqa: F401  (re-exported: the events belong to this service)
    CheckpointSaved,
    EpochEnded,
    Event,
    Failed,
    Finished,
    Started,
    StepLogged,
    ThreadsChanged,
)
from tui_vae.memory import check_training_memory, parameter_count
from tui_vae.models import build_model, start_at_mean_image
from tui_vae.objective import kl_weight
from tui_vae.optim import AdamUpdate, make_optimizer
from tui_vae.run_lock import RunLock
from tui_vae.safe_files import open_for_writing, refuse_if_not_regular
from tui_vae.thread_probe import same_on_threads
from tui_vae.train_step import choose_step

LR_SCHEDULES = tuple(SCHEDULE_CHOICES)


# --------------------------------------------------------------------------- stopping


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class _NeverStop:
    def is_set(self) -> bool:
        return False


# --------------------------------------------------------------------------- helpers


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The batch order of one epoch, recomputable from (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


def learning_rate(config: TrainConfig, progress: float) -> float:
    """The learning rate at `progress` epochs into the run: the schedule's, ramped
    in linearly over the first `lr_warmup` epochs."""
    rate = config.lr
    if config.lr_schedule == "cosine":
        rate *= 0.5 * (1.0 + math.cos(math.pi * min(progress / config.epochs, 1.0)))
    if progress < config.lr_warmup:
        rate *= progress / config.lr_warmup
    return rate


# Adam's settings a run never changes (the learning rate is set at every step).
_FIXED_ADAM_SETTINGS = ("betas", "eps", "weight_decay", "amsgrad", "maximize", "capturable",
                        "differentiable", "decoupled_weight_decay")


def _same_setting(value, wanted) -> bool:
    """Equal, and of the same kind (True is not 1 here; NaN equals nothing)."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    return (isinstance(value, (int, float)) and isinstance(wanted, (int, float))
            and value == wanted)


def _optimizer_state_problem(optimizer) -> str | None:
    """What is wrong with Adam's loaded state, or None: each parameter's moments
    must be tensors of its own shape and dtype and its step count one number, or
    Adam's fused kernel reads and writes past their ends (a crash, not an error).
    Adam's settings must be the ones tui-vae builds it with (its defaults): a file
    edited to `maximize` or a negative `eps` would train on quietly, wrongly."""
    defaults = optimizer.defaults
    for group in optimizer.param_groups:
        for key in _FIXED_ADAM_SETTINGS:
            if key not in defaults:
                continue
            value, wanted = group.get(key), defaults[key]
            same = (_same_setting(value, wanted) if not isinstance(wanted, tuple) else
                    isinstance(value, (list, tuple)) and len(value) == len(wanted)
                    and all(_same_setting(v, w) for v, w in zip(value, wanted)))
            if not same:
                return f"Adam's {key} is {value!r}, where tui-vae uses {wanted!r}"
        needed = ("step", "exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if group["amsgrad"]
                                                     else ()))
        for index, param in enumerate(group["params"]):
            state = optimizer.state.get(param)
            if not state:
                continue  # no state yet: Adam makes it, as for a new run
            missing = [name for name in needed if name not in state]
            if missing:
                return f"parameter {index} has no {missing[0]}"
            for name in needed:
                value = state[name]
                if not torch.is_tensor(value):
                    return f"parameter {index}'s {name} is not a tensor"
                if name == "step":
                    if value.numel() != 1 or value.is_complex():
                        return f"parameter {index}'s step count has {value.numel()} values"
                    if not 0 <= float(value) < MAX_STEP_COUNT:
                        return f"parameter {index}'s step count is {float(value)}"
                elif value.shape != param.shape or value.dtype != param.dtype:
                    return (f"parameter {index}'s {name} is {tuple(value.shape)} "
                            f"{value.dtype}, the parameter {tuple(param.shape)} {param.dtype}")
    return None


# A step count no run reaches; one past it (or below 0) is damage.
MAX_STEP_COUNT = 2.0 ** 53


PROBE_LIMIT = 64 * 1024 * 1024  # bytes the pre-flight writes at most; free space covers the rest


def check_writable(out: Path, resume: bool, checkpoint_bytes: int = 1 << 20) -> None:
    """Fail before training when the checkpoint could not be written.

    A real write of the checkpoint's size (up to PROBE_LIMIT, fsynced; the file
    system's free space must hold the rest), not os.access: read-only mounts,
    root's view and full disks all count. A link or a non-regular file where the
    checkpoint or its metrics go is refused too.
    """
    if not out.parent.is_dir():
        what = "is not a folder" if os.path.lexists(out.parent) else "does not exist"
        raise TrainingError(f"cannot write {out}: {out.parent} {what}")
    try:
        refuse_if_not_regular(out)
        refuse_if_not_regular(metrics_path(out))
        _probe_write(out.parent, checkpoint_bytes)
    except OSError as exc:
        where = f" (in {out.parent})" if str(out.parent) != "." else ""  # "(in .)" said nothing
        raise TrainingError(f"cannot write {out}: {exc.strerror or exc}{where}") from None
    if out.exists() and not resume:
        raise TrainingError(f"{out} already exists; pass --resume to continue it "
                            f"or choose another --out")
    metrics = metrics_path(out)
    if not resume and metrics.exists() and metrics.stat().st_size:
        # Another run's history with no checkpoint beside it (moved or deleted):
        # a new run would write over it. An empty one holds nothing to lose.
        raise TrainingError(f"{metrics} already exists (an earlier run's metrics); move it "
                            f"away or choose another --out")


def _probe_write(folder: Path, size: int) -> None:
    """Write `size` real bytes (at most PROBE_LIMIT) in `folder`, fsync, and let them go."""
    block = bytes(1 << 20)
    with tempfile.TemporaryFile(dir=folder) as handle:
        left = min(size, PROBE_LIMIT)
        while left > 0:
            handle.write(block[:left])
            left -= len(block)
        handle.flush()
        os.fsync(handle.fileno())
    if size > PROBE_LIMIT and hasattr(os, "statvfs"):
        stats = os.statvfs(folder)
        if stats.f_bavail * stats.f_frsize < size:
            raise OSError(errno.ENOSPC, f"the checkpoint needs about {size:,} bytes and "
                                        f"only {stats.f_bavail * stats.f_frsize:,} are free")


@dataclass
class _EpochSums:
    """Running sums over an epoch's images (plain floats, so they resume exactly)."""

    objective: float = 0.0
    recon: float = 0.0
    kl: float = 0.0
    count: int = 0
    seconds: float = 0.0

    def means(self) -> dict:
        n = max(self.count, 1)
        return {"loss": (self.recon + self.kl) / n, "recon": self.recon / n,
                "kl": self.kl / n, "objective": self.objective / n}


# --------------------------------------------------------------------------- service


class Trainer:
    """Runs one training job; see the module docstring."""

    def __init__(
        self,
        config: TrainConfig,
        on_event: Callable[[Event], None] | None = None,
        stop: StopFlag | None = None,
        resume: bool = False,
        dataset: Dataset | None = None,
        share: ThreadShare | None = None,
        lock: RunLock | None = None,
    ):
        self.config = config
        # Where given, the run's thread count follows the other work on the
        # machine (cpu_share.ThreadShare; the command passes one).
        self.share = share
        # The checkpoint's run lock where the caller holds it already (a name the
        # command chose and claimed: checkpoints.claim_checkpoint_path); released
        # when `run` returns or fails.
        self.lock = lock
        self.emit = on_event or (lambda event: None)
        self.stop = stop or _NeverStop()
        self.resume = resume
        self._dataset = dataset
        self.out = Path(config.out) if config.out else None
        self.history: list[dict] = []
        self.created: str | None = None
        self.gradients: str | None = None  # the step's path, once chosen
        # "data-mean" where the decoder's output bias started at the training
        # images' mean (models.start_at_mean_image); None: torch's default init
        # (runs from before it, and decoders it cannot set).
        self.output_bias: str | None = None
        self.average: WeightAverage | None = None  # evaluated and saved, when on
        self._metrics_started = False  # this (new) run created its metrics file

    # -- setup

    def _resume_from(self) -> Checkpoint:
        if self.out is None or not self.out.exists():
            raise TrainingError(f"cannot resume: {self.out} does not exist")
        checkpoint = load_checkpoint(self.out)
        if checkpoint.optimizer_state is None or "noise" not in checkpoint.rng_state:
            raise CheckpointError(f"{self.out} holds weights only (no optimizer state); "
                                  f"it cannot be resumed")
        saved = ModelConfig.from_dict(checkpoint.meta["model"])
        if saved != self.config.model:
            raise TrainingError(f"--resume: {self.out} was trained as {saved}, "
                                f"not {self.config.model}")
        return checkpoint

    def _setup(self):
        config = self.config
        device = resolve_device(config.device)
        if device.type == "cpu":
            # Denormal floats are ~100x slower on x86; gradients of a trained VAE
            # drift into that range. Flushing them changes no reported figure.
            torch.set_flush_denormal(True)
        dataset = self._dataset or load_dataset(config.model.dataset, config.data_dir,
                                                image_size=config.model.image_size,
                                                channels=config.model.channels)
        if dataset.image_shape != config.model.image_shape:
            raise TrainingError(f"{dataset.spec.title} images are {dataset.image_shape} "
                                f"(channels, height, width); the model takes "
                                f"{config.model.image_shape}")
        checkpoint = self._resume_from() if self.resume else None
        if checkpoint:
            model = checkpoint.model
            self.output_bias = checkpoint.meta.get("training", {}).get("output_bias")
        else:
            model = build_model(config.model, seed=config.seed)
            if start_at_mean_image(model, dataset.train.mean_image()):
                self.output_bias = "data-mean"
        model.to(device).train()
        optimizer = make_optimizer(model, config.lr, device)
        noise = torch.Generator(device).manual_seed(config.seed)
        start, sums = (0, 0), _EpochSums()
        if checkpoint:
            check_live_weights(checkpoint, averaged=config.average > 0)
        if config.average:
            # A resumed run's model holds the average; its live weights go on training.
            progress = checkpoint.meta["progress"] if checkpoint else {}
            # A run resumes with the spacing it started with (runs from before
            # the spacing updated the average after every step).
            self.average = WeightAverage(model, config.average,
                                         progress.get("average_steps", 0),
                                         progress.get("average_every", 1 if checkpoint
                                                      else AVERAGE_EVERY))
            if checkpoint:
                with torch.no_grad():
                    for name, param in model.named_parameters():
                        if name in checkpoint.live_weights:
                            param.copy_(checkpoint.live_weights[name])
        if checkpoint:
            self._restore(checkpoint, optimizer, noise, dataset)
            progress = checkpoint.meta["progress"]
            start = (progress["epochs_done"], progress.get("step", 0))
            sums = _EpochSums(**progress.get("partial", {}))
            self.history = list(checkpoint.meta["history"])
            self.created = checkpoint.meta.get("created")
        return device, dataset, model, optimizer, noise, start, sums

    def _restore(self, checkpoint: Checkpoint, optimizer, noise, dataset) -> None:
        """The optimizer's and the noise's saved state, each checked: a damaged
        checkpoint is one clear error, never a run that trains from garbage."""
        try:
            optimizer.load_state_dict(checkpoint.optimizer_state)
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(f"{self.out}: its optimizer state does not fit the "
                                  f"model ({exc})") from None
        problem = _optimizer_state_problem(optimizer)
        if problem:
            raise CheckpointError(f"{self.out}: its optimizer state does not fit the model "
                                  f"({problem})")
        for moments in optimizer.state.values():
            for name, value in moments.items():
                if torch.is_tensor(value) and not (
                        torch.isfinite(value).all() and (name != "exp_avg_sq"
                                                         or (value >= 0).all())):
                    raise CheckpointError(f"{self.out}: its optimizer state is damaged "
                                          f"({name} holds NaN, infinite or negative values)")
        try:
            noise.set_state(checkpoint.rng_state["noise"])
        except (RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{self.out}: its noise generator's state is damaged "
                                  f"({exc})") from None
        progress = checkpoint.meta["progress"]
        step = progress.get("step", 0)
        steps = math.ceil(len(dataset.train) / self.config.batch_size)
        if not 0 <= step < steps:
            raise CheckpointError(f"{self.out}: it was saved at step {step:,} of an epoch, "
                                  f"which has {steps:,} steps at batch size "
                                  f"{self.config.batch_size}")
        trained = progress["epochs_done"] * steps + step
        if progress.get("average_steps", 0) > trained:
            raise CheckpointError(f"{self.out}: its weights' average counts "
                                  f"{progress['average_steps']:,} steps, more than the "
                                  f"{trained:,} it was trained for")

    # -- persistence

    def _checkpoint_bytes(self) -> int:
        """About what a save writes: weights, Adam's two moments and (with an average)
        the live weights, float32, plus metadata (~300 bytes an epoch of history)."""
        copies = 4 if self.config.average else 3
        return (4 * copies * parameter_count(self.config.model) + 64 * 1024
                + 512 * self.config.epochs)

    def _save(self, model, optimizer, noise, epochs_done: int, step: int, sums: _EpochSums):
        if self.out is None:
            return
        progress = {"epochs_done": epochs_done, "step": step}
        if step:
            progress["partial"] = asdict(sums)
        if self.average is not None:
            progress["average_steps"] = self.average.steps
            progress["average_every"] = self.average.every
        training = {**self.config.training_dict(), "gradients": self.gradients}
        if self.output_bias:
            training["output_bias"] = self.output_bias
        meta = build_metadata(self.config.model, training, progress,
                              self.history, created=self.created)
        self.created = meta["created"]
        if self.average is None:
            save_checkpoint(self.out, model, meta, optimizer.state_dict(),
                            {"noise": noise.get_state()})
        else:  # the model's weights are the average; the live ones resume training
            with self.average.applied() as live:
                save_checkpoint(self.out, model, meta, optimizer.state_dict(),
                                {"noise": noise.get_state()}, live_weights=live)
        self.emit(CheckpointSaved(str(self.out), epochs_done, step))

    def _write_metrics(self, rewrite: bool) -> None:
        if self.out is None:
            return
        path = metrics_path(self.out)
        lines = self.history if rewrite else self.history[-1:]
        data = memoryview("".join(json.dumps(record) + "\n" for record in lines).encode())
        try:  # never through a link planted at the metrics file's name
            fd = open_for_writing(path, os.O_WRONLY | os.O_CREAT | (0 if rewrite else os.O_APPEND))
            try:
                if rewrite and os.fstat(fd).st_size:
                    os.ftruncate(fd, 0)
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)
        except OSError as exc:  # a full disk, a planted link: one line, the checkpoint is kept
            raise TrainingError(f"cannot write {path}: {exc.strerror or exc}") from None

    # -- the loop

    def run(self) -> Finished:
        """Train to `config.epochs`; returns the Finished event (also emitted)."""
        # The run flushes denormals (_setup); the calling thread gets its own
        # setting back after: left on, it made `0 < 1e-310` false in the caller's
        # later Python code (the CPU's flags are per thread, and Python's floats
        # use them).
        flushing = not 5e-324 > 0.0
        try:
            return self._run_checked()
        finally:
            torch.set_flush_denormal(flushing)
            if self.lock is not None:  # a claimed name's lock too, where a check failed
                self.lock.release()

    def _run_checked(self) -> Finished:
        try:
            self.config.validate()
            check_training_memory(self.config)  # before a byte of the model is allocated
            if self.out is None:
                return self._run()
            check_writable(self.out, self.resume, self._checkpoint_bytes())
            with self.lock or RunLock(self.out):  # one run per checkpoint
                return self._run()
        except KeyboardInterrupt:  # aborted (a second Ctrl-C): what was saved stays
            self._drop_empty_metrics()
            raise
        except TuiVaeError as exc:
            self._drop_empty_metrics()
            self.emit(Failed(str(exc)))
            raise
        except Exception as exc:
            self._drop_empty_metrics()
            self.emit(Failed(f"training failed: {type(exc).__name__}: {exc}"))
            raise

    def _drop_empty_metrics(self) -> None:
        """A new run that failed before its first save leaves nothing behind: the
        metrics file it started, still empty, goes (a later run would refuse it)."""
        if not self._metrics_started or self.out is None or self.out.exists():
            return
        path = metrics_path(self.out)
        try:
            if os.lstat(path).st_size == 0:
                path.unlink()
        except OSError:
            pass  # gone already, or not ours to remove: left as it is

    def _run(self) -> Finished:
        config = self.config
        device, dataset, model, optimizer, noise, (epoch0, step0), sums = self._setup()
        images = dataset.train.images.to(device)
        labels = dataset.train.labels.to(device)
        n = len(dataset.train)
        steps = math.ceil(n / config.batch_size)
        # The hand-derived step where it provably applies, autograd elsewhere.
        update = AdamUpdate(optimizer)
        elbo_step = choose_step(model, config.step, update)
        self.gradients = elbo_step.name
        share = self.share if device.type == "cpu" else None
        if share is not None:
            share.start(torch.get_num_threads(), torch.set_num_threads,
                        lambda threads: same_on_threads(model, config, dataset, device, threads),
                        lambda threads, full: self.emit(ThreadsChanged(threads, full)))
        self.emit(Started(config, str(device), n, len(dataset.test), steps,
                          (epoch0, step0) if self.resume else None, elbo_step.name))
        self._write_metrics(rewrite=True)
        self._metrics_started = not self.resume  # this run made the file (a new run)
        conditional = config.model.conditional
        binarize = dataset.spec.binarize
        taken = 0  # steps this process took: a stop before the first has nothing to save
        for epoch in range(epoch0, config.epochs):
            perm = epoch_permutation(n, config.seed, epoch).to(device)
            window_start, window_samples = time.perf_counter(), 0
            for step in range(step0, steps):
                if self.stop.is_set():
                    if taken == 0:  # a new run leaves nothing; a resumed one its checkpoint
                        self._drop_empty_metrics()
                        return self._finish(epoch, stopped=True, saved=self.resume)
                    self._save(model, optimizer, noise, epoch, step, sums)
                    return self._finish(epoch, stopped=True)
                if share is not None:
                    share.tick()
                tick = time.perf_counter()
                index = perm[step * config.batch_size : (step + 1) * config.batch_size]
                x = to_floats(images.index_select(0, index))  # (B, C, H, W) in [0, 1]
                if binarize:  # dynamic binarisation: a fresh draw of every training image
                    x = torch.bernoulli(x, generator=noise)
                cond = labels.index_select(0, index) if conditional else None
                progress = epoch + step / steps
                weight = kl_weight(config.model.beta, config.kl_warmup, progress)
                lr = learning_rate(config, progress)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                # One host sync a step: the loss parts, also the NaN check.
                objective, recon, kl = elbo_step(x, cond, weight, noise)
                if not math.isfinite(objective):
                    kept = ("; the last good checkpoint is kept" if self.out and self.out.exists()
                            else "; no checkpoint had been saved" if self.out else "")
                    raise TrainingError(f"the loss became {objective} at epoch {epoch + 1}, "
                                        f"step {step + 1} (try a lower --lr){kept}")
                update()
                taken += 1
                if self.average is not None:
                    self.average.update()
                b = index.shape[0]
                sums.objective += objective * b
                sums.recon += recon * b
                sums.kl += kl * b
                sums.count += b
                sums.seconds += time.perf_counter() - tick
                window_samples += b
                if (step + 1) % config.log_every == 0 or step + 1 == steps:
                    now = time.perf_counter()
                    rate = window_samples / max(now - window_start, 1e-9)
                    window_start, window_samples = now, 0
                    self.emit(StepLogged(epoch, step + 1, steps, epoch * steps + step + 1,
                                         recon + kl, recon, kl, weight, lr, rate))
            self._end_epoch(model, optimizer, noise, dataset, epoch, sums)
            step0, sums = 0, _EpochSums()
        return self._finish(config.epochs, stopped=False)

    def _end_epoch(self, model, optimizer, noise, dataset, epoch, sums):
        # The weights a run saves are the ones its test figures are of.
        with self.average.applied() if self.average else contextlib.nullcontext():
            test = evaluate_elbo(model, dataset.test, seed=self.config.seed,
                                 batch_size=self.config.eval_batch_size).to_dict()
        record = {"epoch": epoch + 1, "train": sums.means(), "test": test,
                  "seconds": sums.seconds}
        self.history.append(record)
        self.emit(EpochEnded(epoch, self.config.epochs, record["train"], test, sums.seconds))
        self._save(model, optimizer, noise, epoch + 1, 0, sums)
        self._write_metrics(rewrite=False)

    def _finish(self, epochs_done: int, stopped: bool, saved: bool = True) -> Finished:
        """`saved`: whether `out` holds this run (False: stopped before anything was saved)."""
        path = str(self.out) if self.out and saved else None
        event = Finished(epochs_done, stopped, path, tuple(self.history))
        self.emit(event)
        return event

