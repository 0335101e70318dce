"""Sharing the CPU between runs: idle OpenMP threads sleep instead of spinning.

torch runs its kernels on an OpenMP team of one thread per core, and by
default (libgomp, which torch and its MKL use) a team thread that finishes a
kernel spins for a while waiting for the next one. When several runs share
the cores, each one's threads spin on cores the others need, and all slow
far more than in proportion (README, Performance). With
OMP_WAIT_POLICY=PASSIVE idle threads sleep at once, so a run takes only the
CPU it computes with; alone, though, a run then pays a wake-up at every
kernel, and the report's model's step (many short kernels) slows by about
1.7x. So the setting is used where runs are known to share the machine: the
processes of `tui-vae sweep --jobs K` with K > 1. A single run keeps the
default, and a person starting several runs by hand can set it.

The thread count itself is never changed while a run trains: that would
change the order of floating-point sums, and an interrupted and resumed run
would no longer end on exactly the metrics of an uninterrupted one.

libgomp reads the setting when it loads, so it goes into a child process's
environment; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as it is.
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
