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
that starts on a machine already busy (`adapt_to_load`: another `tui-vae
train` or `sweep` running, or the load average at the core count while other
processes use half the cores at that moment). A run that
starts alone keeps the default. libgomp cannot change the setting once
loaded, so a `tui-vae train` that later gets company (or loses it) changes it
the only way there is: at the end of an epoch it saves its checkpoint and
restarts itself from it with the other setting (`CompanyWatch`; the CLI
does the restart). A resumed run ends on exactly the metrics of an
uninterrupted one, so the restart changes no figure.

The thread count itself is never changed while a run trains: that would
change the order of floating-point sums, and an interrupted and resumed run
would no longer end on exactly the metrics of an uninterrupted one.

libgomp reads the setting when it loads, so it goes into a child process's
environment; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as it is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

WAIT_POLICY = "PASSIVE"
# Set when tui-vae chose how threads wait ("sleep" or "spin"), not the user,
# so that a run may choose again and a restarted one keeps the choice.
CHOSEN_MARK = "TUI_VAE_THREAD_WAIT"


def user_chose_policy(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the user set how OpenMP threads wait (then tui-vae never changes it)."""
    return ("GOMP_SPINCOUNT" in environ
            or ("OMP_WAIT_POLICY" in environ and CHOSEN_MARK not in environ))


def share_cores(environ: MutableMapping[str, str] = os.environ, mark: bool = False) -> bool:
    """Ask OpenMP to let idle threads sleep, unless the user chose; True if it did.

    `mark` records that tui-vae chose it, so the run may change it back later."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    if mark:
        environ[CHOSEN_MARK] = "sleep"
    return True


def sharing(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process's idle OpenMP threads sleep (the wait policy is passive)."""
    return environ.get("OMP_WAIT_POLICY", "").strip().upper() == WAIT_POLICY


def training_processes(proc: Path = Path("/proc")) -> set[int]:
    """The other processes that run `tui-vae train` or `tui-vae sweep` (none where /proc is not)."""
    mine = {os.getpid(), os.getppid()}
    found = set()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            words = (entry / "cmdline").read_bytes()[:4096].split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        named = any(b"tui-vae" in w or b"tui_vae" in w for w in words)
        if named and (b"train" in words or b"sweep" in words):
            found.add(int(entry.name))
    return found


def other_training_processes(proc: Path = Path("/proc")) -> int:
    """How many other processes run `tui-vae train` or `tui-vae sweep`."""
    return len(training_processes(proc))


class CpuUse:
    """How many cores' worth of CPU other processes used since the last reading.

    The machine's busy time (/proc/stat) less this process's own CPU time,
    over the wall time between two readings. The load average alone misleads
    both ways: it decays over a minute, so it still reads busy for a while
    after other work has ended, and it counts this run's own threads."""

    def __init__(self, stat: Path = Path("/proc/stat"), clock=time.monotonic):
        self.stat = stat
        self.clock = clock
        self.last = self._reading()

    def _reading(self) -> tuple[float, float, float] | None:
        try:
            fields = self.stat.read_text().split("\n", 1)[0].split()
            # user nice system idle iowait irq softirq steal: busy is all but idle, iowait.
            ticks = [int(v) for v in fields[1:9]]
            busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None
        own = os.times()
        return self.clock(), busy, own.user + own.system

    def others_since_last(self) -> float | None:
        """Cores' worth used by other processes since the last reading (None: unknown)."""
        before, now = self.last, self._reading()
        self.last = now
        if before is None or now is None or now[0] - before[0] <= 0:
            return None
        return max(0.0, ((now[1] - before[1]) - (now[2] - before[2])) / (now[0] - before[0]))


def others_use_now(stat: Path = Path("/proc/stat"), seconds: float = 0.15) -> float | None:
    """Cores' worth other processes use over the next `seconds` (None where unknown)."""
    use = CpuUse(stat)
    time.sleep(seconds)
    return use.others_since_last()


def machine_is_busy(cores: int | None = None, loadavg: Path = Path("/proc/loadavg"),
                    proc: Path = Path("/proc"), stat: Path = Path("/proc/stat")) -> bool:
    """Whether other work already competes for the cores this process would use.

    Another `tui-vae train` or `sweep` counts at once. Otherwise the load
    average must be near the core count and, sampled for a moment (only
    then, so a quiet machine pays nothing), half the cores must be in use by
    other processes now: a load average left high by work that has just ended
    does not make a run alone start with sleeping threads."""
    cores = cores or os.cpu_count() or 1
    if other_training_processes(proc) > 0:
        return True
    if _load(loadavg) < cores - 0.5:
        return False
    now = others_use_now(stat)
    return now is None or now >= cores / 2


def adapt_to_load(environ: MutableMapping[str, str] = os.environ, **probe) -> bool:
    """At start, before torch loads: idle threads sleep if the machine is already busy.

    The wait policy changes no result (only how idle threads wait), so a run
    and its resumption compute the same numbers whichever was chosen."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ or CHOSEN_MARK in environ:
        return False  # the user's choice, or one made already (a restarted run keeps it)
    return machine_is_busy(**probe) and share_cores(environ, mark=True)


def _load(loadavg: Path) -> float:
    try:
        return float(loadavg.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def has_company(cores: int | None = None, loadavg: Path = Path("/proc/loadavg"),
                proc: Path = Path("/proc"), use: CpuUse | None = None) -> bool:
    """While this process trains: whether other work competes for its cores.

    Another `tui-vae train` or `sweep` counts at once. Any other busy process
    counts through the load average, which includes this run's own threads
    (about one per core while it trains), hence the higher bar than at start:
    a whole core's worth of other work, so that small noise never makes a run
    alone restart. Where `use` measures it, other processes must also have
    used half a core or more since the last call (the last epoch): the load
    average also holds the minute before, and this run's spinning threads."""
    cores = cores or os.cpu_count() or 1
    others = use.others_since_last() if use is not None else None  # read every epoch
    if other_training_processes(proc) > 0:
        return True
    return _load(loadavg) >= cores + 1 and (others is None or others >= 0.5)


class CompanyWatch:
    """At each epoch's end of a run whose wait policy tui-vae owns: is a restart due?

    Company arriving while threads spin is costly at once (each run several
    times slower), so the switch to sleeping threads is due at the first epoch
    end that sees it. Back to spinning only after two epoch ends alone in a
    row, with at least three epochs left, since a restart costs about an
    epoch of start-up and company that comes and goes should not make a run
    restart at every epoch."""

    def __init__(self, sharing_now: bool, probe: Callable[[], bool] | None = None):
        self.sharing = sharing_now
        if probe is None:  # other processes' CPU use measured from one epoch end to the next
            use = CpuUse()
            probe = lambda: has_company(use=use)  # noqa: E731
        self.probe = probe
        self.alone = 0  # epoch ends in a row without company

    @classmethod
    def for_this_process(cls, environ: Mapping[str, str] = os.environ) -> CompanyWatch | None:
        """None where the user chose the policy or /proc is not there to watch."""
        if user_chose_policy(environ) or not Path("/proc/loadavg").exists():
            return None
        return cls(sharing(environ))

    def switch_due(self, epochs_left: int) -> bool:
        """Called once per epoch end; True when the run should restart with the other policy."""
        if epochs_left < 1:
            return False
        company = self.probe()
        if not self.sharing:
            return company
        self.alone = 0 if company else self.alone + 1
        return self.alone >= 2 and epochs_left >= 3

    def restart_environment(self, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The restarted process's environment: the other wait policy, marked as tui-vae's."""
        env = dict(environ)
        if self.sharing:
            env.pop("OMP_WAIT_POLICY", None)
            env[CHOSEN_MARK] = "spin"
        else:
            env["OMP_WAIT_POLICY"] = WAIT_POLICY
            env[CHOSEN_MARK] = "sleep"
        return env
