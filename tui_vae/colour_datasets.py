"""CIFAR-10, SVHN and CelebA: downloaded by torchvision's classes, read by our own code.

torchvision's classes fetch the files the ordinary way (their URLs, checksums
and archive handling; only their `download` is called, never their readers).
Reading is ours, with bounded memory and nothing executed:

- CIFAR-10 (`<root>/cifar-10-batches-py/`, the "python version"): its batches
  are pickles. They are read by `SafeUnpickler`, which allows only what those
  files hold (dicts, lists, ints, byte strings, and a numpy uint8 array rebuilt
  from its bytes) and refuses anything else, such as a call to os.system, in
  one line before it runs. 50,000 train / 10,000 test, 32x32 RGB.
- SVHN (`<root>/SVHN/train_32x32.mat`, `test_32x32.mat`, the cropped digits):
  MATLAB v5 files, read by a small reader of that format (`read_mat`: numeric
  matrices, plain or zlib-compressed, sizes checked before inflating) instead of
  adding scipy. Label 10 is the digit 0, as torchvision reads it. 73,257 train
  / 26,032 test, 32x32 RGB.
- CelebA (`<root>/celeba/img_align_celeba/*.jpg` and
  `<root>/celeba/list_eval_partition.txt`): the aligned 178x218 JPEGs, cropped
  to the centre 148x148 square (the usual crop of the VAE literature), resized
  to 64x64 and decoded once into a cached array (tui_vae/image_folder.py's
  cache). Partition 0 trains (162,770), 2 tests (19,962); the validation
  partition is not used. CelebA has no classes here: a plain VAE only.

Every file is opened without blocking and read only if it is a regular file (a
FIFO in a batch's place is one line, never a hang), with a size bound checked
before reading. Offline, or when a download fails (CelebA's often does: Google
Drive's quota), one line says where to put the files.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from tui_vae.datasets import DatasetSpec
from tui_vae.errors import DataError

DATA_DIR_HINT = "--data-dir DIR or TUI_VAE_DATA_DIR=DIR"

CIFAR_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR_TEST = ("test_batch",)
MAX_CIFAR_BATCH_BYTES = 64 << 20  # a real batch is 31 MB
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
MAX_MAT_BYTES = 1 << 30  # one variable of a .mat file, inflated
CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_CROP = 148
MAX_PARTITION_BYTES = 16 << 20  # the real file is 3 MB


# --------------------------------------------------------------------------- CIFAR-10


def _reconstruct(cls, shape, dtype_code):
    """numpy's array reconstructor, for an ndarray only (the pickles' arrays).

    numpy's pickles always start an array empty, shape (0,), and fill it from
    its state; any other shape would only allocate memory the file never holds.
    """
    if cls is not np.ndarray:
        raise Refused("an array of another class")
    if tuple(shape) != (0,):
        raise Refused(f"an array started at shape {shape!r}, not numpy's (0,)")
    return np.ndarray.__new__(np.ndarray, (0,), "b")


def _dtype(code, align=0, copy=1):
    """numpy.dtype, for unsigned bytes only (the pixels)."""
    if code not in ("u1", b"u1"):
        raise Refused(f"an array of {code!r}, not unsigned bytes")
    return np.dtype("u1")


def _latin1(text, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles use it for byte strings."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused("an encode call that is not bytes from latin-1 text")
    return text.encode("latin1")


class Refused(pickle.UnpicklingError):
    """A pickle asked for something a CIFAR-10 batch never holds."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's batches and nothing else: every global is looked up here,
    and only the array rebuilders and the latin-1 encoder are allowed."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _dtype,
        ("_codecs", "encode"): _latin1,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise Refused(f"it asks for {module}.{name}") from None


def _open_data_file(path: Path, max_bytes: int, what: str):
    """A dataset file opened for reading: a regular file (a link to one is fine) of at
    most `max_bytes`, opened without blocking (a FIFO never hangs the reader);
    DataError otherwise."""
    from tui_vae.image_folder import open_regular

    try:
        return open_regular(path, max_bytes)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        if "larger" in str(exc):
            raise DataError(f"{path} is {exc}, more than {what}") from None
        raise DataError(f"{path} is {exc}") from None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file -> (images (N, 32, 32, 3) uint8, labels (N,) int64)."""
    try:
        with _open_data_file(path, MAX_CIFAR_BATCH_BYTES, "any CIFAR-10 batch") as handle:
            # latin-1, as torchvision reads them: Python 2's strings (the keys, the
            # arrays' bytes) arrive as str, which numpy expects for its array state.
            batch = SafeUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
    except DataError:
        raise
    except Refused as exc:
        raise DataError(f"{path} is not a CIFAR-10 batch tui-vae can read safely: {exc}; "
                        f"nothing in it was run") from None
    except Exception as exc:  # truncated or garbage: many error types, one meaning
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({type(exc).__name__}: "
                        f"{exc})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch (no dictionary)")
    # Keys are str in the originals (Python 2 strings), bytes if written from Python 3.
    pixels = batch.get("data", batch.get(b"data"))
    labels = batch.get("labels", batch.get(b"labels"))
    if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2
            or pixels.shape[1] != 3 * 32 * 32):
        raise DataError(f"{path}: its data is not an (N, 3072) array of bytes")
    if (not isinstance(labels, list) or len(labels) != len(pixels)
            or not all(type(v) is int and 0 <= v < 10 for v in labels)):
        raise DataError(f"{path}: its labels are not {len(pixels)} classes 0-9")
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # rows of R, G, B planes
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def _read_cifar(folder: Path):
    def split(names):
        parts = [read_cifar_batch(folder / name) for name in names]
        images = np.concatenate([p[0] for p in parts])
        if not len(images):
            raise DataError(f"{folder}'s {', '.join(names)} hold no images")
        return images, np.concatenate([p[1] for p in parts]), None

    return split(CIFAR_TRAIN), split(CIFAR_TEST)


# --------------------------------------------------------------------------- MAT v5

_MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8",
             12: "i8", 13: "u8"}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_NUMERIC_CLASSES = set(range(6, 16))  # double, single, int8 ... uint64
_COMPLEX_FLAG = 0x800


class _Element:
    """Reads the sub-elements of one miMATRIX body."""

    def __init__(self, body: bytes, order: str, where: str):
        self.body, self.order, self.where, self.pos = body, order, where, 0

    def next(self) -> tuple[int, bytes]:
        if self.pos + 8 > len(self.body):
            raise DataError(f"{self.where} is truncated")
        kind, size = struct.unpack_from(self.order + "II", self.body, self.pos)
        if kind >> 16:  # the small format: size and type in 4 bytes, data in the next 4
            kind, size = kind & 0xFFFF, kind >> 16
            data = self.body[self.pos + 4:self.pos + 4 + size]
            self.pos += 8
        else:
            data = self.body[self.pos + 8:self.pos + 8 + size]
            self.pos += 8 + size + (-size % 8)
        if len(data) != size:
            raise DataError(f"{self.where} is truncated")
        return kind, data


def _matrix(body: bytes, order: str, where: str, max_bytes: int) -> tuple[str, np.ndarray]:
    """A miMATRIX body -> (its name, the numeric array), column-major as MATLAB stores it."""
    reader = _Element(body, order, where)
    _, flags = reader.next()
    _, dims = reader.next()
    _, name = reader.next()
    name = name.decode("ascii", "replace")
    flag_word = struct.unpack(order + "I", flags[:4])[0] if len(flags) >= 4 else 0
    if flag_word & 0xFF not in _NUMERIC_CLASSES or flag_word & _COMPLEX_FLAG:
        return name, None  # not a real numeric matrix: not one SVHN's readers need
    if len(dims) % 4 or not dims:
        raise DataError(f"{where}: {name} has a malformed dimensions field")
    shape = tuple(struct.unpack(order + f"{len(dims) // 4}i", dims))
    count = 1
    for dim in shape:
        if dim < 0:
            raise DataError(f"{where}: {name} has a negative dimension")
        count *= dim
    kind, data = reader.next()
    dtype = _MI_TYPES.get(kind)
    if dtype is None:
        raise DataError(f"{where}: {name} is stored as an unknown type {kind}")
    dtype = np.dtype(dtype).newbyteorder(order)
    if count * dtype.itemsize > max_bytes or len(data) != count * dtype.itemsize:
        raise DataError(f"{where}: {name} declares {shape} but holds {len(data):,} bytes")
    return name, np.frombuffer(data, dtype=dtype).reshape(shape, order="F")


def _inflate(compressed: bytes, where: str, max_bytes: int) -> bytes:
    """A miCOMPRESSED element, inflated only as far as the size its own tag declares."""
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(compressed, 8)
        if len(head) < 8:
            raise DataError(f"{where} holds a compressed element too short to read")
        declared = struct.unpack("<I", head[4:8])[0] + 8  # checked again by the caller
        if declared > max_bytes + 4096:
            raise DataError(f"{where} declares a {declared:,}-byte variable, over the "
                            f"{max_bytes:,}-byte limit")
        # max_length 0 would mean "no limit" to zlib: an empty element inflates nothing.
        rest = inflater.decompress(inflater.unconsumed_tail, declared - 8) \
            if declared > 8 else b""
    except zlib.error as exc:
        raise DataError(f"{where} holds a damaged compressed element: {exc}") from None
    return head + rest


def read_mat(path: Path, max_bytes: int = MAX_MAT_BYTES) -> dict[str, np.ndarray]:
    """The numeric matrices of a MATLAB v5 .mat file, by name (others are skipped)."""
    try:
        with _open_data_file(path, 2 * max_bytes, "the limit for a .mat file") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) < 128 or not raw.startswith(b"MATLAB 5.0 MAT-file"):
        raise DataError(f"{path} is not a MATLAB v5 .mat file (a v7.3 file is HDF5: save "
                        f"it with -v7 or use the original SVHN files)")
    order = {b"IM": "<", b"MI": ">"}.get(raw[126:128])
    if order is None:
        raise DataError(f"{path} has a malformed .mat header")
    found, pos = {}, 128
    while pos + 8 <= len(raw):
        kind, length = struct.unpack_from(order + "II", raw, pos)
        body = raw[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise DataError(f"{path} is truncated")
        pos += 8 + length
        if kind == _MI_COMPRESSED:
            element = _inflate(body, str(path), max_bytes)
            kind, length = struct.unpack_from(order + "II", element, 0)
            body = element[8:8 + length]
            if len(body) != length:
                raise DataError(f"{path} holds a truncated compressed element")
        else:
            pos += -length % 8
        if kind == _MI_MATRIX:
            name, array = _matrix(body, order, str(path), max_bytes)
            if array is not None:
                found[name] = array
    return found


def read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray, None]:
    """One SVHN cropped-digits file -> (images (N, 32, 32, 3) uint8, labels (N,), None)."""
    variables = read_mat(path)
    x, y = variables.get("X"), variables.get("y")
    if x is None or y is None:
        raise DataError(f"{path} lacks SVHN's X and y variables")
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise DataError(f"{path}: X is {x.shape} and y {y.shape}, not (32, 32, 3, N) and N")
    if x.dtype != np.uint8:  # SVHN's pixels are uint8; a cast would wrap other values
        raise DataError(f"{path}: X holds {x.dtype} values, not SVHN's uint8 pixels")
    if not x.shape[3]:
        raise DataError(f"{path} holds no images")
    values = y.reshape(-1).astype(np.float64)  # compared before any cast: NaN, 2.5, 1e30
    if not ((values >= 0) & (values <= 10) & (values == np.round(values))).all():
        raise DataError(f"{path} has labels that are not whole numbers 0-10")
    labels = values.astype(np.int64)
    labels[labels == 10] = 0  # SVHN writes the digit 0 as 10
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    return images, labels, None


# --------------------------------------------------------------------------- CelebA


def read_partition(path: Path) -> dict[str, int]:
    """list_eval_partition.txt: "000001.jpg 0" lines -> {file name: 0 train, 1 valid, 2 test}."""
    try:
        with _open_data_file(path, MAX_PARTITION_BYTES, "CelebA's partition file") as handle:
            text = handle.read().decode("ascii", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    partition = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2") or "/" in parts[0]:
            raise DataError(f"{path}, line {number}: expected \"NAME.jpg 0|1|2\"")
        partition[parts[0]] = int(parts[1])
    return partition


def _read_celeba(folder: Path, root: Path, size: int):
    from tui_vae.image_folder import decode_cached

    partition = read_partition(folder / CELEBA_PARTITION)
    images = folder / CELEBA_IMAGES
    splits, skipped = [], []
    for part, name in ((0, "train"), (2, "test")):
        files = [images / file for file, p in sorted(partition.items()) if p == part]
        if not files:
            raise DataError(f"{folder / CELEBA_PARTITION} lists no {name} images")
        labels = np.zeros(len(files), dtype=np.int64)
        cache = root / "cache" / f"celeba-{name}-{size}px.npz"
        decoded = decode_cached(files, labels, size, 3, cache, f"celeba {name}", CELEBA_CROP)
        if not len(decoded.images):
            raise DataError(f"none of CelebA's {name} images in {images} could be read "
                            f"(e.g. {decoded.example})")
        if decoded.skipped:
            skipped.append(f"{decoded.skipped:,} of {len(files):,} {name} images "
                           f"(e.g. {decoded.example})")
        splits.append((decoded.images, decoded.labels, None))
    note = f"CelebA: skipped {' and '.join(skipped)} that could not be read" if skipped else ""
    return splits[0], splits[1], note


# --------------------------------------------------------------------------- dispatch


def _where(spec: DatasetSpec, root: Path) -> str:
    """Where the files go, for the one-line messages."""
    folder = root / spec.folder
    if spec.reader == "cifar10":
        return (f"put the python version's folder (data_batch_1 .. data_batch_5, test_batch) "
                f"at {folder}")
    if spec.reader == "svhn":
        return f"put train_32x32.mat and test_32x32.mat (the cropped digits) in {folder}"
    return (f"put the aligned JPEGs ({CELEBA_IMAGES}/) and {CELEBA_PARTITION} in {folder} "
            f"(CelebA's download often fails on Google Drive's quota)")


def available(spec: DatasetSpec, root: Path) -> bool:
    """Whether the dataset's files are on disk under `root`."""
    folder = root / spec.folder
    if spec.reader == "cifar10":
        return all((folder / name).is_file() for name in CIFAR_TRAIN + CIFAR_TEST)
    if spec.reader == "svhn":
        return all((folder / name).is_file() for name in SVHN_FILES.values())
    return (folder / CELEBA_PARTITION).is_file() and (folder / CELEBA_IMAGES).is_dir()


def _download(spec: DatasetSpec, root: Path) -> None:
    """torchvision's own download for the dataset (its URLs and checksums), nothing else."""
    import torchvision.datasets as tv_datasets

    dataset_class = getattr(tv_datasets, spec.torchvision_class)
    if spec.reader == "svhn":
        for split in SVHN_FILES:
            fetcher = object.__new__(dataset_class)
            fetcher.root, fetcher.split = str(root / spec.folder), split
            fetcher.url, fetcher.filename, fetcher.file_md5 = dataset_class.split_list[split]
            fetcher.download()
        return
    fetcher = object.__new__(dataset_class)  # no __init__: it would read the files itself
    fetcher.root = str(root)
    fetcher.download()


def read(spec: DatasetSpec, root: Path, download: bool):
    """The train and test splits of a colour dataset as (images, labels, None) triples,
    and a one-line note for the user ("" when there is nothing to say)."""
    if not available(spec, root):
        a_file = Path(root).exists() and not Path(root).is_dir()  # no download into it
        if not download or a_file:
            why = f" the data folder {root} is not a folder;" if a_file else ""
            raise DataError(f"{spec.title} is not in {root};{why} {_where(spec, root)}, or "
                            f"point {DATA_DIR_HINT} at a folder that holds it")
        try:
            _download(spec, root)
        except Exception as exc:  # network errors come in many types; all mean the same here
            lines = [line.strip(" <>") for line in str(exc).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(exc).__name__
            raise DataError(f"{spec.title} is not in {root} and downloading it failed "
                            f"({reason}); {_where(spec, root)}, or point {DATA_DIR_HINT} at "
                            f"a folder that holds it") from None
        if not available(spec, root):
            raise DataError(f"{spec.title} was downloaded but its files are not where "
                            f"expected; {_where(spec, root)}")
    folder = root / spec.folder
    if spec.reader == "cifar10":
        return (*_read_cifar(folder), "")
    if spec.reader == "svhn":
        return (read_svhn(folder / SVHN_FILES["train"]),
                read_svhn(folder / SVHN_FILES["test"]), "")
    return _read_celeba(folder, root, spec.image_size)
