"""The datasets tui-vae knows: names, folders, class names, image shapes. No heavy imports.

Kept apart from `data.py` so that the CLI's --help and the TUI's first paint can
list datasets, class names and image shapes without importing torch (or numpy).

Besides the registered names, `folder:PATH` names any folder of images: its
sub-folders are the classes (a flat folder has none), its image size and
channels are the user's (`--image-size`, `--channels`), so its spec is built
on demand from the folder's listing (`dataset_spec`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from tui_vae.wording import plural, printable

FOLDER_PREFIX = "folder:"
# A folder dataset's sub-folders become classes; more than this is not a class
# layout (and a cVAE's one-hot of that width would be absurd).
MAX_FOLDER_CLASSES = 1000


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is named, stored, labelled and shaped."""

    name: str  # the name used on the command line and in checkpoints
    title: str  # for people: "Fashion-MNIST"
    folder: str  # its folder under the data root (torchvision's, where it downloads)
    torchvision_class: str  # the torchvision.datasets class that downloads it ("" none)
    classes: tuple[str, ...]  # class names, index = label
    # Binarised: each pixel drawn 0 or 1 with its grey level as the probability;
    # the training images afresh for every batch, the test images once, seeded.
    binarize: bool = False
    channels: int = 1  # 1 grey, 3 colour (RGB)
    image_size: int = 28  # images are image_size x image_size
    # How it is read (tui_vae/data.py dispatches on it): "idx" torchvision's IDX
    # files, "sample" the bundled digits, "shapes" generated, "cifar10", "svhn",
    # "celeba", "folder".
    reader: str = "idx"
    # False where the labels carry no classes (CelebA, a flat folder): every image
    # is class 0 (named by `classes[0]`) and a cVAE is refused.
    labelled: bool = True
    # Sizes a user may choose with --image-size (the generator and folders resize);
    # () means image_size only.
    image_sizes: tuple[int, ...] = ()
    # Factors of variation stored with each image (Split.factors columns), and how
    # each varies: "categorical", "linear" or "circular" (tui_vae/factors.py).
    factor_names: tuple[str, ...] = ()
    factor_kinds: tuple[str, ...] = ()
    # A folder dataset's path; "" for the others.
    path: str = ""
    # A folder dataset's class folders as named on disk, index = label; `classes`
    # holds the same names made safe to print (control characters written as
    # escapes: a folder named "a\x1b[2J" must not clear the user's terminal).
    class_folders: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of its images at the default size."""
        return (self.channels, self.image_size, self.image_size)

    def allowed_sizes(self) -> tuple[int, ...]:
        return self.image_sizes or (self.image_size,)

    def allowed_channels(self) -> tuple[int, ...]:
        return (1, 3) if self.reader == "folder" else (self.channels,)


DIGITS = tuple(str(d) for d in range(10))
SHAPE_CLASSES = ("square", "circle", "triangle", "heart", "cross")
SHAPE_FACTORS = ("shape", "hue", "size", "x", "y", "rotation")
SHAPE_FACTOR_KINDS = ("categorical", "linear", "linear", "linear", "linear", "linear")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", "MNIST", "MNIST", "MNIST", DIGITS),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST",
        "FashionMNIST",
        "FashionMNIST",
        (
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
    "kmnist": DatasetSpec(
        "kmnist",
        "KMNIST",
        "KMNIST",
        "KMNIST",
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
    # Dynamically binarised MNIST, the benchmark of the VAE literature (Burda et
    # al. 2015; Salakhutdinov & Murray 2008): likelihoods comparable with papers.
    "mnist-binary": DatasetSpec("mnist-binary", "MNIST, binarised", "MNIST", "MNIST", DIGITS,
                                binarize=True),
    # 1,000 MNIST test digits shipped inside the package (see assets/): lets
    # the app and the tests run with no download. Split 800 train / 200 test.
    "mnist-sample": DatasetSpec("mnist-sample", "MNIST sample", "", "", DIGITS,
                                reader="sample"),
    # Generated, offline, coloured shapes with known factors (tui_vae/shapes.py):
    # the project's colour demo and test set; it needs no download.
    "shapes": DatasetSpec("shapes", "Shapes", "", "", SHAPE_CLASSES,
                          channels=3, image_size=32, reader="shapes",
                          image_sizes=(28, 32, 64), factor_names=SHAPE_FACTORS,
                          factor_kinds=SHAPE_FACTOR_KINDS),
    # Colour datasets, downloaded by torchvision's classes, read by our own code
    # (tui_vae/colour_datasets.py): never unpickled, never decoded twice.
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", "cifar-10-batches-py", "CIFAR10",
                           CIFAR10_CLASSES, channels=3, image_size=32, reader="cifar10"),
    "svhn": DatasetSpec("svhn", "SVHN", "SVHN", "SVHN", DIGITS, channels=3, image_size=32,
                        reader="svhn"),
    "celeba": DatasetSpec("celeba", "CelebA", "celeba", "CelebA", ("face",), channels=3,
                          image_size=64, reader="celeba", labelled=False),
}

DATASET_NAMES = tuple(DATASETS)
IMAGE_SIZE = 28
NUM_CLASSES = 10


def is_folder_dataset(name: str) -> bool:
    """Whether `name` is a `folder:PATH` dataset."""
    return isinstance(name, str) and name.startswith(FOLDER_PREFIX)


def folder_classes(path: str | os.PathLike) -> tuple[str, ...]:
    """The class names of an image folder: its sub-folders, sorted; () for a flat folder.

    Hidden folders (".cache") and links to folders are not classes. A missing folder
    has none either; reading it (tui_vae/image_folder.py) says so.
    """
    try:
        with os.scandir(path) as entries:
            names = []
            for entry in entries:
                try:  # links to folders are not followed here either (image_folder.py):
                    # a class linked to / would read every image on the machine
                    is_folder = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_folder = False
                if not entry.name.startswith(".") and is_folder:
                    names.append(entry.name)
                    if len(names) > MAX_FOLDER_CLASSES:
                        break
    except OSError:
        return ()
    return tuple(sorted(names))


def folder_spec(name: str) -> DatasetSpec:
    """The spec of `folder:PATH`: sub-folders are classes, shape chosen by the user."""
    from tui_vae.errors import DataError

    path = name[len(FOLDER_PREFIX):]
    if not path:
        raise DataError("--dataset folder:PATH needs a folder, e.g. folder:~/pictures")
    if "\0" in path:
        raise DataError(f"{printable(path)}: a folder path cannot hold a NUL byte")
    classes = folder_classes(os.path.expanduser(path))
    if len(classes) > MAX_FOLDER_CLASSES:
        raise DataError(f"{path} has more than {MAX_FOLDER_CLASSES:,} sub-folders; "
                        f"sub-folders are classes, so that is not an image folder layout")
    title = printable(os.path.basename(os.path.normpath(path)) or path)
    labelled = bool(classes)
    shown = tuple(printable(name) for name in classes) if labelled else (title,)
    return DatasetSpec(name, f"folder {title}", path, "", shown,
                       channels=3, image_size=32, reader="folder", labelled=labelled,
                       image_sizes=(28, 32, 64), path=path, class_folders=classes)


# Said where MNIST is missing and cannot be downloaded. The Train view, which has
# no flags, says it in its own words (`in_the_forms_words`).
OFFLINE_HINT = "; or train offline on the 1,000 bundled digits: --dataset mnist-sample"
FORM_OFFLINE_HINT = ('; or train offline on the 1,000 bundled digits: choose "MNIST sample" '
                     'as the dataset')


def in_the_forms_words(message: str) -> str:
    """A failure's message as the Train form says it: its choices, not the flags."""
    return message.replace(OFFLINE_HINT, FORM_OFFLINE_HINT)


def dataset_spec(name: str) -> DatasetSpec:
    """The spec for `name` (a registered name or `folder:PATH`); DataError names the known."""
    from tui_vae.errors import DataError

    if is_folder_dataset(name):
        return folder_spec(name)
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = ", ".join(DATASET_NAMES)
        raise DataError(f"unknown dataset {name!r} (known: {known}, folder:PATH)") from None


def absolute_dataset_name(name: str) -> str:
    """`name`, with a `folder:PATH`'s path made absolute ("~" expanded; links kept).

    Checkpoints record the dataset's name: a relative path there would name another
    folder, or none, once the explorer or `eval` runs from another working folder.
    """
    if not is_folder_dataset(name) or len(name) == len(FOLDER_PREFIX):
        return name
    path = os.path.abspath(os.path.expanduser(name[len(FOLDER_PREFIX):]))
    return FOLDER_PREFIX + path


def is_known_dataset(name: str) -> bool:
    """A registered name, or `folder:` followed by a path (one no system call refuses
    outright: a NUL byte in it reached the "unexpected" handler)."""
    return isinstance(name, str) and (name in DATASETS or (is_folder_dataset(name)
                                                          and len(name) > len(FOLDER_PREFIX)
                                                          and "\0" not in name))


def dataset_problems(name: str, model: str, channels: int, image_size: int,
                     num_classes: int) -> list[str]:
    """Why a model of this shape cannot train on (or show) dataset `name`; [] when fine.

    Torch-free (ModelConfig.problems and checkpoint validation use it). A folder
    that is not on this machine cannot be checked for its classes: that is left
    to loading it.
    """
    from tui_vae.errors import DataError

    if not is_known_dataset(name):
        return [f"unknown dataset {name!r} (known: {', '.join(DATASET_NAMES)}, folder:PATH)"]
    try:
        spec = dataset_spec(name)
    except DataError as exc:
        return [str(exc)]
    found = []
    if channels not in spec.allowed_channels():
        found.append(f"{spec.title} images have {spec.channels} channel"
                     f"{'s' if spec.channels > 1 else ''}, not {channels}")
    if image_size not in spec.allowed_sizes():
        sizes = " or ".join(map(str, spec.allowed_sizes()))
        found.append(f"{spec.title} images are {sizes} pixels square, not {image_size}")
    if model == "cvae":
        if spec.reader == "folder" and not os.path.isdir(os.path.expanduser(spec.path)):
            pass  # not here: its classes are checked when it is loaded
        elif not spec.labelled:
            found.append(f"{spec.title} has no classes to condition on: train a plain VAE "
                         f"(--model vae)")
        elif num_classes != len(spec.classes):
            # A folder's sub-folders may have changed since a checkpoint was trained.
            now = plural(len(spec.classes), "class", "classes")
            found.append(f"{spec.title} has {now} (sub-folders) now; a cVAE of "
                         f"{plural(num_classes, 'class', 'classes')} cannot use it"
                         if spec.reader == "folder" else
                         f"a cVAE on {spec.title} has {now}, not {num_classes}")
    return found


def fit_to_dataset(config, image_size: int | None = None, channels: int | None = None):
    """`config` (a ModelConfig) with its image shape and class count taken from its dataset.

    `image_size`/`channels` choose among what the dataset allows (shapes and
    folders resize; a folder may be read grey or colour); left None they are the
    dataset's defaults. The CLI's train and the Train form build configs this way,
    so a user never passes --channels 3 for cifar10.
    """
    spec = dataset_spec(config.dataset)
    return replace(config, dataset=absolute_dataset_name(config.dataset),
                   # `is None`, not `or`: a 0 given is refused by validation, not replaced
                   channels=spec.channels if channels is None else channels,
                   image_size=spec.image_size if image_size is None else image_size,
                   num_classes=max(1, len(spec.classes)))


def dataset_classes(name: str) -> tuple[str, ...]:
    """The class names of dataset `name` (index = label)."""
    return dataset_spec(name).classes
