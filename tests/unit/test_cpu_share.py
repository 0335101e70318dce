"""Runs share the CPU: idle OpenMP threads sleep, and the user's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

from tui_vae.cpu_share import share_cores


def test_idle_threads_sleep_unless_the_user_chose():
    env = {}
    assert share_cores(env) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    for mine in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}):
        env = dict(mine)
        assert not share_cores(env) and env == mine


def test_the_command_line_applies_it_before_torch_loads(tmp_path):
    # Every command, and every process a sweep starts, inherits it from the entry point.
    code = ("import os, sys; sys.argv = ['tui-vae', '--help']\n"
            "from tui_vae.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "PASSIVE"
