"""`tui-vae sweep`: the product of the lists, K at a time, stop and resume, dry run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import run_cli
from tui_vae.checkpoints import read_info

TINY = ["--dataset", "mnist-sample", "--hidden-dim", "16"]


def test_dry_run_prints_one_plain_train_command_per_combination(tmp_path):
    result = run_cli("sweep", "--beta", "0,0.5,1", "--latent-dim", "2,20", "--seed", "0,1",
                     "--out-dir", "sw", "--epochs", "3", "--model", "cvae", "--dry-run",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 12 and len(set(lines)) == 12
    assert all(line.startswith("tui-vae train ") and "--model cvae" in line
               and "--epochs 3" in line for line in lines)
    assert "tui-vae train --beta 0.5 --latent-dim 20 --seed 1 --model cvae --epochs 3 " \
           "--out sw/beta0.5-latent20-seed1.safetensors" in lines
    # the folder they write into is there for them (`... --dry-run | parallel` failed
    # on every line), and nothing else
    assert (tmp_path / "sw").is_dir() and not list((tmp_path / "sw").iterdir())


def test_bad_values_and_unknown_options_exit_2_before_anything_runs(tmp_path):
    for args in (["--beta", "0,-1"], ["--beta", "0,x"], ["--beta", "1,1"], ["--bogus", "3"],
                 ["--latent-dim", "0"], ["--beta", "0,,1"], ["--seed", "0,1,"],
                 ["--beta", "1_0"],  # Python's 10; in a list, likelier a slip for 1,0
                 ["--beta", "0,1", "--out", "x.safetensors"],  # each run's own
                 ["--beta", "0,1", "--events-json"]):
        result = run_cli("sweep", *args, "--out-dir", "sw", cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        # Told against the command typed, never train's usage or train's option names.
        assert "sweep --help" in result.stderr and "train --help" not in result.stderr
        assert "Possible options" not in result.stderr
    assert not (tmp_path / "sw").exists()


def test_values_that_would_name_one_run_twice_are_refused_before_any_run(tmp_path):
    # 1 and 1.0000000001 both became `--beta 1 --out sw/beta1...`: two jobs trained
    # into one file and the sweep said "2 runs".
    for dry in ([], ["--dry-run"]):
        result = run_cli("sweep", "--beta", "1,1.0000000001", *TINY, "--epochs", "1",
                         "--out-dir", "sw", *dry, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "two runs of the sweep would both be beta1" in lines[0]
        assert result.stdout == "" and not (tmp_path / "sw").exists()



def test_a_run_too_large_for_memory_is_refused_before_any_run_starts(tmp_path):
    # Its flags parse; only the built model's size says it cannot be trained. The
    # first run used to train to its end before the second failed.
    for dry in ([], ["--dry-run"]):
        result = run_cli("sweep", "--latent-dim", f"2,{10**8}", *TINY, "--epochs", "1",
                         "--out-dir", "sw", *dry, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: run latent100000000")
        assert result.stdout == "" and not (tmp_path / "sw").exists()


def test_a_sweep_trains_every_run_and_resume_finishes_only_what_is_unfinished(tmp_path):
    args = ["sweep", "--beta", "0,1", "--latent-dim", "2,3", "--epochs", "1", "--jobs", "2",
            "--out-dir", "sw", *TINY]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # and what next: "sweep done: 4 runs in sw" said nothing more
    assert "sweep done: 4 runs in sw; compare them with tui-vae models sw" in result.stderr
    infos = {p.stem: read_info(p) for p in (tmp_path / "sw").glob("*.safetensors")}
    assert sorted(infos) == ["beta0-latent2-hidden16", "beta0-latent3-hidden16",
                             "beta1-latent2-hidden16", "beta1-latent3-hidden16"]
    assert infos["beta0-latent3-hidden16"].model_config["beta"] == 0
    assert infos["beta1-latent3-hidden16"].model_config["latent_dim"] == 3
    assert all(info.epochs_done == 1 for info in infos.values())
    again = run_cli(*args, cwd=tmp_path)  # nothing is overwritten without --resume
    assert again.returncode == 1 and "--resume" in again.stderr
    more = run_cli(*[a if a != "1" else "2" for a in args], "--resume", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert all(read_info(p).epochs_done == 2 for p in (tmp_path / "sw").glob("*.safetensors"))
    done = run_cli(*[a if a != "1" else "2" for a in args], "--resume", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr.count("done already") == 4


def test_ctrl_c_stops_every_run_with_its_state_saved(tmp_path):
    args = [sys.executable, "-m", "tui_vae", "sweep", "--beta", "0,1", "--epochs", "2000",
            "--jobs", "2", "--out-dir", "sw", *TINY]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "120"})
    names = ("beta0-hidden16", "beta1-hidden16")
    deadline = time.monotonic() + 120
    while not all((tmp_path / "sw" / f"{n}.metrics.jsonl").exists()
                  and (tmp_path / "sw" / f"{n}.metrics.jsonl").read_text() for n in names):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    done = []
    for name in names:
        info = read_info(tmp_path / "sw" / f"{name}.safetensors")
        assert 1 <= info.epochs_done < 2000  # saved mid-run, exact state kept
        done.append(info.epochs_done)
    # The same sweep with --resume (to one epoch past the furthest run) finishes both.
    target = str(max(done) + 1)
    resumed = run_cli(*args[3:], "--resume", "--epochs", target, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert all(read_info(tmp_path / "sw" / f"{n}.safetensors").epochs_done == int(target)
               for n in names)


def test_a_planted_link_at_a_runs_log_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "beta0-hidden16.log").symlink_to(target)
    result = run_cli("sweep", "--beta", "0", "--epochs", "1", "--out-dir", "sw", *TINY,
                     cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "beta0-hidden16.log" in result.stderr
    assert target.read_text() == "keep me"


def test_a_sweep_too_large_is_refused_before_any_run_is_built(tmp_path):
    # A usage error (its lists as given), status 2 as a bad value in one list: it
    # was refused with 1, as if a run had failed.
    many = ",".join(str(k) for k in range(200))
    result = run_cli("sweep", "--seed", many, "--latent-dim", many, "--out-dir", "sw",
                     "--dry-run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: the sweep has 40,000 runs; at most 1000 are allowed\n"
    assert result.stdout == "" and not (tmp_path / "sw").exists()


def test_an_out_dir_the_file_system_refuses_is_one_worded_line(tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    result = run_cli("sweep", "--dataset", "mnist-sample", "--epochs", "1", "--beta", "0,1",
                     "--out-dir", "afile/sw", cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line == "error: afile/sw: Not a directory", line


def test_resume_refuses_a_setting_changed_since_the_runs_were_saved(tmp_path):
    """Runs saved as MLPs are not 'done already' when --arch conv is asked for now."""
    args = ["sweep", "--beta", "0,1", "--epochs", "1", "--out-dir", "sw", *TINY]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "sw").glob("*.safetensors")}
    for epochs in ("1", "2"):  # the runs done, and with more epochs to go
        changed = run_cli(*[a if a != "1" else epochs for a in args], "--resume",
                          "--arch", "conv", cwd=tmp_path)
        assert changed.returncode == 2, changed.stderr
        assert "--arch conv differs from the checkpoint's mlp" in changed.stderr
        assert "done already" not in changed.stderr and "Traceback" not in changed.stderr
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "sw").glob("*.safetensors")} == before


def test_a_failed_runs_reason_is_the_last_line_of_its_log(tmp_path):
    from tui_vae.sweep import last_line

    log = tmp_path / "run.log"
    log.write_bytes(b"x" * 10000 + b"\nepoch 1 ...\nerror: the loss became nan\n\n")
    assert last_line(log) == "the loss became nan"
    log.write_bytes(b"\x1b[31mred\x1b]0;title\x07\n")
    assert "\x1b" not in last_line(log)
    assert last_line(tmp_path / "missing.log") == ""


def test_a_run_that_trained_to_its_end_as_the_stop_came_is_finished(tmp_path, monkeypatch):
    """The stop and a run's end cross: the run (its checkpoint done) is finished, not
    "stopped, state saved" and counted as unfinished."""
    import threading

    from tui_vae.sweep import Sweep, plan

    runs = plan({"beta": [1.0]}, [*TINY, "--latent-dim", "2", "--epochs", "1",
                                  "--device", "cpu"], tmp_path / "sw")
    (tmp_path / "sw").mkdir()
    said: list[str] = []
    stop = threading.Event()

    def report(line: str) -> None:
        said.append(line)
        stop.set()  # at the run's start: the stop is there when it ends

    # The signal misses the run (it ended first): the run trains to its end.
    monkeypatch.setattr(subprocess.Popen, "send_signal", lambda self, sig: None)
    monkeypatch.chdir(tmp_path)
    left = Sweep(runs, epochs=1, report=report, stop=stop).run()
    assert left == 0 and said[-1] == f"{runs[0].name}: finished", said
    assert read_info(runs[0].out).epochs_done == 1


def test_the_readmes_name_for_a_sweeps_run_is_the_name_it_gets():
    """The README named a run `beta/b0.5-z2`, a name no sweep makes."""
    import re
    from pathlib import Path

    from tui_vae.sweep import plan

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    said = re.search(r"named `beta/([^`]+)`", readme).group(1)
    names = [run.name for run in plan({"beta": [0.5], "latent_dim": [2]}, [], Path("beta"))]
    assert names == [said]


def test_each_run_trains_on_the_exact_value_given_though_its_name_rounds_it():
    """--lr 0.0012345678 trained as 0.00123457 (the name's six digits)."""
    from pathlib import Path

    from tui_vae.sweep import plan

    runs = plan({"lr": [0.0012345678, 0.003], "beta": [1.0]}, [], Path("sw"))
    assert [run.name for run in runs] == ["beta1-lr0.00123457", "beta1-lr0.003"]
    assert [run.args[:4] for run in runs] == [("--beta", "1", "--lr", "0.0012345678"),
                                              ("--beta", "1", "--lr", "0.003")]


def test_a_sweep_whose_output_goes_away_stops_its_runs_with_their_state_saved(tmp_path):
    """`tui-vae sweep ... 2>&1 | head` ended the sweep at once (Rich's exit on a closed
    pipe) and left its runs training, unseen. Now the sweep notices the reader gone,
    even between lines, stops every run (each saves) and exits 1."""
    args = [sys.executable, "-m", "tui_vae", "sweep", "--beta", "0,1", "--epochs", "2000",
            "--jobs", "2", "--out-dir", "sw", *TINY]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    names = ("beta0-hidden16", "beta1-hidden16")
    deadline = time.monotonic() + 120
    while not all((tmp_path / "sw" / f"{n}.safetensors").exists() for n in names):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.stderr.close()  # the reader goes; no line is due until a run ends
    assert proc.wait(timeout=60) == 1
    for name in names:  # stopped, not finished, its state saved
        assert 1 <= read_info(tmp_path / "sw" / f"{name}.safetensors").epochs_done < 2000


def test_a_sweep_killed_outright_leaves_no_run_training(tmp_path):
    """kill -9 on the sweep left its runs training on their own, children of init,
    holding their locks (a `--resume` was then refused). Each run's stdin is the
    sweep's pipe: its end stops the run, which saves its state."""
    args = [sys.executable, "-m", "tui_vae", "sweep", "--beta", "0,1", "--epochs", "2000",
            "--jobs", "2", "--out-dir", "sw", *TINY]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.DEVNULL)
    names = ("beta0-hidden16", "beta1-hidden16")
    deadline = time.monotonic() + 120
    while not all((tmp_path / "sw" / f"{n}.safetensors").exists() for n in names):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=10)
    logs = [tmp_path / "sw" / f"{n}.log" for n in names]

    def left() -> list[str]:  # processes still training into this sweep's folder
        found = subprocess.run(["pgrep", "-f", str(tmp_path / "sw")], capture_output=True,
                               text=True)
        return found.stdout.split()

    try:
        deadline = time.monotonic() + 60
        while left() or not all("stopped" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text()[-300:] for log in logs]
            time.sleep(0.2)
    finally:  # never leave orphans behind a failing test
        subprocess.run(["pkill", "-KILL", "-f", str(tmp_path / "sw")], check=False)
    for name in names:  # stopped, not finished, its state saved
        assert 1 <= read_info(tmp_path / "sw" / f"{name}.safetensors").epochs_done < 2000


def test_a_run_stopped_while_it_starts_says_so_in_its_log(tmp_path):
    """Stopped before its own handlers were in place, a run wrote nothing: its log
    was empty and nothing said why."""
    args = [sys.executable, "-m", "tui_vae", "sweep", "--beta", "0", "--epochs", "2000",
            "--out-dir", "sw", *TINY]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while "started" not in proc.stderr.readline():
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)  # at once: the run is still importing torch
    proc.communicate(timeout=60)
    log = (tmp_path / "sw" / "beta0-hidden16.log").read_text()
    assert log.strip(), "the log says nothing"  # the run's own words, or the sweep's:
    # (the run's own, since it notes a signal while it imports: "interrupted; nothing
    # was saved"; the sweep's where the run said nothing)
    assert "stopped" in log or "interrupted; nothing was saved" in log, log
    assert not (tmp_path / "sw" / "beta0-hidden16.safetensors").exists()


def test_a_dry_run_prints_what_the_sweep_would_run_now(tmp_path):
    """With --resume it listed every run, finished ones too, and none with --resume:
    its lines failed on the runs already saved."""
    import shlex

    args = ["sweep", "--beta", "0,1,2", "--epochs", "2", "--out-dir", "sw", *TINY,
            "--latent-dim", "2", "--batch-size", "500"]
    plan = run_cli(*args, "--dry-run", cwd=tmp_path).stdout.splitlines()
    assert len(plan) == 3
    for line, epochs in zip(plan[:2], ("2", "1")):  # beta 0 finished, beta 1 half-way
        words = shlex.split(line)[2:]
        words[words.index("--epochs") + 1] = epochs
        assert run_cli("train", *words, cwd=tmp_path).returncode == 0
    again = run_cli(*args, "--dry-run", "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [plan[1] + " --resume", plan[2]]
    assert "beta0-" in again.stderr and "done already" in again.stderr
    refused = run_cli(*args, "--dry-run", cwd=tmp_path)  # as the sweep itself would be
    assert refused.returncode != 0 and "pass --resume" in refused.stderr


def test_a_dry_run_never_prints_a_command_for_another_folder(tmp_path):
    # --out-dir 'd<ESC>X' printed --out 'd\x1bX/...' (escaped for the terminal), which in
    # the shell names another folder; a newline split a run over two lines.
    for name in ("d\x1bX", "d\nX"):
        result = run_cli("sweep", "--beta", "1", "--out-dir", name, "--dry-run", *TINY,
                         cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == "", result
        assert "holds a control character" in result.stderr.splitlines()[-1]
        assert "\x1b" not in result.stderr  # said escaped, never acted on
    assert list(tmp_path.iterdir()) == []  # no folder made for commands never printed


def test_a_dry_run_whose_reader_leaves_ends_quietly_with_exit_0(tmp_path):
    # `sweep ... --dry-run | head -1` exited 1 with nothing said (Click's way with
    # a closed pipe), where `models | head -1` exits 0.
    betas = ",".join(str(k) for k in range(1, 301))
    proc = subprocess.Popen([sys.executable, "-m", "tui_vae", "sweep", "--beta", betas,
                             "--latent-dim", "1,2,3", *TINY,  # 900 lines: over a pipe's 64 KiB
                             "--out-dir", "sw", "--dry-run"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes, as head does after its line
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and stderr == b"", stderr
    assert first.startswith(b"tui-vae train --beta 1 --latent-dim 1 ")


def test_a_list_in_other_digits_is_refused_as_the_other_flags_refuse_them():
    # `--beta ١` ran beta 1 where `--epochs ١` is refused.
    import pytest

    from tui_vae.sweep import parse_values

    for text in ("١", "1,٢"):
        with pytest.raises(ValueError, match="ASCII digits"):
            parse_values(text, float)
    assert parse_values("1,2", float) == [1.0, 2.0]
