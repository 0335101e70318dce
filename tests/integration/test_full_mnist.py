"""Full MNIST, when TUI_VAE_DATA_DIR points at it (CI sets it; users may not)."""

import os

import pytest

from tui_vae.data import dataset_available, load_dataset
from tui_vae.models import ModelConfig
from tui_vae.training import TrainConfig, Trainer

DATA_DIR = os.environ.get("TUI_VAE_DATA_DIR")

pytestmark = [
    pytest.mark.full_data,
    pytest.mark.skipif(not DATA_DIR or not dataset_available("mnist", DATA_DIR),
                       reason="full MNIST not available (set TUI_VAE_DATA_DIR)"),
]


def test_full_mnist_loads_with_the_official_sizes():
    dataset = load_dataset("mnist", DATA_DIR)
    assert dataset.train.images.shape == (60000, 28, 28)
    assert dataset.test.images.shape == (10000, 28, 28)
    assert dataset.test.labels.bincount().tolist()[:2] == [980, 1135]


class StopAfterOneEpoch:
    """Stops at the first check of the second epoch (one epoch: 60,000 images in
    batches of the default size)."""

    def __init__(self):
        self.checks = 0
        self.steps = -(-60_000 // TrainConfig().batch_size)

    def is_set(self):
        self.checks += 1
        return self.checks > self.steps


def test_one_epoch_of_the_default_vae_reaches_test_loss_below_130():
    # The first epoch of the default run (10 epochs, cosine schedule), as a user gets it.
    config = TrainConfig(model=ModelConfig(), device="cpu", data_dir=DATA_DIR)
    finished = Trainer(config, stop=StopAfterOneEpoch()).run()
    assert finished.stopped and len(finished.history) == 1
    assert finished.history[0]["test"]["loss"] < 130
