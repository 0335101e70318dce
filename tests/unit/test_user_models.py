"""The user's own VAE (tui_vae/user_models.py): the factory, the protocol, the weights.

Each way a factory or its weights can be wrong is one UserModelError or
CheckpointError line; a good model loads and behaves as tui-vae's own.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tui_vae.errors import CheckpointError
from tui_vae.user_models import (
    FactorySpecError,
    UserModelError,
    is_user_model,
    load_user_model,
    parse_factory,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"

# A factory module written per test (a fresh name each time: imports are cached).
GOOD = """
import torch
from torch import nn


class Model(nn.Module):
    latent_dim = 3
    image_shape = (1, 28, 28)
    num_classes = 0
    likelihood = "bernoulli"
    dataset = "mnist-sample"

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(784 + self.num_classes, 2 * self.latent_dim)
        self.dec = nn.Linear(self.latent_dim + self.num_classes, 784)

    def encode(self, x, y):
        h = x.flatten(1) if y is None else torch.cat((x.flatten(1), y), 1)
        return self.enc(h).chunk(2, dim=1)

    def decode(self, z, y):
        h = z if y is None else torch.cat((z, y), 1)
        return self.dec(h).view(-1, 1, 28, 28)


def build():
    return Model()
"""


@pytest.fixture
def factory(tmp_path):
    """Write GOOD plus `extra` as a module of a name never used before; returns the name."""

    def write(extra: str = "") -> str:
        name = f"user_model_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(GOOD + textwrap.dedent(extra))
        return name

    return write


def weights_of(module, path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def good_weights(tmp_path: Path, name: str) -> Path:
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name).build()
    finally:
        sys.path.remove(str(tmp_path))
    return weights_of(module, tmp_path / "w.safetensors")


def test_a_factory_value_must_be_module_colon_function():
    assert parse_factory("pkg.mod:build") == ("pkg.mod", "build")
    assert parse_factory("mod:Class.create") == ("mod", "Class.create")
    for bad in ("pkg.mod", "pkg.mod:", ":build", "pkg..mod:build", "pkg/mod:build",
                "pkg.mod:build()", "a:b:c", ""):
        with pytest.raises(FactorySpecError):
            parse_factory(bad)


def test_a_good_model_loads_and_behaves_like_tui_vaes_own(tmp_path, factory):
    name = factory()
    path = good_weights(tmp_path, name)
    model = load_user_model(f"{name}:build", path, search=tmp_path)
    assert is_user_model(model) and model.config.latent_dim == 3
    assert model.config.dataset == "mnist-sample" and not model.config.conditional
    images = torch.rand(5, 1, 28, 28)
    mu, logvar = model.encode(images)
    assert mu.shape == logvar.shape == (5, 3)
    recon, kl = model.losses(images)
    assert recon.shape == kl.shape == (5,) and recon.isfinite().all()
    samples = model.sample(4, seed=1)
    assert samples.shape == (4, 1, 28, 28) and 0 <= samples.min() <= samples.max() <= 1
    # the weights were loaded: the model's output is the saved model's, exactly
    from safetensors.torch import load_file

    saved = load_file(str(path))
    assert torch.equal(model.module.user.enc.weight, saved["enc.weight"])
    # Models' entry: kind "user", the factory named, no training history
    info = model.info
    assert info.path == path and info.model_config["model"] == "user"
    assert info.meta["factory"] == f"{name}:build" and info.final_test is None


def test_a_conditional_model_gets_one_hot_rows_and_soft_mixes(tmp_path, factory):
    name = factory("""
        class Conditional(Model):
            num_classes = 10

        def build_c():
            return Conditional()
    """)
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    path = weights_of(importlib.import_module(name).build_c(), tmp_path / "c.safetensors")
    sys.path.remove(str(tmp_path))
    model = load_user_model(f"{name}:build_c", path, search=tmp_path)
    assert model.config.conditional and model.config.num_classes == 10
    seen = []
    user = model.module.user
    original = user.decode
    user.decode = lambda z, y: seen.append(y) or original(z, y)
    model.sample(3, labels=7)
    assert seen[-1].shape == (3, 10) and torch.equal(seen[-1][:, 7], torch.ones(3))
    from tui_vae.inference import interpolate

    path_images = interpolate(model, torch.rand(2, 1, 28, 28), [1, 2], steps=5)
    assert path_images.shape == (5, 1, 28, 28)
    assert seen[-1][2, 1] == pytest.approx(0.5) and seen[-1][2, 2] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="labels"):
        model.sample(2)


@pytest.mark.parametrize(("extra", "factory_name", "message"), [
    ("", "nothing", "has no nothing"),
    ("build_list = list", "build_list", "returned a list, not a torch.nn.Module"),
    ("def boom():\n    raise RuntimeError('no GPU here')", "boom",
     "the factory raised RuntimeError: no GPU here"),
    ("answer = 42", "answer", "answer is not a function"),
    ("class NoLatent(Model):\n    def __init__(self):\n        super().__init__()\n"
     "        self.latent_dim = 0\ndef f():\n    return NoLatent()", "f",
     "latent_dim must be a whole number in 1..1,024, not 0"),
    ("del Model.dataset\ndef f():\n    return Model()", "f",
     "dataset is missing"),
    ("class Big(Model):\n    image_shape = (1, 27, 27)\ndef f():\n    return Big()", "f",
     "image_shape must be (C, H, W)"),
    ("class Odd(Model):\n    likelihood = 'poisson'\ndef f():\n    return Odd()", "f",
     "likelihood 'poisson' is none of"),
    ("class Nowhere(Model):\n    dataset = 'imagenet'\ndef f():\n    return Nowhere()", "f",
     "unknown dataset 'imagenet'"),
    ("class Colour(Model):\n    image_shape = (3, 28, 28)\ndef f():\n    return Colour()", "f",
     "MNIST sample images have 1 channel, not 3"),
    ("class Five(Model):\n    num_classes = 5\ndef f():\n    return Five()", "f",
     "a cVAE on MNIST sample has 10 classes, not 5"),
    ("class Gauss(Model):\n    likelihood = 'gaussian'\ndef f():\n    return Gauss()", "f",
     "needs log_scale"),
    # one per pixel: accepted, it broadcast into a -ELBO of 3,284,769 nats
    ("class Pixels(Model):\n    likelihood = 'gaussian'\n    def __init__(self):\n"
     "        super().__init__()\n        self.log_scale = nn.Parameter(torch.zeros(784))\n"
     "def f():\n    return Pixels()", "f", "log_scale has shape (784,), not (1,)"),
    # Both read as "unexpected ZeroDivisionError" / "TypeError: unhashable type",
    # naming no model.
    ("class Prop(Model):\n    @property\n    def dataset(self):\n        return 1 / 0\n"
     "def f():\n    return Prop()", "f", "dataset raised ZeroDivisionError: division by zero"),
    ("class Listed(Model):\n    likelihood = ['bernoulli']\ndef f():\n    return Listed()", "f",
     "likelihood ['bernoulli'] is none of"),
])
def test_a_factory_or_model_that_breaks_the_protocol_is_one_line(tmp_path, factory, extra,
                                                                 factory_name, message):
    name = factory(extra)
    path = good_weights(tmp_path, name)
    with pytest.raises(UserModelError, match="^--model-factory ") as caught:
        load_user_model(f"{name}:{factory_name}", path, search=tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("extra", "message"), [
    # encode returns one tensor, a wrong latent size, NaN; decode the wrong shape; raises
    ("def encode(self, x, y):\n    return self.enc(x.flatten(1))",
     "encode must return (mu, logvar)"),
    ("def encode(self, x, y):\n    return self.enc(x.flatten(1)), self.enc(x.flatten(1))",
     "encode's mu has shape (2, 6), not (2, 3)"),
    ("def encode(self, x, y):\n    mu, lv = self.enc(x.flatten(1)).chunk(2, 1)\n"
     "    return mu * float('nan'), lv", "encode's mu is not all finite"),
    ("def decode(self, z, y):\n    return self.dec(z)", "decode's output has shape (2, 784)"),
    ("def decode(self, z, y):\n    return z.sum().item()", "decode must return a tensor"),
    ("def decode(self, z, y):\n    raise KeyError('oops')",
     "decode failed on a batch of 2 images (2, 1, 28, 28): KeyError: 'oops'"),
    # sys.exit would end tui-vae with the model's code (0) and not a word
    ("def encode(self, x, y):\n    import sys\n    sys.exit(0)",
     "encode failed on a batch of 2 images (2, 1, 28, 28): SystemExit"),
])
def test_encode_and_decode_are_checked_on_a_batch_up_front(tmp_path, factory, extra, message):
    body = textwrap.indent(textwrap.dedent(extra), "    ")
    name = factory(f"class Broken(Model):\n{body}\ndef f():\n    return Broken()")
    path = good_weights(tmp_path, name)
    with pytest.raises(UserModelError) as caught:
        load_user_model(f"{name}:f", path, search=tmp_path)
    assert message in str(caught.value), caught.value


def test_an_import_error_is_one_line(tmp_path, factory):
    name = factory()
    path = good_weights(tmp_path, name)
    with pytest.raises(UserModelError, match="cannot import no_such_module_x .*No module named"):
        load_user_model("no_such_module_x:build", path, search=tmp_path)
    (tmp_path / "broken_syntax_mod.py").write_text("def build(:\n")
    with pytest.raises(UserModelError, match="cannot import broken_syntax_mod .SyntaxError"):
        load_user_model("broken_syntax_mod:build", path, search=tmp_path)


def test_weights_must_match_the_model_exactly(tmp_path, factory):
    name = factory()
    path = good_weights(tmp_path, name)
    spec = f"{name}:build"
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    cases = {
        "missing dec.bias": {k: v for k, v in tensors.items() if k != "dec.bias"},
        "unexpected extra": {**tensors, "extra": torch.zeros(3)},
        "enc.weight is [6, 10]": {**tensors, "enc.weight": torch.zeros(6, 10)},
        "NaN or infinite": {**tensors, "dec.bias": torch.full((784,), float("inf"))},
        "not floating point": {**tensors, "dec.bias": torch.zeros(784, dtype=torch.int32)},
    }
    for message, changed in cases.items():
        bad = tmp_path / "bad.safetensors"
        save_file(changed, str(bad))
        with pytest.raises(CheckpointError, match=re.escape(message)):
            load_user_model(spec, bad, search=tmp_path)


def test_pickles_and_hostile_headers_are_refused_before_the_factory_runs(tmp_path, factory):
    import pickle
    import struct

    name = factory("def loud():\n    raise SystemExit('the factory ran')")
    spec = f"{name}:loud"
    pickled = tmp_path / "model.safetensors"
    pickled.write_bytes(pickle.dumps({"enc.weight": [1.0]}))
    with pytest.raises(CheckpointError, match="a Python pickle"):
        load_user_model(spec, pickled, search=tmp_path)
    huge = tmp_path / "huge.safetensors"  # a header declaring a terabyte tensor
    header = b'{"w": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 4]}}'
    huge.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(CheckpointError, match="absurd shape"):
        load_user_model(spec, huge, search=tmp_path)
    with pytest.raises(CheckpointError, match="no such weights file"):
        load_user_model(spec, tmp_path / "absent.safetensors", search=tmp_path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(CheckpointError, match="truncated"):
        load_user_model(spec, truncated, search=tmp_path)


def test_the_example_model_keeps_the_protocol(tmp_path):
    """docs/examples/tiny_vae.py, both factories, untrained weights."""
    import sys

    sys.path.insert(0, str(EXAMPLES))
    try:
        import tiny_vae
    finally:
        sys.path.remove(str(EXAMPLES))
    for function in ("build_sample", "build_conditional_sample"):
        path = weights_of(getattr(tiny_vae, function)(), tmp_path / f"{function}.safetensors")
        model = load_user_model(f"tiny_vae:{function}", path, search=EXAMPLES)
        assert model.config.latent_dim == 8
        assert model.config.conditional == (function == "build_conditional_sample")


def test_a_colour_model_on_the_shapes_dataset(tmp_path, factory):
    name = factory("""
        class Colour(Model):
            image_shape = (3, 32, 32)
            dataset = "shapes"
            num_classes = 5
            likelihood = "gaussian"

            def __init__(self):
                nn.Module.__init__(self)
                self.log_scale = nn.Parameter(torch.full((3,), -1.0))
                self.enc = nn.Linear(3 * 32 * 32 + 5, 2 * self.latent_dim)
                self.dec = nn.Linear(self.latent_dim + 5, 3 * 32 * 32)

            def decode(self, z, y):
                return self.dec(torch.cat((z, y), 1)).view(-1, 3, 32, 32)

        def build_colour():
            return Colour()
    """)
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    module = importlib.import_module(name).build_colour()
    sys.path.remove(str(tmp_path))
    with torch.no_grad():
        module.log_scale.fill_(-2.0)  # saved, then read back through the likelihood
    path = weights_of(module, tmp_path / "colour.safetensors")
    model = load_user_model(f"{name}:build_colour", path, search=tmp_path)
    assert model.config.image_shape == (3, 32, 32) and model.config.num_classes == 5
    assert model.sample(2, labels=[0, 4]).shape == (2, 3, 32, 32)
    assert model.module.likelihood.log_scale.tolist() == [-2.0, -2.0, -2.0]
    recon, _ = model.losses(torch.rand(2, 3, 32, 32), [1, 2])
    assert recon.isfinite().all()


def test_the_workspace_lists_the_users_model_once_and_first(tmp_path, factory):
    from tui_vae.checkpoints import BadCheckpoint
    from tui_vae.workspace import Workspace

    name = factory()
    runs = tmp_path / "runs"
    runs.mkdir()
    weights = good_weights(tmp_path, name).rename(runs / "mine.safetensors")
    (runs / "other.safetensors").write_bytes(b"not a checkpoint at all")
    workspace = Workspace(runs, tmp_path, "cpu", shipped_dir=None)
    before = workspace.scan()
    assert {e.path.name for e in before} == {"mine.safetensors", "other.safetensors"}
    assert all(isinstance(e, BadCheckpoint) for e in before)  # not tui-vae checkpoints
    workspace.set_user_model(f"{name}:build", weights)
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        entry = workspace.open_user_model()
    finally:
        sys.path.remove(str(tmp_path))
    after = workspace.scan()
    assert after[0] is entry and [e.path.name for e in after] == ["mine.safetensors",
                                                                  "other.safetensors"]
    assert workspace.default_checkpoint(after) == entry.path
    assert workspace.model(entry.path).config.arch == "user"
    with pytest.raises(CheckpointError, match="your own model"):
        workspace.delete(entry.path)
    assert weights.is_file()
    from tui_vae.tui.screens.models import describe_checkpoint

    described = describe_checkpoint(entry)
    assert f"your own VAE from {name}:build" in described and "0 epochs" not in described


def test_checking_a_factory_value_imports_neither_torch_nor_textual():
    """The CLI checks --model-factory's form before anything heavy is imported."""
    import subprocess
    import sys

    code = ("import sys\nfrom tui_vae.user_models import parse_factory\n"
            "parse_factory('a.b:c')\n"
            "assert 'torch' not in sys.modules and 'textual' not in sys.modules\n"
            "import tui_vae.user_adapter\nassert 'textual' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("extra", "message"), [
    # passes the two-image check, breaks on one image (the Traversal view crashed)
    ("def encode(self, x, y):\n    mu, lv = Model.encode(self, x, y)\n"
     "    return mu.squeeze(), lv.squeeze()",
     ("encode's mu (", ") gave (3,) for a batch of 1, not (1, 3)")),
    # fails on any batch but two (the Latent view crashed; sample exited 0, no file)
    ("def decode(self, z, y):\n    import sys\n    if len(z) != 2:\n        sys.exit(0)\n"
     "    return Model.decode(self, z, y)",
     ("decode (", ") failed on a batch of 1: SystemExit: 0")),
    # integers on one image: no pixels (drawn as garbage, or torch's own error)
    ("def decode(self, z, y):\n    out = Model.decode(self, z, y)\n"
     "    return out.long() if len(z) == 1 else out",
     ("decode (", ") gave torch.int64 numbers, not floating-point ones")),
    # channels last, or flat, past the check: reshaped into scrambled images, unsaid
    ("def decode(self, z, y):\n    out = Model.decode(self, z, y)\n"
     "    return out.permute(0, 2, 3, 1) if len(z) != 2 else out",
     ("decode (", ") gave (1, 28, 28, 1) for a batch of 1, not (1, 1, 28, 28)")),
    ("def decode(self, z, y):\n    out = Model.decode(self, z, y)\n"
     "    return out.flatten(1) if len(z) != 2 else out",
     ("decode (", ") gave (1, 784) for a batch of 1, not (1, 1, 28, 28)")),
    # NaN codes past the check: "unexpected RuntimeError: invalid multinomial" in eval
    ("def encode(self, x, y):\n    mu, lv = Model.encode(self, x, y)\n"
     "    return (mu * float('nan'), lv) if len(x) != 2 else (mu, lv)",
     ("encode (", ") gave mu values that are not finite numbers (NaN or infinity) for "
      "a batch of 1")),
])
def test_the_users_model_is_checked_at_every_call_not_only_at_load(tmp_path, factory, extra,
                                                                   message):
    import torch

    body = textwrap.indent(textwrap.dedent(extra), "    ")
    name = factory(f"class Fragile(Model):\n{body}\ndef f():\n    return Fragile()")
    path = good_weights(tmp_path, name)
    model = load_user_model(f"{name}:f", path, search=tmp_path)  # passes the check
    adapter = model.module if hasattr(model, "module") else model
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(UserModelError) as caught:
        z, _ = adapter.encode(x)
        adapter.decode(z)
    said = str(caught.value)
    assert said.startswith("your model's ") and all(part in said for part in message), said
    assert f"{name}:f" in said


def test_a_double_precision_model_is_read_in_single_precision(tmp_path, factory):
    import torch

    name = factory("class Double(Model):\n"
                   "    def encode(self, x, y):\n"
                   "        return tuple(t.double() for t in Model.encode(self, x, y))\n"
                   "    def decode(self, z, y):\n"
                   "        return Model.decode(self, z.float(), y).double()\n"
                   "def f():\n    return Double()")
    model = load_user_model(f"{name}:f", good_weights(tmp_path, name), search=tmp_path)
    adapter = model.module if hasattr(model, "module") else model
    mu, logvar = adapter.encode(torch.rand(3, 1, 28, 28))
    assert mu.dtype == logvar.dtype == adapter.decode(mu).dtype == torch.float32


def test_a_factory_that_moves_the_working_folder_moves_nothing_of_tui_vaes(
        tmp_path, factory, monkeypatch):
    """A factory calling os.chdir("/") sent `sample --out rel.png` to /rel.png."""
    import os

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = factory(f"import os\ndef f():\n    os.chdir({str(elsewhere)!r})\n    return Model()")
    path = good_weights(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    load_user_model(f"{name}:f", path, search=tmp_path)
    assert os.getcwd() == str(tmp_path)


def test_a_call_that_never_returns_is_given_up_on_the_explorers_thread(tmp_path, factory):
    """An encode that looped for ever, called while a view drew, froze the explorer
    (no key, resize or SIGTERM reached it). With a deadline, a call on the main
    thread is given up and the model's later calls fail at once; elsewhere (the CLI,
    a worker) the call runs as it is, under the caller's autograd mode."""
    import threading
    import time

    name = factory("""
        import threading, time
        seen = []
        class Slow(Model):
            def encode(self, x, y):
                seen.append((threading.current_thread().name, torch.is_grad_enabled(),
                             torch.is_inference_mode_enabled()))
                if len(x) == 5:
                    time.sleep(60)
                return Model.encode(self, x, y)
        def f():
            return Slow()
        """)
    path = good_weights(tmp_path, name)
    adapter = load_user_model(f"{name}:f", path, search=tmp_path).module
    import importlib

    seen = importlib.import_module(name).seen
    adapter.call_deadline = 0.5
    with torch.inference_mode():
        mu, _ = adapter.encode(torch.rand(3, 1, 28, 28))  # in time: its result
    assert mu.shape == (3, 3)
    assert seen[-1] == ("your model's encode", False, True)  # the caller's modes
    with torch.no_grad():  # as the views call: numpy() refused codes that required grad
        mu, _ = adapter.encode(torch.rand(3, 1, 28, 28))
    assert seen[-1] == ("your model's encode", False, False) and not mu.requires_grad
    mu.numpy()
    started = time.monotonic()
    with pytest.raises(UserModelError, match=r"encode \(.*\) did not return within 0.5 s "
                                             r"on a batch of 5; it is left running"):
        adapter.encode(torch.rand(5, 1, 28, 28))
    assert time.monotonic() - started < 5
    with pytest.raises(UserModelError, match="never returned; restart tui-vae"):
        adapter.encode(torch.rand(3, 1, 28, 28))
    # Off the main thread (a worker's call), or without a deadline: called in place.
    fresh = load_user_model(f"{name}:f", path, search=tmp_path).module
    fresh.call_deadline = 0.5
    worker = threading.Thread(target=fresh.encode, args=(torch.rand(3, 1, 28, 28),),
                              name="a worker")
    worker.start()
    worker.join()
    assert seen[-1][0] == "a worker"
