"""`--dataset folder:PATH`: classes from sub-folders, skipped files, the decode cache."""

import os

import numpy as np
import pytest
from PIL import Image

from tui_vae import data, image_folder
from tui_vae.config import ModelConfig
from tui_vae.datasets import dataset_spec, fit_to_dataset
from tui_vae.errors import DataError

COLOURS = {"reds": (220, 20, 20), "greens": (20, 200, 40)}


def make_folder(root, counts=None, suffix=".png", flat=False):
    """Small images of a plain colour per class (different sizes, so they get resized)."""
    counts = counts or {"reds": 6, "greens": 5}
    for name, count in counts.items():
        folder = root if flat else root / name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(count):
            image = Image.new("RGB", (40 + k, 30 + 2 * k), COLOURS.get(name, (90, 90, 200)))
            image.save(folder / f"{name}-{k}{suffix}")
    return root


def load(path, tmp_path, size=32, channels=3):
    data._load_cached.cache_clear()  # each call reads the folder (or its cache) afresh
    return data.load_dataset(f"folder:{path}", tmp_path / "data", image_size=size,
                             channels=channels)


def test_sub_folders_are_classes_and_images_are_decoded_resized(tmp_path):
    folder = make_folder(tmp_path / "pics", suffix=".jpg")
    dataset = load(folder, tmp_path)
    assert dataset.classes == ("greens", "reds") and dataset.spec.labelled
    assert len(dataset.train) + len(dataset.test) == 11 and len(dataset.test) == 1
    assert dataset.image_shape == (3, 32, 32) and dataset.note == ""
    images = np.concatenate([dataset.train.images.numpy(), dataset.test.images.numpy()])
    labels = np.concatenate([dataset.train.labels.numpy(), dataset.test.labels.numpy()])
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 6
    reds = images[labels == 1].reshape(-1, 3).mean(axis=0)
    assert reds[0] > 200 and reds[1] < 40  # JPEG-close to the colour written
    grey = load(folder, tmp_path, size=28, channels=1)
    assert grey.image_shape == (1, 28, 28) and grey.train.images.dim() == 3
    model = fit_to_dataset(ModelConfig(model="cvae", arch="conv", dataset=f"folder:{folder}"),
                           image_size=28, channels=1)
    assert model.num_classes == 2 and model.problems() == []


def test_the_split_is_fixed_and_holds_out_a_tenth(tmp_path):
    names = [f"class/{k:04d}.png" for k in range(2000)]
    train, test = image_folder.split_indices(image_folder.test_mask(names), names)
    assert 160 <= len(test) <= 240 and len(train) + len(test) == 2000  # about a tenth
    assert not set(train) & set(test)
    again = image_folder.split_indices(image_folder.test_mask(names), names)
    assert np.array_equal(again[1], test)


def test_adding_files_never_moves_an_image_between_train_and_test(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()

    def add(first, last):  # each image a plain colour of its own: its red level is its id
        for k in range(first, last):
            Image.new("RGB", (30, 30), (k, 90, 200)).save(folder / f"{k:03d}.png")

    def ids(split):
        return set(split.images.numpy()[:, 0, 0, 0].tolist())

    add(0, 60)
    before = load(folder, tmp_path, channels=3)
    assert len(ids(before.train) | ids(before.test)) == 60
    add(60, 120)  # the folder grows after a model was trained on it
    after = load(folder, tmp_path, channels=3)
    assert ids(before.test) <= ids(after.test) and ids(before.train) <= ids(after.train)
    assert 0 < len(ids(after.test)) < 30


def test_a_two_image_folder_splits_one_and_one(tmp_path):
    for names in (["a.png", "b.png"], ["x.png", "y.png"], ["p.png", "q.png"]):
        mask = np.array([True, True])  # even where the hash puts both in test
        train, test = image_folder.split_indices(mask, names)
        assert len(train) == 1 and len(test) == 1
        train, test = image_folder.split_indices(~mask, names)
        assert len(train) == 1 and len(test) == 1


def test_a_flat_folder_is_one_unlabelled_set_and_a_cvae_is_refused(tmp_path):
    folder = make_folder(tmp_path / "flat", {"any": 4}, flat=True)
    dataset = load(folder, tmp_path)
    assert not dataset.spec.labelled and dataset.classes == ("flat",)
    assert set(dataset.train.labels.tolist()) == {0}
    name = f"folder:{folder}"
    assert fit_to_dataset(ModelConfig(arch="conv", dataset=name)).problems() == []
    problems = fit_to_dataset(ModelConfig(model="cvae", arch="conv", dataset=name)).problems()
    assert problems == ["folder flat has no classes to condition on: train a plain VAE "
                        "(--model vae)"]


def test_corrupt_files_are_skipped_and_counted_in_one_line(tmp_path):
    folder = make_folder(tmp_path / "pics")
    (folder / "reds" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "greens" / "empty.jpg").write_bytes(b"")
    (folder / "greens" / "notes.txt").write_text("not an image: ignored, not counted")
    dataset = load(folder, tmp_path)
    assert len(dataset.train) + len(dataset.test) == 11
    assert dataset.note.startswith("skipped 2 of 13 files in ") and "\n" not in dataset.note


def test_an_empty_or_unreadable_folder_is_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        load(tmp_path / "empty", tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    for k in range(3):
        (bad / f"{k}.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"0 of 3 image files could be read \(e.g. 0.png"):
        load(bad, tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        load(tmp_path / "missing", tmp_path)


def test_images_beside_only_empty_class_folders_are_said_to_be_loose(tmp_path):
    # One empty sub-folder made its images "no image files" at all.
    folder = make_folder(tmp_path / "pics")
    for name in ("reds", "greens"):
        for image in (folder / name).iterdir():
            image.rename(folder / f"{name}-{image.name}")
    with pytest.raises(DataError) as caught:
        load(folder, tmp_path)
    said = str(caught.value)
    assert "none of them holds an image file" in said and "\n" not in said
    assert "11 image files directly in it" in said and "belong to no class" in said


def test_images_over_the_pixel_limit_are_skipped_before_decoding(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "pics", {"reds": 3})
    Image.new("RGB", (60, 60)).save(folder / "reds" / "big.png")
    monkeypatch.setattr(image_folder, "MAX_PIXELS", 50 * 50)
    dataset = load(folder, tmp_path)
    assert "skipped 1 of 4" in dataset.note and "over the 2,500 limit" in dataset.note


def test_the_decode_is_cached_and_redone_only_when_the_folder_changes(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "pics")
    calls = []
    decode = image_folder._decode_one
    monkeypatch.setattr(image_folder, "_decode_one", lambda *a: calls.append(1) or decode(*a))
    first = load(folder, tmp_path)
    assert len(calls) == 11
    cached = list((tmp_path / "data" / "cache" / "folders").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".npz"
    second = load(folder, tmp_path)
    assert len(calls) == 11  # nothing decoded again
    assert np.array_equal(first.train.images.numpy(), second.train.images.numpy())
    touched = folder / "reds" / "reds-0.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    load(folder, tmp_path)
    assert len(calls) == 22  # a changed file: decoded again
    load(folder, tmp_path, size=64)
    assert len(calls) == 33  # another size is another cache


def test_a_link_at_the_cache_path_is_refused_and_its_target_kept(tmp_path):
    folder = make_folder(tmp_path / "pics")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    cache = image_folder.cache_path((tmp_path / "data").resolve(), folder.resolve(), 32, 3)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(target)
    with pytest.raises(DataError, match="link"):
        load(folder, tmp_path)
    assert target.read_text() == "keep me"


def test_a_damaged_cache_is_decoded_again(tmp_path):
    folder = make_folder(tmp_path / "pics")
    load(folder, tmp_path)
    cache = next((tmp_path / "data" / "cache" / "folders").iterdir())
    cache.write_bytes(b"PK\x03\x04 damaged")
    assert len(load(folder, tmp_path).train) == 10


def test_the_spec_of_a_folder_and_its_checkpoint_name(tmp_path):
    from tui_vae.checkpoints import new_checkpoint_path

    folder = make_folder(tmp_path / "my pics")
    spec = dataset_spec(f"folder:{folder}")
    assert spec.classes == ("greens", "reds") and spec.allowed_channels() == (1, 3)
    path = new_checkpoint_path(tmp_path, "vae", f"folder:{folder}")
    assert path.parent == tmp_path and path.name.startswith("vae-folder-my-pics-")
    assert data.dataset_available(f"folder:{folder}")
    assert not data.dataset_available(f"folder:{tmp_path / 'gone'}")


def test_config_refuses_shapes_a_dataset_does_not_have():
    assert ModelConfig(dataset="cifar10", channels=3, image_size=64).problems() == [
        "CIFAR-10 images are 32 pixels square, not 64"]
    assert ModelConfig(dataset="shapes", channels=3, image_size=64).problems() == []
    assert ModelConfig(dataset="nosuch").problems()[0].startswith("unknown dataset 'nosuch'")
    assert ModelConfig(dataset="folder:").problems()[0].startswith("unknown dataset")


def test_sixteen_bit_and_palette_images_decode_to_their_levels(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16)).save(folder / "deep.png")
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 250, 250, 250] + [0] * 762)
    palette.info["transparency"] = b"\x00"
    palette.save(folder / "palette.png")
    dataset = load(folder, tmp_path, size=28, channels=1)
    levels = sorted(int(np.median(split.images.numpy()))
                    for split in (dataset.train, dataset.test))
    assert abs(levels[0] - 128) <= 2 and abs(levels[1] - 250) <= 2, levels


def test_transparent_pixels_are_black_and_deep_images_keep_their_levels(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    # Fully transparent pixels whose hidden colour is bright: black, not that colour.
    Image.new("RGBA", (20, 20), (250, 200, 100, 0)).save(folder / "clear.png")
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([255, 0, 0] * 256)
    palette.save(folder / "keyed.png", transparency=0)
    Image.new("LA", (20, 20), (240, 0)).save(folder / "clear-grey.png")
    # A dark 16-bit image stays dark (100 of 65535); a float image in [0, 1] is mid grey.
    Image.fromarray(np.full((20, 20), 100, dtype=np.uint16)).save(folder / "dark16.png")
    Image.new("F", (20, 20), 0.5).save(folder / "half.tif")
    decode = image_folder._decode_one
    for name in ("clear.png", "keyed.png", "clear-grey.png"):
        assert decode(folder / name, 8, 3, None).max() == 0, name
    assert decode(folder / "dark16.png", 8, 1, None).max() == 0
    assert abs(int(decode(folder / "half.tif", 8, 1, None).mean()) - 128) <= 1
    opaque = Image.new("RGBA", (20, 20), (250, 200, 100, 255))
    opaque.save(folder / "opaque.png")
    assert decode(folder / "opaque.png", 8, 3, None)[4, 4].tolist() == [250, 200, 100]


def test_a_decompression_bomb_is_skipped_naming_the_limit(tmp_path):
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    folder = make_folder(tmp_path / "pics", {"reds": 3}, flat=True)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10^10 pixels
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                      + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                                      + chunk(b"IEND", b""))
    dataset = load(folder, tmp_path)
    assert len(dataset.train) + len(dataset.test) == 3
    assert "skipped 1 of 4" in dataset.note and "bomb.png: over the 40,000,000 pixel" \
        in dataset.note


def test_a_relative_folder_is_recorded_as_an_absolute_path(tmp_path, monkeypatch):
    make_folder(tmp_path / "pics")
    monkeypatch.chdir(tmp_path)
    model = fit_to_dataset(ModelConfig(model="cvae", dataset="folder:pics"))
    assert model.dataset == f"folder:{tmp_path / 'pics'}"
    assert fit_to_dataset(ModelConfig(dataset="shapes")).dataset == "shapes"


def test_images_beside_the_class_folders_are_named_as_left_out(tmp_path):
    folder = make_folder(tmp_path / "pics", {"reds": 3})
    make_folder(folder, {"stray": 2}, flat=True)  # a flat folder that gained one sub-folder
    dataset = load(folder, tmp_path)
    assert dataset.classes == ("reds",) and len(dataset.train) + len(dataset.test) == 3
    assert f"2 image files directly in {folder.resolve()} (e.g. stray-0.png) belong to no " \
        f"class and were left out" in dataset.note
    single = make_folder(tmp_path / "one", {"reds": 3})
    make_folder(single, {"stray": 1}, flat=True)
    assert f"1 image file directly in {single.resolve()} (e.g. stray-0.png) belongs to no " \
        f"class and was left out" in load(single, tmp_path).note


def test_a_cache_whose_array_header_claims_terabytes_is_decoded_again(tmp_path):
    import io
    import zipfile

    folder = make_folder(tmp_path / "pics")
    first = load(folder, tmp_path)
    cache = next((tmp_path / "data" / "cache" / "folders").iterdir())
    with zipfile.ZipFile(cache) as archive:  # the right key, every other member kept
        members = {name: archive.read(name) for name in archive.namelist()}
    lie = io.BytesIO()
    np.lib.format.write_array_header_2_0(lie, {"descr": "|u1", "fortran_order": False,
                                               "shape": (10**12, 32, 32, 3)})
    members["images.npy"] = lie.getvalue() + b"\0" * 64
    with zipfile.ZipFile(cache, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    again = load(folder, tmp_path)  # numpy would allocate the header's 3 PB first
    assert np.array_equal(again.train.images.numpy(), first.train.images.numpy())


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "pics")

    def read_only(*_):
        raise PermissionError(13, "Permission denied")  # as in a read-only data folder

    monkeypatch.setattr(image_folder, "_write_cache", read_only)
    dataset = load(folder, tmp_path)
    assert len(dataset.train) + len(dataset.test) == 11 and dataset.note == ""
    monkeypatch.undo()
    (tmp_path / "a file").write_text("")  # a data folder that is a file: no cache at all
    data._load_cached.cache_clear()
    dataset = data.load_dataset(f"folder:{folder}", tmp_path / "a file")
    assert len(dataset.train) + len(dataset.test) == 11


def test_two_decodes_of_one_folder_at_once_leave_one_whole_cache(tmp_path):
    import threading

    folder = make_folder(tmp_path / "pics", {"reds": 30, "greens": 30})
    spec = dataset_spec(f"folder:{folder}")
    results, failures = [], []

    def read():
        try:
            results.append(image_folder.load(spec, tmp_path / "data", 32, 3))
        except Exception as exc:  # noqa: BLE001 (any failure fails the test below)
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(results) == 3
    left = sorted(p.name for p in (tmp_path / "data" / "cache" / "folders").iterdir())
    assert len(left) == 1 and left[0].endswith(".npz"), left  # no temporary file left
    again = image_folder.load(spec, tmp_path / "data", 32, 3)
    assert np.array_equal(again.train[0], results[0].train[0])


def test_a_photo_tagged_sideways_is_turned_upright(tmp_path):
    wide = Image.new("RGB", (40, 20), (0, 0, 0))
    wide.paste((255, 0, 0), (0, 0, 20, 20))  # stored: red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: red on top
    wide.save(tmp_path / "tagged.jpg", exif=exif, quality=95)
    wide.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.jpg", quality=95)
    tagged = image_folder._decode_one(tmp_path / "tagged.jpg", 8, 3, None).astype(int)
    upright = image_folder._decode_one(tmp_path / "upright.jpg", 8, 3, None).astype(int)
    assert np.abs(tagged - upright).max() <= 12
    assert tagged[:3, :, 0].min() > 200 and tagged[5:, :, 0].max() < 40  # red on top


def test_an_image_whose_name_is_not_utf8_is_read_like_any_other(tmp_path):
    folder = make_folder(tmp_path / "pics")
    odd = os.fsdecode(b"red\xff.png")  # a Latin-1 name on a UTF-8 system
    Image.new("RGB", (40, 30), COLOURS["reds"]).save(folder / "reds" / odd)
    dataset = load(folder, tmp_path)
    assert len(dataset.train) + len(dataset.test) == 12 and dataset.note == ""
    again = load(folder, tmp_path)  # from the cache this time
    assert len(again.train) + len(again.test) == 12


def test_a_link_to_a_folder_is_no_class(tmp_path):
    """A class folder linked to / would read every image on the machine."""
    folder = make_folder(tmp_path / "pics")
    elsewhere = make_folder(tmp_path / "elsewhere", {"blues": 4})
    (folder / "linked").symlink_to(elsewhere / "blues", target_is_directory=True)
    (folder / "root").symlink_to("/", target_is_directory=True)
    dataset = load(folder, tmp_path)
    assert dataset.classes == ("greens", "reds")
    assert len(dataset.train) + len(dataset.test) == 11


def test_a_folder_whose_classes_changed_says_so_in_whole_words(tmp_path):
    """A cVAE trained on a folder of 2 classes, after a third was added, was refused
    as "has 3 classes, not 2" (and "has 1 classes" with one left)."""
    from tui_vae.datasets import dataset_problems

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    [said] = dataset_problems(f"folder:{tmp_path}", "cvae", 1, 28, 2)
    assert said.endswith("has 3 classes (sub-folders) now; a cVAE of 2 classes cannot use it")
    (tmp_path / "b").rmdir()
    (tmp_path / "c").rmdir()
    [said] = dataset_problems(f"folder:{tmp_path}", "cvae", 1, 28, 2)
    assert "has 1 class (sub-folders) now" in said


def test_the_file_systems_root_is_no_image_folder(tmp_path):
    # A checkpoint whose metadata named folder:/ made `eval` read 555 images from
    # all over the machine (and cache them), bounded only by the file limit.
    for root in ("/", "/.", str(tmp_path / ".." / ".." / ".." / ".." / ".." / "..")):
        if os.path.realpath(root) != "/":
            continue
        with pytest.raises(DataError, match="the file system's root, not an image folder"):
            load(root, tmp_path)
    assert not (tmp_path / "data" / "cache").exists()  # nothing read, nothing cached
