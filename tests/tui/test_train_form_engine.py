"""The Train form offers what the config registries hold and trains any of it."""

from __future__ import annotations

from textual.widgets import Select

from tests.tui.test_train_view import SIZE, fill, wait_for
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
        for name, _ in CHOICE_FIELDS:
            select = screen.query_one(f"#{name}", Select)
            offered = [value for _, value in select._options if value is not Select.BLANK]
            assert offered == list(field_choices(name)) and select.value == field_default(name)
        fill(screen, model="cvae", dataset="mnist-sample", latent_dim=2, hidden_dim=16,
             epochs=1, batch_size=100)
        screen.query_one("#arch", Select).value = "conv"
        screen.query_one("#likelihood", Select).value = "gaussian"
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.monitor.active)
        await app.workers.wait_for_complete()
        progress, _ = app.monitor.snapshot()
        assert progress.state == "finished", progress.message
        assert progress.gradients == "autograd" and progress.model == "cVAE conv/gaussian z=2"
        saved = [e for e in app.entries if e.path.name.startswith("cvae-mnist-sample-")]
        assert saved and saved[0].model_config["likelihood"] == "gaussian"
