"""The headless CLI's live progress bar: it fits the terminal, its ETA always shown."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tui_vae import events as e
from tui_vae.config import TrainConfig
from tui_vae.progress import ConsoleReporter


def bar_text(width: int) -> str:
    """The live bar as drawn on a terminal `width` cells wide, late in a long run."""
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    reporter = ConsoleReporter(console)
    reporter(e.Started(config=TrainConfig(epochs=1000), device="cpu", train_size=60000,
                       test_size=10000, steps_per_epoch=469, resumed_from=None))
    reporter(e.StepLogged(epoch=998, step=468, steps_per_epoch=469, global_step=469 * 999 - 1,
                          loss=123.4, recon=90.1, kl=30.2, kl_weight=1.0, lr=1e-3,
                          samples_per_s=12345.0))
    table = reporter.progress.make_tasks_table(reporter.progress.tasks)
    lines = console.render_lines(table, console.options, pad=False)
    reporter.close()
    return "\n".join("".join(segment.text for segment in line) for line in lines)


@pytest.mark.parametrize("width", [56, 64, 80, 100, 120, 160])
def test_the_bar_fits_the_terminal_in_one_line_and_keeps_its_eta(width):
    text = bar_text(width)
    assert "\n" not in text and len(text) <= width, text
    assert text.startswith("epoch 999/1000") and "loss 123.4" in text
    assert text.rstrip().split()[-2] == "ETA", text  # the remaining time follows it, whole


def test_parts_are_left_out_whole_on_a_narrow_terminal_and_all_shown_on_a_wide_one():
    narrow, wide = bar_text(80), bar_text(160)
    assert "samples/s" not in narrow and "recon" not in narrow
    for part in ("step 468/469", "(recon 90.1, KL 30.2)", "12,345 samples/s"):
        assert part in wide


@pytest.mark.parametrize("finished, says", [
    (e.Finished(0, True, None), "stopped before the first step; nothing was saved"),
    (e.Finished(2, True, "run.safetensors"),
     "stopped after epoch 2; state saved to run.safetensors. "
     "Continue with: tui-vae train --out run.safetensors --resume"),
    (e.Finished(3, False, "run.safetensors"), "done: 3 epochs, checkpoint run.safetensors"),
], ids=["before-the-first-step", "stopped", "done"])
def test_the_last_line_says_what_was_saved(finished, says):
    written = io.StringIO()
    ConsoleReporter(Console(file=written, width=200, force_terminal=False))(finished)
    assert written.getvalue().strip() == says


def _said(*events) -> str:
    written = io.StringIO()
    reporter = ConsoleReporter(Console(file=written, width=300, force_terminal=False))
    for event in events:
        reporter(event)
    return written.getvalue().strip().splitlines()[-1]


def test_a_resumed_run_stopped_before_its_first_step_says_its_checkpoint_is_as_it_was():
    started = e.Started(config=TrainConfig(epochs=5, out="run.safetensors"), device="cpu",
                        train_size=100, test_size=10, steps_per_epoch=400,
                        resumed_from=(1, 358))
    assert _said(started, e.Finished(1, True, "run.safetensors")) == (
        "stopped before the first step; run.safetensors is as it was (in epoch 2 after "
        "step 358). Continue with: tui-vae train --out run.safetensors --resume")


def test_the_resume_command_quotes_paths_with_spaces():
    started = e.Started(config=TrainConfig(epochs=5, out="my runs/run one.safetensors",
                                           data_dir="my data"),
                        device="cpu", train_size=100, test_size=10, steps_per_epoch=4,
                        resumed_from=None)
    line = _said(started, e.CheckpointSaved("my runs/run one.safetensors", 2, 0),
                 e.Finished(2, True, "my runs/run one.safetensors"))
    assert line.endswith("Continue with: tui-vae train --out 'my runs/run one.safetensors' "
                         "--resume --data-dir 'my data'")


def test_lines_written_off_a_terminal_are_never_broken_by_rich():
    """A log or pipe (Rich assumes 80 columns there) holds each line whole, so the
    resume command pastes back as one line."""
    written = io.StringIO()
    reporter = ConsoleReporter(Console(file=written, force_terminal=False))  # 80 columns
    out = "runs/" + "a-long-run-name-" * 5 + ".safetensors"
    reporter(e.Started(config=TrainConfig(epochs=5, out=out, data_dir="/some/data/folder"),
                       device="cpu", train_size=60000, test_size=10000, steps_per_epoch=536,
                       resumed_from=None))
    reporter(e.CheckpointSaved(out, 2, 0))
    reporter(e.Finished(2, True, out))
    lines = written.getvalue().splitlines()
    assert lines[0].startswith("training VAE") and lines[0].endswith("on cpu"), lines
    assert len(lines) == 3 and len(lines[-1]) > 80, lines
    assert lines[-1].endswith(f"tui-vae train --out {out} --resume --data-dir /some/data/folder")


def test_a_line_break_in_a_file_name_is_printed_escaped():
    assert _said(e.Finished(1, False, "new\nline.safetensors")) == (
        "done: 1 epoch, checkpoint new\\nline.safetensors")


@pytest.mark.parametrize("seconds, shown", [(1.734, "1.7 s"), (0.1, "0.1 s"),
                                            (0.0123, "0.012 s"), (0.0004, "0.0004 s")])
def test_an_epochs_time_keeps_its_digits(seconds, shown):
    # A tiny run's epochs all read "0.0 s".
    from tui_vae.progress import epoch_line

    metrics = {"loss": 1.0, "recon": 1.0, "kl": 0.0}
    assert epoch_line(e.EpochEnded(0, 1, metrics, metrics, seconds)).endswith(f"  {shown}")
