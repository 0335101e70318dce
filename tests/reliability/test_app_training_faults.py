"""Training faults inside the app: a diverging run and an unwritable checkpoint folder
each end as an error notice; the app keeps running and nothing is half-written."""

from __future__ import annotations

import shutil

from textual.widgets import Input, Select

from tui_vae.tui.screens.train import TrainScreen


async def _start(app, pilot, **fields) -> None:
    await pilot.press("t")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, TrainScreen)
    screen.query_one("#dataset", Select).value = "mnist-sample"
    values = {"hidden_dim": "16", "latent_dim": "2", "epochs": "3", "batch_size": "100",
              **fields}
    for name, value in values.items():
        screen.query_one(f"#{name}", Input).value = value
    app.set_focus(None)
    await pilot.press("s")
    await pilot.pause()


async def _until_idle(app, pilot) -> None:
    """Until the run's worker has ended (it reads the child's events to its exit)."""
    def training():
        return [w for w in app.workers if w.group == "training" and not w.is_finished]

    while app.monitor.active or training():
        await pilot.pause(0.05)
    others = [w for w in app.workers if w.group != "training"]
    if others:  # an empty list would make Textual wait for every worker, the failed run's too
        await app.workers.wait_for_complete(others)
    await pilot.pause()


def _errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def test_a_diverging_run_in_the_app_is_a_notice(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(110, 36)) as pilot:
        await app.workers.wait_for_complete()
        before = {p.name for p in checkpoints.iterdir()}
        await _start(app, pilot, lr="1000", hidden_dim="64", latent_dim="4")
        await _until_idle(app, pilot)
        assert app.monitor.progress.state == "failed"
        assert any("loss became" in m for m in _errors(app)), _errors(app)
        assert "Failed" in str(app.screen.query_one("#progress-text").render())
        # No checkpoint was saved before the loss diverged, and no temporary file.
        assert {p.name for p in checkpoints.iterdir()} - before <= {
            p.name for p in checkpoints.glob("*.metrics.jsonl")}
        await pilot.press("g", "m")
        assert app.is_running


async def test_a_vanished_checkpoint_folder_in_the_app_is_a_notice(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(110, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        await pilot.pause()
        shutil.rmtree(checkpoints)  # gone (an unmounted disk, a deleted folder)
        checkpoints.touch()  # and a file in its place: it cannot be made again
        await _start(app, pilot)
        await _until_idle(app, pilot)
        assert _errors(app), "no error notice"
        assert app.is_running
