"""The Train form offers what the config registries hold and trains any of it."""

from __future__ import annotations

from textual.widgets import Select

from tests.tui.test_train_view import SIZE, fill, wait_for
from tests.tui.test_views import open_view
from tui_vae.config import field_choices, field_default
from tui_vae.tui.screens.train import CHOICE_FIELDS, TrainScreen


async def test_the_form_offers_every_registered_choice_and_trains_a_conv_gaussian_cvae(
        checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        await app.workers.wait_for_complete()  # the check for the default dataset
        await pilot.pause()
        for name, _ in CHOICE_FIELDS:
            select = screen.query_one(f"#{name}", Select)
            offered = [value for _, value in select._options if value is not Select.BLANK]
            # No MNIST in this app's data folder: the form starts on the bundled sample.
            default = "mnist-sample" if name == "dataset" else field_default(name)
            assert offered == list(field_choices(name)) and select.value == default
        # ... and says why under the field (a notice covered the form at 80x24 for 8 s)
        note = screen.query_one("#dataset-note")
        # ... naming the folder it looked in (it said only "the data folder")
        said = " ".join(str(note.render()).split())
        assert note.display and f"no MNIST in the data folder ({app.workspace.data_dir})" in said
        assert not [n for n in app._notifications if "data folder" in n.message]
        fill(screen, model="cvae", dataset="mnist-sample", latent_dim=2, hidden_dim=16,
             epochs=1, batch_size=100)
        screen.query_one("#arch", Select).value = "conv"
        screen.query_one("#likelihood", Select).value = "gaussian"
        await pilot.pause()
        assert note.display  # still the sample: still said
        screen.query_one("#dataset", Select).value = "shapes"
        await pilot.pause()
        assert not note.display  # another dataset chosen: said its piece
        screen.query_one("#dataset", Select).value = "mnist-sample"
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.monitor.active)
        await app.workers.wait_for_complete()
        progress, _ = app.monitor.snapshot()
        assert progress.state == "finished", progress.message
        assert progress.gradients == "autograd" and progress.model == "cVAE conv/gaussian z=2"
        saved = [e for e in app.entries if e.path.name.startswith("cvae-mnist-sample-")]
        assert saved and saved[0].model_config["likelihood"] == "gaussian"
        # named as Models names it: the suffix cut the line mid-word at 80x24
        await pilot.pause(0.6)
        text = str(screen.query_one("#progress-text").render())
        assert text.endswith(f"saved {saved[0].path.stem}"), text


async def test_a_sweep_from_the_form_trains_one_run_per_beta(checkpoints, make_app):
    from textual.widgets import Input, Label

    from tui_vae.checkpoints import read_info

    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        fill(screen, dataset="mnist-sample", latent_dim=2, hidden_dim=8, epochs=1,
             batch_size=200)
        screen.query_one("#sweep_betas", Input).value = "0,2"
        await pilot.press("s")
        await wait_for(pilot, lambda: app.sweep_stop is not None, timeout=5)
        # Each run is the app's run while it trains: the view follows it and says
        # which of the sweep's runs it is; the header names it.
        progress = screen.query_one("#progress-text", Label)
        seen: set[str] = set()
        set_header = app._set_header

        def spy(active: str) -> None:  # a short run's header may last less than a poll
            set_header(active)
            if (app.sub_title or "").startswith("training sweep-"):
                seen.add("header")

        app._set_header = spy

        def note() -> bool:
            text = str(progress.render())
            seen.update(place for place in ("sweep 1/2", "sweep 2/2") if place in text)
            return app.sweep_stop is None

        await wait_for(pilot, note, timeout=120)
        assert seen == {"sweep 1/2", "sweep 2/2", "header"}, seen
        assert app.sweep_place is None
        await pilot.pause()
        assert not (app.sub_title or "").startswith("training"), app.sub_title
        assert "finished after 1 epoch" in str(progress.render())
        runs = sorted(checkpoints.glob("sweep-*.safetensors"))
        assert [p.name.split("-")[-1] for p in runs] == ["beta0.safetensors",
                                                          "beta2.safetensors"]
        assert [read_info(p).model_config["beta"] for p in runs] == [0, 2]
        assert all(read_info(p).epochs_done == 1 for p in runs)
        await wait_for(pilot, lambda: sum(e.path in runs for e in app.entries) == 2, timeout=5)


async def start_form_sweep(app, pilot, betas: str, epochs: int = 1) -> None:
    """On the Train view: a tiny run on the bundled sample, `betas` in the sweep
    field, and s."""
    from textual.widgets import Input

    await open_view(app, pilot, "t")
    fill(app.screen, dataset="mnist-sample", latent_dim=2, hidden_dim=8, epochs=epochs,
         batch_size=200)
    app.screen.query_one("#sweep_betas", Input).value = betas
    await pilot.press("s")


async def test_a_sweep_value_no_run_takes_is_refused_before_any_run_starts(
        checkpoints, make_app):
    """Sweep betas 0,1e7: the beta 0 run trained, then the second failed on its beta."""
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await start_form_sweep(app, pilot, "0,1e7")
        await pilot.pause()
        assert app.sweep_stop is None and not app.monitor.active
        [said] = [n.message for n in app._notifications if n.title == "cannot start"]
        assert said.startswith("sweep beta 1e+07: beta must be"), said
        assert not list(checkpoints.glob("sweep-*"))


async def test_after_a_sweep_whose_last_run_failed_the_header_names_no_run(
        checkpoints, make_app, monkeypatch):
    """It read "training a new run" on every view until the app was quit."""
    from tui_vae.errors import TrainingError
    from tui_vae.train_child import ChildRun

    real = ChildRun.run

    def second_fails(self):
        if "beta2" in str(self.config.out):
            raise TrainingError("the run failed")
        return real(self)

    monkeypatch.setattr(ChildRun, "run", second_fails)
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await start_form_sweep(app, pilot, "0,2")
        await wait_for(pilot, lambda: app.sweep_stop is not None, timeout=5)
        await wait_for(pilot, lambda: app.sweep_stop is None, timeout=120)
        await pilot.pause()
        assert not (app.sub_title or "").startswith("training"), app.sub_title


async def test_a_sweep_stopped_from_the_form_saves_its_run_and_starts_no_more(
        checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await start_form_sweep(app, pilot, "0,1,2", epochs=500)
        await wait_for(pilot, lambda: len(app.monitor.curves.epoch) >= 1)
        await pilot.press("x")
        await wait_for(pilot, lambda: app.sweep_stop is None, timeout=60)
        said = [n.message for n in app._notifications]
        # How each run stands: the first saved where it stopped, the others never begun.
        assert "sweep stopped: 1 saved partway, 2 not started (of 3 runs)" in said, said
        assert app.monitor.snapshot()[0].state == "stopped"
        runs = sorted(p.name for p in checkpoints.glob("sweep-*.safetensors"))
        assert len(runs) == 1 and runs[0].endswith("beta0.safetensors"), runs


def test_a_sweep_s_end_says_how_each_run_stands(tmp_path):
    from types import SimpleNamespace

    from tui_vae.tui.app import sweep_outcome

    runs = [SimpleNamespace(out=str(tmp_path / f"r{i}.safetensors")) for i in range(4)]
    assert sweep_outcome(runs, {0, 1, 2, 3}, 4, set(), stopped=False) == "sweep finished"
    (tmp_path / "r0.safetensors").write_bytes(b"")
    (tmp_path / "r1.safetensors").write_bytes(b"")
    # r0 finished, r1 stopped partway, r2 stopped before its first step, r3 never began.
    assert sweep_outcome(runs, {0}, 3, set(), stopped=True) == (
        "sweep stopped: 1 finished, 1 saved partway, 1 stopped with nothing saved, "
        "1 not started (of 4 runs)")
    # x at once: the first run began and saved nothing; the others never began.
    for path in tmp_path.iterdir():
        path.unlink()
    assert sweep_outcome(runs, set(), 1, set(), stopped=True) == (
        "sweep stopped: 1 stopped with nothing saved, 3 not started (of 4 runs)")
    assert sweep_outcome(runs, {0, 1, 3}, 4, {2}, stopped=False) == (
        "sweep ended: 3 finished, 1 failed (of 4 runs)")


async def test_sweep_betas_no_sweep_can_run_are_a_notice_not_a_crash(checkpoints, make_app):
    """Two betas alike to six digits, or 1,001 of them, raised through the form's start
    and crashed the explorer; a pasted 10,000-digit value filled the screen."""
    from textual.widgets import Input

    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "t")
        screen = app.screen
        fill(screen, dataset="mnist-sample", epochs=1)
        for betas, words in (("1.0000001,1.0000002", "would both be"),
                             (",".join(map(str, range(1001))), "at most 1000"),):
            screen.query_one("#sweep_betas", Input).value = betas
            await pilot.press("s")
            await pilot.pause()
            said = [n.message for n in app._notifications if n.title == "cannot start"]
            assert said and words in said[-1] and len(said[-1]) <= 300, said
            assert app.is_running and not app.monitor.active
        screen.query_one("#sweep_betas", Input).value = ""
        screen.query_one("#latent_dim", Input).value = "9" * 10_000
        await pilot.press("s")
        await pilot.pause()
        said = [n.message for n in app._notifications if n.title == "cannot start"]
        assert len(said[-1]) <= 300 and said[-1].endswith("…"), said[-1][:80]


async def test_a_burst_of_typed_keys_stops_at_the_fields_length(checkpoints, make_app):
    """A paste the terminal sends key by key (no bracketed paste) cost time growing with
    the square of the text: 200,000 digits held the UI for minutes. A field now takes
    at most MAX_TYPED characters, the sweep list SWEEP_TEXT."""
    from textual.widgets import Input

    from tui_vae.tui.screens.train import SWEEP_TEXT
    from tui_vae.tui.widgets.ordered_input import MAX_TYPED

    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "t")
        field = app.screen.query_one("#latent_dim", Input)
        field.focus()
        field.value = ""
        from textual import events

        for _ in range(MAX_TYPED + 50):  # as a terminal sends a paste: one burst
            app.post_message(events.Key("9", "9"))
        await pilot.pause(0.5)
        assert field.value == "9" * MAX_TYPED
        assert app.screen.query_one("#sweep_betas", Input).max_length == SWEEP_TEXT
