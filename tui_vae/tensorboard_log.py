"""TensorBoard event files from a training run's events (`tui-vae train --tensorboard DIR`).

An event consumer like the console reporter: it reads only what the training
service emits, so the trainer knows nothing of TensorBoard. The metrics JSONL
beside the checkpoint stays the record; this is a view for people who already
use TensorBoard. Writing needs the optional `tensorboard` package
(`pip install "tui-vae[tensorboard]"`), which torch's SummaryWriter imports.

What is written, under DIR/<checkpoint name>/ so that runs sharing DIR sit side
by side in TensorBoard:
- `step/loss`, `step/recon`, `step/kl`, `step/kl_weight`, `step/lr`,
  `step/samples_per_s` at each logged step (x = global step);
- `epoch/train_loss`, `epoch/train_recon`, `epoch/train_kl`, `epoch/test_loss`,
  `epoch/test_recon`, `epoch/test_kl`, `epoch/seconds` (x = epochs done);
- `samples`: a grid decoded from the same z after every epoch (x = epochs done),
  so the images can be compared across epochs; a cVAE's grid has a class per column;
- `config`: the run's settings, as text, at the start.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import asdict
from pathlib import Path

from tui_vae.events import CheckpointSaved, EpochEnded, Failed, Finished, Started, StepLogged
from tui_vae.safe_files import UnsafePathError

INSTALL_HINT = ('--tensorboard needs the tensorboard package: '
                'pip install "tui-vae[tensorboard]" (or: pip install tensorboard; with pipx: '
                'pipx inject tui-vae tensorboard)')
STEP_TAGS = ("loss", "recon", "kl", "kl_weight", "lr", "samples_per_s")
EPOCH_PARTS = ("loss", "recon", "kl")
SAMPLE_SEED = 0  # the same z every epoch


class TensorBoardMissing(ImportError):
    """The optional tensorboard package is not installed."""


def summary_writer_class():
    """torch's SummaryWriter, or TensorBoardMissing (with the install line) without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises this when `tensorboard` cannot be imported
        raise TensorBoardMissing(INSTALL_HINT) from exc
    return SummaryWriter


def run_folder(log_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> Path:
    """Where one run's event files go: a folder named after its checkpoint."""
    return Path(log_dir) / Path(checkpoint).stem


def make_run_folder(folder: Path) -> None:
    """Create a run's folder, refusing a link or a non-folder in its place (OSError):
    a link planted there would send the event files wherever it points."""
    if folder.is_symlink():
        raise UnsafePathError(errno.ELOOP, f"{folder} is a symbolic link; refusing to write "
                                           f"through it (remove it or choose another path)")
    if folder.exists() and not folder.is_dir():
        raise UnsafePathError(errno.ENOTDIR, f"{folder} is not a folder")
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    # torch's SummaryWriter opens its event file by a predictable name with a plain
    # open(): in a run folder other users can write (or own), a link planted under
    # that name received the events, overwriting what it pointed at.
    info, me = folder.stat(), getattr(os, "geteuid", lambda: None)()  # None: no owners
    if (me is not None and info.st_uid != me) or info.st_mode & stat.S_IWOTH:
        raise UnsafePathError(errno.EACCES, f"{folder} can be written by other users; a "
                                            f"file planted there would receive the event "
                                            f"files (give a folder only you can write)")


class TensorBoardLogger:
    """Callable training-event consumer that writes TensorBoard scalars and images."""

    def __init__(self, log_dir: str | os.PathLike, samples: int = 16):
        self.log_dir = Path(log_dir)
        self.samples = samples
        writer_class = summary_writer_class()
        make_run_folder(self.log_dir)
        self._writer = writer_class(log_dir=str(self.log_dir))

    def __call__(self, event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_Started(self, event: Started) -> None:
        settings = {"device": event.device, "train_size": event.train_size,
                    "test_size": event.test_size, **asdict(event.config)}
        # Markdown code block: TensorBoard renders text summaries as Markdown.
        self._writer.add_text("config", "```\n" + json.dumps(settings, indent=2, default=str)
                              + "\n```", global_step=0)

    def _on_StepLogged(self, event: StepLogged) -> None:
        for tag in STEP_TAGS:
            self._writer.add_scalar(f"step/{tag}", getattr(event, tag), event.global_step)

    def _on_EpochEnded(self, event: EpochEnded) -> None:
        done = event.epoch + 1
        for split, parts in (("train", event.train), ("test", event.test)):
            for part in EPOCH_PARTS:
                self._writer.add_scalar(f"epoch/{split}_{part}", parts[part], done)
        self._writer.add_scalar("epoch/seconds", event.seconds, done)
        self._writer.flush()

    def _on_CheckpointSaved(self, event: CheckpointSaved) -> None:
        if event.step == 0:  # an epoch boundary, not a mid-epoch stop
            picture = self.sample_grid(event.path)
            self._writer.add_image("samples", picture, event.epochs_done,
                                   dataformats="HW" if picture.ndim == 2 else "HWC")
            self._writer.flush()

    def _on_Finished(self, event: Finished) -> None:
        self.close()

    def _on_Failed(self, event: Failed) -> None:
        self.close()

    def sample_grid(self, checkpoint: str | os.PathLike):
        """Samples of the checkpoint as one uint8 grid (H, W) or (H, W, C), from fixed z."""
        from tui_vae.export import grid
        from tui_vae.inference import load

        model = load(checkpoint)
        config = model.config
        labels, columns = None, None
        if config.conditional:
            columns = config.num_classes
            labels = [i % columns for i in range(max(self.samples // columns, 1) * columns)]
        count = len(labels) if labels else self.samples
        images = model.sample(count, labels, seed=SAMPLE_SEED).cpu().permute(0, 2, 3, 1).numpy()
        return grid(images[..., 0] if images.shape[3] == 1 else images, columns, gap=2)

    def close(self) -> None:
        self._writer.close()
