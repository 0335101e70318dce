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
    assert info.epochs_done == info.meta["training"]["epochs"] == 1750  # the recipe's
    assert info.meta["training"]["gradients"] == "hand-derived"


def test_reconstruction_losses_are_in_the_expected_ranges(digits):
    vae = _recon_and_kl(load(SHIPPED_DIR / "vae.safetensors"), digits)
    cvae = _recon_and_kl(load(SHIPPED_DIR / "cvae.safetensors"), digits)
    bce = _recon_and_kl(load(SHIPPED_DIR / "vae-beta0.safetensors"), digits)
    assert 60 < vae[0] < 90 and 15 < vae[1] < 35
    assert vae[0] + vae[1] > cvae[0] + cvae[1]  # the label helps
    assert bce[0] <= vae[0]  # without the KL term, reconstructions are no worse...
    assert bce[1] > 3 * vae[1]  # ...but the posterior drifts far from the prior


# The README's figures are 96.7% and 98.2% on 10,000 samples; 300 leave room for chance.
@pytest.mark.parametrize("name, least", [("cvae", 0.85), ("conv-cvae", 0.93)])
def test_cvae_samples_are_judged_as_their_class(name, least):
    cvae = load(SHIPPED_DIR / f"{name}.safetensors")
    judge = load_judge(SHIPPED_JUDGE)
    requested = torch.arange(10).repeat_interleave(30)
    images = cvae.sample(len(requested), requested, 1.0, seed=0)
    judged, _ = judge_outputs(judge, images)
    assert (judged == requested).float().mean().item() > least


def test_judge_recognises_the_bundled_digits(digits):
    judge = load_judge(SHIPPED_JUDGE)
    judged, _ = judge_outputs(judge, digits.floats())
    assert (judged == digits.labels).float().mean().item() > 0.97


@pytest.mark.parametrize("name, kind", [("conv-vae", "vae"), ("conv-cvae", "cvae")])
def test_the_conv_models_are_the_conv_network_on_mnist(name, kind):
    info = read_info(SHIPPED_DIR / f"{name}.safetensors")
    model = info.model_config
    assert (model["model"], model["arch"], model["likelihood"], model["dataset"],
            model["latent_dim"]) == (kind, "conv", "bernoulli", "mnist", 20)
    assert info.epochs_done == info.meta["training"]["epochs"]
    assert info.meta["training"]["gradients"] == "autograd"


def test_the_shapes_model_draws_colour_and_its_dimensions_follow_the_factors():
    from tui_vae.data import load_dataset
    from tui_vae.factors import dimension_factors
    from tui_vae.latent import active_units, encode_split

    model = load(SHIPPED_DIR / "shapes-vae.safetensors")
    assert model.config.image_shape == (3, 32, 32) and model.config.arch == "conv"
    shapes = load_dataset("shapes")
    encoded = encode_split(model, shapes.test)
    active = active_units(encoded.mu)
    rows = dimension_factors(encoded.mu[:, active], shapes.test.factors, shapes.factor_names,
                             shapes.factor_kinds)
    followed = {row.factor for row in rows if row.correlation > 0.5}
    # Position and colour each have a dimension of their own (size and shape are
    # spread over several: a plain VAE does not disentangle them, README).
    assert {"x", "y", "hue"} <= followed, rows
    samples = model.sample(16, None, 1.0, seed=0)
    assert samples.shape == (16, 3, 32, 32)
    # Colour, not grey: the channels differ within the drawn shapes.
    spread = (samples.max(dim=1).values - samples.min(dim=1).values)
    assert spread.max().item() > 0.5


def _recipes() -> dict[str, dict[str, str]]:
    """tools/train_shipped.py's flags per model, as its command gives them."""
    import importlib.util

    path = SHIPPED_DIR.parent / "tools" / "train_shipped.py"
    if not path.is_file():  # an installed wheel carries the checkpoints, not the tools
        pytest.skip("no tools/train_shipped.py beside the checkpoints")
    spec = importlib.util.spec_from_file_location("train_shipped", path)
    recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipes)
    found = {}
    for name in recipes.MODELS:
        words = recipes.flags_for(name)
        assert len(set(words[::2])) == len(words) // 2, f"{name}: a flag given twice"
        found[name] = dict(zip(words[::2], words[1::2]))
    return found


def test_each_shipped_checkpoint_was_trained_as_its_recipe_says():
    for name, flags in _recipes().items():
        info = read_info(SHIPPED_DIR / f"{name}.safetensors")
        training, model = info.meta["training"], info.model_config
        recorded = {"--epochs": training["epochs"], "--batch-size": training["batch_size"],
                    "--lr": training["lr"], "--seed": training["seed"],
                    "--dataset": model["dataset"], "--model": model["model"],
                    "--arch": model.get("arch", "mlp")}
        for flag, value in recorded.items():
            wanted = type(value)(flags[flag]) if flag in flags else None
            assert wanted is None or wanted == value, (name, flag, flags[flag], value)
