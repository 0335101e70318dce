"""The training service's events: small frozen dataclasses, no torch.

Kept apart from `training.py` so that the TUI can handle them (and the CLI can
format them) without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_vae.training import TrainConfig


@dataclass(frozen=True)
class Started:
    config: TrainConfig
    device: str
    train_size: int
    test_size: int
    steps_per_epoch: int
    resumed_from: tuple[int, int] | None  # (epoch, step) when resuming
    gradients: str = "hand-derived"  # the step's path: "hand-derived" or "autograd"


@dataclass(frozen=True)
class StepLogged:
    epoch: int  # 0-based
    step: int  # 1-based step within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float  # negative ELBO of the batch (beta = 1), nats per image
    recon: float
    kl: float
    kl_weight: float  # the beta actually applied at this step (after warm-up)
    lr: float
    samples_per_s: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int  # 0-based
    epochs: int
    train: dict  # loss (negative ELBO), recon, kl, objective: means over the epoch
    test: dict  # loss, recon, kl: negative ELBO of the test split, z ~ q(z|x)
    seconds: float  # training time of this epoch (evaluation excluded)


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epochs_done: int
    step: int  # 0 at an epoch boundary, else the steps done in the current epoch


@dataclass(frozen=True)
class Finished:
    epochs_done: int
    stopped: bool  # True when the stop flag ended the run early
    path: str | None
    history: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class ThreadsChanged:
    """The run's thread count followed its company (cpu_share.ThreadShare)."""

    threads: int  # what it trains on now
    full: int  # what it trains on alone

    def describe(self) -> str:
        """The change in a line, as the CLI prints it."""
        if self.threads < self.full:
            return f"other work shares the cores: training on {self.threads} of {self.full} threads"
        return f"the cores are free again: training on all {self.full} threads"


Event = (Started | StepLogged | EpochEnded | CheckpointSaved | Finished | Failed
         | ThreadsChanged)


# -- one event a line of JSON: how a `tui-vae train` child reports to the app

_KINDS = {kind.__name__: kind for kind in (Started, StepLogged, EpochEnded, CheckpointSaved,
                                           Finished, Failed, ThreadsChanged)}


def event_to_json(event: Event) -> str:
    """One line of JSON for `event` (Started's config included), no newline."""
    from dataclasses import asdict

    values = {f: getattr(event, f) for f in event.__dataclass_fields__}
    if isinstance(event, Started):
        values["config"] = {**asdict(event.config), "model": event.config.model.to_dict()}
    return json.dumps({"event": type(event).__name__, **values})


def event_from_json(line: str) -> Event | None:
    """The event a line of `event_to_json` holds; None for any other line."""
    try:
        values = json.loads(line)
        kind = _KINDS[values.pop("event")]
        if kind is Started:
            from tui_vae.config import ModelConfig, TrainConfig

            config = dict(values["config"])
            model = ModelConfig.from_dict(config.pop("model"))
            known = set(TrainConfig.__dataclass_fields__) - {"model"}
            values["config"] = TrainConfig(model=model,
                                           **{k: v for k, v in config.items() if k in known})
            if values.get("resumed_from") is not None:
                values["resumed_from"] = tuple(values["resumed_from"])
        if kind is Finished:
            values["history"] = tuple(values.get("history", ()))
        return kind(**values)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
