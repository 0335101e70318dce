"""The datasets tui-vae knows: names, folders, class names. No heavy imports.

Kept apart from `data.py` so that the CLI's --help and the TUI's first paint can
list datasets and class names without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is named, stored and labelled."""

    name: str  # the name used on the command line and in checkpoints
    title: str  # for people: "Fashion-MNIST"
    folder: str  # torchvision's folder under the data root: <root>/<folder>/raw/
    torchvision_class: str  # the torchvision.datasets class that downloads it
    classes: tuple[str, ...]  # class names, index = label
    # Binarised: each pixel drawn 0 or 1 with its grey level as the probability;
    # the training images afresh for every batch, the test images once, seeded.
    binarize: bool = False


DIGITS = tuple(str(d) for d in range(10))

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
    "mnist-sample": DatasetSpec("mnist-sample", "MNIST sample", "", "", DIGITS),
}

DATASET_NAMES = tuple(DATASETS)
IMAGE_SIZE = 28
NUM_CLASSES = 10


def dataset_spec(name: str) -> DatasetSpec:
    """The spec for `name`; raises DataError naming the known datasets."""
    from tui_vae.errors import DataError

    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASET_NAMES)
        raise DataError(f"unknown dataset {name!r} (known: {known})") from None
