"""IDX parsing, dataset folders, the offline message and the bundled sample."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from tui_vae import data
from tui_vae.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fake_mnist(root, n_train=12, n_test=6, folder="MNIST"):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(n) % 10))
    return raw


def test_read_idx_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    (tmp_path / "a").write_bytes(idx_bytes(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    assert np.array_equal(data.read_idx(tmp_path / "a"), array)
    assert np.array_equal(data.read_idx(tmp_path / "a.gz"), array)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-5], "truncated"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "magic"),
    (lambda b: b + b"xx", "longer"),
    (lambda b: b[:6], "header"),
    (lambda b: b[:3] + b"\xff" + b[4:], "255 dimensions"),  # numpy stops at 64
    (lambda b: b[:3] + b"\x00" + b[4:], "0 dimensions"),
])
def test_read_idx_rejects_malformed_files(tmp_path, mutate, message):
    path = tmp_path / "bad"
    path.write_bytes(mutate(idx_bytes(np.zeros((2, 28, 28)))))
    with pytest.raises(DataError, match=message):
        data.read_idx(path)


def test_load_dataset_from_a_torchvision_layout(tmp_path):
    write_fake_mnist(tmp_path)
    dataset = data.load_dataset("mnist", tmp_path)
    assert dataset.train.images.shape == (12, 28, 28) and len(dataset.test) == 6
    assert dataset.train.images.dtype.is_floating_point is False
    assert dataset.train.labels.tolist()[:3] == [0, 1, 2]
    x = dataset.test.floats()
    assert x.shape == (6, 1, 28, 28) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("plant", ["fifo", "folder", "dangling link"])
def test_a_non_file_under_a_data_files_name_is_named_not_downloaded_over(tmp_path, plant):
    raw = write_fake_mnist(tmp_path)
    target = raw / "t10k-images-idx3-ubyte"
    target.unlink()
    {"fifo": os.mkfifo, "folder": os.mkdir,
     "dangling link": lambda p: os.symlink(tmp_path / "nowhere", p)}[plant](target)
    data._load_cached.cache_clear()
    with pytest.raises(DataError, match="is not a regular file"):
        data.load_dataset("mnist", tmp_path, download=True)


def test_labels_of_two_dimensions_are_named_as_such(tmp_path):
    raw = write_fake_mnist(tmp_path)
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes((np.arange(12) % 10)[:, None]))
    data._load_cached.cache_clear()
    with pytest.raises(DataError, match=r"labels of shape \(12, 1\), not one label per image"):
        data.load_dataset("mnist", tmp_path)


def test_mismatched_image_and_label_counts_are_an_error(tmp_path):
    raw = write_fake_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    with pytest.raises(DataError, match="6 images but .* 5 labels"):
        data.load_dataset("mnist", tmp_path)


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert data.resolve_data_dir(None).name == "data"
    assert "tui-vae" in str(data.resolve_data_dir(None))


def test_a_data_folder_in_an_unknown_users_home_is_one_line(monkeypatch):
    """TUI_VAE_DATA_DIR=~nobody/x gave "unexpected RuntimeError: Could not determine
    home directory"."""
    monkeypatch.setenv(data.DATA_DIR_ENV, "~no-such-user-of-tui-vae/data")
    with pytest.raises(DataError, match="no such user's home folder"):
        data.resolve_data_dir(None)


def test_failed_download_names_both_ways_to_local_files(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading x:\n<urlopen error [Errno -2] Name unknown>")

    monkeypatch.setattr(torchvision.datasets, "KMNIST", offline)
    with pytest.raises(DataError) as info:
        data.load_dataset("kmnist", tmp_path / "empty")
    message = str(info.value)
    assert "--data-dir" in message and data.DATA_DIR_ENV in message
    assert "Name unknown" in message and "\n" not in message


def test_bundled_sample_has_100_digits_per_class():
    sample = data.load_sample()
    assert sample.images.shape == (1000, 28, 28)
    assert sample.labels.bincount().tolist() == [100] * 10
    assert sample.images.float().mean() > 10  # real digits, not blanks
    split = data.load_dataset("mnist-sample")
    assert len(split.train) == 800 and len(split.test) == 200
    assert split.test.labels.bincount().tolist() == [20] * 10


def test_a_download_goes_to_the_datasets_own_folder_and_a_failed_one_leaves_none(
        tmp_path, monkeypatch):
    import torchvision.datasets as tv_datasets

    from tui_vae.data import _raw_only, load_dataset

    # torchvision names the folder after the class: never after our subclass.
    raw_only = _raw_only(tv_datasets.FashionMNIST)
    reader = object.__new__(raw_only)
    reader.root = str(tmp_path)
    assert Path(reader.raw_folder) == tmp_path / "FashionMNIST" / "raw"

    class FashionMNIST(tv_datasets.FashionMNIST):  # offline: its download fails
        def __init__(self, root, train=True, download=False):
            self.root = root
            os.makedirs(self.raw_folder, exist_ok=True)  # as torchvision does, first
            raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(tv_datasets, "FashionMNIST", FashionMNIST)
    typo = tmp_path / "typo" / "data"
    with pytest.raises(DataError, match="downloading it failed"):
        load_dataset("fashion-mnist", typo)
    assert not (tmp_path / "typo").exists()
    kept = tmp_path / "mine"
    (kept / "notes.txt").parent.mkdir()
    (kept / "notes.txt").write_text("the user's")
    with pytest.raises(DataError):
        load_dataset("fashion-mnist", kept)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
