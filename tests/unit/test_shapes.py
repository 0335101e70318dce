"""The generated shapes dataset: determinism, independent factors, images that follow them."""

import numpy as np
import pytest
import torch

from tui_vae import shapes
from tui_vae.datasets import SHAPE_CLASSES, SHAPE_FACTORS, dataset_spec


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    a = shapes.generate(64, seed=3)
    b = shapes.generate(64, seed=3)
    c = shapes.generate(64, seed=4)
    for left, right in zip(a, b):
        assert np.array_equal(left, right)
    assert not np.array_equal(a[0], c[0])
    images, labels, factors = a
    assert images.shape == (64, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and factors.shape == (64, len(SHAPE_FACTORS))
    assert np.array_equal(labels, factors[:, 0].astype(np.int64))


def test_factors_lie_in_their_documented_ranges_and_are_independent():
    factors = shapes.draw_factors(20_000, seed=0).astype(np.float64)
    for column, (low, high) in zip(range(1, 6), (shapes.HUE_RANGE, shapes.SIZE_RANGE,
                                                 shapes.POSITION_RANGE, shapes.POSITION_RANGE,
                                                 shapes.ROTATION_RANGE)):
        assert low <= factors[:, column].min() and factors[:, column].max() <= high
    correlation = np.corrcoef(factors, rowvar=False)
    off_diagonal = np.abs(correlation[~np.eye(len(SHAPE_FACTORS), dtype=bool)])
    # 20,000 independent draws: |r| has a standard error of about 0.007.
    assert off_diagonal.max() < 0.04, correlation


def test_every_class_is_present_in_both_splits():
    (_, train_labels, _), (_, test_labels, _) = shapes.generate_splits(train=500, test=200)
    for labels in (train_labels, test_labels):
        assert set(labels.tolist()) == set(range(len(SHAPE_CLASSES)))


def _one(**values) -> np.ndarray:
    """One 32x32 image with the given factors (the rest at mid-range)."""
    factors = {"shape": 0, "hue": 0.0, "size": 0.2, "x": 0.5, "y": 0.5, "rotation": 0.0}
    factors.update(values)
    row = np.array([[factors[name] for name in SHAPE_FACTORS]], dtype=np.float32)
    return shapes._render(row, 32)[0].astype(np.float64)


def test_each_factor_changes_the_image_as_it_says():
    red, green, blue = _one(hue=0.0), _one(hue=1 / 3), _one(hue=2 / 3)
    assert red[..., 0].mean() > 3 * red[..., 1].mean()
    assert green[..., 1].mean() > 3 * green[..., 0].mean()
    assert blue[..., 2].mean() > 3 * blue[..., 0].mean()
    assert (_one(size=0.26).sum() > 1.5 * _one(size=0.14).sum())

    def centre(image):
        weight = image.sum(axis=2)
        rows, cols = np.indices(weight.shape)
        return (rows * weight).sum() / weight.sum(), (cols * weight).sum() / weight.sum()

    assert centre(_one(x=0.64))[1] - centre(_one(x=0.36))[1] == pytest.approx(0.28 * 32, abs=1)
    assert centre(_one(y=0.64))[0] - centre(_one(y=0.36))[0] == pytest.approx(0.28 * 32, abs=1)
    changed = np.abs(_one(rotation=20.0) - _one(rotation=0.0)).max(axis=2) > 60
    assert changed.sum() > 15  # the corners moved
    # A circle's rotation shows nothing; every other shape's does.
    assert np.abs(_one(shape=1, rotation=20.0) - _one(shape=1)).max() < 2
    outlines = [(_one(shape=k) > 0).any(axis=2) for k in range(len(SHAPE_CLASSES))]
    for i in range(len(outlines)):
        for j in range(i + 1, len(outlines)):
            assert (outlines[i] != outlines[j]).sum() > 20, (SHAPE_CLASSES[i], SHAPE_CLASSES[j])


@pytest.mark.parametrize("size", [28, 64])
def test_every_shape_stays_inside_the_image_at_the_extremes(size):
    extremes = [[k, 0.5, 0.26, x, y, r] for k in range(5) for x in (0.36, 0.64)
                for y in (0.36, 0.64) for r in (-30.0, 30.0)]
    images = shapes._render(np.array(extremes, dtype=np.float32), size)
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert border.max() < 40  # at most a faint anti-aliased edge touches the border


def test_load_dataset_gives_colour_splits_with_factors_and_class_names():
    from tui_vae.data import load_dataset

    dataset = load_dataset("shapes")
    assert dataset.image_shape == (3, 32, 32)
    assert dataset.classes == SHAPE_CLASSES and dataset.factor_names == SHAPE_FACTORS
    assert (len(dataset.train), len(dataset.test)) == (shapes.TRAIN_SIZE, shapes.TEST_SIZE)
    assert dataset.train.factors.shape == (shapes.TRAIN_SIZE, 6)
    x = dataset.test.floats(slice(0, 5))
    assert x.shape == (5, 3, 32, 32) and x.is_contiguous() and 0 <= x.min() and x.max() <= 1
    # Channels first is a transpose of the stored channels-last pixels, nothing else.
    assert torch.equal((x * 255).round().to(torch.uint8).permute(0, 2, 3, 1),
                       dataset.test.images[:5])
    assert dataset_spec("shapes").image_shape == (3, 32, 32)


def test_a_few_conv_training_steps_on_shapes_lower_the_loss():
    from tui_vae.config import ModelConfig, TrainConfig
    from tui_vae.data import Dataset, load_dataset
    from tui_vae.datasets import fit_to_dataset
    from tui_vae.events import StepLogged
    from tui_vae.training import Trainer

    full = load_dataset("shapes")
    small = Dataset(full.spec, full.train.subset(slice(0, 768)), full.test.subset(slice(0, 64)),
                    None)
    model = fit_to_dataset(ModelConfig(model="cvae", arch="conv", dataset="shapes",
                                       latent_dim=6, hidden_dim=32))
    assert model.image_shape == (3, 32, 32) and model.num_classes == 5
    losses = []
    config = TrainConfig(model=model, epochs=2, batch_size=64, lr=2e-3, log_every=1,
                         device="cpu")
    Trainer(config, on_event=lambda e: isinstance(e, StepLogged) and losses.append(e.loss),
            dataset=small).run()
    assert len(losses) == 24
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses


def test_the_train_forms_config_takes_the_shape_and_classes_from_the_dataset(tmp_path):
    from tui_vae.tui.screens.train import build_config

    values = {"model": "cvae", "arch": "conv", "likelihood": "bernoulli", "latent_dim": "4",
              "hidden_dim": "32", "beta": "1", "dataset": "shapes", "epochs": "1",
              "batch_size": "64", "lr": "0.002", "kl_warmup": "0", "seed": "0"}
    model = build_config(values, tmp_path, None).model
    assert (model.image_shape, model.num_classes) == ((3, 32, 32), 5)
    assert build_config({**values, "dataset": "mnist"}, tmp_path, None).model.image_shape \
        == (1, 28, 28)
