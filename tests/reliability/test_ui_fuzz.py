"""The app under a storm of keys: 5,000 random presses across every view, with
resizes between 20x10 and 250x80 and a training run started and stopped in the
middle. Nothing may raise (Pilot re-raises any exception the app hit)."""

from __future__ import annotations

import random
from pathlib import Path

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


# --------------------------------------------------------------------------- a real storm

STORM_SECONDS = 60
WARM_UP_SECONDS = 10
KEYS_PER_SECOND = 30
RESIZES_PER_SECOND = 5
RECOVERY_LIMIT_S = 2.0
# Measured +8 to +89 MB over this storm after the warm-up (before freed memory
# was given back once input pauses, +83 to +123: glibc kept ~90 MB of freed
# decode buffers). What remains is mostly Textual's line caches in each of the
# ten views at the size it was last drawn, filling towards a plateau (a 3-minute
# storm: +86, +27, +18 MB a minute). A backlog that never drains grows without bound.
# Since Reconstruct and Generate fill a small terminal with half-size tiles (they
# drew one or two full-size ones and left the rest empty), more of every size is
# drawn and cached: +43 to +118 MB over this storm in seven runs (the code before
# it: +50, +60), and a 3-minute storm on the quiet machine ends +118 MB after
# settling, its peaks growing +154, +67, -5 MB a minute: a plateau, not a leak.
RSS_GROWTH_LIMIT_MB = 150
# Memory is read this long after a storm: the app gives the memory its views freed
# back to the system once input has paused a second (it looks each second).
SETTLE_S = 3.0
# In a terminal, keys are bytes: the escape sequences a terminal sends for each.
SEQUENCES = {**CHARACTERS, "up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C",
             "left": "\x1b[D", "shift+up": "\x1b[1;2A", "shift+down": "\x1b[1;2B",
             "shift+right": "\x1b[1;2C", "shift+left": "\x1b[1;2D", "pageup": "\x1b[5~",
             "pagedown": "\x1b[6~", "home": "\x1b[H", "end": "\x1b[F", "delete": "\x1b[3~",
             "shift+tab": "\x1b[Z"}
# The shipped models' size (hidden 400, z 20) in a folder of the test's own: the
# storm's keys include Models' delete and its confirmation.
STORM_APP = """
import faulthandler, os, signal, sys
import tui_vae.paths
# SIGUSR1 writes every thread's stack (from C: even while the UI thread is stuck
# in a blocking call) to the file the test names: a hang's cause is in its report.
faulthandler.register(signal.SIGUSR1, open(os.environ["STORM_STACKS"], "w"), all_threads=True)
# And a trigger file makes a thread write the asyncio tasks and the queues (an app
# that stopped drawing is usually idle, its coroutines waiting on each other).
sys.path.insert(0, os.environ["STORM_REPO"])
from tests.reliability import hang_report
hang_report.install(os.environ["STORM_STACKS"] + ".trigger", os.environ["STORM_STACKS"] + ".tasks")
from tui_vae.tui.app import TuiVaeApp
hang_report.watch_keys(TuiVaeApp)
hang_report.watch_batches(TuiVaeApp)
hang_report.watch_input()
from textual.screen import Screen
hang_report.watch_layouts(Screen)
tui_vae.paths.shipped_dir = lambda: None  # the repository's models stay out of reach
sys.argv = ["tui-vae", *sys.argv[1:]]
from tui_vae.cli import main
main()
"""


def storm_keys(rng: random.Random) -> str:
    key = rng.choice([k for k in KEYS if k != "s"])  # not s: no training run's CPU load
    return SEQUENCES.get(key, key)


def storm(app, rng: random.Random, seconds: float) -> tuple[int, int]:
    """KEYS_PER_SECOND random keys and RESIZES_PER_SECOND random sizes (1x1 to
    250x80) a second, evenly spread, for `seconds`: (keys sent, resizes)."""
    import time

    started = time.monotonic()
    sent = resized = 0
    tick = 1 / (KEYS_PER_SECOND + RESIZES_PER_SECOND)
    while time.monotonic() - started < seconds:
        if rng.random() < RESIZES_PER_SECOND / (KEYS_PER_SECOND + RESIZES_PER_SECOND):
            app.resize(rng.randint(1, 250), rng.randint(1, 80))
            resized += 1
        else:
            app.send(storm_keys(rng))
            sent += 1
        time.sleep(max(0.0, started + (sent + resized) * tick - time.monotonic()))
    return sent, resized


# Issue 18, item 7. Its last stalls (3 storms in 35: the UI thread laying out a
# view for over a minute, the App's held-back resize never applied) had the
# marks of a livelock in Textual's resize handling, rebuilt under Pilot in
# test_input_storms.py and fixed in screens/sized.py; since then every storm
# run on the loaded 2-core machine recovered (see the README's "Input
# storms"). About 90 s, so it runs in `make test-long` (tests/conftest.py,
# LONG_TESTS), which CI always runs; on a hang it prints every thread's stack,
# the asyncio tasks, the queues and the input (hang_report.py).
def test_a_minute_of_keys_and_resizes_leaves_the_app_responsive_and_memory_flat(tmp_path):
    import shutil
    import signal
    import time

    from tests.reliability.pty_app import PtyApp
    from tui_vae.paths import CHECKOUT_FOLDER

    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("cvae", "vae", "vae-2d"):
        shutil.copy(CHECKOUT_FOLDER / f"{name}.safetensors", folder)
    empty = tmp_path / "data"
    empty.mkdir()
    app = PtyApp(["--checkpoints", str(folder)], cwd=tmp_path, size=(120, 40),
                 env={"TUI_VAE_DATA_DIR": str(empty), "XDG_STATE_HOME": str(tmp_path / "s"),
                      "STORM_STACKS": str(tmp_path / "stacks.txt"),
                      "STORM_REPO": str(Path(__file__).resolve().parents[2])},
                 code=STORM_APP)
    try:
        app.wait_for_output(b"New samples", timeout=90)  # Generate, with its model
        for view in VIEW_KEYS + ["g"]:  # every view opened once: its module and caches
            app.send(view)
            time.sleep(1.0)
        rng = random.Random(7)
        # A first short storm fills what is filled once (every model the keys can
        # activate, caches at every size); memory must stay flat after it.
        storm(app, rng, WARM_UP_SECONDS)
        time.sleep(SETTLE_S)
        rss_before = app.rss_mb()
        sent = resized = 0
        rss = []  # every 10 s: a plateau is caches filling, a steady climb a leak
        for _ in range(STORM_SECONDS // 10):
            keys, sizes = storm(app, rng, 10)
            sent, resized, rss = sent + keys, resized + sizes, [*rss, round(app.rss_mb())]
        assert app.process.poll() is None, app.after_exit()
        # Responsive: a new size, then leave any dialog or field and open Models;
        # its footer must be drawn within the limit of the storm's end.
        ended = time.monotonic()
        mark = app.mark()
        app.resize(120, 40)
        # Escape, escape, m in the unambiguous CSI-u form (the kitty keyboard
        # protocol's, which Textual reads): a bare ESC byte read together with the
        # next key is alt+that key, and on a loaded machine the app's input thread
        # can read bytes sent 0.15 s apart in one go (a run went idle on Compare
        # after getting alt+m, its escapes and m never seen as such).
        app.send("\x1b[27u\x1b[27u\x1b[109u")
        try:
            # Keys read together are all routed to the widget focused then: with a
            # field focused, m is typed into it before the escapes have left it
            # (likely how 2 runs ended idle in Interpolate, m never handled by the
            # App). As a user would, press escape and
            # m again every half second; the time still counts from the storm's end.
            for _ in range(60):
                try:
                    app.wait_for_output(b"Compare A", since=mark, timeout=0.5)
                    break
                except AssertionError:
                    if app.process.poll() is not None:
                        raise
                    app.send("\x1b[27u\x1b[109u")
            else:
                raise AssertionError("no Models footer 30 s after the storm")
        except AssertionError:
            if app.process.poll() is None:  # stuck: where every thread and task is
                app.process.send_signal(signal.SIGUSR1)
                (tmp_path / "stacks.txt.trigger").touch()
                time.sleep(2.0)
                tasks = tmp_path / "stacks.txt.tasks"
                import re

                drawn = re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", " ",
                               app.output_since(mark)[-3000:].decode(errors="replace"))
                raise AssertionError(
                    f"no redraw 30 s after the storm; drawn since: {' '.join(drawn.split())}"
                    "\nstacks:\n"
                    + (tmp_path / "stacks.txt").read_text()
                    + (tasks.read_text() if tasks.exists() else "(no task report)")) from None
            raise
        recovery = time.monotonic() - ended
        time.sleep(SETTLE_S)
        rss_after = app.rss_mb()
        print(f"storm: {sent} keys, {resized} resizes in {STORM_SECONDS} s; recovered in "
              f"{recovery:.2f} s; RSS {rss_before:.0f} -> {rss_after:.0f} MB (every 10 s: {rss})")
        assert recovery < RECOVERY_LIMIT_S
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB
    finally:
        app.close()
