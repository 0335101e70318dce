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


def test_one_epoch_of_the_default_vae_reaches_test_loss_below_130():
    config = TrainConfig(model=ModelConfig(), epochs=1, device="cpu", data_dir=DATA_DIR)
    history = Trainer(config).run().history
    assert history[0]["test"]["loss"] < 130
