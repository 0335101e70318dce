"""Memory a training run will need, estimated before anything is allocated.

`check_training_memory(config)` refuses, with one line naming the estimate, a
model larger than checkpoints may hold or a run that would not fit in the memory
this process can use (the smaller of the machine's available memory and its
address-space limit). The estimate is deliberately simple: weights, gradients and
Adam's two moments (16 bytes a parameter), a training step's and an evaluation
batch's activations, and a fixed allowance for the dataset.
"""

from __future__ import annotations

import os
import resource

from tui_vae.errors import TrainingError

# A dataset of MNIST's size held twice (torch itself is mapped already: the
# address-space room below is measured with it loaded).
BASE_BYTES = 128 * 1024 * 1024
_GIB = 1024**3


def _fmt(count: int) -> str:
    return f"{count / _GIB:,.1f} GiB" if count >= _GIB / 10 else f"{count / 1024**2:,.0f} MiB"


def available_bytes() -> int | None:
    """Memory this process may still take: MemAvailable, capped by RLIMIT_AS; None if unknown."""
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/statm", encoding="ascii") as handle:
                mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            mapped = 0
        room = max(soft - mapped, 0)
        found = room if found is None else min(found, room)
    return found


def parameter_count(config) -> int:
    """The number of parameters a ModelConfig's network holds (no memory allocated)."""
    from tui_vae.checkpoints import model_shapes

    if config.problems():
        # No model can be built (say, wider than checkpoints allow): the decoder's
        # last layer and the latent's three products (the two heads, the decoder's
        # first layer) give a lower bound, enough to name an absurd size.
        hidden, latent = max(config.hidden_dim, 0), max(config.latent_dim, 0)
        return _prod(config.image_shape) * hidden + 3 * hidden * latent
    return sum(_prod(shape) for shape in model_shapes(config).values())


def _prod(shape) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def feature_map_floats(model_config) -> int:
    """Floats per image in the conv net's feature maps (each level's channels x side^2),
    0 for the MLP. They dwarf its dense layers: counting only those, a conv run of
    batch 6,000 was estimated at 0.3 GiB and took 1.6 GB."""
    if model_config.arch != "conv" or model_config.problems():
        return 0
    from tui_vae.weight_shapes import CONV_WIDTHS, conv_levels

    levels = conv_levels(model_config.image_size)
    side = model_config.image_size
    floats = 0
    for channels in CONV_WIDTHS[:levels]:
        side //= 2
        floats += channels * side * side
    return floats


def training_bytes(config) -> tuple[int, int]:
    """(parameters, estimated bytes) for training `config` (a TrainConfig)."""
    m = config.model
    params = parameter_count(m)
    # Per image, each layer's outputs; the decoder mirrors the encoder's maps, and the
    # factor 8 below covers both halves' outputs and their gradients.
    widths = _prod(m.image_shape) + sum(m.widths) + m.latent_dim + feature_map_floats(m)
    step = 4 * config.batch_size * 8 * widths  # inputs, activations, their gradients
    evaluation = 4 * config.eval_batch_size * 4 * widths
    return params, 16 * params + step + evaluation + BASE_BYTES


def inference_bytes(model_config, rows: int) -> int:
    """Estimated bytes for one forward pass of `rows` images or codes through a model
    (no gradients): each layer's outputs, twice over for the temporaries."""
    widths = (_prod(model_config.image_shape) + sum(model_config.widths)
              + model_config.latent_dim + feature_map_floats(model_config))
    return 4 * rows * 2 * widths


def check_inference_memory(model_config, rows: int, what: str = "images") -> None:
    """Raise ValueError where `rows` images or codes at once would not fit in the memory
    available: a code tensor expanded to 10**8 rows (a few bytes) asked the
    allocator for 300 GiB of pictures."""
    needed, room = inference_bytes(model_config, rows), available_bytes()
    if room is not None and needed > room:
        raise ValueError(f"{rows:,} {what} at once need about {_fmt(needed)} of memory, more than "
                         f"the {_fmt(room)} available; pass them in smaller batches")


def check_training_memory(config) -> None:
    """Raise TrainingError, naming the estimate, if `config` cannot be trained here."""
    from tui_vae.checkpoints import MAX_MODEL_PARAMETERS

    params, needed = training_bytes(config)
    if params > MAX_MODEL_PARAMETERS:
        bound = "at least " if config.model.problems() else ""  # see parameter_count
        raise TrainingError(
            f"a model of {bound}{params:,} parameters (about {_fmt(needed)} to train) is over "
            f"the {MAX_MODEL_PARAMETERS:,}-parameter limit of tui-vae checkpoints; "
            f"lower --hidden or --latent-dim")
    room = available_bytes()
    if room is not None and needed > room:
        raise TrainingError(
            f"training this model ({params:,} parameters, batch {config.batch_size}) needs "
            f"about {_fmt(needed)} of memory, more than the {_fmt(room)} available; "
            f"lower --hidden, --latent-dim or --batch-size")
