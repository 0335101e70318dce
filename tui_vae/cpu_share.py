"""Sharing the CPU with other busy processes: a training run's thread count adapts.

torch runs its kernels on an OpenMP team of one thread per core, and idle
team threads spin for a while waiting for the next kernel. When two runs (or
a run and any busy process) share the cores, each one's threads spin on cores
the other holds, and both slow far more than twofold (README, Performance).
`ThreadGovernor` watches how much CPU the rest of the machine uses (the
system's busy time from /proc/stat minus this process's own) and gives torch
only the cores left over: all of them when the machine is otherwise idle,
fewer as other work appears, and all again once it is gone. Where /proc/stat
does not exist it does nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

CHECK_EVERY_S = 1.0  # how often the machine's load is read (a read costs ~50 us)
SMOOTHING = 0.5  # weight of the newest reading in the running estimate of others' use
# Others must leave at least this much of a core before a thread is given back,
# so that a run does not flap between counts on noise.
HYSTERESIS = 0.35


def system_busy_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds over all cores since boot, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadGovernor:
    """Sets torch's thread count from the CPU the rest of the machine leaves free.

    Call `tick()` between steps; it reads the load at most every
    CHECK_EVERY_S and calls `set_threads(n)` only when n changes. The
    readers are parameters so that tests can play any load.
    """

    def __init__(
        self,
        max_threads: int,
        set_threads: Callable[[int], None],
        read_system: Callable[[], tuple[float, float] | None] = system_busy_seconds,
        read_own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        cores: int | None = None,
    ):
        self.max_threads = max(1, max_threads)
        self.set_threads = set_threads
        self.read_system, self.read_own, self.clock = read_system, read_own, clock
        self.cores = cores or os.cpu_count() or 1
        self.threads = self.max_threads
        self.others: float | None = None  # cores' worth of CPU other processes use
        self._last = self._read()
        self._next = self.clock() + CHECK_EVERY_S

    def _read(self) -> tuple[float, float, float] | None:
        system = self.read_system()
        if system is None:
            return None
        return system[0], system[1], self.read_own()

    def tick(self) -> None:
        if self._last is None or self.clock() < self._next:
            return
        self._next = self.clock() + CHECK_EVERY_S
        now = self._read()
        if now is None:
            return
        (busy0, total0, own0), (busy1, total1, own1) = self._last, now
        self._last = now
        elapsed = (total1 - total0) / self.cores  # wall seconds, as /proc/stat counts them
        if elapsed <= 0:
            return
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / elapsed
        self.others = others if self.others is None else (
            SMOOTHING * others + (1 - SMOOTHING) * self.others)
        self._apply()

    def _apply(self) -> None:
        free = self.cores - self.others
        wanted = max(1, min(self.max_threads, int(free + 0.5)))
        if wanted > self.threads and free < self.threads + 1 - 0.5 + HYSTERESIS:
            return  # not clearly free yet
        if wanted != self.threads:
            self.threads = wanted
            self.set_threads(wanted)
