"""Datasets as in-memory uint8 tensors, read straight from torchvision's IDX files.

Training never goes through a per-sample transform or a DataLoader: each split
is one (N, 28, 28) uint8 tensor plus an int64 label tensor, and the trainer
slices batches out of it. Reading the IDX files ourselves (instead of through
torchvision's dataset classes) keeps `import torchvision` off every path but the
download, and lets us answer malformed files with a clear error.
"""

from __future__ import annotations

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

from tui_vae.datasets import IMAGE_SIZE, DatasetSpec, dataset_spec
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


@dataclass(frozen=True)
class Split:
    """One split of a dataset, whole, in memory."""

    images: torch.Tensor  # (N, 28, 28) uint8, 0 = background
    labels: torch.Tensor  # (N,) int64 class indices

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def floats(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Images (all, or those at `index`) as (N, 1, 28, 28) float32 in [0, 1]."""
        images = self.images if index is None else self.images[index]
        return images.unsqueeze(1).float().div_(255.0)


@dataclass(frozen=True)
class Dataset:
    """A dataset's train and test splits and what its classes are called."""

    spec: DatasetSpec
    train: Split
    test: Split
    root: Path | None  # where it was read from; None for the bundled sample

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where datasets live: the argument, else $TUI_VAE_DATA_DIR, else a user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tui-vae")) / "data"


def _idx_header(path: Path, handle) -> tuple[tuple[int, ...], int]:
    """Read and check an IDX header; returns the shape and the header's length."""
    magic = handle.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != _IDX_UBYTE:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = magic[3]
    dims = handle.read(4 * ndim)
    if ndim == 0 or len(dims) < 4 * ndim:
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
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
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

    class RawOnly(dataset_class):
        def _check_legacy_exist(self) -> bool:
            return False

        def _load_legacy_data(self):
            raise DataError(f"{self.processed_folder} holds pickled data; tui-vae reads "
                            f"only the raw IDX files")

    return RawOnly


def _download(root: Path, spec: DatasetSpec) -> None:
    """Fetch the dataset the ordinary torchvision way; one clear error when offline."""
    hint = (
        f"point tui-vae at local files with --data-dir DIR or {DATA_DIR_ENV}=DIR "
        f"(expects DIR/{spec.folder}/raw/train-images-idx3-ubyte and the other three files)"
    )
    try:
        import torchvision.datasets as tv_datasets

        dataset_class = _raw_only(getattr(tv_datasets, spec.torchvision_class))
        for train in (True, False):
            dataset_class(root=str(root), train=train, download=True)
    except DataError:
        raise
    except Exception as exc:  # network errors come in many types; all mean the same here
        # torchvision lists every mirror it tried; the last line says why the last failed.
        lines = [line.strip(" <>") for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(exc).__name__
        raise DataError(f"{spec.title} is not in {root} and downloading it failed "
                        f"({reason}); {hint}") from None


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


@lru_cache(maxsize=4)
def _load_cached(name: str, root: Path, download: bool) -> Dataset:
    spec = dataset_spec(name)
    if name == "mnist-sample":
        return _sample_dataset()
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


BINARY_TEST_SEED = 0  # one fixed binarisation of the test set, so every run scores the same


def binarize_split(split: Split, seed: int) -> Split:
    """Each pixel 255 with probability grey / 255, else 0, drawn once from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    draw = torch.rand(split.images.shape, generator=generator)
    binary = (draw * 255 < split.images).to(torch.uint8) * 255
    return Split(binary, split.labels)


def load_dataset(
    name: str = "mnist", data_dir: str | os.PathLike | None = None, download: bool = True
) -> Dataset:
    """Load a dataset whole into memory (cached per process), downloading it if missing."""
    root = resolve_data_dir(data_dir)
    try:
        root = root.resolve()
    except (RuntimeError, OSError) as exc:  # Python raises RuntimeError on a symlink loop
        raise DataError(f"cannot use {root} as the data folder: {exc}") from None
    return _load_cached(name, root, download)


def dataset_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether `name` can be loaded without a download."""
    if name == "mnist-sample":
        return True
    return _raw_folder(resolve_data_dir(data_dir), dataset_spec(name)) is not None
