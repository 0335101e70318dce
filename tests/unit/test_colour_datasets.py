"""CIFAR-10, SVHN and CelebA read from small files in each dataset's real on-disk format."""

import os
import pickle
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tui_vae import colour_datasets, data
from tui_vae.datasets import dataset_spec
from tui_vae.errors import DataError

# --------------------------------------------------------------------------- CIFAR-10


def cifar_batch(n, offset=0):
    """A batch as the originals hold it: bytes keys, a (N, 3072) uint8 array of R, G, B
    planes, labels as a list of ints."""
    planes = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    planes[:, 0], planes[:, 1], planes[:, 2] = 10, 20, 30
    planes[:, 0, 0, 5] = np.arange(n) + offset  # row 0, column 5 of the red plane
    return {b"batch_label": b"training batch 1 of 5", b"labels": [(offset + k) % 10
                                                                  for k in range(n)],
            b"data": planes.reshape(n, 3072), b"filenames": [b"x_%d.png" % k for k in range(n)]}


def _py2_string(text: bytes) -> bytes:
    """A Python 2 str, as its pickler writes it (SHORT_BINSTRING / BINSTRING)."""
    if len(text) < 256:
        return b"U" + bytes([len(text)]) + text
    return b"T" + struct.pack("<i", len(text)) + text


def _py2_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def py2_pickle(batch: dict) -> bytes:
    """The batch as Python 2's cPickle wrote CIFAR-10 (protocol 2): str keys and byte
    strings as BINSTRING, the array through numpy.core.multiarray._reconstruct."""
    array = batch[b"data"]
    out = [b"\x80\x02}("]  # PROTO 2, EMPTY_DICT, MARK
    out += [_py2_string(b"batch_label"), _py2_string(batch[b"batch_label"])]
    out += [_py2_string(b"labels"), b"](", *map(_py2_int, batch[b"labels"]), b"e"]
    out += [_py2_string(b"data"), b"cnumpy.core.multiarray\n_reconstruct\n",
            b"cnumpy\nndarray\n", _py2_int(0), b"\x85", _py2_string(b"b"), b"\x87R",
            b"(", _py2_int(1), _py2_int(array.shape[0]), _py2_int(array.shape[1]), b"\x86",
            b"cnumpy\ndtype\n", _py2_string(b"u1"), _py2_int(0), _py2_int(1), b"\x87R",
            b"(", _py2_int(3), _py2_string(b"|"), b"NNN", _py2_int(-1), _py2_int(-1),
            _py2_int(0), b"tb", b"\x89", _py2_string(array.tobytes()), b"tb"]
    out += [_py2_string(b"filenames"), b"](", *map(_py2_string, batch[b"filenames"]), b"e"]
    return b"".join(out) + b"u."  # SETITEMS, STOP


def write_cifar(root, n=3):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for index, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch = cifar_batch(n, offset=index * n)
        if index % 2:  # half as Python 2 wrote the originals, half from Python 3 at protocol 2
            (folder / name).write_bytes(py2_pickle(batch))
        else:
            with open(folder / name, "wb") as handle:
                pickle.dump(batch, handle, protocol=2)
    return folder


def test_the_python2_writer_makes_what_pickle_itself_reads():
    batch = cifar_batch(2)
    loaded = pickle.loads(py2_pickle(batch), encoding="latin1")
    assert loaded["labels"] == batch[b"labels"] and loaded["filenames"][1] == "x_1.png"
    assert np.array_equal(loaded["data"], batch[b"data"])


def test_cifar10_batches_are_read_with_their_pixels_in_place(tmp_path):
    write_cifar(tmp_path)
    dataset = data.load_dataset("cifar10", tmp_path, download=False)
    assert dataset.image_shape == (3, 32, 32) and dataset.classes[0] == "airplane"
    assert (len(dataset.train), len(dataset.test)) == (15, 3)
    images = dataset.train.images.numpy()
    assert images.shape == (15, 32, 32, 3)
    assert (images[:, 1:, :, 0] == 10).all() and (images[..., 1] == 20).all()
    assert (images[..., 2] == 30).all()
    assert images[:, 0, 5, 0].tolist() == list(range(15))  # row 0, column 5, red
    assert dataset.train.labels.tolist() == [k % 10 for k in range(15)]
    assert data.dataset_available("cifar10", tmp_path)


class Pwn:
    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def test_a_pickle_that_calls_os_system_is_refused_in_one_line_and_never_runs(tmp_path):
    folder = write_cifar(tmp_path)
    evil = Pwn()
    evil.flag = tmp_path / "pwned"
    Pwn.flag = evil.flag
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": evil}, protocol=2))
    with pytest.raises(DataError) as caught:
        data.load_dataset("cifar10", tmp_path, download=False)
    message = str(caught.value)
    assert "data_batch_3" in message and "asks for posix.system" in message
    assert "nothing in it was run" in message and "\n" not in message
    assert not evil.flag.exists()


@pytest.mark.parametrize("payload, words", [
    (np.zeros((2, 3072), dtype=object), "not unsigned bytes"),
    (np.zeros((2, 3072), dtype=np.float64), "not unsigned bytes"),
])
def test_arrays_other_than_bytes_are_refused(tmp_path, payload, words):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": payload, b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=words):
        colour_datasets.read_cifar_batch(path)


def test_garbage_and_wrong_contents_are_one_line(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        colour_datasets.read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                   b"labels": [0, 12]}, protocol=2))
    with pytest.raises(DataError, match="classes 0-9"):
        colour_datasets.read_cifar_batch(path)


def test_an_array_started_at_a_huge_shape_is_refused_before_it_is_allocated(tmp_path):
    raw = py2_pickle(cifar_batch(2))
    start = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
             + _py2_int(0) + b"\x85")
    assert start in raw
    huge = start.replace(_py2_int(0) + b"\x85", _py2_int(2**31 - 1) + _py2_int(2**31 - 1)
                         + b"\x86")
    path = tmp_path / "batch"
    path.write_bytes(raw.replace(start, huge))
    with pytest.raises(DataError, match=r"started at shape \(2147483647, 2147483647\)"):
        colour_datasets.read_cifar_batch(path)


def test_a_fifo_or_an_empty_split_in_place_of_a_batch_is_one_line(tmp_path):
    import signal

    folder = write_cifar(tmp_path)
    os.mkfifo(tmp_path / "fifo")  # opened blocking, it would wait for a writer for ever
    (tmp_path / "link").symlink_to(tmp_path / "fifo")

    def hung(*_):
        raise AssertionError("the reader waited on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        for path in ("fifo", "link"):
            with pytest.raises(DataError, match=f"{path} is not a regular file"):
                colour_datasets.read_cifar_batch(tmp_path / path)
            with pytest.raises(DataError, match=f"{path} is not a regular file"):
                colour_datasets.read_mat(tmp_path / path)
            with pytest.raises(DataError, match=f"{path} is not a regular file"):
                colour_datasets.read_partition(tmp_path / path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    (folder / "test_batch").write_bytes(py2_pickle({**cifar_batch(0), b"filenames": []}))
    data._load_cached.cache_clear()
    with pytest.raises(DataError, match="test_batch hold no images"):
        data.load_dataset("cifar10", tmp_path, download=False)


# --------------------------------------------------------------------------- SVHN: MAT v5


def _element(kind, payload):
    """A MAT v5 data element: its tag, its data, padded to 8 bytes."""
    return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix(name, array, mat_class, mi_type, dtype):
    flags = _element(6, struct.pack("<II", mat_class, 0))
    dims = _element(5, struct.pack(f"<{array.ndim}i", *array.shape))
    label = _element(1, name.encode())
    real = _element(mi_type, np.asarray(array, dtype=dtype).tobytes(order="F"))
    return _element(14, flags + dims + label + real)


def write_mat(path, variables, compress=True):
    """A MATLAB 5.0 MAT-file, as MATLAB and scipy write it: a 128-byte header, then one
    (zlib-compressed) miMATRIX element per variable."""
    text = b"MATLAB 5.0 MAT-file, written by tui-vae's tests"
    header = text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    body = b""
    for name, (array, mat_class, mi_type, dtype) in variables.items():
        element = _matrix(name, array, mat_class, mi_type, dtype)
        if compress:  # miCOMPRESSED: the element deflated, unpadded
            element = struct.pack("<II", 15, len(packed := zlib.compress(element))) + packed
        body += element
    path.write_bytes(header + body)


def svhn_variables(n, offset=0):
    x = np.zeros((32, 32, 3, n), dtype=np.uint8)
    x[:, :, 1, :] = 100  # green everywhere
    x[3, 7, 0, :] = np.arange(n) + offset  # row 3, column 7, red
    y = ((np.arange(n) + offset) % 10 + 1).reshape(n, 1).astype(np.float64)  # 1..10
    return {"X": (x, 9, 2, np.uint8), "y": (y, 6, 9, np.float64)}


@pytest.mark.parametrize("compress", [True, False])
def test_svhn_mat_files_are_read_with_the_digit_0_from_label_10(tmp_path, compress):
    folder = tmp_path / "SVHN"
    folder.mkdir()
    write_mat(folder / "train_32x32.mat", svhn_variables(12), compress)
    write_mat(folder / "test_32x32.mat", svhn_variables(4, offset=12), compress)
    dataset = data.load_dataset("svhn", tmp_path, download=False)
    assert dataset.image_shape == (3, 32, 32) and (len(dataset.train), len(dataset.test)) \
        == (12, 4)
    images = dataset.train.images.numpy()
    assert (images[..., 1] == 100).all() and images[:, 3, 7, 0].tolist() == list(range(12))
    assert dataset.train.labels.tolist() == [(k + 1) % 10 for k in range(12)]
    assert dataset.test.labels.tolist() == [3, 4, 5, 6]


def test_hostile_mat_files_are_refused_before_a_large_allocation(tmp_path):
    path = tmp_path / "bad.mat"
    path.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="not a MATLAB v5"):
        colour_datasets.read_mat(path)
    # A compressed element whose tag claims 2 GB: refused from its first 8 bytes.
    write_mat(path, svhn_variables(2))
    raw = bytearray(path.read_bytes())
    element = struct.pack("<II", 14, 2 << 30) + b"\0" * 64
    raw = raw[:128] + struct.pack("<II", 15, len(z := zlib.compress(element))) + z
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="over the"):
        colour_datasets.read_mat(path, max_bytes=1 << 20)
    # Dimensions that do not match the data held.
    write_mat(path, {"X": (np.zeros((2, 2), np.uint8), 9, 2, np.uint8)}, compress=False)
    raw = bytearray(path.read_bytes())
    dims_at = raw.index(struct.pack("<2i", 2, 2))
    raw[dims_at:dims_at + 8] = struct.pack("<2i", 50000, 50000)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="declares"):
        colour_datasets.read_mat(path)
    path.write_bytes(bytes(raw[:150]))
    with pytest.raises(DataError, match="truncated"):
        colour_datasets.read_mat(path)


def test_an_empty_compressed_element_inflates_nothing(tmp_path, monkeypatch):
    """zlib reads max_length 0 as "no limit": a tag declaring 0 bytes before a deflated
    gigabyte must not inflate it."""
    inflated = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self):
            self.inner = real()

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        @property
        def unconsumed_tail(self):
            return self.inner.unconsumed_tail

    monkeypatch.setattr(colour_datasets.zlib, "decompressobj", Counting)
    element = struct.pack("<II", 14, 0) + b"\0" * (64 << 20)
    packed = zlib.compress(element, 9)
    path = tmp_path / "bomb.mat"
    header = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100)
    path.write_bytes(header + b"IM" + struct.pack("<II", 15, len(packed)) + packed)
    with pytest.raises(DataError, match="truncated"):  # an empty matrix element
        colour_datasets.read_mat(path)
    assert sum(inflated) <= 8


@pytest.mark.parametrize("change, words", [
    ({"X": (np.zeros((32, 32, 3, 2)), 6, 9, np.float64)}, "float64 values, not SVHN's uint8"),
    ({"y": (np.array([[1.0], [np.nan]]), 6, 9, np.float64)}, "not whole numbers 0-10"),
    ({"y": (np.array([[1.0], [2.5]]), 6, 9, np.float64)}, "not whole numbers 0-10"),
    ({"y": (np.array([[1.0], [11.0]]), 6, 9, np.float64)}, "not whole numbers 0-10"),
    ({"X": (np.zeros((32, 32, 3, 0), np.uint8), 9, 2, np.uint8),
      "y": (np.zeros((0, 1)), 6, 9, np.float64)}, "holds no images"),
])
def test_svhn_contents_that_are_not_its_pixels_and_digits_are_one_line(tmp_path, change, words,
                                                                         recwarn):
    path = tmp_path / "train_32x32.mat"
    write_mat(path, {**svhn_variables(2), **change})
    with pytest.raises(DataError, match=words):
        colour_datasets.read_svhn(path)
    assert not recwarn.list  # no numpy warning line on the user's terminal


def test_a_malformed_dimensions_field_is_one_line(tmp_path):
    path = tmp_path / "bad.mat"
    write_mat(path, {"X": (np.zeros((2, 2), np.uint8), 9, 2, np.uint8)}, compress=False)
    raw = bytearray(path.read_bytes())
    at = raw.index(struct.pack("<II", 5, 8))
    raw[at:at + 8] = struct.pack("<II", 5, 7)  # 7 bytes of int32 dimensions
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="malformed dimensions"):
        colour_datasets.read_mat(path)


# --------------------------------------------------------------------------- CelebA


def write_celeba(root, partitions=(0, 0, 0, 1, 2, 2)):
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    lines = []
    for k, part in enumerate(partitions, start=1):
        name = f"{k:06d}.jpg"
        image = Image.new("RGB", (178, 218), (0, 0, 220))  # blue outside the crop
        image.paste((230, 30, 30), (15, 35, 163, 183))  # the centre 148x148: red
        image.save(folder / "img_align_celeba" / name, quality=95)
        lines.append(f"{name} {part}")
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_celeba_takes_the_centre_148_crop_at_64_and_its_partitions(tmp_path):
    write_celeba(tmp_path)
    dataset = data.load_dataset("celeba", tmp_path, download=False)
    assert dataset.image_shape == (3, 64, 64) and not dataset.spec.labelled
    assert (len(dataset.train), len(dataset.test)) == (3, 2)  # the validation one left out
    images = dataset.train.images.numpy().astype(int)
    # Red to within a pixel of the edges (the resize's filter reaches one pixel past
    # the crop box); a wider crop would show 5 blue columns each side.
    inner = images[:, 1:-1, 1:-1]
    assert (inner[..., 0] > 180).all() and (inner[..., 2] < 80).all()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "celeba-test-64px.npz", "celeba-train-64px.npz"]
    data._load_cached.cache_clear()
    again = data.load_dataset("celeba", tmp_path, download=False)
    assert np.array_equal(again.train.images.numpy(), images.astype(np.uint8))


def test_a_bad_partition_file_is_one_line(tmp_path):
    folder = write_celeba(tmp_path)
    (folder / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(DataError, match="line 1"):
        data.load_dataset("celeba", tmp_path, download=False)


def test_celeba_images_missing_or_corrupt_are_skipped_and_counted(tmp_path):
    folder = write_celeba(tmp_path)
    partition = folder / "list_eval_partition.txt"
    partition.write_text(partition.read_text() + "999999.jpg 0\n888888.jpg 2\n")
    (folder / "img_align_celeba" / "000002.jpg").write_bytes(b"not a jpeg")
    dataset = data.load_dataset("celeba", tmp_path, download=False)
    assert (len(dataset.train), len(dataset.test)) == (2, 2)
    assert "skipped 2 of 4 train images" in dataset.note
    assert "1 of 3 test images (e.g. 888888.jpg: No such file or directory)" in dataset.note
    partition.write_text("000001.jpg 0\n.. 0\n000005.jpg 2\n")  # ".." names a folder
    data._load_cached.cache_clear()
    assert "(e.g. ..: not a regular file)" in data.load_dataset("celeba", tmp_path,
                                                                 download=False).note


# --------------------------------------------------------------------------- offline


@pytest.mark.parametrize("name, words", [
    ("cifar10", "data_batch_1 .. data_batch_5, test_batch"),
    ("svhn", "train_32x32.mat and test_32x32.mat"),
    ("celeba", "Google Drive's quota"),
])
def test_offline_or_a_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch, name,
                                                                  words):
    def no_network(spec, root):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(colour_datasets, "_download", no_network)
    with pytest.raises(DataError) as caught:
        data.load_dataset(name, tmp_path / "empty")
    message = str(caught.value)
    assert "downloading it failed" in message and "name resolution" in message
    assert words in message and "--data-dir" in message and "\n" not in message
    with pytest.raises(DataError, match=f"{dataset_spec(name).title} is not in"):
        data.load_dataset(name, tmp_path / "empty", download=False)
    assert not data.dataset_available(name, tmp_path / "empty")


def test_a_celeba_photo_smaller_than_the_crop_is_cropped_to_its_own_square(tmp_path):
    from tui_vae.image_folder import _decode_one

    Image.new("RGB", (20, 30), (200, 10, 10)).save(tmp_path / "small.jpg", quality=95)
    pixels = _decode_one(tmp_path / "small.jpg", 64, 3, colour_datasets.CELEBA_CROP)
    assert pixels.shape == (64, 64, 3) and abs(int(pixels[..., 0].mean()) - 200) <= 6
