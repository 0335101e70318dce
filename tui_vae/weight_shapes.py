"""Each registered model's weight names and shapes, worked out without torch.

A checkpoint's header names every tensor and its shape. `tui-vae models` and
the Models view list checkpoints without importing torch (1-2 s), so they read
only that header; to say that a file's weights fit the model its metadata
describes, they compare its shapes with these. `checkpoints.model_shapes`
builds the real model (on torch's meta device) for the same answer when a
model is loaded; tests/unit/test_weight_shapes.py holds the two to agreement
over every registered architecture and likelihood.

An architecture or likelihood registered without a function here
(`SHAPES_OF`, below) is simply not checked at listing time: loading still is.
"""

from __future__ import annotations

from collections.abc import Callable

from tui_vae.config import ModelConfig

Shapes = dict[str, tuple[int, ...]]

# The conv net's kernels and channels (architectures.Conv reads them from here).
KERNEL = 4
CONV_WIDTHS = (32, 64, 128)


def _linear(shapes: Shapes, name: str, inputs: int, outputs: int) -> None:
    shapes[f"{name}.weight"] = (outputs, inputs)
    shapes[f"{name}.bias"] = (outputs,)


def _dense(shapes: Shapes, module: str, index: int, width: int,
           widths: tuple[int, ...]) -> tuple[int, int]:
    """Linear, ReLU pairs from `width` through `widths`, from layer `index` of
    `module`; returns the next index and the last width."""
    for out in widths:
        _linear(shapes, f"{module}.{index}", width, out)
        index, width = index + 2, out
    return index, width


def pixels(config: ModelConfig) -> int:
    """Values in one image: channels x height x width."""
    channels, height, width = config.image_shape
    return channels * height * width


def _condition(config: ModelConfig) -> int:
    return config.num_classes if config.conditional else 0


def mlp(config: ModelConfig) -> Shapes:
    """architectures.MLP's encoder_shared and decoder."""
    shapes: Shapes = {}
    cond = _condition(config)
    _dense(shapes, "encoder_shared", 0, pixels(config) + cond, config.widths)
    index, width = _dense(shapes, "decoder", 0, config.latent_dim + cond, config.widths[::-1])
    _linear(shapes, f"decoder.{index}", width, pixels(config))
    return shapes


def conv_levels(size: int) -> int:
    """Stride-2 stages from `size` down to at most 8 pixels (28 -> 7, 32 -> 8, 64 -> 8)."""
    levels = 0
    while size > 8:
        size //= 2
        levels += 1
    return levels


def conv(config: ModelConfig) -> Shapes:
    """architectures.Conv: convolutions, Flatten, dense layers; mirrored with an
    Unflatten and transposed convolutions (whose weights are in x out x k x k)."""
    shapes: Shapes = {}
    cond = _condition(config)
    levels = conv_levels(config.image_size)
    side = config.image_size >> levels
    width, index = config.channels + cond, 0
    for out in CONV_WIDTHS[:levels]:
        shapes[f"encoder_shared.{index}.weight"] = (out, width, KERNEL, KERNEL)
        shapes[f"encoder_shared.{index}.bias"] = (out,)
        width, index = out, index + 2
    _dense(shapes, "encoder_shared", index + 1, width * side * side, config.widths)  # + Flatten
    inward = CONV_WIDTHS[:levels][::-1]
    index, _ = _dense(shapes, "decoder", 0, config.latent_dim + cond,
                      (*config.widths[::-1], inward[0] * side * side))
    index += 1  # the Unflatten
    for step, width in enumerate(inward):
        last = step + 1 == len(inward)
        out = config.channels if last else inward[step + 1]
        shapes[f"decoder.{index}.weight"] = (width, out, KERNEL, KERNEL)
        shapes[f"decoder.{index}.bias"] = (out,)
        index += 1 if last else 2
    return shapes


def _no_weights(config: ModelConfig) -> Shapes:
    return {}


def _gaussian(config: ModelConfig) -> Shapes:
    return {"likelihood.log_scale": (config.channels,)}


# By registry name (tui_vae/config.py: ARCHITECTURES, LIKELIHOODS).
SHAPES_OF: dict[str, Callable[[ModelConfig], Shapes]] = {
    "mlp": mlp, "conv": conv,
    "bernoulli": _no_weights, "continuous-bernoulli": _no_weights, "gaussian": _gaussian,
}


def weight_shapes(config: ModelConfig) -> Shapes | None:
    """Every weight's name and shape in a model of `config` (a valid one), as its
    state_dict holds them; None where its architecture or likelihood has no entry
    in SHAPES_OF."""
    body, likelihood = SHAPES_OF.get(config.arch), SHAPES_OF.get(config.likelihood)
    if body is None or likelihood is None:
        return None
    shapes = body(config)
    for head in ("fc_mu", "fc_logvar"):
        _linear(shapes, head, config.hidden_dim, config.latent_dim)
    shapes.update(likelihood(config))
    return shapes
