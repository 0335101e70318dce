"""Checkpoints: one safetensors file holding weights, optimizer state and JSON metadata.

Never pickle: unpickling a file can run arbitrary code, so files that look like
pickles or `torch.save` archives are refused before anything reads them. The
safetensors header is parsed and validated here (sizes, dtypes, offsets, the
metadata's types) before any tensor is materialised, so a hostile header
cannot ask for a huge allocation. Writes go to a temporary file that is
fsynced and renamed over the target: a crash never leaves a broken checkpoint.

Header reading needs no torch, so listing checkpoints stays fast; it also checks
the header's weight shapes against the model the metadata describes
(`weight_shapes`), so a listing never shows as healthy a file that cannot load.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import stat
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_vae.config import (
    CHECKPOINT_SUFFIX,
    LR_SCHEDULES,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_LATENT,
    MAX_SEED,
    MAX_WIDTH,
    MODEL_KINDS,
    ModelConfig,
)
from tui_vae.errors import CheckpointError
from tui_vae.safe_files import open_for_writing, refuse_if_not_regular
from tui_vae.weight_shapes import weight_shapes

if TYPE_CHECKING:
    import torch

    from tui_vae.models import VAE

FORMAT = "tui-vae-checkpoint"
FORMAT_VERSION = 1
SUFFIX = CHECKPOINT_SUFFIX
META_KEY = "tui_vae"
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a header this large is not one of ours
MAX_TENSOR_ELEMENTS = 1 << 28  # 1 GiB of float32: far beyond any model we build
# The largest model a checkpoint may describe: 2^27 parameters (512 MiB of
# float32). Checked, with the file's own tensors, before any model is built.
MAX_MODEL_PARAMETERS = 1 << 27

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "BOOL": 1}
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")  # weights; a model's buffers too
_MODEL_FIELDS = {"model": str, "latent_dim": int, "hidden_dim": int, "beta": (int, float),
                 "dataset": str, "num_classes": int}
_OPTIONAL_MODEL_FIELDS = {"arch": str, "likelihood": str, "channels": int, "image_size": int,
                          "hidden_widths": (list, tuple)}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's header says, read without loading any tensor."""

    path: Path
    meta: dict  # the validated metadata (see `build_metadata`)
    tensor_names: tuple[str, ...]
    size_bytes: int
    # name -> (dtype, shape) as the header declares them (checked against the model)
    tensor_shapes: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_config(self) -> dict:
        return self.meta["model"]

    @property
    def epochs_done(self) -> int:
        return self.meta["progress"]["epochs_done"]

    @property
    def history(self) -> list[dict]:
        return self.meta["history"]

    @property
    def final_test(self) -> dict | None:
        """The last epoch's test metrics, or None before the first epoch ends."""
        return self.history[-1]["test"] if self.history else None


@dataclass(frozen=True)
class BadCheckpoint:
    """A file in a checkpoint folder that could not be read, and why."""

    path: Path
    reason: str


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model on the CPU plus what resuming needs."""

    info: CheckpointInfo
    model: VAE
    optimizer_state: dict | None = None  # a torch optimizer state_dict, or None
    rng_state: dict[str, torch.Tensor] = field(default_factory=dict)
    # The weights training goes on from, where the model's are their moving average
    # (tui_vae/averaging.py); None: the model's own.
    live_weights: dict[str, torch.Tensor] | None = None

    @property
    def meta(self) -> dict:
        return self.info.meta


# --------------------------------------------------------------------------- reading


def _sniff_unsafe(path: Path, head: bytes) -> None:
    """Refuse pickles and torch.save zip archives by content, whatever the name."""
    is_pickle = len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5
    is_zip = head.startswith(b"PK\x03\x04")
    if is_pickle or is_zip:
        kind = "a PyTorch/zip archive" if is_zip else "a Python pickle"
        raise CheckpointError(
            f"{path} is {kind}; tui-vae never unpickles files (that can run code) "
            f"and only loads its own safetensors checkpoints"
        )


def _check_tensor_entry(path: Path, name: str, entry: Any, data_size: int) -> None:
    if not isinstance(entry, dict):
        raise CheckpointError(f"{path}: tensor {name!r} has a malformed header entry")
    # Optimizer state is stored per parameter: optim.<index>.<name>.
    if name.startswith("optim.") and not re.fullmatch(r"optim\.\d{1,6}\.\w+", name):
        raise CheckpointError(f"{path}: optimizer tensor {name!r} is misnamed")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPE_BYTES:
        raise CheckpointError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise CheckpointError(f"{path}: tensor {name!r} has a malformed shape")
    numel = 1
    for dim in shape:
        numel *= dim
    if numel > MAX_TENSOR_ELEMENTS:
        raise CheckpointError(f"{path}: tensor {name!r} declares an absurd shape {shape}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
        or offsets[1] - offsets[0] != numel * _DTYPE_BYTES[dtype]
    ):
        raise CheckpointError(f"{path} is truncated or corrupt (tensor {name!r} out of bounds)")


def _check_coverage(path: Path, header_bytes: bytes, spans: list[list[int]],
                    data_size: int) -> None:
    """As the safetensors reader checks before it loads anything: the header starts
    with "{", and the tensors' bytes lie end to end over the whole data, with no
    overlap, gap or bytes after them (`models` listed such files as healthy, and
    `sample` then refused them)."""
    if not header_bytes.startswith(b"{"):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (its header does not "
                              f"start with '{{')")
    end = 0
    for start, stop in sorted(spans):
        if start != end:
            word = "overlap" if start < end else "leave a gap between them"
            raise CheckpointError(f"{path} is corrupt (its tensors' bytes {word})")
        end = stop
    if end != data_size:
        extra = data_size - end
        raise CheckpointError(f"{path} is corrupt ({extra:,} byte{'s' if extra != 1 else ''} "
                              f"after its tensors)")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(number: int) -> str:
    """A whole number for an error message: a 4,000-digit one as what it is, not whole."""
    text = str(number)
    digits = len(text.lstrip("-"))
    return text if digits <= 20 else f"a {digits:,}-digit number"


def _check_model_config(path: Path, model: Any) -> None:
    from tui_vae.datasets import is_known_dataset

    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: metadata 'model' is not an object")
    for key, types in _MODEL_FIELDS.items():
        value = model.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            raise CheckpointError(f"{path}: metadata model.{key} is missing or has the wrong type")
    if model["model"] not in MODEL_KINDS:
        raise CheckpointError(f"{path}: unknown model kind {model['model']!r}")
    if not is_known_dataset(model["dataset"]):
        raise CheckpointError(f"{path}: unknown dataset {model['dataset']!r}")
    for key in ("latent_dim", "hidden_dim", "num_classes"):
        if not 1 <= model[key] <= (MAX_LATENT if key == "latent_dim" else MAX_WIDTH):
            raise CheckpointError(f"{path}: metadata model.{key} = {_shown(model[key])} is "
                                  f"out of range")
    _check_class_count(path, model)
    if not 0 <= model["beta"] < float("inf"):
        raise CheckpointError(f"{path}: metadata model.beta must be a finite number >= 0")
    # Fields later versions added (architecture, likelihood, image shape): optional,
    # checked against the registries in tui_vae/config.py when present.
    for key, types in _OPTIONAL_MODEL_FIELDS.items():
        if key in model and (not isinstance(model[key], types) or isinstance(model[key], bool)):
            raise CheckpointError(f"{path}: metadata model.{key} has the wrong type")
    problems = ModelConfig.from_dict(model).problems()
    if problems:
        raise CheckpointError(f"{path}: {problems[0]}")


# Optional training settings: how each must look when present.
_TRAINING_CHECKS = {
    "epochs": lambda v: _is_int(v) and 1 <= v <= MAX_EPOCHS,
    "batch_size": lambda v: _is_int(v) and 1 <= v <= MAX_BATCH,
    "lr": lambda v: _is_number(v) and 0 < v < float("inf"),
    "lr_schedule": lambda v: v in LR_SCHEDULES,
    "lr_warmup": lambda v: _is_number(v) and 0 <= v < float("inf"),
    "kl_warmup": lambda v: _is_number(v) and 0 <= v < float("inf"),
    "average": lambda v: _is_number(v) and 0 <= v < 1,
    "seed": lambda v: _is_int(v) and 0 <= v <= MAX_SEED,
    "output_bias": lambda v: v == "data-mean",
}
_PARTIAL_KEYS = {"objective", "recon", "kl", "count", "seconds"}


MAX_AVERAGE_EVERY = 1000


def _check_progress(path: Path, progress: Any) -> None:
    if not isinstance(progress, dict) or not _is_int(progress.get("epochs_done")):
        raise CheckpointError(f"{path}: metadata 'progress' is missing or malformed")
    if not 0 <= progress["epochs_done"] <= MAX_EPOCHS:
        raise CheckpointError(f"{path}: metadata progress.epochs_done = "
                              f"{_shown(progress['epochs_done'])} is out of range")
    step = progress.get("step", 0)
    if not _is_int(step) or not 0 <= step <= 1 << 40:
        raise CheckpointError(f"{path}: metadata progress.step is out of range")
    averaged = progress.get("average_steps", 0)  # the weights' average's updates so far
    if not _is_int(averaged) or not 0 <= averaged <= 1 << 40:
        raise CheckpointError(f"{path}: metadata progress.average_steps is malformed or "
                              f"out of range")
    every = progress.get("average_every", 1)  # steps between the average's updates
    if not _is_int(every) or not 1 <= every <= MAX_AVERAGE_EVERY:
        raise CheckpointError(f"{path}: metadata progress.average_every is malformed or "
                              f"out of range")
    partial = progress.get("partial", {})
    if not isinstance(partial, dict) or not set(partial) <= _PARTIAL_KEYS or not all(
            _is_number(v) and math.isfinite(v) for v in partial.values()):
        raise CheckpointError(f"{path}: metadata progress.partial is malformed")
    count = partial.get("count", 0)  # images summed so far in the epoch under way
    if not _is_int(count) or not 0 <= count <= step * MAX_BATCH or partial.get("seconds", 0) < 0:
        raise CheckpointError(f"{path}: metadata progress.partial is out of range")


def _check_history(path: Path, history: Any) -> None:
    """Each epoch's record must hold the test metrics the listings show."""
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise CheckpointError(f"{path}: metadata 'history' is missing or malformed")
    for index, record in enumerate(history, start=1):
        test = record.get("test")
        if not isinstance(test, dict) or not all(
                _is_number(test[k]) for k in ("loss", "recon", "kl") if k in test):
            raise CheckpointError(f"{path}: metadata history epoch {index} lacks its test "
                                  f"metrics (loss, recon, kl must be numbers)")
        if not isinstance(record.get("train", {}), dict):
            raise CheckpointError(f"{path}: metadata history epoch {index} is malformed")


def _check_class_count(path: Path, model: dict) -> None:
    """A cVAE's condition has one entry per class of its dataset: the views, `sample`
    and `eval` feed it the dataset's labels, so any other count is refused here."""
    from tui_vae.datasets import dataset_spec, is_folder_dataset

    if is_folder_dataset(model["dataset"]):  # its sub-folders: ModelConfig.problems checks
        return
    spec = dataset_spec(model["dataset"])
    classes = len(spec.classes)
    if model["model"] == "cvae" and spec.labelled and model["num_classes"] != classes:
        raise CheckpointError(f"{path}: a cVAE on {model['dataset']} has {classes} classes; "
                              f"this one declares {model['num_classes']}")


def _check_meta(path: Path, meta: Any) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a tui-vae checkpoint")
    version = meta.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:  # true and 1.0 equal 1
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this tui-vae reads "
            f"version {FORMAT_VERSION}"
        )
    _check_model_config(path, meta.get("model"))
    _check_progress(path, meta.get("progress"))
    _check_history(path, meta.get("history"))
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise CheckpointError(f"{path}: metadata 'training' is malformed")
    for key, valid in _TRAINING_CHECKS.items():
        if key in training and not valid(training[key]):
            raise CheckpointError(f"{path}: metadata training.{key} is malformed or out of range")
    if "dataset" in meta and meta["dataset"] != meta["model"]["dataset"]:
        # Both are written from one config: two names are an edit, and which one a
        # resumed run would train on is no guess to make.
        raise CheckpointError(f"{path}: metadata names two datasets ({meta['dataset']!r} "
                              f"and the model's {meta['model']['dataset']!r})")
    seed = meta.get("seed")
    if seed is not None and not _TRAINING_CHECKS["seed"](seed):
        raise CheckpointError(f"{path}: metadata seed is malformed or out of range")
    for key in ("created", "updated", "package_version"):
        if not isinstance(meta.get(key, ""), str):
            raise CheckpointError(f"{path}: metadata {key} is not text")
    groups = meta.get("optimizer_groups", [])
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("params"), list)
        and all(_is_int(i) for i in g["params"]) for g in groups
    ):
        raise CheckpointError(f"{path}: metadata 'optimizer_groups' is malformed")
    return meta


def _parse_json(path: Path, data: bytes | str, what: str) -> Any:
    """json.loads, with its recursion and integer-size limits as one-line errors."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (unreadable {what})"
                              ) from None
    except RecursionError:
        raise CheckpointError(f"{path}: its {what} is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise CheckpointError(f"{path}: its {what} cannot be read ({exc})") from None


# How read_header_bytes names a file: (too short to be .., not .. or truncated, no such ..)
_FILE_WORDS = {
    "checkpoint": ("a checkpoint", "a safetensors checkpoint", "checkpoint"),
    "weights": ("a safetensors file", "a safetensors file", "weights file"),
}


def read_header_bytes(path: Path, kind: str = "checkpoint") -> tuple[bytes, int]:
    """A safetensors file's JSON header, unparsed, and the file's size; the header's
    length checked against the file and MAX_HEADER_BYTES, pickles and zip archives
    refused by content first."""
    short, bad, missing = _FILE_WORDS[kind]
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise CheckpointError(f"{path} is not a file")
        with path.open("rb") as handle:
            head = handle.read(8)
            _sniff_unsafe(path, head)
            if len(head) < 8:
                raise CheckpointError(f"{path} is too short to be {short}")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > MAX_HEADER_BYTES:
                raise CheckpointError(f"{path} is not {bad}: its header claims "
                                      f"{header_len / 2**20:,.1f} MiB, over the "
                                      f"{MAX_HEADER_BYTES >> 20} MiB allowed")
            if header_len > size - 8:
                raise CheckpointError(f"{path} is not {bad} or is truncated")
            return handle.read(header_len), size
    except FileNotFoundError:
        if os.path.islink(path):  # listed (it is there), so "models lists them" misled
            raise CheckpointError(f"{path} is a link to a file that does not exist") from None
        hint = "; `tui-vae models` lists them" if kind == "checkpoint" else ""
        raise CheckpointError(f"{path}: no such {missing}{hint}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and validate a checkpoint's header and metadata (no tensors, no torch)."""
    path = Path(path)
    header_bytes, size = read_header_bytes(path)
    header = _parse_json(path, header_bytes, "header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (malformed header)")
    extra = header.pop("__metadata__", None)
    if not isinstance(extra, dict) or not isinstance(extra.get(META_KEY), str):
        raise CheckpointError(f"{path} is a safetensors file but not a tui-vae checkpoint")
    data_size = size - 8 - len(header_bytes)
    for name, entry in header.items():
        _check_tensor_entry(path, name, entry, data_size)
    _check_coverage(path, header_bytes, [entry["data_offsets"] for entry in header.values()],
                    data_size)
    meta = _check_meta(path, _parse_json(path, extra[META_KEY], "metadata"))
    shapes = {name: (entry["dtype"], tuple(entry["shape"])) for name, entry in header.items()}
    # The weights against the model the metadata describes, by arithmetic (no torch):
    # a listing shows a file that would not load as what it is, not as a healthy model.
    expected = weight_shapes(ModelConfig.from_dict(meta["model"]))
    if expected is not None:
        _check_weights(path, expected, shapes)
    return CheckpointInfo(path, meta, tuple(header), size, shapes)


def list_checkpoints(folder: str | os.PathLike) -> list[CheckpointInfo | BadCheckpoint]:
    """Every *.safetensors file in `folder`, by name; unreadable ones as BadCheckpoint."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder")
    found: list[CheckpointInfo | BadCheckpoint] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            found.append(read_info(path))
        except CheckpointError as exc:
            found.append(BadCheckpoint(path, str(exc)))
        except Exception as exc:  # whatever one file does, the others are still listed
            found.append(BadCheckpoint(path, f"{path}: cannot be read "
                                             f"({type(exc).__name__}: {exc})"))
    return found


def metrics_path(checkpoint_path: str | os.PathLike) -> Path:
    """Where a run's per-epoch metrics JSONL lives: beside its checkpoint."""
    path = Path(checkpoint_path)
    return path.with_name(path.name.removesuffix(SUFFIX) + ".metrics.jsonl")


def new_checkpoint_path(folder: str | os.PathLike, model: str, dataset: str) -> Path:
    """A fresh file name for a new run: `<folder>/<model>-<dataset>-<time>.safetensors`,
    numbered (-2, -3, ...) past names a checkpoint or another run's lock holds.
    Two runs that choose in the same second can still choose alike: the one
    that starts claims it (`claim_checkpoint_path`), the other moves on."""
    from tui_vae.run_lock import lock_path

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    # "folder:~/my pictures" names a path: "folder-my-pictures" in the file name.
    kind, _, where = dataset.partition(":")
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{kind}-{Path(where).name}" if where else kind)
    return next(path for path in _numbered(Path(folder) / f"{model}-{dataset}-{stamp}{SUFFIX}")
                if not path.exists() and not lock_path(path).exists())


MAX_NUMBERED = 1000  # names a fresh run may number on to (-2 ... -1000)


def _numbered(path: Path):
    """`path`, then the same name numbered -2, -3, ... (at most MAX_NUMBERED)."""
    yield path
    stem = path.name.removesuffix(SUFFIX)
    for counter in range(2, MAX_NUMBERED + 1):
        yield path.with_name(f"{stem}-{counter}{SUFFIX}")
    raise CheckpointError(f"{path.parent}: {MAX_NUMBERED} runs already hold names like {path.name}")


def claim_checkpoint_path(path: Path):
    """`path` (a name `new_checkpoint_path` chose), or the first numbered one after it
    that no checkpoint has and no live run holds, with its run lock held (a
    RunLock, for the Trainer to hold on to). Where two runs chose one name in
    the same second, the lock decides which one keeps it, atomically."""
    from tui_vae.errors import TrainingError
    from tui_vae.run_lock import RunLock

    for candidate in _numbered(path):
        if candidate.exists():
            continue
        lock = RunLock(candidate)
        try:
            lock.acquire()
        except TrainingError:  # another live run holds it
            if not lock.owner:  # not held: the lock cannot be made (a read-only folder)
                raise
            continue
        if candidate.exists():  # its run finished between our look and our lock
            lock.release()
            continue
        return candidate, lock


def _split_tensors(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_state(meta: dict, tensors: dict[str, torch.Tensor]) -> dict | None:
    groups = meta.get("optimizer_groups")
    flat = _split_tensors(tensors, "optim.")
    if groups is None or not flat:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def model_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Each weight's shape in a model of `config`, computed without allocating it."""
    import torch

    from tui_vae.models import build_model

    with torch.device("meta"):  # shapes only: no memory behind the tensors
        model = build_model(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_model_size(info: CheckpointInfo, config: ModelConfig) -> None:
    """Refuse a model larger than MAX_MODEL_PARAMETERS, or one the file's own tensors
    do not hold: the metadata alone must never size an allocation."""
    _check_weights(info.path, model_shapes(config), info.tensor_shapes)


def _check_weights(path: Path, shapes: dict[str, tuple[int, ...]], declared: dict) -> None:
    """The file's `model.` tensors (`declared`: name -> (dtype, shape), from its header)
    are exactly the weights `shapes` names, in floating point, within the size limits."""
    count = sum(math.prod(shape) for shape in shapes.values())
    if count > MAX_MODEL_PARAMETERS:
        raise CheckpointError(
            f"{path}: its metadata describes a model of {count:,} parameters "
            f"(more than the {MAX_MODEL_PARAMETERS:,} tui-vae loads)")
    for name, shape in shapes.items():
        found = declared.get(f"model.{name}")
        if found is None or found[1] != shape:
            what = "missing" if found is None else f"shape {list(found[1])}"
            raise CheckpointError(
                f"{path}: weights do not match its config (model.{name} is {what}, "
                f"the config needs {list(shape)})")
        if found[0] not in _FLOAT_DTYPES:  # integers would load as noise, silently
            raise CheckpointError(f"{path}: model.{name} holds {found[0]} values, "
                                  f"not floating-point weights")
    extra = sorted(name for name in declared
                   if name.startswith("model.") and name.removeprefix("model.") not in shapes)
    if extra:
        raise CheckpointError(f"{path}: weights do not match its config ({extra[0]} is not "
                              f"one of its weights)")
    stored = sum(math.prod(shape) * _DTYPE_BYTES[dtype] for dtype, shape in declared.values())
    # Weights, two Adam moments, the live weights (and small extras): nothing else
    # belongs in the file.
    if stored > 3 * 8 * count + (1 << 20):
        raise CheckpointError(f"{path}: holds {stored:,} bytes of tensors, far more "
                              f"than a model of {count:,} parameters needs")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load and validate a checkpoint; every problem is a one-line CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from tui_vae.models import build_model

    info = read_info(path)
    config = ModelConfig.from_dict(info.model_config)
    check_model_size(info, config)  # before a byte of the model is allocated
    try:
        tensors = load_tensors(info.path.read_bytes())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{info.path} is corrupt: {str(exc).splitlines()[0]}") from None
    model = build_model(config)
    weights = _split_tensors(tensors, "model.")
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{info.path}: weights do not match its config ({detail})") from None
    if not all(t.isfinite().all() for t in weights.values()):
        raise CheckpointError(f"{info.path}: weights contain NaN or infinite values")
    # The live weights matter to --resume only, which checks them (check_live_weights):
    # damaged ones leave the model (the average) usable for eval, sample and the app.
    return Checkpoint(info, model, _optimizer_state(info.meta, tensors),
                      _split_tensors(tensors, "rng."), _split_tensors(tensors, "live.") or None)


def check_live_weights(checkpoint: Checkpoint, averaged: bool) -> None:
    """For --resume: the checkpoint holds live weights exactly when its run kept the
    weights' average (`averaged`), and they fit the model and are finite."""
    path, live = checkpoint.info.path, checkpoint.live_weights
    if averaged != (live is not None):
        raise CheckpointError(
            f"{path}: its run kept the weights' average but the file has no live weights"
            if averaged else
            f"{path}: it holds live weights but its run kept no average of the weights")
    if live is None:
        return
    trainable = {name: p for name, p in checkpoint.model.named_parameters() if p.requires_grad}
    if (live.keys() != trainable.keys()
            or any(live[k].shape != p.shape or live[k].dtype != p.dtype
                   for k, p in trainable.items())
            or not all(t.isfinite().all() for t in live.values())):
        raise CheckpointError(f"{path}: its live weights (for --resume) do not fit "
                              f"the model or hold NaN or infinite values")


# --------------------------------------------------------------------------- writing


def build_metadata(
    config: ModelConfig,
    training: dict,
    progress: dict,
    history: list[dict],
    created: str | None = None,
) -> dict:
    """The JSON metadata every checkpoint carries."""
    from tui_vae import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created": created or datetime.now(UTC).isoformat(timespec="seconds"),
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": config.to_dict(),
        "dataset": config.dataset,
        "seed": training.get("seed"),
        "training": training,
        "progress": progress,
        "history": history,
    }


_TEMPORARY_HEX = 8  # hex digits of a temporary's random part


def is_temporary_of(path: Path, name: str) -> bool:
    """Whether the file name `name` is one `atomic_write_bytes` makes for `path`:
    `.<name>.<8 hex digits>.tmp` exactly. Another run's name may begin with this
    one's (x.safetensors and x.safetensors.y.safetensors): a pattern with a
    wildcard for the random part matched that run's temporaries too."""
    prefix, suffix = f".{path.name}.", ".tmp"
    middle = name[len(prefix):-len(suffix)]
    return (name.startswith(prefix) and name.endswith(suffix)
            and len(name) == len(prefix) + _TEMPORARY_HEX + len(suffix)
            and all(c in "0123456789abcdef" for c in middle))


def _new_temporary(path: Path) -> tuple[int, Path]:
    """Create `.<name>.<random>.tmp` beside `path`: new (O_EXCL), never through a link."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(_TEMPORARY_HEX // 2)}.tmp")
        try:
            # 0o666 less the umask, as for any new file (mkstemp's 0600 is for secrets).
            return open_for_writing(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue  # a name taken (or planted): draw another
    raise FileExistsError(errno.EEXIST, f"no free temporary name beside {path}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, whole.

    A symlink or a non-regular file at `path` is refused (an OSError): the rename
    would replace the link, and a user who planted it meant its target.
    """
    path = Path(path)
    refuse_if_not_regular(path)
    try:  # a file saved anew keeps the old one's permissions (a private run stays so)
        kept_mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        kept_mode = None
    fd, tmp = _new_temporary(path)
    try:
        if kept_mode is not None and hasattr(os, "fchmod"):  # (not on Windows)
            os.fchmod(fd, kept_mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Interrupted or failed (disk full, Ctrl-C): the previous file stays as it was.
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _standalone(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor on the CPU, contiguous and owning its memory: a view into a
    larger buffer (the trainer's flat layout, flat_params.py) is copied, since
    safetensors refuses tensors that share memory."""
    tensor = tensor.detach().cpu()
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        return tensor.clone().contiguous()
    return tensor.contiguous()


def save_checkpoint(
    path: str | os.PathLike,
    model: VAE,
    meta: dict,
    optimizer_state: dict | None = None,
    rng_state: dict[str, torch.Tensor] | None = None,
    live_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Atomically write weights (+ optimizer and RNG state, and the live weights where
    the model's are their average, for resuming) and metadata."""
    from safetensors.torch import save as save_tensors

    path = Path(path)
    tensors = {f"model.{k}": _standalone(v) for k, v in model.state_dict().items()}
    meta = dict(meta)
    if optimizer_state is not None:
        meta["optimizer_groups"] = optimizer_state["param_groups"]
        for index, state in optimizer_state["state"].items():
            for name, value in state.items():
                tensors[f"optim.{index}.{name}"] = _standalone(value)
    for name, value in (rng_state or {}).items():
        tensors[f"rng.{name}"] = _standalone(value)
    for name, value in (live_weights or {}).items():
        tensors[f"live.{name}"] = _standalone(value)
    data = save_tensors(tensors, metadata={META_KEY: json.dumps(meta)})
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > MAX_HEADER_BYTES:  # refused before writing: the saved file stays
        raise CheckpointError(
            f"cannot save {path}: its header ({header_len / 2**20:.1f} MiB, mostly the "
            f"history of {len(meta.get('history') or ()):,} epochs) is over the "
            f"{MAX_HEADER_BYTES >> 20} MiB a checkpoint may hold; the file is as it was")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
