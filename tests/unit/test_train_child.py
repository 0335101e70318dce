"""The app's run as a `tui-vae train --events-json` child: events, failures, stops."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tui_vae.config import hidden_fields
from tui_vae.errors import TrainingError
from tui_vae.events import (
    CheckpointSaved,
    EpochEnded,
    Failed,
    Finished,
    Started,
    StepLogged,
    ThreadsChanged,
    event_from_json,
    event_to_json,
)
from tui_vae.models import ModelConfig
from tui_vae.train_child import ChildRun, train_command
from tui_vae.training import TrainConfig


def _config(tmp_path, **changes) -> TrainConfig:
    model = ModelConfig(model="cvae", latent_dim=3, dataset="mnist-sample", beta=0.5,
                        **hidden_fields((16, 8)))
    values = dict(model=model, epochs=2, batch_size=100, device="cpu", lr=3e-3,
                  out=str(tmp_path / "child.safetensors"), log_every=4, step="autograd")
    return TrainConfig(**{**values, **changes})


def test_every_event_survives_a_line_of_json(tmp_path):
    config = _config(tmp_path)
    events = [
        Started(config, "cpu", 800, 200, 8, (1, 3), "autograd"),
        StepLogged(0, 4, 8, 4, 500.5, 480.25, 20.25, 0.5, 0.003, 1234.5),
        EpochEnded(0, 2, {"loss": 1.5, "recon": 1.0, "kl": 0.5, "objective": 1.25},
                   {"loss": 2.5, "recon": 2.0, "kl": 0.5}, 0.75),
        CheckpointSaved(str(tmp_path / "x.safetensors"), 1, 0),
        Finished(2, False, "x", ({"epoch": 1, "test": {"loss": 2.5}},)),
        Failed("the loss became nan"),
        ThreadsChanged(1, 2),
    ]
    for event in events:
        line = event_to_json(event)
        assert "\n" not in line
        assert event_from_json(line) == event
    for junk in ("", "not json", "[]", '{"event": "Nope"}', '{"event": "Failed"}',
                 '{"event": "Started", "config": 3}'):
        assert event_from_json(junk) is None


def test_the_child_command_rebuilds_the_same_config(tmp_path):
    """What the app asks for is what the child trains: its Started event says so."""
    config = _config(tmp_path)
    seen = []
    ChildRun(config, seen.append).run()
    started = [e for e in seen if isinstance(e, Started)]
    assert len(started) == 1 and started[0].config == config
    assert [type(e) for e in seen if not isinstance(e, StepLogged)][-1] is Finished
    assert sum(isinstance(e, EpochEnded) for e in seen) == 2
    assert sum(isinstance(e, StepLogged) for e in seen) == 2 * 2  # 8 steps, every 4th
    assert (tmp_path / "child.safetensors").is_file()
    assert train_command(config)[1:5] == ["-P", "-m", "tui_vae", "train"]  # never a cwd copy


def test_a_child_that_fails_is_one_line(tmp_path):
    config = _config(tmp_path, model=ModelConfig(dataset="mnist", latent_dim=2),
                     data_dir=str(tmp_path / "no-mnist-here"))
    seen = []
    with pytest.raises(TrainingError) as caught:
        ChildRun(config, seen.append).run()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert "mnist" in message.lower()


def test_a_stop_saves_and_a_stop_before_the_start_trains_nothing(tmp_path):
    config = _config(tmp_path, epochs=10_000)
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, EpochEnded):
            run.stop()

    run = ChildRun(config, on_event)
    run.run()  # returns once the child saved and ended
    finished = seen[-1]
    assert isinstance(finished, Finished) and finished.stopped and finished.epochs_done >= 1
    assert any(isinstance(e, CheckpointSaved) for e in seen)
    run.stop()  # after the end: nothing to do, no error

    early, heard = ChildRun(_config(tmp_path, out=str(tmp_path / "never.safetensors")), None), []
    early.on_event = heard.append
    early.stop()
    early.run()
    assert heard == [Finished(0, stopped=True, path=None)]
    assert not (tmp_path / "never.safetensors").exists()


def test_a_stop_while_the_child_still_imports_is_a_stop_not_a_failure(tmp_path):
    """The user stops the app's run at once, while the child still imports: the
    child reads the stop (its stdin closed) once it listens, and ends before its
    first step with nothing saved. A signal sent then was lost now and again under
    load (the run trained to its end) or ended the child with a traceback."""
    import threading
    import time

    out = tmp_path / "early.safetensors"
    heard, raised = [], []
    run = ChildRun(_config(tmp_path, out=str(out)), heard.append)

    def go():
        try:
            run.run()
        except TrainingError as exc:
            raised.append(exc)

    worker = threading.Thread(target=go)
    worker.start()
    deadline = time.monotonic() + 30
    while run.pid is None and time.monotonic() < deadline:
        time.sleep(0.001)
    run.stop()  # torch alone takes a second to import: the child is not training yet
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert raised == []
    assert heard and heard[-1] == Finished(0, stopped=True, path=None)
    assert not any(isinstance(e, (EpochEnded, CheckpointSaved)) for e in heard)
    assert not out.exists()


def test_a_run_whose_reader_is_gone_saves_and_ends(tmp_path):
    """The app killed (its end of the pipe closed): the child stops as after Ctrl-C
    instead of training on for nobody, and its checkpoint is whole."""
    config = _config(tmp_path, epochs=10_000, step="auto")
    child = subprocess.Popen(train_command(config), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if isinstance(event_from_json(line), EpochEnded):
                break
        child.stdout.close()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
    from tui_vae.checkpoints import read_info

    done = read_info(tmp_path / "child.safetensors").epochs_done
    assert 1 <= done < 10_000


def test_the_apps_run_is_a_training_process_others_see(tmp_path):
    """Other runs count the app's run as company (cpu_share)."""
    from tui_vae.cpu_share import training_processes

    config = _config(tmp_path, epochs=10_000)
    seen = []

    def on_event(event):
        if isinstance(event, EpochEnded) and not seen:
            seen.append(training_processes())
            run.stop()

    run = ChildRun(config, on_event)
    run.run()
    assert seen and run.pid in seen[0]


def test_the_childs_stdout_holds_only_events(tmp_path):
    """What it says for people goes to stderr; stdout is the app's to parse."""
    config = _config(tmp_path, epochs=1)
    out = subprocess.run(train_command(config), capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and all(event_from_json(line) is not None for line in lines)
    assert json.loads(lines[0])["event"] == "Started"


def test_runs_started_by_tui_vae_never_import_a_tui_vae_folder_in_the_working_folder(
        tmp_path):
    """`python -m tui_vae` looks in the working folder first: a sweep, the Train view's
    run and each browser tab ran a planted tui_vae/ package's code."""
    import subprocess

    from tui_vae.entry import own_command
    from tui_vae.sweep import SweepRun

    planted = tmp_path / "tui_vae"
    planted.mkdir()
    (planted / "__init__.py").write_text(f"open({str(tmp_path / 'PWNED')!r}, 'w')\n")
    (planted / "__main__.py").write_text("")
    run = SweepRun("r", tmp_path / "r.safetensors", ("--epochs", "1"))
    assert run.command()[:4] == own_command()[:4]
    result = subprocess.run(own_command("--version"), cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("tui-vae"), result.stderr
    assert not (tmp_path / "PWNED").exists()
