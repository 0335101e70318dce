"""tui-vae: train and explore Variational Autoencoders in the terminal.

The public API, importable without paying for torch until it is used:

    import tui_vae
    model = tui_vae.load("vae")   # a shipped model by name, or a path
    mu, logvar = model.encode(images)          # images: (N, 1, 28, 28) in [0, 1]
    probs = model.decode(mu)                   # (N, 1, 28, 28) probabilities
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module: resolved on first access so `import tui_vae` stays light.
_LAZY = {
    "load": "tui_vae.inference",
    "TrainedModel": "tui_vae.inference",
    "VAE": "tui_vae.models",
    "CVAE": "tui_vae.models",
    "ModelConfig": "tui_vae.models",
    "build_model": "tui_vae.models",
    "TrainConfig": "tui_vae.training",
    "Trainer": "tui_vae.training",
    "load_dataset": "tui_vae.data",
    "load_checkpoint": "tui_vae.checkpoints",
    "save_checkpoint": "tui_vae.checkpoints",
    "TuiVaeError": "tui_vae.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from tui_vae.checkpoints import load_checkpoint, save_checkpoint  # noqa: F401
    from tui_vae.data import load_dataset  # noqa: F401
    from tui_vae.errors import TuiVaeError  # noqa: F401
    from tui_vae.inference import TrainedModel, load  # noqa: F401
    from tui_vae.models import CVAE, VAE, ModelConfig, build_model  # noqa: F401
    from tui_vae.training import TrainConfig, Trainer  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tui_vae' has no attribute {name!r}")
