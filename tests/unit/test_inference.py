"""The public API: tui_vae.load(path) and what the returned model does."""

import numpy as np
import pytest
import torch

import tui_vae
from tui_vae.errors import CheckpointError
from tui_vae.inference import lerp, slerp
from tui_vae.models import ModelConfig
from tui_vae.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, sample_dataset):
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for kind in ("vae", "cvae"):
        config = TrainConfig(model=ModelConfig(model=kind, latent_dim=3, hidden_dim=24,
                                               dataset="mnist-sample"),
                             epochs=1, batch_size=100, device="cpu",
                             out=str(folder / f"{kind}.safetensors"))
        Trainer(config, dataset=sample_dataset).run()
        paths[kind] = config.out
    return paths


def test_load_exposes_config_encode_decode(checkpoints, sample_dataset):
    model = tui_vae.load(checkpoints["vae"])
    assert model.config.model == "vae" and model.config.latent_dim == 3
    assert model.config.hidden_dim == 24 and model.config.beta == 1.0
    assert model.config.dataset == "mnist-sample"
    images = sample_dataset.test.floats(slice(0, 5))
    mu, logvar = model.encode(images)
    assert mu.shape == logvar.shape == (5, 3)
    probs = model.decode(mu)
    assert probs.shape == (5, 1, 28, 28) and 0 <= probs.min() and probs.max() <= 1
    assert torch.equal(model.reconstruct(images), probs)
    with pytest.raises(ValueError, match="plain VAE"):
        model.decode(mu, labels=[1] * 5)
    with pytest.raises(ValueError, match="shape"):
        model.encode(torch.rand(2, 784))


def test_cvae_needs_labels_and_samples_reproducibly(checkpoints):
    model = tui_vae.load(checkpoints["cvae"])
    assert model.config.model == "cvae"
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="labels"):
        model.decode(z)
    with pytest.raises(ValueError, match="0..9"):
        model.decode(z, labels=[3, 10])
    assert model.decode(z, labels=[3, 3]).shape == (2, 1, 28, 28)
    a = model.sample(4, labels=7, seed=1)
    assert torch.equal(a, model.sample(4, labels=7, seed=1))
    assert not torch.equal(a, model.sample(4, labels=7, seed=2))


def test_sample_refuses_sizes_temperatures_and_labels_it_cannot_honour(checkpoints):
    """sample(10**12) asked torch for terabytes; sample(-1) and labels=3.5 gave torch's
    own errors or a silent 3; a NaN temperature drew NaN images."""
    import numpy as np

    model = tui_vae.load(checkpoints["cvae"])
    for n in (10**12, -1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n must be a whole number"):
            model.sample(n, labels=1)
    # 1e200 was finite, and overflowed z: "z must be finite numbers" misled.
    for temperature in (float("nan"), -1.0, float("inf"), "hot", 1e200, 100.5):
        with pytest.raises(ValueError, match="temperature"):
            model.sample(2, labels=1, temperature=temperature)
    with pytest.raises(ValueError, match="whole class numbers"):
        model.sample(2, labels=3.5)
    assert model.sample(np.int64(2), labels=np.float32(3.0), temperature=np.float32(0.5),
                        seed=0).shape == (2, 1, 28, 28)
    # one label for both ends of a cVAE's path, as sample() takes one for all (it
    # was a TypeError: 'int' object is not subscriptable)
    from tui_vae.inference import interpolate

    pair = torch.rand(2, 1, 28, 28)
    assert torch.equal(interpolate(model, pair, labels=3, steps=4),
                       interpolate(model, pair, labels=[3, 3], steps=4))
    # a bad device is a bad argument: a ValueError as every other; an empty name is
    # said as the command says it ("." is not a file, it read)
    with pytest.raises(ValueError, match="unknown device"):
        tui_vae.load(checkpoints["cvae"], device="bogus")
    with pytest.raises(CheckpointError, match="an empty name names no file"):
        tui_vae.load("")
    # numpy's integers as seeds: torch's manual_seed refused them with a TypeError
    assert torch.equal(model.sample(2, labels=1, seed=np.int64(5)),
                       model.sample(2, labels=1, seed=5))


def test_every_api_call_refuses_what_it_cannot_honour_with_a_value_error(checkpoints):
    """seed=1.5, labels="7", no images, z or weights of the wrong shape gave torch's own
    RuntimeError or TypeError; interpolate(steps=10**12) asked for terabytes."""
    from tui_vae.inference import interpolate

    model = tui_vae.load(checkpoints["cvae"])
    calls = {
        "seed": lambda: model.sample(2, labels=1, seed=1.5),
        "labels must be whole class numbers from 0 to 9, not '7'": lambda: model.sample(
            2, labels="7"),
        # once accepted as class 1, and torch's "Overflow when unpacking long long"
        "labels must be whole class numbers from 0 to 9, not True": lambda: model.sample(
            2, labels=True),
        "not True or False": lambda: model.sample(2, labels=np.array([True, False])),
        "labels must be whole class numbers from 0 to 9$": lambda: model.sample(
            2, labels=[2**70, 1]),
        "path holds a NUL character": lambda: tui_vae.load("a\0b"),
        "cuda:1 is not supported": lambda: tui_vae.load("cvae", device=torch.device("cuda:1")),
        "no images": lambda: model.encode(torch.zeros(0, 1, 28, 28), []),
        "z must be numbers": lambda: model.decode("z", [1]),
        "z must have shape": lambda: model.decode_mixed(torch.zeros(3, 5), torch.zeros(3, 10)),
        "a row of class weights for each z": lambda: model.decode_mixed(
            torch.zeros(3, model.config.latent_dim), torch.zeros(2, 10)),
        "steps must be a whole number": lambda: interpolate(
            model, torch.rand(2, 28, 28), [1, 2], steps=10**12),
        "takes two images": lambda: interpolate(model, torch.rand(3, 28, 28), [1, 2, 3]),
        "weights must be finite": lambda: model.decode_mixed(
            torch.zeros(1, model.config.latent_dim), torch.full((1, 10), float("nan"))),
        # a few bytes expanded to 10**8 rows asked the allocator for hundreds of GiB
        "100,000,000 codes at once need about": lambda: model.decode(
            torch.zeros(1, model.config.latent_dim).expand(10**8, -1), 1),
        "100,000,000 images at once need about": lambda: model.encode(
            torch.zeros(1, 28, 28).expand(10**8, -1, -1), 1),
        "a tensor on the meta device has none": lambda: model.decode(
            torch.zeros(2, model.config.latent_dim, device="meta"), [1, 2]),
        "must be real numbers, not complex": lambda: model.decode(
            torch.zeros(2, model.config.latent_dim, dtype=torch.complex64), [1, 2]),
        "images must be finite numbers": lambda: model.encode(
            torch.full((2, 28, 28), float("nan")), [1, 2]),
        "z must be finite numbers": lambda: model.decode(
            torch.full((2, model.config.latent_dim), float("inf")), [1, 2]),
        "spherical must be True or False": lambda: interpolate(
            model, torch.rand(2, 28, 28), [1, 2], spherical="no"),
        "spherical must be True or False, not 1": lambda: interpolate(
            model, torch.rand(2, 28, 28), [1, 2], spherical=1),
    }
    for words, call in calls.items():
        with pytest.raises(ValueError, match=words):
            call()
    # a torch.device is a device (it was refused as "unknown device")
    assert tui_vae.load(checkpoints["cvae"], device=torch.device("cpu")).device.type == "cpu"


def test_a_z_that_overflows_the_decoder_is_a_value_error_not_nan_images():
    # 1e38 is finite: the shipped models' decoders overflowed on it (inf - inf in the
    # output layer) and returned NaN images without a word.
    for name in ("vae", "cvae"):
        model = tui_vae.load(name)
        z = torch.full((2, model.config.latent_dim), 1e38)
        labels = [1, 2] if model.config.conditional else None
        with pytest.raises(ValueError, match=r"z too large to decode \(\|z\| up to 1e\+38"):
            model.decode(z, labels)
        if model.config.conditional:
            with pytest.raises(ValueError, match="z too large to decode"):
                model.decode_mixed(z, torch.eye(10)[:2])
        assert model.decode(torch.zeros_like(z), labels).isfinite().all()


def test_interpolation_paths_start_and_end_at_the_codes():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    for path in (lerp(z0, z1, 5), slerp(z0, z1, 5)):
        assert path.shape == (5, 2)
        assert torch.allclose(path[0], z0, atol=1e-6) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(lerp(z0, z1, 3)[1], torch.tensor([0.5, 1.0]))
    unit = slerp(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 3)
    assert torch.allclose(unit.norm(dim=1), torch.ones(3), atol=1e-6)


def test_importing_the_services_does_not_import_textual():
    import subprocess
    import sys

    code = ("import sys, tui_vae.training, tui_vae.inference, tui_vae.render, tui_vae.cli;"
            "assert 'textual' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_load_finds_a_model_by_the_name_models_shows(tmp_path, monkeypatch):
    """From any folder, a shipped model loads by its bare name, with or without
    .safetensors, as `tui-vae sample vae` does; an unknown name says where to look."""
    from tui_vae.errors import TuiVaeError

    monkeypatch.chdir(tmp_path)
    for name in ("cvae", "cvae.safetensors", "shipped/cvae"):
        model = tui_vae.load(name)
        assert model.config.model == "cvae" and model.path.name == "cvae.safetensors"
    # What it is and which file it came from (a run named cvae takes the name first).
    assert repr(model) == f"<TrainedModel cVAE z=20 beta=1 mnist from {model.path}>"
    with pytest.raises(TuiVaeError, match="tui-vae models"):
        tui_vae.load("no-such-model")
