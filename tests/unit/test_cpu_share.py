"""The thread governor gives torch only the cores other busy processes leave."""

from __future__ import annotations

from tui_vae.cpu_share import ThreadGovernor, system_busy_seconds


class Machine:
    """A fake 2-core machine: others use `others` cores, this process `own` cores."""

    def __init__(self):
        self.t = 0.0
        self.busy = self.own_cpu = 0.0
        self.others, self.own = 0.0, 2.0

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.busy += (self.others + self.own) * seconds
        self.own_cpu += self.own * seconds

    def system(self):
        return self.busy, 2 * self.t


def make(machine, calls):
    return ThreadGovernor(2, calls.append, read_system=machine.system,
                          read_own=lambda: machine.own_cpu, clock=lambda: machine.t, cores=2)


def run(governor, machine, seconds):
    for _ in range(int(seconds * 10)):
        machine.advance(0.1)
        machine.own = min(governor.threads, 2 - machine.others)  # what the process can take
        governor.tick()


def test_alone_a_run_keeps_every_core():
    machine, calls = Machine(), []
    governor = make(machine, calls)
    run(governor, machine, 10)
    assert governor.threads == 2 and calls == []


def test_a_competing_process_takes_a_core_and_gives_it_back():
    machine, calls = Machine(), []
    governor = make(machine, calls)
    run(governor, machine, 3)
    machine.others = 1.0  # another run starts
    run(governor, machine, 4)
    assert governor.threads == 1 and calls == [1]
    machine.others = 0.0  # it ends
    run(governor, machine, 6)
    assert governor.threads == 2 and calls == [1, 2]


def test_small_background_load_does_not_flap():
    machine, calls = Machine(), []
    governor = make(machine, calls)
    for load in (0.2, 0.4, 0.3, 0.45, 0.1) * 4:
        machine.others = load
        run(governor, machine, 1)
    assert calls == []


def test_without_proc_stat_it_does_nothing():
    calls = []
    governor = ThreadGovernor(2, calls.append, read_system=lambda: None)
    governor.tick()
    assert governor.threads == 2 and calls == []


def test_the_real_reading_is_sane():
    reading = system_busy_seconds()
    if reading is not None:  # Linux
        busy, total = reading
        assert 0 <= busy <= total
