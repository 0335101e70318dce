"""Training survives interruption: kill -9, SIGINT, SIGTERM, NaN, unwritable or full disks,
two runs on one checkpoint. Process-level faults run the real CLI in a subprocess."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tui_vae.checkpoints import load_checkpoint, read_info
from tui_vae.run_lock import lock_path

# Tiny and fast, but with optimizer state the checkpoint is ~0.5 MB, so a save
# takes long enough that random kills land inside some of them.
TINY = ["--dataset", "mnist-sample", "--hidden-dim", "64", "--latent-dim", "4",
        "--batch-size", "100", "--device", "cpu"]


def start(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui_vae", "train", *TINY, *args],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_kill_9_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run.safetensors"
    rng = random.Random(0)
    done, killed_mid_save = [], 0
    for attempt in range(6):
        args = ["--epochs", "1000", "--out", out.name] + (["--resume"] if out.exists() else [])
        before = out.stat().st_mtime_ns if out.exists() else None
        process = start(tmp_path, *args)
        # Once this run has saved once (it is training), kill it at a random moment.
        def saved_or_ended(process=process, before=before) -> bool:
            return (out.exists() and out.stat().st_mtime_ns != before) \
                or process.poll() is not None

        wait_for(saved_or_ended)
        assert process.poll() is None, process.communicate()[1]
        if attempt % 2:
            time.sleep(rng.uniform(0.05, 1.0))  # anywhere
        else:  # inside a save: as soon as its temporary file appears
            deadline = time.time() + 20
            while not temporaries(tmp_path) and time.time() < deadline:
                time.sleep(0.0005)
        process.kill()  # SIGKILL: no handler, no cleanup
        process.communicate()
        killed_mid_save += bool(temporaries(tmp_path))
        checkpoint = load_checkpoint(out)  # whole and valid, whenever the kill came
        done.append(checkpoint.meta["progress"]["epochs_done"])
        assert checkpoint.optimizer_state is not None
    assert done == sorted(done) and done[-1] > done[0]  # every restart went forward
    assert killed_mid_save >= 1  # at least one kill interrupted a save
    # A resumed run takes over the stale lock, clears a dead save's temporary file
    # and finishes.
    final = run_cli("train", *TINY, "--epochs", str(done[-1] + 1), "--out", out.name,
                    "--resume", cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    assert read_info(out).epochs_done == done[-1] + 1
    assert temporaries(tmp_path) == [] and not lock_path(out).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signals_save_the_exact_state_and_resume_ends_as_an_uninterrupted_run(tmp_path, sig):
    epochs = "30"
    straight = run_cli("train", *TINY, "--epochs", epochs, "--out", "straight.safetensors",
                       cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    process = start(tmp_path, "--epochs", epochs, "--out", "cut.safetensors")
    metrics = tmp_path / "cut.metrics.jsonl"
    wait_for(lambda: metrics.exists() and metrics.read_text().strip())
    time.sleep(0.03)  # into epoch 2 or so: most likely a mid-epoch stop
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr  # stopped, not finished: a script stops too
    assert "--resume" in stdout and "Traceback" not in stderr
    assert not lock_path(tmp_path / "cut.safetensors").exists()  # released
    progress = load_checkpoint(tmp_path / "cut.safetensors").meta["progress"]
    assert progress["epochs_done"] < int(epochs)
    resumed = run_cli("train", *TINY, "--epochs", epochs, "--out", "cut.safetensors",
                      "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    def final(name):
        return read_info(tmp_path / name).history[-1]

    a, b = final("straight.safetensors"), final("cut.safetensors")
    assert a["train"] == b["train"] and a["test"] == b["test"]  # exactly, on CPU


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_run_starts_says_so(tmp_path, sig):
    # In the first second or two (importing torch) SIGTERM and SIGHUP ended the run
    # without a word (status 143, 129); a KeyboardInterrupt raised for them instead
    # could be swallowed by an import, and then the run trained on to its end.
    for delay in (0.2, 0.5, 0.8):
        proc = start(tmp_path, "--epochs", "50", "--out", f"early{delay}.safetensors")
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, (delay, out, err)
        said = err.strip().splitlines()
        assert said and ("interrupted" in said[-1] or "stopped" in said[-1]), (delay, err)
        assert "done:" not in out and "Traceback" not in err


def test_a_dropped_terminal_saves_the_run_and_releases_its_lock(tmp_path):
    """The SSH case: the terminal goes away (writes to it fail with EIO), then SIGHUP."""
    import pty

    out = tmp_path / "ssh.safetensors"
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_vae", "train", *TINY, "--epochs", "1000", "--out",
         out.name], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    metrics = tmp_path / "ssh.metrics.jsonl"
    try:
        wait_for(lambda: metrics.exists() and metrics.read_text().strip())
        os.close(controller)  # the terminal is gone...
        controller = None
        process.send_signal(signal.SIGHUP)  # ...and says so
        assert process.wait(timeout=60) == 130  # saved, but stopped
    finally:
        if controller is not None:
            os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    progress = load_checkpoint(out).meta["progress"]
    assert 1 <= progress["epochs_done"] < 1000
    assert not lock_path(out).exists() and temporaries(tmp_path) == []
    resumed = run_cli("train", *TINY, "--epochs", str(progress["epochs_done"] + 1), "--out",
                      out.name, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr


def test_nan_loss_stops_with_a_message_and_leaves_no_checkpoint(tmp_path):
    result = run_cli("train", *TINY, "--epochs", "3", "--lr", "1000", "--out", "nan.safetensors",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert "loss became" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nan.safetensors").exists() and temporaries(tmp_path) == []


def test_nan_loss_after_good_epochs_keeps_the_last_good_checkpoint(tmp_path, sample_dataset,
                                                                    tiny_train_config):
    from dataclasses import replace

    from tui_vae.errors import TrainingError
    from tui_vae.training import Trainer

    config = replace(tiny_train_config, epochs=1)
    Trainer(config, dataset=sample_dataset).run()
    good = load_checkpoint(config.out)
    # Resume the same run with an absurd learning rate: it blows up in epoch 2.
    with pytest.raises(TrainingError, match="loss became"):
        Trainer(replace(config, epochs=3, lr=1000.0), dataset=sample_dataset,
                resume=True).run()
    kept = load_checkpoint(config.out)
    assert kept.meta["progress"] == good.meta["progress"]
    assert kept.meta["history"] == good.meta["history"]


def test_unwritable_outputs_are_refused_before_training(tmp_path):
    (tmp_path / "a-file").write_text("")
    cases = [(tmp_path / "missing" / "x.safetensors", "missing does not exist"),
             # a file where the folder goes: it said the folder "does not exist"
             (tmp_path / "a-file" / "x.safetensors", "a-file is not a folder")]
    if Path("/sys/kernel").is_dir():  # Linux: sysfs refuses new files, even to root
        cases.append((Path("/sys/x.safetensors"), "Permission denied"))
    for out, reason in cases:
        result = run_cli("train", *TINY, "--epochs", "1", "--out", str(out), cwd=tmp_path)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_without_write_permission_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    result = run_cli("train", *TINY, "--epochs", "1", "--out", str(folder / "x.safetensors"),
                     cwd=tmp_path)
    assert result.returncode == 1 and "Permission denied" in result.stderr


def test_disk_full_during_a_later_save_keeps_the_previous_checkpoint(
        tmp_path, sample_dataset, tiny_train_config, monkeypatch):
    from dataclasses import replace

    import tui_vae.checkpoints as checkpoints
    from tui_vae.errors import CheckpointError
    from tui_vae.training import Trainer

    config = replace(tiny_train_config, epochs=3)
    saves = {"n": 0}
    real_fdopen = os.fdopen

    class FullDisk:
        """A file whose writes fail with ENOSPC, as on a full disk."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        saves["n"] += 1
        return FullDisk(handle) if saves["n"] >= 2 else handle

    monkeypatch.setattr(checkpoints.os, "fdopen", fdopen)
    with pytest.raises(CheckpointError, match="No space left on device"):
        Trainer(config, dataset=sample_dataset).run()
    monkeypatch.undo()
    kept = load_checkpoint(config.out)
    assert kept.meta["progress"]["epochs_done"] == 1  # the save before the full disk
    folder = Path(config.out).parent
    assert temporaries(folder) == [] and not lock_path(config.out).exists()


def test_a_second_run_on_the_same_checkpoint_is_refused_until_the_first_is_gone(tmp_path):
    out = tmp_path / "shared.safetensors"
    first = start(tmp_path, "--epochs", "1000", "--out", out.name)
    wait_for(lambda: out.exists())
    second = run_cli("train", *TINY, "--epochs", "1000", "--out", out.name, "--resume",
                     cwd=tmp_path)
    assert second.returncode == 1
    assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert first.poll() is None  # the first run goes on
    first.kill()  # crashes, leaving its lock file behind...
    first.communicate()
    assert lock_path(out).exists()
    epochs = read_info(out).epochs_done + 1
    third = run_cli("train", *TINY, "--epochs", str(epochs), "--out", out.name, "--resume",
                    cwd=tmp_path)
    assert third.returncode == 0, third.stderr  # ...which does not stay stuck
    assert read_info(out).epochs_done == epochs
    json.loads((tmp_path / "shared.metrics.jsonl").read_text().splitlines()[-1])


# --------------------------------------------------------------------------- the app

CRASHING_APP = """
import sys
from tui_vae.tui.screens.generate import GenerateScreen

def fall_over(self):
    raise ZeroDivisionError("a view fell over")

GenerateScreen.redraw = fall_over  # the first view crashes as soon as a model is loaded
sys.argv = ["tui-vae", *sys.argv[1:]]
from tui_vae.cli import main
main()
"""


def crashed(checkpoints, tmp_path, env: dict) -> str:
    """Run the crashing app in a pseudo-terminal; the terminal's text after it exited 1."""
    from tests.reliability.pty_app import PtyApp

    app = PtyApp(["--checkpoints", str(checkpoints)], cwd=tmp_path, env=env,
                 code=CRASHING_APP)
    try:
        assert app.wait(timeout=90) == 1
    finally:
        app.close()
    return app.after_exit()  # the terminal after the app left the alternate screen


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "TUI_VAE_DEBUG"])
def test_a_crash_of_the_app_exits_1_with_one_line_naming_its_log(checkpoints, tmp_path, debug):
    state = tmp_path / "state"
    stderr = crashed(checkpoints, tmp_path, {"XDG_STATE_HOME": str(state),
                                             "TUI_VAE_DEBUG": "1" if debug else ""})
    lines = stderr.strip().splitlines()
    assert "the explorer crashed (ZeroDivisionError: a view fell over)" in lines[-1]
    log = Path(lines[-1].rsplit(" ", 1)[1])
    assert log.parent == state / "tui-vae" / "log"
    text = log.read_text()
    assert "Traceback" in text and "fall_over" in text and "ZeroDivisionError" in text
    assert (log.stat().st_mode & 0o777) == 0o600
    if debug:  # the traceback on the terminal too
        assert "fall_over" in stderr and len(lines) > 1
    else:
        assert len(lines) == 1, stderr


def test_a_crash_whose_log_cannot_be_written_is_still_one_line(checkpoints, tmp_path):
    """With no place for the log, Textual's whole traceback (locals and tensors, some 200
    lines) came on the terminal before the one line."""
    (tmp_path / "state").write_text("a file where the state folder goes")
    lines = crashed(checkpoints, tmp_path, {"XDG_STATE_HOME": str(tmp_path / "state"),
                                            "TUI_VAE_DEBUG": ""}).strip().splitlines()
    assert len(lines) == 1, lines[:5]
    assert "the explorer crashed (ZeroDivisionError: a view fell over); no log written" \
        in lines[0]


async def test_a_hang_up_while_the_app_trains_saves_the_run_and_ends_the_app(
        checkpoints, make_app):
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig

    out = checkpoints / "hung-up.safetensors"
    model = ModelConfig(model="vae", latent_dim=2, hidden_dim=16, dataset="mnist-sample")
    config = TrainConfig(model=model, epochs=1000, batch_size=100, device="cpu", out=str(out))
    app = make_app(checkpoints)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        # The app listens for it (else the signal below would end pytest itself).
        assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN)
        app.start_training(config)
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:
            await pilot.pause(0.05)
        assert app.monitor.active
        await pilot.pause(0.3)  # some steps in
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.time() + 60
        while app.is_running and time.time() < deadline:
            await pilot.pause(0.05)
        assert not app.is_running  # the app ended itself...
    progress = load_checkpoint(out).meta["progress"]  # ...after saving the run
    # Saved where it stopped: after some steps (mid-epoch, or at an epoch's end).
    assert progress["epochs_done"] < 1000
    assert progress["epochs_done"] >= 1 or progress["step"] >= 1
    assert not lock_path(out).exists()
    assert app.monitor.progress.state == "stopped"
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # given back on exit


async def test_quit_while_training_saves_even_with_a_worker_cancelled_meanwhile(
        checkpoints, make_app):
    # A preview worker replaced by a newer one is cancelled; quitting used to wait
    # for every worker at once, which raised WorkerCancelled before the run saved.
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig

    out = checkpoints / "quit.safetensors"
    model = ModelConfig(model="vae", latent_dim=2, hidden_dim=16, dataset="mnist-sample")
    config = TrainConfig(model=model, epochs=1000, batch_size=100, device="cpu", out=str(out))
    app = make_app(checkpoints)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.start_training(config)
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:
            await pilot.pause(0.05)
        assert app.monitor.active
        worker = app.run_worker(asyncio.sleep(30), group="stand-in")
        await pilot.pause()
        worker.cancel()
        await app.action_quit()
        deadline = time.time() + 60
        while app.is_running and time.time() < deadline:
            await pilot.pause(0.05)
        assert not app.is_running
    assert load_checkpoint(out).meta["progress"]["epochs_done"] < 1000
    assert not lock_path(out).exists()
    assert app.monitor.progress.state == "stopped"


# The app trains as soon as it is mounted (the run a user starts from Train).
TRAINING_APP = """
import sys
from tui_vae.models import ModelConfig
from tui_vae.training import TrainConfig
from tui_vae.tui.app import TuiVaeApp

mounted = TuiVaeApp.on_mount
out = sys.argv.pop()  # the run's checkpoint, the last argument

def mount_and_train(self):
    mounted(self)
    model = ModelConfig(model="vae", latent_dim=2, hidden_dim=16, dataset="mnist-sample")
    self.start_training(TrainConfig(model=model, epochs=1000, batch_size=100, device="cpu",
                                    out=out))

TuiVaeApp.on_mount = mount_and_train
sys.argv = ["tui-vae", *sys.argv[1:]]
from tui_vae.cli import main
main()
"""


@pytest.mark.parametrize("signals", [(signal.SIGHUP,), (signal.SIGHUP, signal.SIGCONT)],
                         ids=["hang-up", "hang-up-and-continue"])
def test_a_terminal_that_goes_away_while_the_app_trains_ends_the_app(
        checkpoints, tmp_path, signals):
    # As when a terminal window is closed: the terminal is gone first (every write
    # to it fails), the hang-up comes after. Textual's writer thread died on the
    # first failed write, and the app, quitting, waited for ever to queue its
    # last escape codes behind it (SIGTERM no longer heard either). The kernel
    # sends SIGCONT with the SIGHUP of a controlling terminal (tmux kill-session):
    # Textual took it for the end of a Ctrl-Z and started a second writer, which
    # died the same way and blocked the quit again.
    from tests.reliability.pty_app import PtyApp

    out = checkpoints / "closed.safetensors"
    app = PtyApp(["--checkpoints", str(checkpoints), str(out)], cwd=tmp_path,
                 env={"XDG_STATE_HOME": str(tmp_path / "state")}, code=TRAINING_APP)
    try:
        wait_for(out.exists, timeout=90)
        time.sleep(1.0)  # the charts redraw as it trains: writes keep coming
        os.close(app.controller)
        time.sleep(1.0)
        for number in signals:
            app.process.send_signal(number)
        assert app.process.wait(timeout=60) is not None
    finally:
        app.close()
    progress = load_checkpoint(out).meta["progress"]
    assert progress["epochs_done"] < 1000 and not lock_path(out).exists()


# The writer thread's own end on the failed write is the point of the test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_ended_on_a_failed_write_drops_frames_instead_of_blocking():
    import threading

    from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

    from tui_vae.tui.terminal_output import drop_output_once_the_writer_ends

    class GoneTerminal:
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        def flush(self):
            pass

    writer = WriterThread(GoneTerminal())
    assert drop_output_once_the_writer_ends(writer)
    writer.start()
    writer.write("the first frame fails")
    writer.join(timeout=10)
    assert not writer.is_alive()
    done = threading.Event()

    def draw_on():  # more frames than the queue holds, then the driver's stop
        for _ in range(MAX_QUEUED_WRITES * 3):
            writer.write("a frame")
        writer.stop()
        done.set()

    threading.Thread(target=draw_on, daemon=True).start()
    assert done.wait(timeout=30), "a write blocked on the full queue of an ended writer"


INTERRUPTED_EARLY = """
import sys
import tui_vae.cli as cli

def interrupted():  # Ctrl-C before the run's handlers are in place (torch still loading)
    raise KeyboardInterrupt

cli.app = interrupted
sys.argv = ["tui-vae", *sys.argv[1:]]
cli.main()
"""


def test_ctrl_c_while_a_run_restarts_itself_says_how_to_continue(tmp_path):
    saved = tmp_path / "run.safetensors"
    saved.write_bytes(b"a checkpoint")  # only its existence matters to the message

    def interrupt(*args):
        return subprocess.run([sys.executable, "-c", INTERRUPTED_EARLY, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    # What a run restarting to share the cores runs (cpu_share.CompanyWatch).
    restarting = interrupt("train", "--epochs", "5", "--out", saved.name, "--resume")
    assert restarting.returncode == 130
    [line] = restarting.stderr.splitlines()
    assert f"saved in {saved.name}" in line
    assert line.endswith(f"Continue with: tui-vae train --epochs 5 --out {saved.name} --resume")
    # Nothing saved yet, or not a run: no advice that would not work.
    for args in (("train", "--epochs", "5", "--out", "new.safetensors", "--resume"),
                 ("train", "--epochs", "5", "--out", saved.name), ("models",)):
        result = interrupt(*args)
        said = "interrupted; nothing was saved" if args[0] == "train" else "interrupted"
        assert result.returncode == 130 and result.stderr.strip() == said, args


INTERRUPTED_IN_A_COMMAND = """
import sys
import tui_vae.cli as cli

def interrupted(config):  # Ctrl-C inside the command, before its handlers are in place
    raise KeyboardInterrupt

cli._refuse_oversized = interrupted
sys.argv = ["tui-vae", *sys.argv[1:]]
cli.main()
"""

INTERRUPTED_WHILE_IMPORTING = """
import sys

class Interrupting:  # Ctrl-C while the command's modules still import
    def find_spec(self, name, path=None, target=None):
        if name == "tui_vae.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupting())
from tui_vae.entry import main
main()
"""


@pytest.mark.parametrize("script, said", [
    (INTERRUPTED_IN_A_COMMAND, "interrupted; nothing was saved"),
    (INTERRUPTED_WHILE_IMPORTING, "interrupted"),
], ids=["inside-a-command", "while-importing"])
def test_ctrl_c_at_any_moment_of_the_start_is_one_line_and_status_130(tmp_path, script, said):
    """Typer turns a Ctrl-C inside a command into a silent exit 130, and before the
    command line's own module is imported nothing caught it (a traceback)."""
    result = subprocess.run(
        [sys.executable, "-c", script, "train", "--dataset", "mnist-sample", "--epochs", "1",
         "--out", "x.safetensors"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 130
    assert result.stderr.strip() == said
    assert list(tmp_path.iterdir()) == []


def test_an_abort_says_which_save_stands_and_how_to_continue(tmp_path, monkeypatch):
    """A second Ctrl-C aborts: after a save, the line names it and the resume command
    (with the run's own choice of name where none was given); before one, nothing."""
    from tui_vae import cli

    saved = tmp_path / "runs" / "vae-mnist-1.safetensors"
    saved.parent.mkdir()
    monkeypatch.setattr(cli, "_RUN_OUT", saved)
    assert cli.interrupted_line(["train", "--epochs", "4"]) == "interrupted; nothing was saved"
    saved.write_bytes(b"a checkpoint")  # only its existence matters to the message
    line = cli.interrupted_line(["train", "--epochs", "4"])
    assert line == (f"interrupted; the last state saved is in {saved}. Continue with: "
                    f"tui-vae train --epochs 4 --out {saved} --resume")
    line = cli.interrupted_line(["train", "--out", str(saved), "--resume"])
    assert line.endswith(f"tui-vae train --out {saved} --resume")


FINISHED_COMMAND = """
import signal, sys
import tui_vae.cli as cli

cli.app = lambda: sys.exit(0)  # a command that did its work
sys.argv = ["tui-vae", "models"]
try:
    cli.main()
except SystemExit as exc:
    print(exc.code, signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
          signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
"""


def test_a_finished_command_is_not_killed_by_a_late_ctrl_c(tmp_path):
    """Once its status is chosen, a Ctrl-C or SIGTERM landing while Python shuts down
    (the default handlers back by then) turned "done" into status -2."""
    result = subprocess.run([sys.executable, "-c", FINISHED_COMMAND], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["0", "True", "True"], result.stderr


def test_a_reader_that_leaves_stops_the_run_and_it_saves(tmp_path):
    """`tui-vae train | head -3`: the run ended at once with status 1 and not a word
    (Rich's own exit on a broken pipe), its progress since the last save lost. It now
    says so on stderr, stops after its step, saves and says how to go on."""
    process = start(tmp_path, "--epochs", "200", "--out", "run.safetensors")
    for _ in range(3):  # the start line, the network line, epoch 1
        assert process.stdout.readline()
    process.stdout.close()  # the reader leaves
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("the output stopped taking lines (Broken pipe)"), err
    assert "state saved to run.safetensors" in lines[-1] and "--resume" in lines[-1]
    assert "Traceback" not in err
    epochs = read_info(tmp_path / "run.safetensors").epochs_done
    assert 1 <= epochs < 200


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_output_that_takes_no_lines_leaves_nothing_behind(tmp_path):
    """`> /dev/full`: the run said "No space left on device" as if its checkpoint's disk
    were full. It now names its output, and leaves no runs/ folder behind."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "tui_vae", "train", *TINY, "--epochs",
                                 "2"], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("the output stopped taking lines (No space left on device)")
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()
