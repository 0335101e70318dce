"""The shipped checkpoints load and behave as their metadata says (bundled sample, quick)."""

from __future__ import annotations

import pytest
import torch

from tui_vae.checkpoints import read_info
from tui_vae.data import Split, load_sample
from tui_vae.inference import load
from tui_vae.judge import SHIPPED_JUDGE, judge_outputs, load_judge
from tui_vae.workspace import SHIPPED_DIR

SHIPPED = ("vae", "cvae", "vae-beta0", "vae-2d")


@pytest.fixture(scope="module")
def digits() -> Split:
    sample = load_sample()
    keep = torch.arange(0, 1000, 3)  # 334 test digits, every class
    return Split(sample.images[keep], sample.labels[keep])


def _recon_and_kl(model, digits: Split) -> tuple[float, float]:
    labels = digits.labels if model.config.conditional else None
    recon, kl = model.losses(digits.floats(), labels)
    return recon.mean().item(), kl.mean().item()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_with_its_recorded_settings(name):
    info = read_info(SHIPPED_DIR / f"{name}.safetensors")
    model = info.model_config
    assert model["dataset"] == "mnist" and model["hidden_dim"] == 400
    assert model["latent_dim"] == (2 if name == "vae-2d" else 20)
    assert model["beta"] == (0 if name == "vae-beta0" else 1)
    assert model["model"] == ("cvae" if name == "cvae" else "vae")
    assert info.epochs_done == info.meta["training"]["epochs"]  # a finished run


def test_the_binarised_mnist_model_is_the_literatures_network():
    info = read_info(SHIPPED_DIR / "vae-binary.safetensors")
    model = info.model_config
    assert (model["dataset"], model["latent_dim"], model["hidden_dim"]) == ("mnist-binary", 40,
                                                                            400)
    assert (model["arch"], model["likelihood"], model["beta"]) == ("mlp", "bernoulli", 1)
    assert info.epochs_done == info.meta["training"]["epochs"] == 300
    assert info.meta["training"]["gradients"] == "hand-derived"


def test_reconstruction_losses_are_in_the_expected_ranges(digits):
    vae = _recon_and_kl(load(SHIPPED_DIR / "vae.safetensors"), digits)
    cvae = _recon_and_kl(load(SHIPPED_DIR / "cvae.safetensors"), digits)
    bce = _recon_and_kl(load(SHIPPED_DIR / "vae-beta0.safetensors"), digits)
    assert 60 < vae[0] < 90 and 15 < vae[1] < 35
    assert vae[0] + vae[1] > cvae[0] + cvae[1]  # the label helps
    assert bce[0] <= vae[0]  # without the KL term, reconstructions are no worse...
    assert bce[1] > 3 * vae[1]  # ...but the posterior drifts far from the prior


def test_cvae_samples_are_judged_as_their_class():
    cvae = load(SHIPPED_DIR / "cvae.safetensors")
    judge = load_judge(SHIPPED_JUDGE)
    requested = torch.arange(10).repeat_interleave(30)
    images = cvae.sample(len(requested), requested, 1.0, seed=0)
    judged, _ = judge_outputs(judge, images)
    assert (judged == requested).float().mean().item() > 0.85


def test_judge_recognises_the_bundled_digits(digits):
    judge = load_judge(SHIPPED_JUDGE)
    judged, _ = judge_outputs(judge, digits.floats())
    assert (judged == digits.labels).float().mean().item() > 0.97
