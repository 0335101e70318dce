"""Sharing the CPU between runs: fewer threads with company, and threads that sleep.

torch runs its kernels on an OpenMP team of one thread per core. When several
runs share the cores, each team's threads wait for cores the others hold, and
all runs slow far more than in proportion (README, Performance), for two
reasons, each with its remedy here:

- A parallel kernel is as slow as its slowest thread: a thread that has lost
  its core stalls its team until the scheduler gives it one back. So while a
  `tui-vae train` runs on the CPU, its thread count follows its company
  (`ThreadShare`): all its threads alone, a fair share beside other runs (one
  each on 2 cores), what other busy processes leave free. Read about once a
  second, changed between two steps; no restart. A count is only taken where
  a probe shows that the run computes exactly the same numbers on it
  (thread_probe.py), so a run's figures never depend on its company, and an
  interrupted and resumed run still ends on exactly the metrics of an
  uninterrupted one.
- By default (libgomp, which torch and its MKL use) a team thread that
  finishes a kernel spins for a while waiting for the next one, on a core
  another run needs. With OMP_WAIT_POLICY=PASSIVE idle threads sleep at
  once, so a run takes only the CPU it computes with; alone, though, a run
  then pays a wake-up at every kernel, and the report's model's step (many
  short kernels) slows by about 1.7x. So the setting is used where runs are
  known to share the machine: the processes of `tui-vae sweep --jobs K` with
  K > 1, and any `tui-vae` process that starts on a machine already busy
  (`adapt_to_load`: another `tui-vae train` or `sweep` running, or the load
  average at the core count while other processes use half the cores at
  that moment). A run that starts alone keeps the default. libgomp cannot
  change the setting once loaded, so a `tui-vae train` whose company changes
  for good changes it the only way there is: at the end of an epoch it saves
  its checkpoint and restarts itself from it with the other setting
  (`CompanyWatch`; the CLI does the restart). A resumed run ends on exactly
  the metrics of an uninterrupted one, so the restart changes no figure. A
  run that already trains on fewer threads for its company needs no restart
  to sleeping threads: it has none to spare.

libgomp reads the setting when it loads, so it goes into a child process's
environment; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as it is,
and so is a thread count the user set (OMP_NUM_THREADS, MKL_NUM_THREADS).
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


def training_processes(proc: Path = Path("/proc"),
                       commands: tuple[bytes, ...] = (b"train", b"sweep")) -> set[int]:
    """The other processes that run `tui-vae train` or `tui-vae sweep` (none where /proc is not).

    `commands` narrows it: (b"train",) leaves out a sweep's own process, which
    only starts its runs (each a `tui-vae train` of its own)."""
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
        if named and any(command in words for command in commands):
            found.add(int(entry.name))
    return found


def other_training_processes(proc: Path = Path("/proc")) -> int:
    """How many other processes run `tui-vae train` or `tui-vae sweep`."""
    return len(training_processes(proc))


def process_seconds(pid: int, proc: Path = Path("/proc")) -> tuple[str, float] | None:
    """A process's state letter and the CPU seconds it has used (None: gone or unreadable)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
        # pid (comm) state ppid ... utime stime: comm may hold spaces and brackets.
        fields = text[text.rindex(")") + 2:].split()
        return fields[0], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuUse:
    """How many cores' worth of CPU other processes used since the last reading.

    The machine's busy time (/proc/stat) less this process's own CPU time and
    its parent's, over the wall time between two readings. The parent is left
    out because it is the run's own: the app reading its child run's events
    and drawing them, a sweep starting its runs, a shell. The load average
    alone misleads both ways: it decays over a minute, so it still reads busy
    for a while after other work has ended, and it counts this run's own
    threads."""

    def __init__(self, stat: Path = Path("/proc/stat"), clock=time.monotonic,
                 proc: Path = Path("/proc")):
        self.stat = stat
        self.clock = clock
        self.proc = proc
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
        parent = process_seconds(os.getppid(), self.proc)
        return self.clock(), busy, own.user + own.system + (parent[1] if parent else 0.0)

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

    def __init__(self, sharing_now: bool, probe: Callable[[], bool] | None = None,
                 share: ThreadShare | None = None):
        self.sharing = sharing_now
        self.share = share
        if probe is None:  # other processes' CPU use measured from one epoch end to the next
            use = CpuUse()
            probe = lambda: has_company(use=use)  # noqa: E731
        self.probe = probe
        self.alone = 0  # epoch ends in a row without company

    @classmethod
    def for_this_process(cls, environ: Mapping[str, str] = os.environ,
                         share: ThreadShare | None = None) -> CompanyWatch | None:
        """None where the user chose the policy or /proc is not there to watch."""
        if user_chose_policy(environ) or not Path("/proc/loadavg").exists():
            return None
        return cls(sharing(environ), share=share)

    def switch_due(self, epochs_left: int) -> bool:
        """Called once per epoch end; True when the run should restart with the other policy.

        Where the run's threads follow its company (`share`), company is
        theirs to handle: none of its threads spins on a core another needs,
        so a restart to sleeping threads would only cost its start-up. Then
        the one restart left is back to spinning threads, at the first epoch
        end alone with two epochs or more to go: company that comes back is
        met with fewer threads again, never with another restart."""
        if epochs_left < 1:
            return False
        if self.share is not None and self.share.follows():
            return self.sharing and self.share.alone() and epochs_left >= 2
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


class Company:
    """How much other work competes for the cores, read between training steps.

    Other `tui-vae train` runs are counted (each gets a fair share), but only
    those that compute: a run suspended (Ctrl-Z), or one that used under a
    quarter of a core since the last reading (one training on a GPU, say),
    leaves the cores to the others. A run seen for the first time counts
    until a reading says otherwise. Without other runs, other processes' CPU
    use since the last reading, in whole cores, is the share to leave free. A
    sweep's own process trains nothing, so it does not count; its runs do."""

    def __init__(self, proc: Path = Path("/proc"), use: CpuUse | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.proc = proc
        self.use = use or CpuUse(proc=proc)
        self.clock = clock
        self.seen: dict[int, tuple[float, float]] = {}  # pid -> (when, CPU seconds then)

    def _computing_runs(self) -> int:
        now, count, seen = self.clock(), 0, {}
        for pid in training_processes(self.proc, commands=(b"train",)):
            reading = process_seconds(pid, self.proc)
            if reading is None or reading[0] in "TtZXx":  # gone, stopped or dead
                continue
            seen[pid] = (now, reading[1])
            before = self.seen.get(pid)
            if before is None or now <= before[0]:
                count += 1
            elif (reading[1] - before[1]) / (now - before[0]) >= 0.25:
                count += 1
        self.seen = seen
        return count

    def __call__(self) -> tuple[int, int]:
        """(other runs, cores' worth of other work): either may be 0."""
        others = self.use.others_since_last()  # read every time, so each reading spans one interval
        runs = self._computing_runs()
        busy = 0 if others is None or others < 0.5 else max(1, round(others))
        return runs, busy


def _thread_count_set(value: str) -> bool:
    """Whether an OMP_NUM_THREADS-style value sets a count (torch ignores one that does not)."""
    first = value.split(",", 1)[0].strip()
    return first.isdigit() and int(first) > 0


def threads_for(full: int, runs: int, busy: int) -> int:
    """The threads a run takes with `runs` other runs or `busy` cores of other work.

    Runs share the cores evenly; other work leaves the run what it does not use."""
    if runs:
        return max(1, full // (1 + runs))
    return max(1, full - busy)


class ThreadShare:
    """While a run trains on the CPU, its thread count follows its company.

    Alone, a run computes on all its threads (`full`). When other runs or
    other busy processes compete for the cores, it takes fewer (one, on a
    2-core machine), so no thread of it waits for a core another process
    holds: a parallel kernel is as slow as its slowest thread, and a thread
    that loses its core stalls the whole team. Fewer threads are taken at the
    first reading that wants them, more only after two readings in a row, so
    company that flickers does not make the count swing.

    A thread count is only ever taken where `same_results(threads)` says that
    training and evaluating on it compute exactly the same numbers as on
    `full` (checked once per count, when first wanted; thread_probe.py): then
    a run's figures do not depend on the company it had, and a stopped and
    resumed run still ends on an uninterrupted one's. Where the check fails,
    the run keeps its threads (and cpu_share.CompanyWatch's wait policy is what
    adapts).

    Where idle threads sleep (OMP_WAIT_POLICY=PASSIVE: the run started on a
    busy machine), a run that has dropped to fewer threads does not take more
    again: every kernel would wake them, and on 2 cores the report's model
    trains slower on two sleeping threads than on one. Its way back to all
    its threads is CompanyWatch's restart with spinning threads.

    `tick()` is called before every step and reads the machine once per
    `interval` seconds (about a millisecond: a scan of /proc)."""

    def __init__(self, company: Callable[[], tuple[int, int]] | None = None,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleeping: bool = False):
        self.company = company or Company()
        self.interval = interval
        self.clock = clock
        self.sleeping = sleeping
        self.wanted = 0  # the count the last reading called for
        self.on_change: Callable[[int, int], None] = lambda threads, full: None
        self.full = self.current = 0  # set by start()
        self.set_threads: Callable[[int], None] = lambda threads: None
        self.same_results: Callable[[int], bool] = lambda threads: False
        self.checked: dict[int, bool] = {}
        self.next_reading = 0.0
        self.wanting_more = 0
        self.changes = 0

    @classmethod
    def for_this_process(cls, environ: Mapping[str, str] = os.environ) -> ThreadShare | None:
        """None where the user fixed the thread count, or /proc is not there to read."""
        if any(_thread_count_set(environ.get(name, ""))
               for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
            return None
        if not Path("/proc/stat").exists():
            return None
        return cls(sleeping=sharing(environ))

    def start(self, threads: int, set_threads: Callable[[int], None],
              same_results: Callable[[int], bool],
              on_change: Callable[[int, int], None] | None = None) -> None:
        """Called by the trainer once the run is set up, with its thread count, its
        probe, and what to tell of a change (threads now, threads alone)."""
        self.full = self.current = threads
        self.set_threads = set_threads
        self.same_results = same_results
        if on_change is not None:
            self.on_change = on_change
        self.checked = {threads: True}
        self.wanted = threads
        self.next_reading = self.clock()  # the first step reads the machine at once

    def reduced(self) -> bool:
        """Whether the run now computes on fewer threads than alone."""
        return self.current < self.full

    def follows(self) -> bool:
        """Whether the run can take fewer threads for its company (a count below its
        own was checked and gives the same numbers)."""
        return any(ok and threads < self.full for threads, ok in self.checked.items())

    def alone(self) -> bool:
        """Whether the last reading found no company (all threads called for)."""
        return self.full > 0 and self.wanted >= self.full

    def _check(self, threads: int) -> bool:
        """The probe's answer; a probe that fails (no memory for its copies, a model
        that cannot be copied) answers no: fewer threads are an optimisation, and
        the run must go on whatever happens to it."""
        try:
            return bool(self.same_results(threads))
        except Exception:  # noqa: BLE001 (any failure: keep the threads)
            return False

    def tick(self) -> None:
        """Before a step: once per interval, take the thread count the company calls for."""
        now = self.clock()
        if self.full == 0 or now < self.next_reading:
            return
        self.next_reading = now + self.interval
        target = self.wanted = threads_for(self.full, *self.company())
        if target == self.current:
            self.wanting_more = 0
            return
        if target > self.current:
            if self.sleeping:  # more sleeping threads would be slower (see above)
                return
            self.wanting_more += 1
            if self.wanting_more < 2:
                return
        self.wanting_more = 0
        if target not in self.checked:
            self.checked[target] = self._check(target)
        if not self.checked[target]:
            return
        self.set_threads(target)
        self.current = target
        self.changes += 1
        self.on_change(target, self.full)
