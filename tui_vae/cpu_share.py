"""Sharing the CPU with other busy processes: idle OpenMP threads sleep, not spin.

torch runs its kernels on an OpenMP team of one thread per core, and by
default (libgomp, which torch and its MKL use) a team thread that finishes a
kernel spins for a while waiting for the next one. When two runs (or a run
and any other busy process) share the cores, each one's threads spin on cores
the other needs, and both slow far more than twofold (README, Performance).
With OMP_WAIT_POLICY=PASSIVE idle team threads sleep at once, so a run takes
only the CPU it computes with.

The thread count itself stays fixed: changing it while a run trains would
change the order of floating-point sums, and an interrupted and resumed run
would no longer end on exactly the metrics of an uninterrupted one.

The setting must be in the environment before torch is imported (libgomp
reads it when it loads); the command line's entry point applies it, and
every process it starts (a sweep's runs) inherits it. A user's own
OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

WAIT_POLICY = "PASSIVE"


def share_cores(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Ask OpenMP to let idle threads sleep, unless the user chose; True if it did."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return True
