"""Errors the services raise for problems a user can fix.

Each carries a one-line message meant to be shown as is; the CLI prints it on
stderr and exits with status 1, the TUI shows it in a notice.
"""


class TuiVaeError(Exception):
    """Base class: something the user can act on (bad file, missing data...)."""


class DataError(TuiVaeError):
    """A dataset is missing, cannot be downloaded, or its files are malformed."""


class CheckpointError(TuiVaeError):
    """A checkpoint cannot be read, written or trusted."""


class DeviceError(TuiVaeError, ValueError):
    """The requested compute device is not available on this machine (a ValueError
    too: the Python API's `load(..., device="bogus")` is a bad argument)."""


class TrainingError(TuiVaeError):
    """Training cannot start or had to stop (for example a non-finite loss)."""


DEBUG_ENV = "TUI_VAE_DEBUG"


def debugging() -> bool:
    """Whether the user asked to see tracebacks (TUI_VAE_DEBUG set to anything but
    empty, 0, false, no or off: TUI_VAE_DEBUG=0 once turned them on)."""
    import os

    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")
