"""Runs that share the CPU: a sweep's parallel runs let idle OpenMP threads sleep."""

from __future__ import annotations

from pathlib import Path

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
    assert not adapt_to_load(env, cores=2, loadavg=quiet, proc=idle) and env == {}
    assert adapt_to_load(env, cores=2, loadavg=busy, proc=idle)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {}
    assert adapt_to_load(env, cores=2, loadavg=quiet, proc=training)
    env = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's choice stands
    assert not adapt_to_load(env, cores=2, loadavg=busy, proc=training)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not adapt_to_load({}, cores=2, loadavg=tmp_path / "none", proc=tmp_path / "none")


def test_the_command_sets_the_policy_before_torch_loads(tmp_path):
    import subprocess
    import sys

    code = ("import os, sys; import tui_vae.cpu_share as share, tui_vae.cli as c\n"
            "share.adapt_to_load = lambda: os.environ.update(OMP_WAIT_POLICY='CHOSEN')\n"
            "c.app = lambda: print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)\n"
            "c.main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={k: v for k, v in __import__("os").environ.items()
                                            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")})
    assert out.stdout.split() == ["CHOSEN", "False"], out.stderr
