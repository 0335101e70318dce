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
