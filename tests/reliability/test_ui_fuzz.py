"""The app under a storm of keys: 5,000 random presses across every view, with
resizes between 20x10 and 250x80 and a training run started and stopped in the
middle. Nothing may raise (Pilot re-raises any exception the app hit)."""

from __future__ import annotations

import random

from tui_vae.tui.app import VIEWS

PRESSES = 5000
VIEW_KEYS = [key for key, _ in VIEWS.values()]
KEYS = [
    *VIEW_KEYS * 3,  # visit the views often
    *"0123456789",
    "space", "plus", "minus", "a", "b", "w", "n", "p", "s", "x", "y", "f", "o", "e",
    "u", "z", "j", "k", "h", "question_mark", "escape", "enter", "tab", "shift+tab",
    "up", "down", "left", "right", "shift+up", "shift+down", "shift+left", "shift+right",
    "pageup", "pagedown", "home", "end", "backspace", "delete",
    "left_square_bracket", "right_square_bracket", "full_stop", "comma",
]  # not q / ctrl+q / ctrl+c (quit) and not ctrl+p (the palette can quit too)


CHARACTERS = {"space": " ", "plus": "+", "minus": "-", "full_stop": ".", "comma": ",",
              "left_square_bracket": "[", "right_square_bracket": "]",
              "question_mark": "?", "enter": "\r", "tab": "\t", "escape": "\x1b",
              "backspace": "\x7f"}


def send_keys(app, keys: list[str]) -> None:
    """Queue key events as the terminal driver does, without waiting between them:
    keys arrive faster than the app draws, as when a user holds a key down."""
    from textual import events

    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else CHARACTERS.get(key)))


async def test_five_thousand_random_keys_with_resizes_and_a_training_run(
        checkpoints, make_app, tmp_path):
    from textual.widgets import Input, Select

    from tui_vae.tui.screens.train import TrainScreen

    rng = random.Random(1234)
    app = make_app(checkpoints)
    app.workspace.export_dir = tmp_path / "exports"
    pressed, sizes, trained = 0, set(), False
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        while pressed < PRESSES:
            if pressed % 100 == 0:
                size = (rng.randint(20, 250), rng.randint(10, 80))
                sizes.add(size)
                await pilot.resize_terminal(*size)
            if pressed == PRESSES // 2:  # a real run, started from the Train view
                await pilot.press("escape", "escape", "t")
                await pilot.pause()
                screen = app.screen
                assert isinstance(screen, TrainScreen)
                screen.query_one("#dataset", Select).value = "mnist-sample"
                for field, value in (("hidden_dim", "16"), ("latent_dim", "2"),
                                     ("epochs", "50"), ("batch_size", "100")):
                    screen.query_one(f"#{field}", Input).value = value
                app.set_focus(None)
                await pilot.press("s")
                await pilot.pause()
                trained = app.monitor.active
            if pressed == PRESSES // 2 + 600:
                app.stop_training()
            keys = [rng.choice(KEYS) for _ in range(20)]
            send_keys(app, keys)
            await pilot.pause()  # until the app has handled them and redrawn
            pressed += len(keys)
            assert app.is_running
        app.stop_training()
        await app.workers.wait_for_complete()
    assert trained, "the training run did not start"
    assert app.monitor.progress.state in ("stopped", "finished")
    assert len(sizes) >= 40
