"""A run's thread count follows its company, and only where that changes no figure."""

from __future__ import annotations

import pytest
import torch

from tui_vae.cpu_share import Company, CompanyWatch, ThreadShare, threads_for


def test_runs_share_the_cores_evenly_and_other_work_leaves_what_it_does_not_use():
    assert threads_for(2, 0, 0) == 2
    assert threads_for(2, 1, 0) == threads_for(2, 2, 0) == 1
    assert threads_for(16, 1, 0) == 8 and threads_for(16, 3, 0) == 4
    assert threads_for(16, 0, 3) == 13 and threads_for(2, 0, 5) == 1
    assert threads_for(16, 1, 3) == 8  # other runs' share decides where there are any


class Machine:
    """A clock, the company it reports, and the thread counts set on it."""

    def __init__(self, readings, same=True):
        self.now = 0.0
        self.readings = list(readings)
        self.read = 0
        self.same = same
        self.probed: list[int] = []
        self.threads: list[int] = []
        self.said: list[tuple[int, int]] = []

    def company(self):
        self.read += 1
        return self.readings.pop(0)

    def probe(self, threads):
        self.probed.append(threads)
        return self.same

    def share(self, full=2, interval=1.0):
        share = ThreadShare(company=self.company, interval=interval, clock=lambda: self.now)
        share.start(full, self.threads.append, self.probe,
                    lambda threads, full: self.said.append((threads, full)))
        return share


def test_fewer_threads_at_the_first_reading_more_only_after_two_in_a_row():
    machine = Machine([(1, 0), (0, 0), (1, 0), (0, 0), (0, 0), (0, 0)])
    share = machine.share()
    currents = []
    for _ in range(6):
        share.tick()
        currents.append(share.current)
        machine.now += 1.0
    # company at once -> 1; alone once (not yet), company again, then alone twice -> 2
    assert currents == [1, 1, 1, 1, 2, 2]
    assert machine.threads == [1, 2] and machine.said == [(1, 2), (2, 2)]
    assert machine.probed == [1]  # each count is checked once, when first wanted
    assert share.changes == 2 and not share.reduced()


def test_the_machine_is_read_once_per_interval_from_the_first_step():
    machine = Machine([(1, 0)] * 3)
    share = machine.share(interval=1.0)
    share.tick()  # the first step reads at once
    assert machine.read == 1 and share.reduced()
    for _ in range(50):  # steps within the same second read nothing
        machine.now += 0.015
        share.tick()
    assert machine.read == 1
    machine.now += 0.5
    share.tick()
    assert machine.read == 2


def test_a_count_that_would_change_the_figures_is_never_taken():
    machine = Machine([(1, 0)] * 5, same=False)
    share = machine.share()
    for _ in range(5):
        share.tick()
        machine.now += 1.0
    assert machine.threads == [] and share.current == 2 and not share.reduced()
    assert machine.probed == [1]  # asked once, remembered


def test_a_probe_that_fails_keeps_the_threads_and_the_run_going():
    machine = Machine([(1, 0)] * 3)
    share = machine.share()

    def failing(threads):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    share.same_results = failing
    for _ in range(3):
        share.tick()
        machine.now += 1.0
    assert machine.threads == [] and share.checked == {2: True, 1: False}


def test_before_the_trainer_starts_it_nothing_is_read():
    machine = Machine([(1, 0)])
    share = ThreadShare(company=machine.company, clock=lambda: machine.now)
    share.tick()
    assert machine.read == 0 and not share.reduced()


def test_a_thread_count_the_user_set_is_left_alone():
    assert ThreadShare.for_this_process({"OMP_NUM_THREADS": "2"}) is None
    assert ThreadShare.for_this_process({"MKL_NUM_THREADS": "1"}) is None
    assert ThreadShare.for_this_process({"OMP_NUM_THREADS": " 4,2"}) is None
    assert isinstance(ThreadShare.for_this_process({}), ThreadShare)
    # Values torch ignores set nothing: the run's threads still follow its company.
    for ignored in ("", " ", "0", "abc", "-2"):
        assert isinstance(ThreadShare.for_this_process({"OMP_NUM_THREADS": ignored}),
                          ThreadShare), ignored


def test_with_sleeping_threads_a_run_does_not_take_more_again():
    """Two sleeping threads are slower than one for the report's model on 2 cores:
    the way back to all threads is the restart with spinning ones."""
    machine = Machine([(1, 0)] + [(0, 0)] * 5)
    share = ThreadShare(company=machine.company, clock=lambda: machine.now, sleeping=True)
    share.start(2, machine.threads.append, machine.probe)
    for _ in range(6):
        share.tick()
        machine.now += 1.0
    assert machine.threads == [1] and share.reduced() and share.alone()
    assert ThreadShare.for_this_process({"OMP_WAIT_POLICY": "passive"}).sleeping


def _watch(sharing, readings, same=True):
    machine = Machine(readings, same=same)
    share = machine.share()
    company_probe = iter([True] * 10)  # the old rule's own reading: company, always
    return CompanyWatch(sharing, probe=lambda: next(company_probe), share=share), share, machine


def test_where_threads_follow_company_no_restart_to_sleeping_threads():
    watch, share, machine = _watch(False, [(1, 0)])
    share.tick()
    assert share.follows() and share.reduced()
    assert not watch.switch_due(5)  # company: fewer threads, no restart


def test_where_threads_follow_company_a_sleeping_run_alone_restarts_spinning_at_once():
    watch, share, machine = _watch(True, [(1, 0), (0, 0), (1, 0)])
    share.tick()  # company: one thread
    machine.now += 1.0
    share.tick()  # alone
    assert share.alone() and share.reduced()
    assert not watch.switch_due(1)  # one epoch left: not worth a restart
    assert watch.switch_due(2)  # the first epoch end alone, not the second
    machine.now += 1.0
    share.tick()  # company again
    assert not watch.switch_due(5)


def test_where_the_probe_refuses_the_wait_policy_adapts_as_before():
    watch, share, machine = _watch(False, [(1, 0)], same=False)
    share.tick()
    assert not share.follows() and not share.reduced()
    assert watch.switch_due(5)  # spinning beside company: restart with sleeping threads


class FixedUse:
    def __init__(self, value):
        self.value = value

    def others_since_last(self):
        return self.value


def _fake_proc(tmp_path, commands):
    """test_cpu_share's fake /proc, each process with a stat file (running, no CPU yet)."""
    from tests.unit.test_cpu_share import _fake_proc as fake_cmdlines
    from tests.unit.test_cpu_share import _process_stat

    proc = fake_cmdlines(tmp_path, commands)
    for pid in commands:
        _process_stat(proc, pid, "R", 0.0)
    return proc


def test_company_is_other_runs_not_a_sweeps_own_process_or_whole_cores_of_other_work(tmp_path):
    from tests.unit.test_cpu_share import _process_stat

    proc = _fake_proc(tmp_path, {
        11: ["/venv/bin/tui-vae", "sweep", "--jobs", "2"],  # starts runs, trains nothing
        12: ["python", "-m", "tui_vae", "train", "--seed", "1"],
        13: ["python", "-m", "tui_vae", "train", "--seed", "2"],
        14: ["bash"]})
    now = [0.0]
    company = Company(proc, FixedUse(0.1), clock=lambda: now[0])
    assert company() == (2, 0)  # runs seen for the first time count
    now[0] += 1.0
    _process_stat(proc, 12, "R", 0.9)  # computed
    _process_stat(proc, 13, "S", 0.1)  # a tenth of a core: on a GPU, or waiting
    assert company() == (1, 0)
    now[0] += 1.0
    _process_stat(proc, 12, "T", 1.0)  # suspended (Ctrl-Z)
    _process_stat(proc, 13, "R", 1.0)
    assert company() == (1, 0)
    quiet = _fake_proc(tmp_path / "quiet", {14: ["bash"]})
    assert Company(quiet, FixedUse(0.2))() == (0, 0)  # noise is not company
    assert Company(quiet, FixedUse(0.6))() == (0, 1)
    assert Company(quiet, FixedUse(2.7))() == (0, 3)
    assert Company(quiet, FixedUse(None))() == (0, 0)  # unknown: alone


# -- the probe, with torch


@pytest.fixture
def report_model_config():
    """The report's network at its own sizes, where the products are big enough to split."""
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig

    return TrainConfig(model=ModelConfig(dataset="mnist-sample"), epochs=2, device="cpu")


def test_the_probe_catches_numbers_that_depend_on_the_thread_count(
        monkeypatch, sample_dataset, report_model_config):
    from tui_vae import thread_probe
    from tui_vae.models import build_model

    if torch.get_num_threads() < 2:
        pytest.skip("one thread only: there is no other count to compare")
    model = build_model(report_model_config.model)
    threads = torch.get_num_threads()
    real = thread_probe.choose_step

    def drifting(model, prefer, update=None):
        step = real(model, prefer, update)

        def call(*args):
            objective, recon, kl = step(*args)
            return objective + 1e-3 * torch.get_num_threads(), recon, kl

        return call

    monkeypatch.setattr(thread_probe, "choose_step", drifting)
    assert not thread_probe.same_on_threads(model, report_model_config, sample_dataset,
                                            torch.device("cpu"), 1)
    assert torch.get_num_threads() == threads  # left as it was
    monkeypatch.setattr(thread_probe, "choose_step", real)
    monkeypatch.setattr(thread_probe, "available_bytes", lambda: 1 << 20)  # no room for copies
    assert not thread_probe.same_on_threads(model, report_model_config, sample_dataset,
                                            torch.device("cpu"), 1)
    monkeypatch.undo()
    before = [p.detach().clone() for p in model.parameters()]
    thread_probe.same_on_threads(model, report_model_config, sample_dataset,
                                 torch.device("cpu"), 1)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # on copies


@pytest.mark.parametrize("step", ["auto", "autograd"])
def test_a_run_whose_threads_follow_its_company_ends_on_the_same_figures(
        sample_dataset, report_model_config, step):
    """Company that comes and goes at every step: where the probe allows fewer
    threads, the run switches back and forth and still ends on the figures and
    weights of a run that never did; where it does not, the run keeps its threads."""
    from dataclasses import replace

    from tui_vae.training import Trainer

    threads = torch.get_num_threads()
    if threads < 2:
        pytest.skip("one thread only: there is no other count to take")
    config = replace(report_model_config, step=step)

    def run(share):
        trainer = Trainer(config, dataset=sample_dataset, share=share)
        trainer.run()
        # Every epoch's train and test figures (the test ones depend on every weight).
        return [{k: v for k, v in record.items() if k != "seconds"}
                for record in trainer.history]

    plain = run(None)
    flicker = iter([(1, 0), (0, 0), (0, 0)] * 100)
    share = ThreadShare(company=lambda: next(flicker), interval=0.0)
    shared = run(share)
    assert torch.get_num_threads() in (threads, 1)
    torch.set_num_threads(threads)
    assert shared == plain
    if share.checked.get(1):
        assert share.changes >= 4  # it did switch, down and up, more than once
    else:
        assert share.changes == 0
