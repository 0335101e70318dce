"""The explorer's services on models that are not 28x28 grey: a colour 32x32 conv model
and a grey 64x64 one give pictures in their own shape everywhere (gallery, latent,
inference), and refuse images of another shape in one clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tui_vae import gallery
from tui_vae.data import Split
from tui_vae.datasets import dataset_spec
from tui_vae.inference import TrainedModel
from tui_vae.latent import decode_at, traversal
from tui_vae.models import ModelConfig, build_model

CASES = {  # name -> (channels, size, picture shape)
    "colour32": (3, 32, (32, 32, 3)),
    "grey64": (1, 64, (64, 64)),
}
CLASSES = len(dataset_spec("shapes").classes)
# A colour model is one of the shapes dataset; a grey 64x64 one, of an image folder
# (not on this machine: the model is built, never trained, and needs no data).
DATASET = {3: "shapes", 1: "folder:/nonexistent/grey64"}


def make_model(channels: int, size: int, kind: str = "vae", latent: int = 3) -> TrainedModel:
    config = ModelConfig(model=kind, arch="conv", latent_dim=latent, hidden_dim=16,
                         dataset=DATASET[channels], channels=channels, image_size=size,
                         num_classes=CLASSES)
    return TrainedModel(build_model(config, seed=0))


def make_split(channels: int, size: int, n: int = 12) -> Split:
    rng = np.random.default_rng(0)
    shape = (n, size, size, 3) if channels == 3 else (n, size, size)
    images = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
    return Split(images, torch.arange(n) % CLASSES)


@pytest.fixture(params=list(CASES), scope="module")
def case(request):
    channels, size, shape = CASES[request.param]
    return make_model(channels, size), make_model(channels, size, "cvae"), \
        make_split(channels, size), shape


def test_views_services_give_pictures_in_the_models_shape(case):
    model, cvae, split, shape = case
    h, w = shape[:2]
    rest = shape[2:]
    originals = gallery.images_of(split, [0, 1, 2])
    assert originals.shape == (3, *shape)
    # the stored pixels come back (channels last), not some other layout
    stored = split.images[1].numpy().astype(np.float32) / 255
    assert np.allclose(originals[1], stored)
    recon = gallery.reconstructions(model, split, [0, 1, 2])
    assert recon.shape == (3, *shape) and 0 <= recon.min() and recon.max() <= 1
    assert gallery.side_by_side(originals, recon).shape == (3, h, 2 * w + 1, *rest)
    assert gallery.samples(model, 5, None, 1.0, 0).shape == (5, *shape)
    assert gallery.samples(model, 0, None, 1.0, 0).shape == (0, *shape)
    assert gallery.class_rows(cvae, 4, 1.0, 0).shape == (4 * CLASSES, *shape)
    assert gallery.interpolation(model, split, 0, 1, 6, True).shape == (6, *shape)
    assert gallery.condition_sweep(cvae, split, 0, 1, 2, 5).shape == (5, *shape)
    spread = gallery.posterior_spread(model, split, [3, 4], draws=3)
    assert spread.shape == (2, h // 2, (w // 2) * 5 + 1, *rest)
    pairs, drawn = gallery.training_preview(cvae, type("I", (), {"split": split})(), 4)
    assert pairs.shape == (4, 14, 29, *rest) and drawn.shape == (4, 14, 14, *rest)
    assert gallery.half_size(originals).shape == (3, h // 2, w // 2, *rest)
    assert gallery.shrink(originals, 4).shape == (3, h // 4, w // 4, *rest)
    mu, _ = model.encode(split.floats(torch.tensor([0])))
    rows = traversal(model, mu[0].numpy(), [0, 2], 5)
    assert rows.shape == (10, *shape)
    assert traversal(model, mu[0].numpy(), [], 5).shape == (0, *shape)
    assert decode_at(model, mu[0].numpy()).shape == shape


def test_the_manifold_grid_in_colour():
    model = make_model(3, 32, latent=2)
    assert gallery.manifold_grid(model, 3).shape == (9, 32, 32, 3)


def test_half_size_averages_each_channel():
    images = np.zeros((1, 2, 4, 3), np.float32)
    images[0, :, :2, 0] = 1.0  # red on the left half
    images[0, 0, 2:, 2] = 1.0  # blue in the top right
    half = gallery.half_size(images)
    assert half.shape == (1, 1, 2, 3)
    assert half[0, 0, 0].tolist() == [1.0, 0.0, 0.0] and half[0, 0, 1].tolist() == [0, 0, 0.5]


def test_images_of_another_shape_are_refused_in_one_message():
    colour = make_model(3, 32)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        colour.encode(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        colour.encode(torch.zeros(2, 32, 32))  # (N, H, W) is a grey model's shorthand only
    grey = make_model(1, 64)
    assert grey.encode(torch.zeros(2, 64, 64))[0].shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(N, 1, 64, 64\)"):
        grey.encode(torch.zeros(2, 1, 28, 28))
