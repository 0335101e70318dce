"""`--dataset folder:PATH`: any folder of images, decoded once into a cached uint8 array.

Layout: PATH's sub-folders are the classes (sorted by name; files anywhere
below a class folder belong to it; hidden folders are skipped). A folder with
no sub-folders is one unlabelled set of images: it trains a plain VAE, and a cVAE
is refused. Files are taken by their suffix (IMAGE_SUFFIXES); links to folders
are not followed, and a file is read only if it is (or links to) a regular file,
opened without blocking: a FIFO, a device or a dangling link is one more skipped
file, never a hang. Photos are turned upright by their EXIF orientation tag, and
transparent pixels are composited onto black.

Each image is decoded once with Pillow, made grey ("L") or colour ("RGB"),
cropped to its centre square and resized to `image_size` (bicubic). The result
is cached as an uncompressed .npz (never a pickle) under
`<data dir>/cache/folders/`, keyed by the folder, every file's name, size and
modification time, and the size options: later epochs and runs read the cache
and decode nothing; any change to the folder decodes it again. The cache is
written to a new temporary file and renamed into place, never through a link,
and read only when it is a regular file whose members fit the size the folder
implies.

Bounds: at most MAX_FILES files, MAX_FILE_BYTES per file, MAX_PIXELS per image
(decompression bombs are skipped before decoding) and MAX_DECODED_BYTES of
decoded pixels in all, each checked before the memory is taken. Files that
cannot be read are skipped and counted in one line (`Dataset.note`); a folder
with no usable image is refused.

The test split: each file is a test file when a seeded hash of its path (relative
to the folder) falls in the lowest TEST_FRACTION of the hash range (`test_mask`):
about a tenth of the images, the same on every machine, and stable as the folder
changes: adding or removing files never moves another file between train and
test. Each side holds at least one image.

CelebA (tui_vae/colour_datasets.py) uses the same decoding and cache, with a
fixed crop box.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tui_vae.datasets import DatasetSpec
from tui_vae.errors import DataError
from tui_vae.safe_files import UnsafePathError, open_for_writing, refuse_if_not_regular
from tui_vae.wording import printable

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                            ".ppm", ".pgm", ".pbm"})
MAX_FILES = 500_000
MAX_FILE_BYTES = 64 << 20  # one image file
MAX_PIXELS = 40_000_000  # one image (width x height), checked from its header
MAX_DECODED_BYTES = 4 << 30  # every decoded image together
TEST_FRACTION = 0.1
SPLIT_SEED = 0
CACHE_VERSION = 3  # 2: the kept files' indices stored; 3: EXIF orientation, transparency
CACHE_FOLDER = Path("cache") / "folders"


@dataclass(frozen=True)
class Decoded:
    """Images decoded from a list of files, the labels of those kept, what was skipped."""

    images: np.ndarray  # (N, H, W) or (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64
    skipped: int
    example: str  # one skipped file and why ("" when none was)
    from_cache: bool
    kept: np.ndarray | None = None  # (N,) int64: each image's index in the list of files


@dataclass(frozen=True)
class LoadedFolder:
    """A folder dataset's splits as (images, labels, None) triples, and its one-line note."""

    train: tuple
    test: tuple
    note: str


# --------------------------------------------------------------------------- listing


def _image_files(folder: Path, recursive: bool, budget: list[int],
                 unreadable: list[str]) -> list[Path]:
    """The image files in `folder` (and, if `recursive`, below it), sorted, by suffix.

    An explicit stack, not os.walk: Python 3.11's os.walk recurses, so a folder
    nested a thousand deep would end in a RecursionError. Links to folders are
    not followed (no loop can form); links to files are listed, and decoding
    reads them only if they lead to a regular file. A sub-folder that cannot be
    listed is named in `unreadable`; the top folder itself is an error.
    """
    found: list[Path] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            if here == folder:
                raise DataError(f"cannot list {printable(str(here))}: "
                                f"{exc.strerror or exc}") from None
            unreadable.append(str(here))
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                folders.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(entry.path))
                budget[0] -= 1
                if budget[0] < 0:
                    raise DataError(f"{printable(str(folder))} holds more than "
                                    f"{MAX_FILES:,} image files, the most a folder "
                                    f"dataset reads")
        if recursive:
            stack.extend(reversed(folders))  # popped in name order: a stable listing
    return found


def list_images(path: Path, classes: Sequence[str], labelled: bool,
                unreadable: list[str] | None = None, loose: list[Path] | None = None
                ) -> tuple[list[Path], np.ndarray]:
    """The image files of a folder dataset and their labels (index into `classes`).

    Sub-folders that could not be listed are appended to `unreadable`; where the
    sub-folders are the classes, image files directly in `path` (which belong to
    no class, so are not read) are appended to `loose`.
    """
    unreadable = [] if unreadable is None else unreadable
    if not path.is_dir():
        raise DataError(f"{path} is not a folder (--dataset folder:PATH names a folder of "
                        f"images, its sub-folders the classes)")
    budget = [MAX_FILES]
    if not labelled:
        files = _image_files(path, recursive=False, budget=budget, unreadable=unreadable)
        return files, np.zeros(len(files), dtype=np.int64)
    if loose is not None:
        loose += _image_files(path, recursive=False, budget=[MAX_FILES], unreadable=[])
    files, labels = [], []
    for index, name in enumerate(classes):
        try:
            found = _image_files(path / name, recursive=True, budget=budget,
                                 unreadable=unreadable)
        except DataError:
            if budget[0] < 0:
                raise
            unreadable.append(str(path / name))
            continue
        files += found
        labels += [index] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


# --------------------------------------------------------------------------- decoding


def open_regular(path: Path, max_bytes: int = MAX_FILE_BYTES):
    """`path` opened for reading ("rb"), if it is (or links to) a regular file of at
    most `max_bytes`; raises ValueError otherwise (OSError if it cannot be opened).

    Opened without blocking and checked on the open file: a FIFO (which would wait
    for a writer for ever), a device such as /dev/zero or a socket is refused, and
    a file swapped after the listing is judged as it is now.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"larger than {max_bytes:,} bytes")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _decode_one(path: Path, size: int, channels: int, crop: int | None) -> np.ndarray:
    """One file -> (size, size[, 3]) uint8; raises on anything unreadable or too large."""
    from PIL import Image

    with warnings.catch_warnings(), open_regular(path) as handle:
        warnings.simplefilter("ignore")  # Pillow's notes on odd files: not the user's lines
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(f"over the {MAX_PIXELS:,} pixel limit (its header declares "
                             f"more than Pillow's decompression-bomb limit)") from None
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} pixels, over the {MAX_PIXELS:,} limit")
            mode = "RGB" if channels == 3 else "L"
            side = min(crop or width, width, height)  # a crop box never past the image
            # JPEG: decode at a reduced scale where the result stays larger than needed.
            image.draft(mode, (max(size, width * size // side), max(size, height * size // side)))
            scale = image.size[0] / width
            image = _upright(image)  # a phone's photo stored sideways, as it was taken
            if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                image = _to_8_bit(image)  # 16-bit or float pixels: convert() would clip
            image = _on_black(image).convert(mode)
            side = max(1, round(side * scale))
            left = (image.size[0] - side) // 2
            top = (image.size[1] - side) // 2
            box = (left, top, left + side, top + side)
            image = image.resize((size, size), Image.Resampling.BICUBIC, box=box,
                                 reducing_gap=3.0)
            return np.asarray(image, dtype=np.uint8)


def _upright(image):
    """The image turned as its EXIF orientation tag says (cameras store photos sideways
    and tag them); unchanged, and not copied, when there is no such tag."""
    from PIL import ImageOps

    if image.getexif().get(0x0112, 1) in (1, None):  # 0x0112: Orientation, 1 upright
        return image
    return ImageOps.exif_transpose(image)


def _on_black(image):
    """An image with transparency (an alpha channel, or a palette or colour key marked
    transparent) composited onto black; others as they are.

    Dropping the alpha instead would show whatever colour the transparent pixels
    happen to hold (often a palette's first entry, or leftovers of an editor).
    Black is the background of the generated shapes too.
    """
    from PIL import Image

    if "A" not in image.getbands() and "transparency" not in image.info:
        return image
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)


def _to_8_bit(image):
    """A 16-bit or float image scaled to 8 bits.

    16-bit modes ("I;16...") by 65535, whatever the levels used (a dark 16-bit
    image stays dark); float images by 1 when they lie in [0, 1]; other 32-bit
    or float images by 255 or 65535, whichever their largest value fits.
    """
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float32)
    top = float(pixels.max(initial=0)) if pixels.size else 0.0
    if image.mode.startswith("I;16"):
        scale = 65535.0
    elif image.mode == "F" and top <= 1.0:
        scale = 1.0
    else:
        scale = 65535.0 if top > 255 else 255.0
    return Image.fromarray((np.clip(pixels / scale, 0, 1) * 255 + 0.5).astype(np.uint8))


def _reason(exc: Exception) -> str:
    """Why a file was skipped, in a few words (never a repr of a file object)."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


def decode_files(files: Sequence[Path], labels: np.ndarray, size: int, channels: int,
                 crop: int | None = None) -> Decoded:
    """Decode every file (skipping unreadable ones) into one preallocated array."""
    shape = (size, size) if channels == 1 else (size, size, 3)
    needed = len(files) * size * size * channels
    if needed > MAX_DECODED_BYTES:
        raise DataError(f"{len(files):,} images of {size}x{size}x{channels} would take "
                        f"{needed / 2**30:.1f} GiB, over the {MAX_DECODED_BYTES >> 30} GiB "
                        f"limit of a folder dataset")
    images = np.empty((len(files), *shape), dtype=np.uint8)
    kept = np.zeros(len(files), dtype=bool)
    example = ""
    for index, path in enumerate(files):
        try:
            images[index] = _decode_one(path, size, channels, crop)
            kept[index] = True
        except Exception as exc:  # corrupt files raise many types; each is one skip
            if not example:
                example = f"{printable(path.name)}: {_reason(exc)}"
    where = np.flatnonzero(kept).astype(np.int64)
    if kept.all():  # the usual case: no second copy of every image
        return Decoded(images, labels, 0, "", False, where)
    return Decoded(images[kept], labels[kept], int((~kept).sum()), example, False, where)


# --------------------------------------------------------------------------- the cache


def _name_bytes(text: str) -> bytes:
    """UTF-8; a file name that is not UTF-8 (which Python holds surrogate-escaped)
    as its own bytes, so such a file is split and cached like any other."""
    return text.encode("utf-8", "surrogateescape")


def cache_key(files: Sequence[Path], labels: np.ndarray, size: int, channels: int,
              crop: int | None, source: str) -> str:
    """A digest of everything the decoded array depends on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_VERSION, source, size, channels, crop]).encode())
    for path, label in zip(files, labels.tolist()):
        try:
            info = os.stat(path)  # through a link: the file that is read
            stamp = f"{info.st_mode}\0{info.st_size}\0{info.st_mtime_ns}"
        except OSError as exc:  # a dangling link, a missing file: skipped, and keyed so
            stamp = f"error {exc.errno}"
        digest.update(_name_bytes(f"\0{path}\0{label}\0{stamp}"))
    return digest.hexdigest()


def _npy_fits(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether an .npy member's header declares no more bytes than the member holds.

    numpy allocates the whole declared array before reading a zip member's data:
    a header claiming terabytes in a small file would be that allocation.
    """
    import math

    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        readers = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            return False
        shape, _, dtype = readers[version](handle)
    return not dtype.hasobject and dtype.itemsize * math.prod(shape) <= member.file_size


def _read_cache(path: Path, key: str, count: int, size: int, channels: int) -> Decoded | None:
    """The cached decode at `path` if it is ours and current, else None; a link is refused."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # none yet, or no cache folder can be
        return None
    except OSError as exc:
        raise DataError(f"cannot read the cache {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise DataError(f"the cache {path} is a link or not a regular file; refusing to use "
                        f"it (remove it)")
    limit = count * size * size * channels + count * 16 + (1 << 16)
    try:
        # One open file for every check and the read: opened without blocking and
        # checked to be regular (a FIFO swapped in after the lstat never hangs us).
        with open_regular(path, 2 * limit + (1 << 20)) as handle:
            with zipfile.ZipFile(handle) as archive:  # sizes, before numpy reads a byte
                members = archive.infolist()
                if sum(member.file_size for member in members) > limit or not all(
                        _npy_fits(archive, member) for member in members):
                    return None
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as arrays:
                if str(arrays["key"]) != key:
                    return None
                images, labels, kept = arrays["images"], arrays["labels"], arrays["kept"]
                skipped, example = int(arrays["skipped"]), str(arrays["example"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None  # stale or damaged: decoded again and rewritten
    shape = (size, size) if channels == 1 else (size, size, 3)
    if (images.dtype != np.uint8 or images.shape[1:] != shape or labels.dtype != np.int64
            or labels.shape != (len(images),) or len(images) + skipped != count
            or kept.dtype != np.int64 or kept.shape != (len(images),)
            or (len(kept) and (kept.min() < 0 or kept.max() >= count
                               or (np.diff(kept) <= 0).any()))):
        return None
    return Decoded(images, labels, skipped, example, True, kept)


def _write_cache(path: Path, key: str, decoded: Decoded) -> None:
    """Atomically: a new temporary file (O_EXCL, no link followed), then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_if_not_regular(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = open_for_writing(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, images=decoded.images, labels=decoded.labels, kept=decoded.kept,
                     skipped=np.int64(decoded.skipped), example=np.str_(decoded.example),
                     key=np.str_(key))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def decode_cached(files: Sequence[Path], labels: np.ndarray, size: int, channels: int,
                  cache: Path, source: str, crop: int | None = None) -> Decoded:
    """`decode_files`, or its cached result at `cache` when nothing changed since.

    A cache that cannot be written (read-only data folder, full disk) is not an
    error: the decode is used for this run and redone next time.
    """
    key = cache_key(files, labels, size, channels, crop, source)
    found = _read_cache(cache, key, len(files), size, channels)
    if found is not None:
        return found
    decoded = decode_files(files, labels, size, channels, crop)
    try:
        _write_cache(cache, key, decoded)
    except UnsafePathError as exc:  # a link planted at the cache's name: never written through
        raise DataError(f"the cache {cache}: {exc.strerror or exc}") from None
    except OSError:
        pass
    return decoded


# --------------------------------------------------------------------------- splits


def test_mask(names: Sequence[str], fraction: float = TEST_FRACTION,
              seed: int = SPLIT_SEED) -> np.ndarray:
    """Which files are held out for testing, each decided by a hash of its name alone.

    A file is a test file when the first 8 bytes of sha256("seed:name"), as a
    fraction of 2**64, fall below `fraction`: about that share of the files, the
    same on every machine, and adding or removing files never moves another file
    between train and test (a model trained before a folder grew is still tested
    only on images it never saw).
    """
    mask = np.zeros(len(names), dtype=bool)
    for index, name in enumerate(names):
        value = hashlib.sha256(_name_bytes(f"{seed}:{name}")).digest()[:8]
        mask[index] = int.from_bytes(value, "big") < fraction * 2**64
    return mask


def split_indices(is_test: np.ndarray, names: Sequence[str],
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices from a test mask, each side at least one image.

    Where the hash put no image in the test set (a small folder), the one whose
    hash is lowest is tested; where it put every image there, the highest trains.
    """
    is_test = np.asarray(is_test, dtype=bool).copy()
    if len(is_test) >= 2 and (is_test.all() or not is_test.any()):
        ranks = [hashlib.sha256(_name_bytes(f"{seed}:{name}")).digest() for name in names]
        order = sorted(range(len(ranks)), key=ranks.__getitem__)
        is_test[order[-1] if is_test.all() else order[0]] = not is_test.all()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def cache_path(root: Path, folder: Path, size: int, channels: int) -> Path:
    """Where a folder's decode is cached: one file per folder and size options."""
    tag = hashlib.sha256(_name_bytes(str(folder))).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in folder.name)[:40]
    return root / CACHE_FOLDER / f"{name}-{tag}-{size}px-{channels}ch.npz"


def load(spec: DatasetSpec, root: Path, image_size: int, channels: int) -> LoadedFolder:
    """Read a `folder:PATH` dataset (decoding only what the cache lacks) and split it."""
    try:
        folder = Path(spec.path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a link loop
        raise DataError(f"cannot use {printable(spec.path)} as an image folder: "
                        f"{printable(str(exc))}") from None
    shown = printable(str(folder))  # in messages: no control character reaches a terminal
    if folder.parent == folder:  # "/" (or a drive's root): every image on the machine
        raise DataError(f"{shown} is the file system's root, not an image folder: name the "
                        f"folder that holds the images")
    unreadable: list[str] = []
    loose: list[Path] = []
    files, labels = list_images(folder, spec.class_folders or spec.classes, spec.labelled,
                                unreadable, loose)
    if not files:
        where = f" (and {len(unreadable):,} sub-folders could not be listed, e.g. " \
            f"{printable(unreadable[0])})" if unreadable else ""
        if loose:  # "holds no image files" beside the images it holds, loose
            raise DataError(
                f"{shown} has sub-folders, which are its classes, and none of them holds "
                f"an image file; its {len(loose):,} image file{'s' if len(loose) > 1 else ''} "
                f"directly in it (e.g. {printable(loose[0].name)}) belong to no class: move "
                f"them into the class folders, or remove the empty sub-folders{where}")
        raise DataError(f"{shown} holds no image files "
                        f"({', '.join(sorted(IMAGE_SUFFIXES))}){where}")
    decoded = decode_cached(files, labels, image_size, channels,
                            cache_path(root, folder, image_size, channels), str(folder))
    if len(decoded.images) < 2:
        reason = f" (e.g. {decoded.example})" if decoded.example else ""
        raise DataError(f"{shown}: {len(decoded.images)} of {len(files)} image files could "
                        f"be read{reason}; at least 2 are needed (one to test on)")
    notes = []
    if decoded.skipped:
        notes.append(f"skipped {decoded.skipped:,} of {len(files):,} files in {shown} that "
                     f"could not be read as images (e.g. {decoded.example})")
    if unreadable:
        notes.append(f"{len(unreadable):,} sub-folder{'s' if len(unreadable) > 1 else ''} "
                     f"could not be listed and {'were' if len(unreadable) > 1 else 'was'} "
                     f"left out (e.g. {printable(unreadable[0])})")
    if loose:
        notes.append(f"{len(loose):,} image file{'s' if len(loose) > 1 else ''} directly in "
                     f"{shown} (e.g. {printable(loose[0].name)}) "
                     f"{'belong' if len(loose) > 1 else 'belongs'} to no class and "
                     f"{'were' if len(loose) > 1 else 'was'} left out: its sub-folders "
                     f"are the classes")
    names = [files[k].relative_to(folder).as_posix() for k in decoded.kept.tolist()]
    train, test = split_indices(test_mask(names), names)
    return LoadedFolder((decoded.images[train], decoded.labels[train], None),
                        (decoded.images[test], decoded.labels[test], None), "; ".join(notes))
