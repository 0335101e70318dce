"""Datasets as in-memory uint8 tensors: IDX files, the bundled sample, generated shapes,
colour datasets and image folders.

Training never goes through a per-sample transform or a DataLoader: each split
is one uint8 tensor of images, (N, H, W) grey or (N, H, W, 3) colour (channels
last, as image files hold them), plus an int64 label tensor and, for the shapes
dataset, a float32 factor tensor; the trainer slices batches out of it and
`to_floats` turns a batch into (N, C, H, W) floats. Reading the files ourselves
(instead of through torchvision's dataset classes) keeps `import torchvision`
off every path but the download, never unpickles anything, and lets us answer
malformed files with a clear error. The readers of the colour datasets and of
folders live in `colour_datasets.py` and `image_folder.py`; this module picks
one by the spec's `reader`.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from tui_vae.datasets import IMAGE_SIZE, OFFLINE_HINT, DatasetSpec, dataset_spec
from tui_vae.errors import DataError

DATA_DIR_ENV = "TUI_VAE_DATA_DIR"
SAMPLE_ASSET = "mnist_sample.npz"

# torchvision's file names, shared by MNIST, Fashion-MNIST and KMNIST.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_UBYTE = 0x08
# The largest IDX file read: 1 GiB of pixels (1.3 million 28x28 images, twenty
# times MNIST's training set). Checked against the header before reading.
MAX_IDX_BYTES = 1 << 30


def to_floats(images: torch.Tensor) -> torch.Tensor:
    """uint8 images, (N, H, W) grey or (N, H, W, 3) colour, as (N, C, H, W) float32 in [0, 1].

    The one conversion from stored pixels to a model's input (the trainer's
    batches, `Split.floats`, evaluation).
    """
    if images.dim() == 4:  # channels last -> channels first, in a plain contiguous layout
        x = images.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
    else:
        x = images.unsqueeze(1).to(torch.float32)
    return x.div_(255.0)


@dataclass(frozen=True)
class Split:
    """One split of a dataset, whole, in memory."""

    images: torch.Tensor  # (N, H, W) grey or (N, H, W, 3) colour, uint8, 0 = black
    labels: torch.Tensor  # (N,) int64 class indices
    factors: torch.Tensor | None = None  # (N, F) float32 known factors (shapes), else None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        channels = self.images.shape[3] if self.images.dim() == 4 else 1
        return (int(channels), int(self.images.shape[1]), int(self.images.shape[2]))

    def floats(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Images (all, or those at `index`) as (N, C, H, W) float32 in [0, 1]."""
        return to_floats(self.images if index is None else self.images[index])

    def mean_image(self) -> torch.Tensor:
        """The split's average image, (C, H, W) float32 in [0, 1]: summed exactly in
        integers, a few MB at a time whatever the split's size."""
        # torch widens a whole tensor before summing it: in slices of about 4 million
        # pixels, that copy stays at 16 MB (int32 holds any such slice's sum exactly).
        step = max(1, (1 << 22) // max(1, math.prod(self.images.shape[1:])))
        total = torch.zeros(self.images.shape[1:], dtype=torch.int64)
        for start in range(0, len(self), step):
            total += self.images[start:start + step].sum(0, dtype=torch.int32)
        total = total.to(torch.float64)
        average = total / (255.0 * max(len(self), 1))
        # (H, W, 3) channels-last colour -> (3, H, W); (H, W) grey -> (1, H, W)
        average = average.permute(2, 0, 1) if average.dim() == 3 else average.unsqueeze(0)
        return average.to(torch.float32).contiguous()

    def subset(self, index: torch.Tensor | slice) -> Split:
        """The images, labels and factors at `index`, as a Split."""
        factors = None if self.factors is None else self.factors[index]
        return Split(self.images[index], self.labels[index], factors)


@dataclass(frozen=True)
class Dataset:
    """A dataset's train and test splits, what its classes are called, its image shape."""

    spec: DatasetSpec
    train: Split
    test: Split
    root: Path | None  # where it was read from; None for the bundled sample and shapes
    note: str = ""  # one line for the user, e.g. how many unreadable files were skipped

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of its images."""
        return self.train.image_shape

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Names of the columns of `Split.factors` (() where none are stored)."""
        return self.spec.factor_names if self.train.factors is not None else ()

    @property
    def factor_kinds(self) -> tuple[str, ...]:
        """"categorical", "linear" or "circular" per factor (tui_vae/factors.py)."""
        return self.spec.factor_kinds if self.train.factors is not None else ()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where datasets live: the argument, else $TUI_VAE_DATA_DIR, else a user cache."""
    given = data_dir or os.environ.get(DATA_DIR_ENV)
    if given:
        try:
            return Path(given).expanduser()
        except RuntimeError:  # "~nobody/data": Python cannot find that user's home
            where = "" if data_dir else f" ({DATA_DIR_ENV})"
            raise DataError(f"cannot use {given} as the data folder{where}: no such "
                            f"user's home folder") from None
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tui-vae")) / "data"


MAX_IDX_DIMS = 4  # more than any IDX file of images or labels has (numpy stops at 64)


def _idx_header(path: Path, handle) -> tuple[tuple[int, ...], int]:
    """Read and check an IDX header; returns the shape and the header's length."""
    magic = handle.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != _IDX_UBYTE:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = magic[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:  # MNIST's files have 1 (labels) or 3 (images)
        raise DataError(f"{path} has a malformed IDX header ({ndim} dimensions; at most "
                        f"{MAX_IDX_DIMS})")
    dims = handle.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} has a malformed IDX header")
    shape = tuple(int.from_bytes(dims[4 * i : 4 + 4 * i], "big") for i in range(ndim))
    return shape, 4 + 4 * ndim


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (plain or .gz), checking its header and size.

    Memory is bounded by the header, never by the file: the declared size must be
    under MAX_IDX_BYTES, a plain file's length is compared with it before any data
    is read, and a .gz file is inflated only up to the declared size (plus one
    byte, to notice a longer stream).
    """
    compressed = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as handle:
            shape, header = _idx_header(path, handle)
            expected = math.prod(shape)  # Python ints: no overflow whatever the header says
            if expected > MAX_IDX_BYTES:
                raise DataError(f"{path} declares shape {shape} ({expected:,} bytes), over "
                                f"the {MAX_IDX_BYTES:,}-byte limit for one IDX file")
            size = None if compressed else os.fstat(handle.fileno()).st_size
            if size is None or size == header + expected:
                data = handle.read(expected + 1)
                size = header + len(data)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read {path}: {exc}") from None
    if size != header + expected:
        kind = "truncated" if size < header + expected else "longer than its header says"
        # A .gz stream is read one byte past the declared size, never further.
        found = f"more than {header + expected}" if compressed and size > header + expected \
            else f"{size}"
        raise DataError(f"{path} is {kind}: {found} bytes, expected {header + expected} "
                        f"for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):
            # A FIFO, a device, a folder or a dangling link under a data file's
            # name: said as such, never taken for a missing file, which a download
            # would then write to.
            raise DataError(f"{candidate} is not a regular file; remove it, and the "
                            f"dataset is read (or downloaded) again")
    return None


def _raw_folder(root: Path, spec: DatasetSpec) -> Path | None:
    """The folder holding the IDX files: torchvision's <root>/<Folder>/raw, or root itself."""
    for folder in (root / spec.folder / "raw", root):
        if all(_find_file(folder, name) for pair in SPLIT_FILES.values() for name in pair):
            return folder
    return None


def _read_split(folder: Path, images_name: str, labels_name: str) -> Split:
    images_path = _find_file(folder, images_name)
    labels_path = _find_file(folder, labels_name)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{images_path} holds images of shape {images.shape[1:]}, not 28x28")
    if labels.ndim != 1:
        raise DataError(f"{labels_path} holds labels of shape {labels.shape}, not one "
                        f"label per image")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{images_path} has {images.shape[0]} images but "
            f"{labels_path.name} has {labels.shape[0]} labels"
        )
    if not len(images):  # nothing to train on or to show: said here, once
        raise DataError(f"{images_path} holds no images")
    if labels.size and labels.max() >= 10:
        raise DataError(f"{labels_path} has labels outside 0-9")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def _raw_only(dataset_class: type) -> type:
    """torchvision's dataset class, minus its legacy reader of processed/*.pt files.

    Those are torch.save pickles; tui-vae never unpickles data, so a folder with
    only processed files is downloaded again as raw IDX files (or refused offline).
    """

    if not isinstance(dataset_class, type):  # a stand-in (tests): nothing to override
        return dataset_class

    def _check_legacy_exist(self) -> bool:
        return False

    def _load_legacy_data(self):
        raise DataError(f"{self.processed_folder} holds pickled data; tui-vae reads "
                        f"only the raw IDX files")

    # The class's own name: torchvision puts the files in root/<class name>/raw
    # (a subclass named otherwise would download MNIST into root/RawOnly/raw).
    return type(dataset_class.__name__, (dataset_class,),
                {"_check_legacy_exist": _check_legacy_exist,
                 "_load_legacy_data": _load_legacy_data})


def _download(root: Path, spec: DatasetSpec) -> None:
    """Fetch the dataset the ordinary torchvision way; one clear error when offline."""
    hint = (
        f"point tui-vae at local files with --data-dir DIR or {DATA_DIR_ENV}=DIR "
        f"(expects DIR/{spec.folder}/raw/train-images-idx3-ubyte and the other three files)"
    )
    if spec.folder == "MNIST":  # MNIST and binarised MNIST: the bundled digits work offline
        hint += OFFLINE_HINT
    # The folders a failed download leaves empty are removed again: a mistyped
    # --data-dir must not leave a tree behind (or one at the filesystem's root).
    where = Path(root).absolute()
    if os.path.lexists(where) and not where.is_dir():  # a download into it cannot work
        raise DataError(f"{spec.title} is not in {root}: the data folder {root} is not a "
                        f"folder; {hint}")
    made = [folder for folder in (where / spec.folder / "raw", where / spec.folder, where,
                                  *where.parents) if not folder.exists()]  # deepest first
    try:
        import torchvision.datasets as tv_datasets

        dataset_class = _raw_only(getattr(tv_datasets, spec.torchvision_class))
        for train in (True, False):
            dataset_class(root=str(root), train=train, download=True)
    except DataError:
        _remove_empty(made)
        raise
    except Exception as exc:  # network errors come in many types; all mean the same here
        _remove_empty(made)
        # torchvision lists every mirror it tried; the last line says why the last failed.
        lines = [line.strip(" <>") for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(exc).__name__
        raise DataError(f"{spec.title} is not in {root} and downloading it failed "
                        f"({reason}); {hint}") from None


def _remove_empty(folders: list[Path]) -> None:
    """Remove these folders, deepest first, where they are (still) empty."""
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty, or gone: left as it is
            folder.rmdir()


def load_sample() -> Split:
    """The 1,000 bundled MNIST test digits (100 per class), CC BY-SA 3.0."""
    with resources.files("tui_vae.assets").joinpath(SAMPLE_ASSET).open("rb") as handle:
        with np.load(handle, allow_pickle=False) as arrays:
            images, labels = arrays["images"], arrays["labels"]
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def _sample_dataset() -> Dataset:
    """The bundled sample split per class: the first 80 of each class train, 20 test."""
    sample = load_sample()
    rank = torch.zeros_like(sample.labels)
    for digit in range(10):
        members = (sample.labels == digit).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    is_test = rank >= 80
    train = Split(sample.images[~is_test], sample.labels[~is_test])
    test = Split(sample.images[is_test], sample.labels[is_test])
    return Dataset(dataset_spec("mnist-sample"), train, test, None)


def _idx_dataset(spec: DatasetSpec, root: Path, download: bool) -> Dataset:
    folder = _raw_folder(root, spec)
    if folder is None:
        if not download:
            raise DataError(f"{spec.title} is not in {root}")
        _download(root, spec)
        folder = _raw_folder(root, spec)
        if folder is None:
            raise DataError(f"{spec.title} was downloaded but its files are not in {root}")
    train = _read_split(folder, *SPLIT_FILES["train"])
    test = _read_split(folder, *SPLIT_FILES["test"])
    if spec.binarize:  # the training images are drawn afresh per batch, by the trainer
        test = binarize_split(test, BINARY_TEST_SEED)
    return Dataset(spec, train, test, root)


def _split(images: np.ndarray, labels: np.ndarray, factors: np.ndarray | None = None) -> Split:
    """numpy arrays from a reader -> a Split of torch tensors (no copy)."""
    return Split(torch.from_numpy(np.ascontiguousarray(images)),
                 torch.from_numpy(labels.astype(np.int64, copy=False)),
                 None if factors is None else torch.from_numpy(factors))


def _shapes_dataset(spec: DatasetSpec, image_size: int) -> Dataset:
    from tui_vae.shapes import generate_splits

    train, test = generate_splits(image_size)
    return Dataset(spec, _split(*train), _split(*test), None)


def _colour_dataset(spec: DatasetSpec, root: Path, download: bool) -> Dataset:
    from tui_vae import colour_datasets

    train, test, note = colour_datasets.read(spec, root, download)
    return Dataset(spec, _split(*train), _split(*test), root, note)


def _folder_dataset(spec: DatasetSpec, root: Path, image_size: int, channels: int) -> Dataset:
    from tui_vae import image_folder

    loaded = image_folder.load(spec, root, image_size, channels)
    return Dataset(spec, _split(*loaded.train), _split(*loaded.test),
                   Path(spec.path).expanduser(), loaded.note)


@lru_cache(maxsize=4)
def _load_cached(name: str, root: Path, download: bool, image_size: int, channels: int
                 ) -> Dataset:
    spec = dataset_spec(name)
    if image_size not in spec.allowed_sizes() or channels not in spec.allowed_channels():
        raise DataError(f"{spec.title} cannot be read as {channels}-channel "
                        f"{image_size}x{image_size} images (it has "
                        f"{spec.channels}-channel {spec.image_size}x{spec.image_size} ones)")
    if spec.reader == "sample":
        return _sample_dataset()
    if spec.reader == "shapes":
        return _shapes_dataset(spec, image_size)
    if spec.reader == "folder":
        return _folder_dataset(spec, root, image_size, channels)
    if spec.reader == "idx":
        return _idx_dataset(spec, root, download)
    return _colour_dataset(spec, root, download)


BINARY_TEST_SEED = 0  # one fixed binarisation of the test set, so every run scores the same
BINARY_TRAIN_SEED = 1  # one fixed binarisation of the training set, where one is needed


def training_images_as_seen(dataset: Dataset) -> Split:
    """The training split as a model of `dataset` saw it: for a binarised dataset one
    seeded draw of binary images (the trainer draws afresh each batch), else as read.
    `eval` fits the aggregate posterior to their codes; a binarised model's were once
    the grey images' codes, which it never saw."""
    if dataset.spec.binarize:
        return binarize_split(dataset.train, BINARY_TRAIN_SEED)
    return dataset.train


def binarize_split(split: Split, seed: int) -> Split:
    """Each pixel 255 with probability grey / 255, else 0, drawn once from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    draw = torch.rand(split.images.shape, generator=generator)
    binary = (draw * 255 < split.images).to(torch.uint8) * 255
    return Split(binary, split.labels)


def load_dataset(
    name: str = "mnist", data_dir: str | os.PathLike | None = None, download: bool = True,
    image_size: int | None = None, channels: int | None = None,
) -> Dataset:
    """Load a dataset whole into memory (cached per process), downloading it if missing.

    `image_size` and `channels` choose among the sizes the dataset allows (the
    shapes generator and image folders resize; a folder may be read grey or
    colour); None takes the dataset's default.
    """
    spec = dataset_spec(name)
    root = resolve_data_dir(data_dir)
    try:
        root = root.resolve()
    except (RuntimeError, OSError) as exc:  # Python raises RuntimeError on a symlink loop
        raise DataError(f"cannot use {root} as the data folder: {exc}") from None
    return _load_cached(name, root, download, image_size or spec.image_size,
                        channels or spec.channels)


def dataset_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether `name` can be loaded without a download."""
    spec = dataset_spec(name)
    if spec.reader in ("sample", "shapes"):
        return True
    if spec.reader == "folder":
        return Path(spec.path).expanduser().is_dir()
    root = resolve_data_dir(data_dir)
    if spec.reader == "idx":
        return _raw_folder(root, spec) is not None
    from tui_vae import colour_datasets

    return colour_datasets.available(spec, root)


def load_for_model(config, data_dir: str | os.PathLike | None = None,
                   download: bool = True) -> Dataset:
    """The dataset a ModelConfig trained on, at its image size and channels."""
    return load_dataset(config.dataset, data_dir, download, image_size=config.image_size,
                        channels=config.channels)
