"""Choosing the compute device once: auto (CUDA, then MPS, then CPU) or named."""

from __future__ import annotations

import torch

from tui_vae.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch.device for `name` (or a torch.device: its kind, the first of it); a
    DeviceError when it is not on this machine."""
    if isinstance(name, torch.device):  # load(..., device=torch.device("cpu")) was refused
        if name.index not in (None, 0):
            raise DeviceError(f"{name} is not supported: tui-vae uses the first device of a "
                              f"kind ({name.type})")
        name = name.type
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but this machine has no usable CUDA device; "
                              "use --device cpu or --device auto")
        return torch.device("cuda")
    if name == "mps":
        if not _mps_available():
            raise DeviceError("MPS was requested but this machine has no Apple GPU backend; "
                              "use --device cpu or --device auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r} (choose from {', '.join(DEVICE_CHOICES)})")
