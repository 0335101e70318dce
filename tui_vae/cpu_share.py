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
processes of `tui-vae sweep --jobs K` with K > 1, and any `tui-vae` process
that starts on a machine already busy (`adapt_to_load`: the load average at
the core count, or another `tui-vae train` or `sweep` running). A run that
starts alone keeps the default; one that later gets company keeps spinning,
since libgomp cannot change the setting once loaded.

The thread count itself is never changed while a run trains: that would
change the order of floating-point sums, and an interrupted and resumed run
would no longer end on exactly the metrics of an uninterrupted one.

libgomp reads the setting when it loads, so it goes into a child process's
environment; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

WAIT_POLICY = "PASSIVE"


def share_cores(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Ask OpenMP to let idle threads sleep, unless the user chose; True if it did."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return True


def other_training_processes(proc: Path = Path("/proc")) -> int:
    """How many other processes run `tui-vae train` or `tui-vae sweep` (0 where /proc is not)."""
    mine = {os.getpid(), os.getppid()}
    count = 0
    try:
        entries = list(proc.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            words = (entry / "cmdline").read_bytes()[:4096].split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        named = any(b"tui-vae" in w or b"tui_vae" in w for w in words)
        if named and (b"train" in words or b"sweep" in words):
            count += 1
    return count


def machine_is_busy(cores: int | None = None, loadavg: Path = Path("/proc/loadavg"),
                    proc: Path = Path("/proc")) -> bool:
    """Whether other work already competes for the cores this process would use."""
    cores = cores or os.cpu_count() or 1
    try:
        load = float(loadavg.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        load = 0.0
    return load >= cores - 0.5 or other_training_processes(proc) > 0


def adapt_to_load(environ: MutableMapping[str, str] = os.environ, **probe) -> bool:
    """At start, before torch loads: idle threads sleep if the machine is already busy.

    The wait policy changes no result (only how idle threads wait), so a run
    and its resumption compute the same numbers whichever was chosen."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    return machine_is_busy(**probe) and share_cores(environ)
