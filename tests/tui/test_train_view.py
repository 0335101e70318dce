"""Pilot test: a short training run inside the app, stopped in the middle."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from tui_vae.tui.screens.train import TrainScreen, build_config
from tui_vae.tui.widgets.loss_chart import LossChart

SIZE = (120, 40)


async def wait_for(pilot, condition, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


def fill(screen, **values) -> None:
    for name, value in values.items():
        if name in ("model", "dataset"):
            screen.query_one(f"#{name}", Select).value = value
        else:
            screen.query_one(f"#{name}", Input).value = str(value)


async def test_train_in_the_app_with_live_charts_and_a_stop(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        fill(screen, model="cvae", dataset="mnist-sample", latent_dim=3, hidden_dim=16,
             epochs=400, batch_size=50, seed=1)
        await pilot.press("s")
        assert app.monitor.active
        assert screen.check_action("start", ()) is None  # greyed out while running
        # Wait for two finished epochs: charts, preview and a saved checkpoint.
        await wait_for(pilot, lambda: len(app.monitor.curves.epoch) >= 2 and app.preview)
        # Previews of several epochs later, the workspace holds one version of the
        # run's model, not one per epoch saved (which grew without end).
        previews = [app.preview]  # held, so no two are ever the same object

        def previewed_again() -> bool:
            if not any(shown is app.preview for shown in previews):
                previews.append(app.preview)
            return len(previews) >= 4

        await wait_for(pilot, previewed_again)
        run_path = app.monitor.snapshot()[0].path
        kept = [key for key in app.workspace._models if key[0] == os.path.realpath(run_path)]
        assert len(kept) == 1, kept
        await pilot.press("g", "t")  # leaving the view does not stop the run
        assert app.monitor.active
        await pilot.pause(0.3)
        epochs_chart = screen.query_one("#chart-epochs", LossChart)
        assert len(epochs_chart.series[1].y) >= 2  # test loss per epoch
        assert len(screen.query_one("#chart-steps", LossChart).series[0].y) >= 2
        assert screen.query_one("#preview-samples").images
        await pilot.press("y")
        assert epochs_chart.log_scale
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.monitor.active, timeout=5)
        await app.workers.wait_for_complete()
        progress, _ = app.monitor.snapshot()
        assert progress.state == "stopped" and progress.epoch < 400
        saved = [e for e in app.entries if e.path.name.startswith("cvae-mnist-sample-")]
        assert len(saved) == 1 and saved[0].epochs_done >= 2
        await pilot.pause(0.6)  # the view reads the monitor twice a second
        # The file's name, which a narrow column can hold (its folder is in the notice)
        text = str(screen.query_one("#progress-text").render())
        assert text.splitlines()[1] == f"saved {saved[0].path.stem}"  # as Models names it
        assert screen.check_action("start", ()) is True


async def test_a_stop_at_once_is_a_stop_with_nothing_saved(checkpoints, make_app):
    """x right after s: the child is still importing when the stop reaches it."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        fill(app.screen, model="vae", dataset="mnist-sample", latent_dim=2, hidden_dim=8,
             epochs=50)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.monitor.active)
        # Before the child's first report: no "epoch 0/0 · step 0/0" to read.
        text = str(app.screen.query_one("#progress-text").render())
        assert text == "starting the run...", text
        await pilot.press("x")
        if app.monitor.active:  # stopping, still before any report: no "0/0" either
            app.screen.refresh_run()
            text = str(app.screen.query_one("#progress-text").render())
            assert "0/0" not in text, text
        await wait_for(pilot, lambda: not app.monitor.active)
        await app.workers.wait_for_complete()
        await pilot.pause(0.6)  # the view reads the monitor twice a second
        progress, _ = app.monitor.snapshot()
        assert progress.state == "stopped" and progress.path is None
        said = [n.message for n in app._notifications]
        assert any("before its first step; nothing was saved" in m for m in said), said
        assert not any(n.severity == "error" for n in app._notifications)
        text = str(app.screen.query_one("#progress-text").render())
        assert "nothing was saved" in text and "None" not in text


async def test_bad_settings_are_refused_with_a_notice(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        fill(app.screen, epochs=0)
        await pilot.press("s")
        assert not app.monitor.active
        assert any("epochs" in n.message for n in app._notifications)


def test_build_config_reads_the_form(tmp_path):
    values = {"model": "vae", "dataset": "mnist-sample", "beta": "0", "kl_warmup": "2",
              "latent_dim": "2", "hidden_dim": "64", "epochs": "3", "batch_size": "32",
              "lr": "1e-3", "seed": "7"}
    config = build_config(values, tmp_path, None)
    assert config.model.beta == 0 and config.model.latent_dim == 2 and config.kl_warmup == 2
    assert config.lr == 1e-3 and config.seed == 7 and config.out.startswith(str(tmp_path))
    # "١" (an Arabic-Indic one) and "1_0" are numbers to Python's int(): a run
    # started with them, where the command line refuses them.
    for field, bad in (("latent_dim", "x"), ("beta", "-1"), ("lr", "0"), ("epochs", "١"),
                       ("epochs", "1_0"), ("hidden_dim", "١٠"), ("hidden_dim", "6_4")):
        try:
            build_config({**values, field: bad}, tmp_path, None)
        except ValueError:
            continue
        raise AssertionError(f"{field}={bad} was accepted")
    # A model too large for this machine or for checkpoints is refused before a run
    # starts, in the form's words: it failed in the child, "lower --hidden or
    # --latent-dim", after the run had begun.
    for huge in ({"hidden_dim": "65536,65536,65536"}, {"batch_size": "16000000"}):
        with pytest.raises(ValueError) as refused:
            build_config({**values, **huge}, tmp_path, None)
        said = str(refused.value)
        assert "--" not in said and ("hidden widths" in said or "batch size" in said), said


async def test_a_run_sharing_the_cores_says_on_how_many_threads(checkpoints, make_app):
    """The child's ThreadsChanged event (cpu_share.ThreadShare) reaches the progress
    line, at 80x24 too, and goes when the run is alone again."""
    from tui_vae.events import Started, StepLogged, ThreadsChanged
    from tui_vae.training import TrainConfig

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        app.monitor.reset()
        name = "vae-mnist-20261207-230415-with-a-long-tail"
        app.monitor.record(Started(TrainConfig(epochs=2, out=f"runs/{name}.safetensors"), "cpu",
                                   100, 10, 4, None))
        app.monitor.record(StepLogged(0, 1, 4, 1, 200.0, 180.0, 20.0, 1.0, 1e-3, 500.0))
        app.monitor.record(ThreadsChanged(1, 2))
        screen.refresh_run()
        line = str(screen.query_one("#progress-text").render()).splitlines()[1]
        assert line.startswith("running on 1 thread · 500 samples/s"), line
        # The run's name whole or not at all: "samples/s ·…" said nothing at 80x24.
        width = screen.query_one("#progress-text").size.width
        assert len(line.rstrip()) <= width and line.rstrip().endswith(("samples/s", name)), line
        # A sweep's run, fast: "sweep 1/2 · running on 1 thread · 19,937…" lost its unit.
        app.sweep_place = (1, 2)
        app.monitor.record(StepLogged(0, 2, 4, 2, 200.0, 180.0, 20.0, 1.0, 1e-3, 19937.0))
        screen.refresh_run()
        first, line = str(screen.query_one("#progress-text").render()).splitlines()[:2]
        line = line.rstrip()
        assert len(line) <= width and line.endswith("19,937 img/s") and "…" not in line, line
        # the sweep's time left, not this run's alone (0:00:00 with a run still to come)
        assert first.startswith("ETA ") and "(sweep)" in first, first
        assert app.monitor.progress.step_s > 0
        app.sweep_place = None
        app.monitor.record(StepLogged(0, 3, 4, 3, 200.0, 180.0, 20.0, 1.0, 1e-3, 500.0))
        app.monitor.record(ThreadsChanged(2, 2))
        screen.refresh_run()
        line = str(screen.query_one("#progress-text").render()).splitlines()[1]
        assert line.startswith("running · 500 samples/s"), line
        app.monitor.record_failure("ended for the test")


async def test_a_run_that_ends_while_another_view_shows_is_shown_ended_on_return(
        checkpoints, make_app):
    """The view polls the monitor only while on show and while a run is active:
    coming back after the run ended must still show its end, not the last step."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        fill(screen, model="vae", dataset="mnist-sample", latent_dim=2, hidden_dim=8,
             epochs=3, batch_size=100)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.monitor.snapshot()[0].state != "starting")
        await pilot.press("g")
        await wait_for(pilot, lambda: not app.monitor.active)
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await pilot.pause(0.1)  # less than the view's polling interval: the return redraws
        text = str(screen.query_one("#progress-text").render())
        assert text.startswith("finished after 3 epochs"), text
        chart = screen.query_one("#chart-epochs", LossChart)
        assert len(chart.series[1].y) == 3  # test loss of every epoch


async def test_tab_starts_at_the_first_setting_and_the_focused_one_is_marked(
        checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t", "tab")
        assert app.focused is not None and app.focused.id == "model"
        await pilot.press("tab")
        focused = app.focused
        assert focused.id == "arch"
        # A bar at its left, which needs no colour (NO_COLOR) to be seen.
        assert focused.styles.border_left[0] == "outer"
        assert app.screen.query_one("#model").styles.border_left[0] != "outer"


async def test_keys_typed_in_one_burst_edit_a_setting_in_the_order_typed(
        checkpoints, make_app):
    """Backspace is a binding, run after its key bubbled up: in a burst, a digit
    typed after it was deleted in its place ("400" End BS BS "2" gave "40")."""
    from textual import events

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        field = app.screen.query_one("#latent_dim", Input)
        field.value = "400"
        field.focus()
        await pilot.pause()
        for key, character in (("end", None), ("backspace", None), ("backspace", None),
                               ("2", "2")):
            app.post_message(events.Key(key, character))  # all queued before any is handled
        await pilot.pause(0.3)
        assert field.value == "42"


async def test_keys_typed_after_tab_in_one_burst_go_to_the_field_tab_moved_to(
        checkpoints, make_app):
    """Tab moves the focus once its key reached the app, and keys behind it in the
    burst were already on their way to the field it left: "Tab 7 Tab 8" from LR
    warm-up wrote 78 there and left seed and sweep betas as they were."""
    from textual import events

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        fields = [screen.query_one(f"#{name}", Input)
                  for name in ("lr_warmup", "seed", "sweep_betas")]
        before = fields[0].value
        for field in fields[1:]:
            field.value = ""
        fields[0].focus()
        await pilot.pause()
        for key, character in (("tab", None), ("7", "7"), ("tab", None), ("8", "8")):
            app.post_message(events.Key(key, character))  # all queued before any is handled
        await pilot.pause(0.3)
        assert [f.value for f in fields] == [before, "7", "8"]
        assert app.focused is fields[2]
        for key, character in (("shift+tab", None), ("5", "5")):  # and back
            app.post_message(events.Key(key, character))
        await pilot.pause(0.3)
        # a field Tab reaches has its text selected, so typing replaces it, as unhurried
        assert [f.value for f in fields] == [before, "5", "8"] and app.focused is fields[1]


async def test_quitting_while_training_saves_the_run_and_says_where(checkpoints, make_app):
    """q stops the run (it saves) and leaves; the command then names the checkpoint
    and how to go on (the screen that could have said so is gone)."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        fill(app.screen, model="vae", dataset="mnist-sample", latent_dim=2, hidden_dim=8,
             epochs=500, batch_size=100)
        await pilot.press("s")
        await wait_for(pilot, lambda: len(app.monitor.curves.epoch) >= 1)
        path = Path(app.monitor.snapshot()[0].path)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.stopped_by_quit is not None or not app.is_running,
                       timeout=30)
    assert app.stopped_by_quit == path and path.is_file()
    from tui_vae.checkpoints import read_info
    from tui_vae.cli import quit_note

    assert 1 <= read_info(path).epochs_done < 500
    # What the command says then: the resume command, with the data the app read.
    note = quit_note(path, Path("my data"))
    assert note.endswith(f"tui-vae train --out {path} --resume --data-dir 'my data'")
    assert quit_note(path, None).endswith("--resume")
    assert quit_note(path, None, 2).endswith("--resume; 2 more runs of its sweep did not start")
    # A quit between two runs of a sweep: nothing to resume, and the rest said (it said
    # nothing, or offered to resume the run that had finished).
    assert quit_note(None, None, 5) == "the sweep was stopped: 5 more runs of it did not start"


async def test_without_the_default_dataset_the_form_starts_on_the_bundled_sample(
        checkpoints, make_app, tmp_path):
    """No MNIST in the data folder (and perhaps no network): s trains at once on the
    sample rather than failing on a download; a note under the field says how to get
    MNIST."""
    from tui_vae.workspace import Workspace

    app = make_app(checkpoints)  # an empty data folder
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.query_one("#dataset", Select).value
                       == "mnist-sample", timeout=30)
        note = app.screen.query_one("#dataset-note")
        assert note.display and "--data-dir" in str(note.render())

    # With MNIST on disk the default stays.
    root = tmp_path / "data" / "MNIST" / "raw"
    root.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / name).write_bytes(b"")  # present is all that is asked here
    from tui_vae.tui.app import TuiVaeApp

    app = TuiVaeApp(Workspace(checkpoints, tmp_path / "data", "cpu", shipped_dir=None))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#dataset", Select).value == "mnist"
        assert not app.screen.query_one("#dataset-note").display


async def test_a_failure_is_shown_whole_with_what_to_do(checkpoints, make_app):
    from tests.tui.test_views import open_view
    from tui_vae.datasets import OFFLINE_HINT
    from tui_vae.events import Failed

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "t")
        screen = app.screen
        # As long as the real one: at 80x24 its last third (what to do) was cut.
        # Its path is wider than the column at 80x24: it was cut with "…" there.
        message = ("Fashion-MNIST is not in /root/.cache/tui-vae/data and downloading it "
                   "failed (<urlopen error [Errno -3] Temporary failure in name resolution>); "
                   "point tui-vae at local files with --data-dir DIR or TUI_VAE_DATA_DIR=DIR "
                   "(expects DIR/FashionMNIST/raw/train-images-idx3-ubyte and the other "
                   "three files)" + OFFLINE_HINT)
        app.monitor.record(Failed(message))
        screen.refresh_run()
        await pilot.pause()
        label = screen.query_one("#progress-text")
        assert label.size.height > 2
        shown = " ".join(line.text.strip() for line in
                         (label.render_line(y) for y in range(label.size.height)))
        # In the form's words: it has a dataset choice, not flags.
        assert shown.endswith('bundled digits: choose "MNIST sample" as the dataset'), shown
        assert "--dataset" not in shown and "…" not in shown
        assert "DIR/FashionMNIST/raw/train-images-idx3-ubyte" in "".join(shown.split())
        # The notice that comes with it, in the same words (it said "--dataset
        # mnist-sample" beside the form's "MNIST sample").
        from tui_vae.tui.messages import TrainingEvent

        app.on_training_event(TrainingEvent(Failed(message), ""))
        await pilot.pause()
        (notice,) = [n.message for n in app._notifications if n.title == "training failed"]
        assert notice.endswith('bundled digits: choose "MNIST sample" as the dataset'), notice
        assert "--dataset" not in notice


async def test_the_footer_offers_escape_while_a_setting_takes_the_letter_keys(
        checkpoints, make_app):
    """In a text field s, x, ? and q type into it, so Textual drops them from the
    footer; escape (back to the keys) is then offered instead of an empty line."""
    from tests.tui.test_views import footer_keys, open_view

    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "t")
        screen = app.screen
        assert "escape" not in footer_keys(app) and "s" in footer_keys(app)
        field = screen.query_one("#epochs", Input)
        field.focus()
        await pilot.pause()
        assert footer_keys(app).get("escape") == "Done editing"
        # A key the field refuses is said, once (Textual's bell alone: "0,0.5,1" typed
        # into seed became "0051" without a word).
        before = field.value
        await pilot.press("end", ",", ".", "5")
        await pilot.pause()
        assert field.value == before + "5"
        said = [n.message for n in app._notifications if "not typed" in n.message]
        assert said == ["epochs takes whole numbers only: that key was not typed"], said
        await pilot.press("escape")
        await pilot.pause()
        assert screen.focused is None and "escape" not in footer_keys(app)
        assert "s" in footer_keys(app)
