"""The user's own VAE: a model from the user's code, its weights from a safetensors file.

`tui-vae --model-factory package.module:function --weights W.safetensors`
(and `eval`/`sample --model-factory ... W.safetensors`) imports the named
module, calls the function with no arguments, checks that what it returns
keeps the protocol below, loads the weights into it and wraps it so that it
looks to the rest of tui-vae like one of its own models
(`tui_vae.user_adapter.UserModelAdapter` has the VAE's interface;
`load_user_model` returns a `TrainedModel`). Every
view, `eval` and `sample` then work on it unchanged.

The protocol (`UserVAE`): the factory returns a `torch.nn.Module` with

    latent_dim: int              size of z (1..1,024)
    image_shape: (C, H, W)       C in (1, 3), H == W in (28, 32, 64)
    num_classes: int             0 for a plain VAE; else a conditional VAE over
                                 this many classes (the dataset's class count)
    likelihood: str              a name in tui_vae.config.LIKELIHOODS: how the
                                 decoder's output is read ("bernoulli": logits)
    dataset: str                 a registered dataset ("mnist", ...) whose test
                                 images the views and `eval` use
    encode(x, y) -> (mu, logvar)  x: (N, C, H, W) float32 in [0, 1];
                                 mu, logvar: (N, latent_dim), q(z|x) = N(mu, exp(logvar))
    decode(z, y) -> out           z: (N, latent_dim); out: (N, C, H, W), the
                                 likelihood's parameters, one per pixel (logits
                                 for "bernoulli" and "continuous-bernoulli"; for
                                 "gaussian", logits of the mean, and the module
                                 also holds `log_scale`, shape (C,))

`y` is None for a plain VAE; for a conditional one, (N, num_classes) float32
rows of class weights: one-hot for a class, a soft mix where Interpolate moves
from one class to another. The prior is N(0, I).

What is checked, each failure one line (a `UserModelError`): the value
"package.module:function" is well formed (`FactorySpecError`, a usage error);
the module imports, the function exists and returns without raising; the
attributes are present and sane and agree with the dataset (shape, classes);
the weights file is a safetensors file (pickles and zip archives are refused
by content, before anything reads them), its header is validated before any
tensor is read, its tensors match the module's state_dict exactly (names,
shapes; `strict` loading) and are finite; and encode/decode on a two-image
batch return the shapes above with finite values. Memory stays bounded: the
file's tensors must match the model the factory built, read one at a time
from a memory map, so a file claiming terabytes is refused by its header.

The factory is imported only because the user named it; the working folder is
put first on the import path (as `python -m` would), so `mymodel:build` finds
`./mymodel.py`. This module imports torch only inside the functions that load.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tui_vae.checkpoints import (
    MAX_MODEL_PARAMETERS,
    CheckpointInfo,
    _check_tensor_entry,
    read_header_bytes,
)
from tui_vae.config import (
    IMAGE_CHANNELS,
    IMAGE_SIZES,
    LIKELIHOODS,
    MAX_LATENT,
    MAX_WIDTH,
    ModelConfig,
)
from tui_vae.errors import CheckpointError, TuiVaeError

if TYPE_CHECKING:
    import torch

    from tui_vae.inference import TrainedModel

FACTORY_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
USER_ARCH = "user"  # the `arch` a user model's config carries (it is none of ours)
CHECK_BATCH = 2  # images in the up-front check of encode and decode
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


class UserModelError(TuiVaeError):
    """The named factory cannot be imported, or its model breaks the protocol."""


class FactorySpecError(ValueError):
    """A --model-factory value that is not "package.module:function" (a usage error)."""


@runtime_checkable
class UserVAE(Protocol):
    """What a model factory returns (a torch.nn.Module with these): see the module's docstring."""

    latent_dim: int
    image_shape: tuple[int, int, int]
    num_classes: int
    likelihood: str
    dataset: str

    def encode(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): (mu, logvar), each (N, latent_dim), for x of shape (N, C, H, W)."""

    def decode(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The likelihood's parameters (N, C, H, W) for z of shape (N, latent_dim)."""


# --------------------------------------------------------------------------- the factory


def parse_factory(spec: str) -> tuple[str, str]:
    """"package.module:function" -> (module, function); FactorySpecError otherwise."""
    if not isinstance(spec, str) or not FACTORY_PATTERN.fullmatch(spec.strip()):
        raise FactorySpecError(f"{spec!r} is not package.module:function "
                               f"(say, mymodel:build for build() in ./mymodel.py)")
    module, _, function = spec.strip().partition(":")
    return module, function


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:300]


def import_factory(spec: str, search: str | os.PathLike | None = None):
    """The function `spec` names, imported now; `search` (default: the working folder)
    goes first on the import path. Every failure is one UserModelError line."""
    module_name, function = parse_factory(spec)
    folder = str(Path(search if search is not None else os.getcwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        target: Any = import_module(module_name)
    except BaseException as exc:  # whatever the user's module does on import is one line
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserModelError(f"--model-factory {spec}: cannot import {module_name} "
                             f"({_one_line(exc)})") from None
    for part in function.split("."):
        if not hasattr(target, part):
            raise UserModelError(f"--model-factory {spec}: {module_name} has no {function}")
        target = getattr(target, part)
    if not callable(target):
        raise UserModelError(f"--model-factory {spec}: {function} is not a function")
    return target


def build_user_module(spec: str, search: str | os.PathLike | None = None):
    """Call the factory; the module it returns, checked to be a torch module."""
    from torch import nn

    factory = import_factory(spec, search)
    try:
        module = factory()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserModelError(f"--model-factory {spec}: the factory raised {_one_line(exc)}"
                             ) from None
    if not isinstance(module, nn.Module):
        raise UserModelError(f"--model-factory {spec}: the factory returned a "
                             f"{type(module).__name__}, not a torch.nn.Module")
    return module


# --------------------------------------------------------------------------- the protocol


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def protocol_config(module, spec: str) -> ModelConfig:
    """The attributes the protocol asks for, checked, as the ModelConfig the views read."""
    from tui_vae.datasets import dataset_problems, dataset_spec

    where = f"--model-factory {spec}: the model's"
    found = {}
    for name in ("latent_dim", "image_shape", "num_classes", "likelihood", "dataset",
                 "encode", "decode"):
        try:  # read once: a property may raise anything, or answer differently twice
            found[name] = getattr(module, name)
        except AttributeError:
            raise UserModelError(f"{where} {name} is missing (the protocol: latent_dim, "
                                 f"image_shape, num_classes, likelihood, dataset, encode, "
                                 f"decode)") from None
        except Exception as exc:  # "unexpected ZeroDivisionError", naming no model
            raise UserModelError(f"{where} {name} raised {_one_line(exc)}") from None
    latent, shape, classes = found["latent_dim"], found["image_shape"], found["num_classes"]
    likelihood, dataset = found["likelihood"], found["dataset"]
    if not _is_int(latent) or not 1 <= latent <= MAX_LATENT:
        raise UserModelError(f"{where} latent_dim must be a whole number in 1..{MAX_LATENT:,}, "
                             f"not {latent!r}")
    try:
        shape = tuple(shape)
    except TypeError:
        shape = ()
    if (len(shape) != 3 or not all(_is_int(d) for d in shape) or shape[0] not in IMAGE_CHANNELS
            or shape[1] != shape[2] or shape[1] not in IMAGE_SIZES):
        raise UserModelError(f"{where} image_shape must be (C, H, W) with C in 1 or 3 and "
                             f"H = W in {', '.join(map(str, IMAGE_SIZES))}, not "
                             f"{found['image_shape']!r}")
    if not _is_int(classes) or not 0 <= classes <= MAX_WIDTH:
        raise UserModelError(f"{where} num_classes must be 0 (a plain VAE) or the class "
                             f"count, not {classes!r}")
    if not isinstance(likelihood, str) or likelihood not in LIKELIHOODS:  # a list: unhashable
        raise UserModelError(f"{where} likelihood {likelihood!r} is none of "
                             f"{', '.join(LIKELIHOODS)}")
    if not isinstance(dataset, str):
        raise UserModelError(f"{where} dataset must be a dataset name, not {dataset!r}")
    try:
        data = dataset_spec(dataset)
    except TuiVaeError as exc:
        raise UserModelError(f"{where} dataset: {exc}") from None
    # The checks tui-vae's own models pass (shape and classes against the dataset;
    # a folder or the shapes set may be read at other sizes).
    problems = dataset_problems(dataset, "cvae" if classes else "vae", shape[0],
                                shape[1], classes)
    if problems:
        raise UserModelError(f"{where} image_shape {shape} or num_classes {classes} does "
                             f"not fit its dataset: {problems[0]}")
    if likelihood == "gaussian":
        if not hasattr(module, "log_scale"):
            raise UserModelError(f"{where} likelihood is gaussian, so it needs log_scale "
                                 f"(one log standard deviation per channel)")
        scale_shape = tuple(getattr(module.log_scale, "shape", ()))
        if scale_shape != (shape[0],):  # one per pixel broadcast into a 784-fold -ELBO
            raise UserModelError(f"{where} log_scale has shape {scale_shape}, not "
                                 f"({shape[0]},): one log standard deviation per channel")
    return ModelConfig(model="cvae" if classes else "vae", arch=USER_ARCH,
                       likelihood=likelihood, latent_dim=latent, hidden_dim=0,
                       dataset=dataset, num_classes=classes or max(1, len(data.classes)),
                       channels=shape[0], image_size=shape[1])


# --------------------------------------------------------------------------- the weights


def read_weights_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """A safetensors file's tensors, name -> (dtype, shape), from its validated header.

    No tensor is read; pickles and zip archives are refused by content first."""
    raw, size = read_header_bytes(path, "weights")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{path} is not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors file (malformed header)")
    header.pop("__metadata__", None)
    for name, entry in header.items():
        _check_tensor_entry(path, name, entry, size - 8 - len(raw))
    return {name: (e["dtype"], tuple(e["shape"])) for name, e in header.items()}


def load_weights(module, path: Path) -> None:
    """Load the safetensors file `path` into `module` (strict: the same names and shapes)."""
    import torch
    from safetensors import SafetensorError, safe_open

    declared = read_weights_header(path)
    state = module.state_dict()
    expected = {name: tuple(t.shape) for name, t in state.items()}
    count = sum(math.prod(shape) for shape in expected.values())
    if count > MAX_MODEL_PARAMETERS:
        raise CheckpointError(f"{path}: the model has {count:,} values in its state, more "
                              f"than the {MAX_MODEL_PARAMETERS:,} tui-vae loads")
    missing = sorted(set(expected) - set(declared))
    extra = sorted(set(declared) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else [])
        raise CheckpointError(f"{path}: weights do not match the model ({'; '.join(parts)})")
    for name, shape in expected.items():
        dtype, found = declared[name]
        if found != shape:
            raise CheckpointError(f"{path}: weights do not match the model ({name} is "
                                  f"{list(found)}, the model needs {list(shape)})")
        if dtype not in FLOAT_DTYPES and state[name].is_floating_point():
            raise CheckpointError(f"{path}: {name} is {dtype}, not floating point")
    tensors = {}
    try:  # a memory map: each tensor read on its own, never the whole file at once
        with safe_open(str(path), framework="pt") as handle:
            for name in expected:
                tensors[name] = handle.get_tensor(name)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is corrupt: {str(exc).splitlines()[0]}") from None
    if not all(t.isfinite().all() for t in tensors.values() if t.is_floating_point()):
        raise CheckpointError(f"{path}: weights contain NaN or infinite values")
    try:
        with torch.no_grad():
            module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{path}: weights do not match the model ({detail})") from None


# --------------------------------------------------------------------------- the check


def check_protocol(adapter, spec: str) -> None:
    """encode and decode on a CHECK_BATCH-image batch: the shapes the protocol names, finite."""
    import torch

    config = adapter.config
    where = f"--model-factory {spec}:"
    generator = torch.Generator().manual_seed(0)
    x = torch.rand((CHECK_BATCH, *config.image_shape), generator=generator)
    labels = (torch.arange(CHECK_BATCH) % config.num_classes) if config.conditional else None
    step = "encode"
    try:
        with torch.no_grad():
            pair = adapter.user.encode(x, adapter.condition(labels, x))
            if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(
                    isinstance(t, torch.Tensor) for t in pair):
                raise UserModelError(f"{where} encode must return (mu, logvar), two tensors, "
                                     f"not {type(pair).__name__}")
            for name, t in zip(("mu", "logvar"), pair):
                _expect(t, (CHECK_BATCH, config.latent_dim), f"{where} encode's {name}")
            step = "decode"
            out = adapter.user.decode(pair[0], adapter.condition(labels, x))
            if not isinstance(out, torch.Tensor):
                raise UserModelError(f"{where} decode must return a tensor, not "
                                     f"{type(out).__name__}")
            _expect(out, (CHECK_BATCH, *config.image_shape), f"{where} decode's output")
            step = f"the {config.likelihood} likelihood on decode's output"
            nll = adapter.reconstruction_nll(out, x)
            if not nll.isfinite().all():
                raise UserModelError(f"{where} {step} is not finite")
    except TuiVaeError:
        raise
    except BaseException as exc:  # the user's code failed on a well-formed batch
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, as for the factory itself
            raise
        # SystemExit too: a model that calls sys.exit would end tui-vae with its code
        # (0: as if all went well) and not a word.
        raise UserModelError(f"{where} {step} failed on a batch of {CHECK_BATCH} images "
                             f"{tuple(x.shape)}: {_one_line(exc)}") from None


def _expect(t, shape: tuple[int, ...], what: str) -> None:
    if tuple(t.shape) != shape:
        raise UserModelError(f"{what} has shape {tuple(t.shape)}, not {shape}")
    if not t.is_floating_point() or not t.isfinite().all():
        raise UserModelError(f"{what} is not all finite floating-point numbers")


# --------------------------------------------------------------------------- loading


def user_model_info(path: Path, config: ModelConfig, spec: str) -> CheckpointInfo:
    """What Models lists for a user model: a CheckpointInfo whose metadata names the
    factory (kind "user"), with no training history (tui-vae did not train it)."""
    stat = path.stat()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(stat.st_mtime))
    # Listed as kind "user", its factory where the others name their architecture.
    model = {**config.to_dict(), "model": "user", "arch": spec, "hidden_dim": "-",
             "kind": config.model}
    meta = {"format": "user-model", "model": model, "dataset": config.dataset,
            "training": {"factory": spec}, "progress": {"epochs_done": 0}, "history": [],
            "created": stamp, "updated": stamp, "package_version": "-", "factory": spec}
    return CheckpointInfo(path, meta, (), stat.st_size, {})


def load_user_model(spec: str, weights: str | os.PathLike, device: str = "cpu",
                    search: str | os.PathLike | None = None) -> TrainedModel:
    """The user's model, named by `spec` ("package.module:function") with the weights in
    the safetensors file `weights`, checked and ready for inference. Raises
    FactorySpecError (a malformed `spec`), UserModelError or CheckpointError (one line)."""
    from tui_vae.inference import TrainedModel
    from tui_vae.user_adapter import UserModelAdapter

    parse_factory(spec)
    path = Path(weights).absolute()
    read_weights_header(path)  # a bad file is said before the user's code runs
    with working_folder_kept():
        module = build_user_module(spec, search)
        config = protocol_config(module, spec)
        load_weights(module, path)
        adapter = UserModelAdapter(module, config, spec).eval()
        check_protocol(adapter, spec)
    return TrainedModel(adapter, user_model_info(path, config, spec), device)


@contextmanager
def working_folder_kept():
    """The user's code runs here; whatever folder it moves to, tui-vae stays where it
    was: a factory that called os.chdir("/") sent `sample --out rel.png` to /rel.png."""
    try:
        here = os.getcwd()
    except OSError:  # the working folder was removed: nothing to keep
        yield
        return
    try:
        yield
    finally:
        try:
            moved = os.getcwd() != here
        except OSError:
            moved = True
        if moved:
            os.chdir(here)


def is_user_model(model) -> bool:
    """Whether a TrainedModel wraps a user's model (from a factory)."""
    return getattr(model.config, "arch", None) == USER_ARCH
