"""Runs that share the CPU: a sweep's parallel runs let idle OpenMP threads sleep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_vae.cpu_share import share_cores
from tui_vae.sweep import Sweep, plan


def test_idle_threads_sleep_unless_the_user_chose():
    env = {}
    assert share_cores(env) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    for mine in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}):
        env = dict(mine)
        assert not share_cores(env) and env == mine


def test_a_sweeps_parallel_runs_sleep_when_idle_and_a_single_one_does_not(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    runs = plan({"beta": [0.0, 1.0]}, [], Path("sw"))
    assert Sweep(runs, 1, jobs=2).child_env()["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in Sweep(runs, 1, jobs=1).child_env()
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert Sweep(runs, 1, jobs=2).child_env()["OMP_WAIT_POLICY"] == "ACTIVE"


def _fake_proc(tmp_path, commands):
    proc = tmp_path / "proc"
    for pid, words in commands.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(w.encode() for w in words) + b"\0")
    (proc / "self").mkdir()  # not a pid: skipped
    return proc


def test_a_process_that_starts_on_a_busy_machine_lets_idle_threads_sleep(tmp_path):
    from tui_vae.cpu_share import adapt_to_load, other_training_processes

    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    quiet.write_text("0.31 0.40 0.52 1/200 999\n")
    busy.write_text("2.70 1.90 1.10 3/200 999\n")
    idle = _fake_proc(tmp_path / "a", {11: ["python", "-m", "tui_vae"],  # the app, idle
                                       12: ["bash"]})
    training = _fake_proc(tmp_path / "b", {21: ["/venv/bin/tui-vae", "train", "--epochs", "3"]})
    assert other_training_processes(idle) == 0 and other_training_processes(training) == 1
    env = {}
    unknown = tmp_path / "no-stat"  # no CPU-use reading: the load average decides
    assert not adapt_to_load(env, cores=2, loadavg=quiet, proc=idle) and env == {}
    assert adapt_to_load(env, cores=2, loadavg=busy, proc=idle, stat=unknown)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "TUI_VAE_THREAD_WAIT": "sleep"}  # tui-vae's
    env = {}
    assert adapt_to_load(env, cores=2, loadavg=quiet, proc=training)
    env = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's choice stands
    assert not adapt_to_load(env, cores=2, loadavg=busy, proc=training, stat=unknown)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not adapt_to_load({}, cores=2, loadavg=tmp_path / "none", proc=tmp_path / "none")


def test_the_command_sets_the_policy_before_torch_loads(tmp_path):
    import subprocess
    import sys

    code = ("import os, sys; import tui_vae.cpu_share as share, tui_vae.cli as c\n"
            "share.adapt_to_load = lambda: os.environ.update(OMP_WAIT_POLICY='CHOSEN')\n"
            "c._open_explorer = lambda: print(os.environ.get('OMP_WAIT_POLICY'),\n"
            "                                 'torch' in sys.modules)\n"
            "c.main()")
    # The bare command (no arguments) opens the explorer, stood in for here.
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=env)
    assert out.stdout.split() == ["CHOSEN", "False"], out.stderr


def test_company_arriving_switches_at_once_and_leaving_only_after_two_quiet_epochs():
    from tui_vae.cpu_share import CompanyWatch

    seen = iter([False, True])
    spinning = CompanyWatch(sharing_now=False, probe=lambda: next(seen))
    assert not spinning.switch_due(epochs_left=5)  # alone: keep spinning
    assert spinning.switch_due(epochs_left=5)  # company: restart with sleeping threads
    assert not CompanyWatch(False, probe=lambda: True).switch_due(epochs_left=0)  # nothing left

    seen = iter([False, True, False, False])
    sleeping = CompanyWatch(sharing_now=True, probe=lambda: next(seen))
    assert [sleeping.switch_due(epochs_left=9) for _ in range(4)] == [False, False, False, True]
    short = CompanyWatch(sharing_now=True, probe=lambda: False)
    assert [short.switch_due(epochs_left=n) for n in (4, 2)] == [False, False]  # too near the end


def test_the_restarted_process_gets_the_other_policy_and_keeps_it():
    from tui_vae.cpu_share import CHOSEN_MARK, CompanyWatch, adapt_to_load

    to_sleep = CompanyWatch(sharing_now=False).restart_environment({"HOME": "/h"})
    assert to_sleep == {"HOME": "/h", "OMP_WAIT_POLICY": "PASSIVE", CHOSEN_MARK: "sleep"}
    to_spin = CompanyWatch(sharing_now=True).restart_environment(to_sleep)
    assert to_spin == {"HOME": "/h", CHOSEN_MARK: "spin"}
    # Restarted to spin, it must not go back to sleeping just because its own
    # threads left the load average high.
    assert not adapt_to_load(to_spin, cores=2, loadavg=Path("/nonexistent"),
                             proc=Path("/nonexistent"))
    assert to_spin == {"HOME": "/h", CHOSEN_MARK: "spin"}


def test_only_a_policy_tui_vae_chose_is_watched(monkeypatch):
    from tui_vae.cpu_share import CHOSEN_MARK, CompanyWatch, user_chose_policy

    assert user_chose_policy({"OMP_WAIT_POLICY": "PASSIVE"})
    assert user_chose_policy({"GOMP_SPINCOUNT": "0", CHOSEN_MARK: "spin"})
    assert not user_chose_policy({"OMP_WAIT_POLICY": "PASSIVE", CHOSEN_MARK: "sleep"})
    assert not user_chose_policy({})
    assert CompanyWatch.for_this_process({"OMP_WAIT_POLICY": "ACTIVE"}) is None
    watch = CompanyWatch.for_this_process({"OMP_WAIT_POLICY": "PASSIVE", CHOSEN_MARK: "sleep"})
    assert watch is not None and watch.sharing


def _train_with_and_without_company(tmp_path, args, company_env, plain_env,
                                    stand_in="import time; time.sleep(300)"):
    """One CLI run beside a stand-in for another run, one alone: their stderr, and
    each one's per-epoch figures (no seconds)."""
    import json
    import os
    import subprocess
    import sys

    from tui_vae.cpu_share import CHOSEN_MARK

    def run_cli(*words, env):
        return subprocess.run([sys.executable, "-m", "tui_vae", *words], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)

    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", CHOSEN_MARK, "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS")}
    # A stand-in for another run: its command line names tui_vae and train.
    other = subprocess.Popen([sys.executable, "-c", stand_in, "tui_vae", "train"])
    try:
        watched = run_cli(*args, "--out", str(tmp_path / "a.safetensors"),
                          env={**base, **company_env})
    finally:
        other.kill()
        other.wait()
    plain = run_cli(*args, "--out", str(tmp_path / "b.safetensors"), env={**base, **plain_env})
    assert watched.returncode == 0 and plain.returncode == 0, watched.stderr + plain.stderr

    def figures(name):
        lines = (tmp_path / name).read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    return watched, plain, figures("a.metrics.jsonl"), figures("b.metrics.jsonl")


def test_a_run_that_gets_company_restarts_sleeping_and_ends_on_the_same_figures(tmp_path):
    """A CLI run spinning alone, on a thread count the user fixed (so its threads
    cannot follow its company), sees another `tui-vae train` at its first epoch
    end, restarts itself from its checkpoint with sleeping threads, and its
    metrics are exactly those of a run never restarted."""
    from tui_vae.cpu_share import CHOSEN_MARK

    args = ["train", "--dataset", "mnist-sample", "--latent-dim", "4", "--hidden", "32",
            "--epochs", "3", "--batch-size", "64"]
    fixed = {"OMP_NUM_THREADS": "2"}
    # Marked as spinning by tui-vae's own choice, so it does not adapt at start.
    watched, plain, restarted, never = _train_with_and_without_company(
        tmp_path, args, {**fixed, CHOSEN_MARK: "spin"}, {**fixed, "OMP_WAIT_POLICY": "PASSIVE"})
    restarts = [line for line in watched.stderr.splitlines()
                if "restarting from a.safetensors" in line]
    assert len(restarts) == 1 and "threads that sleep when idle" in restarts[0], watched.stderr
    assert "resuming at epoch 2" in watched.stderr + watched.stdout
    assert "restarting" not in plain.stderr
    assert len(restarted) == 3 and restarted == never


def test_a_run_with_company_trains_on_fewer_threads_without_a_restart(tmp_path):
    """The report's network beside another run: it drops to one thread at its
    first step (where the probe allows it, as on this machine), never restarts,
    and ends on exactly the figures of a run alone."""
    import os

    from tui_vae.cpu_share import CHOSEN_MARK

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a run has no threads to give up")
    args = ["train", "--dataset", "mnist-sample", "--epochs", "2"]
    # The stand-in computes (a run that only sleeps stops counting after a reading).
    watched, plain, shared, alone = _train_with_and_without_company(
        tmp_path, args, {CHOSEN_MARK: "spin"}, {CHOSEN_MARK: "spin"},
        stand_in="import time\nend = time.time() + 300\nwhile time.time() < end: pass")
    assert "other work shares the cores: training on 1 of" in watched.stdout, watched.stdout
    assert "restarting" not in watched.stderr
    assert len(shared) == 2 and shared == alone


def test_company_while_training_is_another_run_or_a_whole_core_of_other_load(tmp_path):
    from tui_vae.cpu_share import has_company

    alone = _fake_proc(tmp_path / "a", {11: ["python", "-m", "tui_vae"], 12: ["bash"]})
    other = _fake_proc(tmp_path / "b", {21: ["/venv/bin/tui-vae", "sweep", "--jobs", "2"]})
    own, busy = tmp_path / "own", tmp_path / "busy"
    own.write_text("2.60 2.10 1.50 3/200 999\n")  # this run's two threads and some noise
    busy.write_text("3.10 2.50 1.50 4/200 999\n")  # and a whole other core's worth
    assert not has_company(cores=2, loadavg=own, proc=alone)
    assert has_company(cores=2, loadavg=busy, proc=alone)
    assert has_company(cores=2, loadavg=own, proc=other)
    assert not has_company(cores=2, loadavg=tmp_path / "none", proc=tmp_path / "none")


def _stat(path, busy_ticks: int, idle_ticks: int) -> None:
    """A /proc/stat first line: user nice system idle iowait irq softirq steal."""
    path.write_text(f"cpu  {busy_ticks} 0 0 {idle_ticks} 0 0 0 0 0 0\ncpu0 0 0 0 0\n")


def test_cpu_use_counts_other_processes_cores_and_leaves_out_its_own(tmp_path):
    import os

    from tui_vae.cpu_share import CpuUse

    hz = os.sysconf("SC_CLK_TCK")
    stat, now = tmp_path / "stat", [100.0]
    _stat(stat, 0, 0)
    use = CpuUse(stat, clock=lambda: now[0], proc=tmp_path / "no-proc")  # no parent to read
    _stat(stat, int(1.5 * 2 * hz), int(0.5 * 2 * hz))  # 2 s: 1.5 cores busy of 2
    now[0] += 2.0
    assert abs(use.others_since_last() - 1.5) < 0.05
    busy_before = 1.5 * 2 * hz
    spent = sum(os.times()[:2])
    while sum(os.times()[:2]) - spent < 0.3:  # this process's own CPU time: not others'
        pass
    own = sum(os.times()[:2]) - spent
    _stat(stat, int(busy_before + own * hz), 0)
    now[0] += 1.0
    assert use.others_since_last() < 0.05
    assert CpuUse(tmp_path / "none").others_since_last() is None


def _process_stat(proc, pid, state, cpu_seconds):
    """/proc/PID/stat as the kernel writes it: utime and stime are fields 14 and 15."""
    import os

    ticks = int(cpu_seconds * os.sysconf("SC_CLK_TCK"))
    fields = [str(pid), "(tui vae) x)", state, "1"] + ["0"] * 9 + [str(ticks), "0"] + ["0"] * 37
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text(" ".join(fields) + "\n")


def test_the_runs_parent_is_not_company(tmp_path):
    """The app drawing its child run's events (or a sweep starting its runs) is the
    run's own work: its CPU time is left out with the run's."""
    import os

    from tui_vae.cpu_share import CpuUse

    hz = os.sysconf("SC_CLK_TCK")
    stat, proc, now = tmp_path / "stat", tmp_path / "proc", [100.0]
    _stat(stat, 0, 0)
    _process_stat(proc, os.getppid(), "S", 10.0)
    use = CpuUse(stat, clock=lambda: now[0], proc=proc)
    spent = sum(os.times()[:2])
    _process_stat(proc, os.getppid(), "S", 10.8)  # the parent used 0.8 s of the 2 s
    _stat(stat, int((0.8 + 0.4) * hz), 0)  # 0.4 s of some other process's
    now[0] += 2.0
    own = sum(os.times()[:2]) - spent
    assert abs(use.others_since_last() - (0.4 - own) / 2) < 0.05


def test_a_load_average_left_high_by_work_that_ended_is_not_company(tmp_path):
    from tui_vae.cpu_share import CpuUse, has_company, machine_is_busy

    alone = _fake_proc(tmp_path / "a", {11: ["bash"]})
    busy = tmp_path / "busy"
    busy.write_text("2.70 1.90 1.10 1/200 999\n")  # the minute before was busy
    idle = tmp_path / "stat"
    _stat(idle, 5000, 5000)  # and no tick is spent while sampled: the machine is idle now
    assert not machine_is_busy(cores=2, loadavg=busy, proc=alone, stat=idle)
    assert machine_is_busy(cores=2, loadavg=busy, proc=alone, stat=tmp_path / "none")

    # During a run: its own threads and the past minute in the load average, but
    # nobody else used the CPU over the last epoch.
    high = tmp_path / "high"
    high.write_text("3.40 2.90 1.50 3/200 999\n")
    now = [0.0]
    use = CpuUse(idle, clock=lambda: now[0])
    now[0] += 2.0
    assert not has_company(cores=2, loadavg=high, proc=alone, use=use)
    _stat(idle, 5000 + 2 * __import__("os").sysconf("SC_CLK_TCK"), 5000)  # a core for 2 s
    now[0] += 2.0
    assert has_company(cores=2, loadavg=high, proc=alone, use=use)
