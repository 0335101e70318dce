"""The live workspace: runs appear and vanish in Models on their own, the header
names a running run, and a finished run is one key (U) from active."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from textual.widgets._footer import FooterKey

from tests.tui.test_views import workers_done
from tui_vae.tui.app import POLL_S
from tui_vae.tui.screens.models import ModelsScreen

SIZE = (120, 40)


async def wait_for(pilot, condition, timeout: float) -> None:
    """Wait without pressing anything (the app's own timers and workers run)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


def names(app) -> set[str]:
    return {e.path.name for e in app.entries}


def tiny_run(folder, name: str, epochs: int):
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig

    model = ModelConfig(model="vae", latent_dim=2, hidden_dim=16, dataset="mnist-sample")
    return TrainConfig(model=model, epochs=epochs, batch_size=100, device="cpu",
                       out=str(folder / name), log_every=2)


async def test_files_of_another_process_appear_and_vanish_without_a_key(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("m")
        await pilot.pause()
        table = app.screen.query_one("#checkpoints")
        assert isinstance(app.screen, ModelsScreen) and table.row_count == 3
        copy = ("import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])")
        subprocess.run([sys.executable, "-c", copy, str(checkpoints / "vae.safetensors"),
                        str(checkpoints / "zz-other.safetensors")], check=True)
        # Within the poll interval (plus a scan), with no key pressed.
        await wait_for(pilot, lambda: table.row_count == 4, timeout=POLL_S + 2)
        assert "zz-other.safetensors" in names(app)
        await pilot.press("end")
        assert "zz-other.safetensors" in str(app.screen.query_one("#details").render())
        subprocess.run([sys.executable, "-c", "import os, sys; os.remove(sys.argv[1])",
                        str(checkpoints / "vae-beta0.safetensors")], check=True)
        await wait_for(pilot, lambda: table.row_count == 3, timeout=POLL_S + 2)
        assert "vae-beta0.safetensors" not in names(app)
        # The cursor stayed on its file while a row above it went.
        assert "zz-other.safetensors" in str(app.screen.query_one("#details").render())
        # Found while another view shows: Models has it when it comes back.
        await pilot.press("g")
        subprocess.run([sys.executable, "-c", copy, str(checkpoints / "vae.safetensors"),
                        str(checkpoints / "aa-hidden.safetensors")], check=True)
        await wait_for(pilot, lambda: "aa-hidden.safetensors" in names(app), timeout=POLL_S + 2)
        await pilot.press("m")
        await pilot.pause()
        table = app.screen.query_one("#checkpoints")
        assert table.row_count == 4 and "aa-hidden" in app.screen._cells(0)


async def test_header_names_the_running_run_beside_the_active_model(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        app.start_training(tiny_run(checkpoints, "run-xyz.safetensors", epochs=500))
        await wait_for(pilot, lambda: len(app.monitor.curves.epoch) >= 1, timeout=60)
        await pilot.pause(0.1)
        header = app.sub_title
        assert header.startswith("training run-xyz (epoch ") and "/500)" in header
        assert "active: cvae · cVAE" in header  # named as the lists name it
        # At 80 columns a long run name was cut mid-way, epoch and all ("training
        # vae-mnist-sample-20261207-212247 (epoch 34/5…"): the epoch is said whole.
        app.monitor.progress.path = str(checkpoints / ("r" * 60 + ".safetensors"))
        app._set_header(app._header, width=80)
        assert app.sub_title.startswith("training (epoch ") and "/500)" in app.sub_title
        app._set_header(app._header)
        # The run's first save is in Models already, marked as training.
        assert "run-xyz.safetensors" in names(app)
        await pilot.press("m")
        await pilot.pause()
        assert "▶" in app.screen._cells(app.entries.index(next(
            e for e in app.entries if e.path.name == "run-xyz.safetensors")))[0]
        app.stop_training()
        await wait_for(pilot, lambda: not app.monitor.active, timeout=10)
        await workers_done(app)  # a preview cancelled by a newer one is no failure
        await pilot.pause()
        assert not app.sub_title.startswith(("training", "stopping"))
        assert app.sub_title.startswith("cvae · ")


async def test_a_finished_run_is_one_key_from_active(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        def footer_keys() -> set[str]:
            return {key.description for key in app.screen.query(FooterKey)}

        assert "Use new run" not in footer_keys()  # nothing to use yet
        await pilot.press("question_mark")  # nor in the help
        await pilot.pause()
        from tests.tui.test_views import help_text

        assert "Use new run" not in help_text(app) and "Quit" in help_text(app)
        await pilot.press("escape")
        app.start_training(tiny_run(checkpoints, "fresh.safetensors", epochs=1))
        await wait_for(pilot, lambda: app.last_run is not None, timeout=60)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "fresh.safetensors" in names(app)  # in Models at once
        notice = next(n.message for n in app._notifications if "finished" in n.message)
        assert "press U to use it" in notice
        assert "Use new run" in footer_keys()  # shown where a newcomer looks
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Use new run" in help_text(app)
        await pilot.press("escape")
        await pilot.press("U")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.active == checkpoints / "fresh.safetensors"
        assert app.model is not None and app.model.config.latent_dim == 2
        assert app.sub_title.startswith("fresh · ")
        assert "Use new run" not in footer_keys()  # used: gone from the footer


async def test_a_listing_that_arrives_while_the_app_closes_is_dropped(checkpoints, make_app):
    """A scan's result reaches the UI thread after the last screen has gone (the app
    closing): it updates the app's list and touches no screen (it used to raise)."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        entries = list(app.entries)
    assert not app.screen_stack
    app.set_entries(entries[:1])
    assert app.entries == entries[:1]
    app._changed()  # a model loaded, or a run's event, as late: nothing raises either
    app._refresh_train()


async def test_an_exit_that_is_not_quits_stops_and_saves_the_run(checkpoints, make_app):
    """A browser tab closed sends textual-serve's quit (ExitApp, not the Quit action):
    the run went on training unseen to its last epoch."""
    from textual import messages

    from tui_vae.checkpoints import read_info

    app = make_app(checkpoints)
    path = checkpoints / "unseen.safetensors"  # 500 tiny epochs: half a minute
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        app.start_training(tiny_run(checkpoints, path.name, epochs=500))
        await wait_for(pilot, lambda: len(app.monitor.curves.epoch) >= 1, timeout=60)
        seen = len(app.monitor.curves.epoch)
        process = app._child._process  # the run's own `tui-vae train` process
        app.post_message(messages.ExitApp())
        await pilot.pause()
    # The run saves after its step and ends, a few tiny epochs later (8 where 5 were
    # seen, in a clean-clone run beside other work: the stop travels through the app's
    # message queue and the child's stdin). Before, it trained on to its 500th epoch.
    process.wait(timeout=60)
    assert read_info(path).epochs_done <= seen + 25, (seen, read_info(path).epochs_done)
