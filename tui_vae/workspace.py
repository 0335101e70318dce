"""What the explorer works on: checkpoint folders, the images to show, loaded models.

Plain Python (the TUI is a thin layer over it, and tests drive it directly).
Listing reads checkpoint headers only; torch is imported the first time a model
or the images are loaded, which the app does in a background worker so that
its first paint does not wait for torch.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui_vae import paths
from tui_vae.checkpoints import (
    SUFFIX,
    BadCheckpoint,
    CheckpointInfo,
    metrics_path,
)
from tui_vae.datasets import dataset_spec
from tui_vae.errors import CheckpointError, DataError, TrainingError
from tui_vae.listing import CachedListing, SubFolders
from tui_vae.paths import SHIPPED_PREFIX, is_shipped_model, runs_dir
from tui_vae.run_lock import RunLock

if TYPE_CHECKING:
    from tui_vae.data import Split
    from tui_vae.inference import TrainedModel

# The shipped models: the installed package's copy, else the checkout's
# checkpoints/ (None when neither is there). User runs never go here.
SHIPPED_DIR = paths.shipped_dir()
SAMPLE_SOURCE = "1,000 bundled digits"  # of the MNIST test set; short for 80 columns
# What a model trained on the sample (--dataset mnist-sample) is shown: its test split.
SAMPLE_TEST_SOURCE = "200 bundled test digits"

Entry = CheckpointInfo | BadCheckpoint

# Numbers as runs' names hold them, a sweep's included (beta0.25, lr1e-05).
_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def natural_key(name: str) -> tuple:
    """A sort key reading numbers as numbers: "run9" < "run10" < "Run11", and
    "beta0.25" < "beta0.5" < "beta2". Ties (names that differ only in case or
    in how a number is written) fall back to the name."""
    parts = _NUMBER.split(name)
    return tuple((1, float(part), "") if index % 2 else (0, 0, part.casefold())
                 for index, part in enumerate(parts)) + ((-1, 0, name),)


@dataclass(frozen=True)
class ViewImages:
    """The test images the views show, and where they came from."""

    split: Split
    dataset: str  # the dataset's name ("mnist", ...)
    source: str  # said in the header, e.g. "MNIST test set (10,000)"
    classes: tuple[str, ...]
    note: str = ""  # the dataset's one line, e.g. unreadable files skipped in a folder


# Models kept loaded, the most recently used: enough for Compare's two sides,
# the active model and a few visited in Models or Runs.
MODELS_KEPT = 8


class Workspace:
    """Checkpoint folders, a data folder and a device; caches models and images."""

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        shipped_dir: str | os.PathLike | None = SHIPPED_DIR,
        export_dir: str | os.PathLike = "exports",
    ):
        # The user's folder: new runs from the Train view go here (default runs/).
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else runs_dir()
        self.export_dir = Path(export_dir)
        self.shipped_dir = Path(shipped_dir) if shipped_dir else None
        self.data_dir = data_dir
        self.device = device
        self._models: dict[tuple, TrainedModel] = {}
        self._images: dict[tuple, ViewImages] = {}  # by (dataset, shape)
        self._lock = threading.Lock()  # workers and the UI thread share the caches
        self._listing = CachedListing()  # checkpoint headers, cached by (mtime, size)
        self._sub_folders = SubFolders(self.checkpoint_dir)  # a sweep's --out-dir runs/beta
        self._entries: list[Entry] | None = None  # the last scan's result, sorted
        # The user's own model (--model-factory): the factory and weights named, then,
        # once `open_user_model` loaded it, its listing entry and the loaded model.
        self.user_model_spec: tuple[str, Path] | None = None
        self._user_entry: CheckpointInfo | None = None
        self._user_model: TrainedModel | None = None

    def export_path(self, view: str, suffix: str = ".png") -> Path:
        """A new path for an export of `view`: exports/<view>-<time>.png (or `suffix`),
        never reused."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = view.lower().replace(" ", "-")
        path = self.export_dir / f"{name}-{stamp}{suffix}"
        counter = 1
        while os.path.lexists(path):
            counter += 1
            path = self.export_dir / f"{name}-{stamp}-{counter}{suffix}"
        return path

    # -- the user's own model (tui_vae/user_models.py)

    def set_user_model(self, factory: str, weights: str | os.PathLike) -> None:
        """Name the user's model ("package.module:function" and a safetensors file); it
        is loaded by `open_user_model`, in a worker."""
        self.user_model_spec = (factory, Path(weights).absolute())

    def open_user_model(self) -> CheckpointInfo | None:
        """Import the factory, load and check the user's model (torch: a worker's job).

        Its entry joins the listing from the next scan. None without a factory;
        a failure raises the one-line error (UserModelError, CheckpointError)."""
        if self.user_model_spec is None:
            return None
        from tui_vae.user_models import FactorySpecError, UserModelError, load_user_model

        factory, weights = self.user_model_spec
        try:
            model = load_user_model(factory, weights, self.device)
        except FactorySpecError as exc:
            raise UserModelError(f"--model-factory: {exc}") from None
        with self._lock:
            self._user_model, self._user_entry = model, model.info
            self._entries = None  # the next scan lists it
        return model.info

    @property
    def user_entry(self) -> CheckpointInfo | None:
        """The user's model as Models lists it, once loaded."""
        return self._user_entry

    # -- checkpoints (headers only, no torch)

    def top_folders(self) -> list[Path]:
        """The folders named to the user: theirs, then the shipped models' (when not
        the same)."""
        folders = [self.checkpoint_dir]
        if self.shipped_dir and self.shipped_dir.is_dir():
            # realpath, not resolve(): a --checkpoints link loop raised, and the
            # shipped models were hidden too.
            if os.path.realpath(self.shipped_dir) != os.path.realpath(self.checkpoint_dir):
                folders.append(self.shipped_dir)
        return folders

    def folders(self) -> list[Path]:
        """The folders listed: the user's, its direct sub-folders (a sweep's
        `--out-dir runs/beta`), then the shipped models'."""
        mine, *shipped = self.top_folders()
        return [mine, *(f for f in self._sub_folders() if f not in shipped), *shipped]

    def label(self, path: Path) -> str:
        """A checkpoint's name as the lists show it: its file name, with its sub-folder
        in front where it sits in one of the user's (`beta/b0.5.safetensors`), since
        two sweeps name their runs alike."""
        if path.parent != self.checkpoint_dir and path.parent.parent == self.checkpoint_dir:
            return f"{path.parent.name}/{path.name}"
        return path.name

    def list_name(self, path: Path) -> str:
        """`label` without the `.safetensors` every checkpoint has: the name the lists
        show and `sample`, `eval` and `tui_vae.load` take (`beta/b0.5`, `vae`).

        A shipped model whose name a run of the user's has too is `shipped/cvae`:
        two rows both named `cvae` differed only in their epochs at 80 columns."""
        name = self.label(path).removesuffix(SUFFIX)
        mine = self.checkpoint_dir / path.name
        if self.is_shipped(path) and mine.is_file() and mine.resolve() != path.resolve():
            return f"{SHIPPED_PREFIX}/{name}"
        return name

    def list_order(self, path: Path) -> tuple:
        """Where `path` goes in the lists: shipped models first, then by the name shown
        (by file name, "vae.safetensors" came after "vae-binary.safetensors"),
        numbers by value (run9 before run10) and letters regardless of case."""
        return not self.is_shipped(path), natural_key(self.list_name(path))

    def is_shipped(self, path: Path) -> bool:
        """Whether `path` is a shipped model: in the shipped folder and one of its names.

        A user's run saved into that folder is the user's, not shipped.
        """
        return is_shipped_model(path, self.shipped_dir)

    def scan(self, full: bool = False) -> list[Entry]:
        """Every checkpoint in the folders: shipped ones first, then by name.

        Cached (see `tui_vae.listing`): only changed folders are listed and only
        changed files' headers read, and while nothing changed the very same
        list comes back, so callers can tell by identity. `full` also stats
        every file. Meant for a worker thread: a cold scan of a big folder
        takes seconds.
        """
        entries, changed = self._listing.scan(self.folders(), full)
        if changed or self._entries is None:
            user = self._user_entry
            if user is not None:  # first; its weights file is not listed twice
                entries = [user, *(e for e in entries if e.path.absolute() != user.path)]
            self._entries = sorted(entries, key=lambda e: (e is not user,
                                                           *self.list_order(e.path)))
        return self._entries

    @property
    def header_reads(self) -> int:
        """How many checkpoint headers the scans have read (the cache's misses)."""
        return self._listing.reads

    @property
    def scan_problems(self) -> list[str]:
        """The folders the last scan could not read, one line each."""
        return self._listing.problems

    def default_checkpoint(self, entries: list[Entry]) -> Path | None:
        """The one to open with: the user's own model (--model-factory), else the shipped
        VAE, else the first readable checkpoint."""
        if self._user_entry is not None and self._user_entry in entries:
            return self._user_entry.path
        valid = [e for e in entries if isinstance(e, CheckpointInfo)]
        for entry in valid:
            if self.is_shipped(entry.path) and entry.path.name == f"vae{SUFFIX}":
                return entry.path
        return valid[0].path if valid else None

    def default_pair(self, entries: list[Entry]) -> tuple[Path | None, Path | None]:
        """The report's comparison: a beta > 0 VAE against a beta = 0 one.

        Taken from the shipped models when they hold such a pair, so that the
        user's runs never change it; else from every checkpoint.
        """
        valid = [e for e in entries if isinstance(e, CheckpointInfo) and e.epochs_done]
        shipped = [e for e in valid if self.is_shipped(e.path)]
        pair = self._kl_pair(shipped)
        if pair:
            return pair
        pair = self._kl_pair(valid)
        if pair:
            return pair
        first = [e.path for e in valid[:2]] + [None, None]
        return first[0], first[1]

    @staticmethod
    def _kl_pair(valid: list[CheckpointInfo]) -> tuple[Path, Path] | None:
        """A beta > 0 model and a beta = 0 one, preferring the beta = 0 run's twin."""
        with_kl = [e for e in valid if e.model_config["beta"] > 0]
        without = [e for e in valid if e.model_config["beta"] == 0]
        if with_kl and without:
            # Prefer the beta = 0 run's twin: the same settings but beta (the
            # report's Figure 1 compares the same network with and without the
            # KL term), else the same kind and latent size.
            twin = _settings(without[0].model_config)

            def differences(entry: CheckpointInfo) -> tuple[bool, int]:
                config = _settings(entry.model_config)
                loose = (config["model"], config["latent_dim"]) != (twin["model"],
                                                                    twin["latent_dim"])
                return loose, sum(config.get(k) != twin.get(k) for k in twin if k != "beta")

            return min(with_kl, key=differences).path, without[0].path
        return None

    def delete(self, path: Path) -> None:
        """Delete a checkpoint and its metrics file; the shipped models are refused."""
        if path.suffix != SUFFIX:
            raise CheckpointError(f"{path} is not a checkpoint")
        if self.is_shipped(path):  # in an installed tui-vae they live inside the package
            raise CheckpointError(f"{path.name} is a shipped model; it cannot be deleted")
        if self._user_entry is not None and path == self._user_entry.path:
            raise CheckpointError(f"{path.name} holds the weights of your own model "
                                  f"(--model-factory); tui-vae leaves it alone")
        # Held while deleting: a run of another process (a `tui-vae train`) holds it
        # while it trains, and would save the file again at its next epoch, its
        # metrics cut to the epochs after the delete.
        lock = RunLock(path)
        try:
            lock.acquire()
        except TrainingError as exc:
            if lock.owner:
                raise CheckpointError(f"cannot delete {path.name}: it is being trained by "
                                      f"{lock.owner}; stop that run first") from None
            raise CheckpointError(f"cannot delete {path.name}: {exc}") from None
        try:
            path.unlink()
            metrics_path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise CheckpointError(f"cannot delete {path}: {exc.strerror or exc}") from None
        finally:
            lock.release()
        with self._lock:
            self._models = {k: v for k, v in self._models.items()
                            if k[0] != os.path.realpath(path)}

    # -- models and images (torch)

    def model(self, path: Path) -> TrainedModel:
        """Load (or reuse) the model in `path`; a changed file is loaded again."""
        from tui_vae.inference import load

        if self._user_entry is not None and path == self._user_entry.path:
            return self._user_model  # loaded once, by open_user_model
        stat = path.stat()
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            model = self._models.pop(key, None)
            if model is None:
                model = load(path, self.device)
                # A changed file replaces what was loaded of it: the app's own run
                # saves after every epoch (many a second on a small dataset), and
                # each version kept would be memory never given back.
                self._models = {k: v for k, v in self._models.items() if k[0] != key[0]}
            self._models[key] = model  # the most recently used last
            while len(self._models) > MODELS_KEPT:
                del self._models[next(iter(self._models))]
            return model

    def images(self, dataset: str, shape: tuple[int, int, int] | None = None) -> ViewImages:
        """The test set of `dataset` when it is on disk, else the bundled MNIST sample.

        With `shape` (a model's (C, H, W)), the images come in that shape: the
        dataset read at that size, and the sample (or anything else of another
        shape) resized and made grey or colour to match, so every view can encode
        them. Never downloads: the explorer must open offline and at once.
        """
        from tui_vae.data import dataset_available, load_dataset, load_sample

        shape = tuple(shape) if shape is not None else None
        with self._lock:
            key = (dataset, shape)
            if key not in self._images:
                spec = dataset_spec(dataset)
                found, unreadable = None, ""
                if dataset != "mnist-sample" and dataset_available(dataset, self.data_dir):
                    channels, size = (shape[0], shape[1]) if shape else (None, None)
                    try:
                        loaded = load_dataset(dataset, self.data_dir, download=False,
                                              image_size=size, channels=channels)
                    except DataError as exc:
                        # The model is fine: it opens on the sample, and the notice
                        # names the data (not the checkpoint) as what failed.
                        unreadable = (f"{spec.title} in {self.data_dir} cannot be read ({exc}); "
                                      f"the views show the bundled sample")
                    else:
                        test = loaded.test
                        found = ViewImages(test, dataset,
                                           f"{spec.title} test set ({len(test):,})",
                                           spec.classes, loaded.note)
                if found is None and dataset == "mnist-sample":
                    # Its own test split: the other 800 of the 1,000 digits are what
                    # a model of this dataset trained on (shown as "test" before).
                    test = load_dataset("mnist-sample", self.data_dir, download=False).test
                    found = ViewImages(test, "mnist", SAMPLE_TEST_SOURCE,
                                       dataset_spec("mnist").classes, "")
                if found is None:
                    sample = load_sample()
                    found = ViewImages(sample, "mnist", SAMPLE_SOURCE,
                                       dataset_spec("mnist").classes, unreadable)
                if shape is not None and tuple(found.split.image_shape) != shape:
                    from tui_vae.gallery import conform

                    c, h, w = shape
                    found = ViewImages(conform(found.split, shape), found.dataset,
                                       f"{found.source}, as {'colour' if c == 3 else 'grey'} "
                                       f"{h}x{w}", found.classes, found.note)
                self._images[key] = found
            return self._images[key]


def _settings(model_config: dict) -> dict:
    """A checkpoint's model settings with the defaults its (older) metadata left out."""
    from dataclasses import asdict

    from tui_vae.config import ModelConfig

    try:
        return asdict(ModelConfig.from_dict(model_config))
    except (TypeError, ValueError):  # listed as valid, so this is not expected; compare as is
        return dict(model_config)
