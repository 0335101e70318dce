"""The loss charts can be read: labelled y ticks, whole-number x ticks, a legend outside
the plot, braille dots, the log scale; and the Train view's status keeps its ETA whole."""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual.app import App, ComposeResult

from tui_vae.tui.screens.train import TrainScreen
from tui_vae.tui.widgets.loss_chart import (
    LossChart,
    Series,
    integer_ticks,
    linear_ticks,
    log_ticks,
)

from .test_train_view import fill, wait_for

BRAILLE = re.compile("[\u2801-\u28ff]")


class ChartApp(App):
    def __init__(self, title: str = "loss per step, nats"):
        super().__init__()
        self.chart_title = title

    def compose(self) -> ComposeResult:
        yield LossChart(self.chart_title, "step", id="chart")


def step_series(n: int = 300) -> tuple[Series, ...]:
    step = np.arange(n, dtype=float) * 5  # logged every 5 steps: 0 ... 1495
    recon = 90 + 450 * np.exp(-step / 300)
    kl = 25 - 20 * np.exp(-step / 200)
    return tuple(Series(name, colour, tuple(step), tuple(y)) for name, colour, y in
                 (("loss", "cyan", recon + kl), ("recon", "green", recon), ("KL", "magenta", kl)))


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_update(full=True)
    return ["".join(segment.text for segment in strip) for strip in update.strips]


async def drawn(size, series, log=False):
    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(LossChart)
        chart.series = series
        chart.log_scale = log
        await pilot.pause()
        return chart, screen_lines(app)


@pytest.mark.parametrize("size", [(100, 14), (60, 8), (44, 6)])
async def test_at_least_three_labelled_y_ticks(size):
    chart, lines = await drawn(size, step_series())
    assert len(chart.y_ticks) >= 3
    for line, label in chart.y_ticks:
        row = lines[chart.plot_top + line]
        assert row.startswith(label.rjust(8)) and row[8] == "┤"
        float(label)  # a plain number


async def test_step_and_epoch_ticks_are_whole_numbers():
    chart, lines = await drawn((100, 14), step_series())
    labels = [label for _, label in chart.x_ticks]
    assert len(labels) >= 3 and all(label.isdigit() for label in labels)
    assert not any("e+" in line for line in lines)
    assert labels[0] == "0" and int(labels[-1]) <= 1495
    epochs = (Series("test", "yellow", (1.0, 2.0, 3.0), (120.0, 110.0, 105.0)),)
    chart, lines = await drawn((60, 8), epochs)
    assert [label for _, label in chart.x_ticks] == ["1", "2", "3"]
    assert re.search(r"1 +2 +3", lines[-1])
    assert integer_ticks(0, 3, 200, 1) == [0, 1, 2, 3]  # never 0.5 between epochs
    # After a 1-epoch run: the one tick is epoch 1 (an epoch 2 that never ran was shown),
    # and its point is drawn under it.
    one = (Series("test", "yellow", (1.0,), (120.0,)),)
    chart, lines = await drawn((60, 8), one)
    assert [label for _, label in chart.x_ticks] == ["1"]
    column = lines[-1].index("1")
    dots = [line for line in lines[chart.plot_top:-2] if BRAILLE.search(line)]
    assert len(dots) == 1 and abs(BRAILLE.search(dots[0]).start() - column) <= 1


async def test_legend_sits_above_the_plot_and_wraps_whole_items():
    many = step_series() + tuple(Series(f"series {k}", "yellow", (0.0, 1.0), (1.0, 2.0))
                                 for k in range(4))
    chart, lines = await drawn((44, 12), many)
    assert chart.legend_height >= 2  # it wrapped, onto its own lines
    legend = "\n".join(lines[1: chart.plot_top])
    for series in many:  # every item whole on one legend line
        assert re.search(rf"━━ {series.name} [0-9.]+", legend)
    plot = lines[chart.plot_top:]
    assert not any("━━" in line or "series" in line for line in plot)
    # Wide enough: the legend shares the title's line and the plot starts below it.
    chart, lines = await drawn((100, 14), step_series())
    assert chart.plot_top == 1 and "━━ loss" in lines[0] and "━━ KL" in lines[0]


async def test_curves_are_braille_at_two_by_four_dots():
    chart, lines = await drawn((100, 14), step_series())
    plot = "".join(lines[chart.plot_top: chart.plot_top + 9])
    cells = BRAILLE.findall(plot)
    assert len(cells) > 80
    # Sub-cell resolution: cells with dots in one column only, and with one dot row only.
    bits = [ord(c) - 0x2800 for c in cells]
    assert any(b & 0x47 and not b & 0xB8 for b in bits)  # left column only
    assert any(b in (0x01, 0x08, 0x09, 0x40, 0x80, 0xC0) for b in bits)  # one row


async def test_log_scale_shows_log_ticks_and_toggles_in_the_train_view(checkpoints, make_app):
    chart, lines = await drawn((100, 14), step_series(), log=True)
    labels = [float(label) for _, label in chart.y_ticks]
    assert len(labels) >= 3 and "(log scale)" in lines[0]
    ratios = np.diff(np.log10(labels[::-1]))
    assert (ratios > 0.29).all()  # 1-2-5 steps or decades, not a linear spread
    assert log_ticks(90, 560, 5) == [100, 200, 500]
    ticks, low, high = linear_ticks(90, 560, 7)
    assert 3 <= len(ticks) <= 7 and low <= 90 and high >= 560 and high - low < 1000
    assert len(set(np.round(np.diff(ticks), 9))) == 1  # evenly spaced
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        charts = list(app.screen.query(LossChart))
        await pilot.press("y")
        assert all(c.log_scale for c in charts)
        await pilot.press("y")
        assert not any(c.log_scale for c in charts)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_train_status_shows_the_whole_eta(size, checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        fill(screen, model="vae", dataset="mnist-sample", latent_dim=3, hidden_dim=16,
             epochs=400, batch_size=50)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.monitor.snapshot()[0].eta_s is not None)
        screen.refresh_run()
        await pilot.pause()
        status = str(screen.query_one("#progress-text").render())
        eta = re.search(r"ETA \d+:\d\d:\d\d", status).group()
        assert any(eta in line for line in screen_lines(app)), eta
        steps = screen.query_one("#chart-steps", LossChart)
        await wait_for(pilot, lambda: len(steps.y_ticks) >= 3)  # readable in the view too
        assert steps.x_ticks and all(label.isdigit() for _, label in steps.x_ticks)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.monitor.active, timeout=10)
        await app.workers.wait_for_complete()


async def test_without_colour_each_curve_has_its_own_dash(monkeypatch):
    from tui_vae.tui.widgets.loss_chart import plot_dots

    monkeypatch.setenv("NO_COLOR", "1")  # read when the App is built
    chart, lines = await drawn((100, 14), step_series())
    header = "\n".join(lines[: chart.plot_top])
    assert "━━━ loss" in header and "━ ━ recon" in header and "┈┈┈ KL" in header
    # The same flat line, drawn as each of the first three series: solid, then gaps.
    flat = Series("flat", "", (0.0, 1.0), (1.0, 1.0))
    covered = []
    for index in range(3):
        grid = plot_dots([flat] * (index + 1), 20, 2, (0.0, 1.0), (0.0, 2.0), log=False,
                         dashed=True)
        covered.append(((grid == index).any(axis=0)).mean())
    assert covered[0] == 1.0 and covered[1] == 0.5 and covered[2] == 0.25


async def test_the_log_scale_says_how_many_values_it_cannot_draw():
    gaussian = (Series("loss", "cyan", (1.0, 2.0, 3.0, 4.0), (50.0, 3.0, -20.0, -35.0)),)
    chart, lines = await drawn((100, 14), gaussian, log=True)
    assert "(log scale; 2 values <= 0 not drawn)" in lines[0]
    chart, lines = await drawn((100, 14), step_series(), log=True)
    assert "(log scale)" in lines[0] and "not drawn" not in lines[0]


async def test_a_narrow_chart_keeps_its_log_scale_note_and_whole_words():
    """At 80x24 the Train view's step chart is 41 cells wide: its title was cut to
    "train loss per step (smoothed), nats  (lo"."""
    app = ChartApp(title="train loss per step (smoothed), nats")
    async with app.run_test(size=(41, 12)) as pilot:
        chart = app.query_one(LossChart)
        chart.series, chart.log_scale = step_series(), True
        await pilot.pause()
        title = screen_lines(app)[0].rstrip()
    assert title == "train loss per step, nats  (log scale)", title


async def test_a_run_name_holding_an_escape_sequence_is_drawn_escaped():
    """Runs are named by their file: its control characters never reach the terminal."""
    odd = (Series("evil\x1b[31mred\x1b]0;PWNED\x07", "yellow", (0.0, 1.0), (1.0, 2.0)),)
    chart, lines = await drawn((100, 14), odd)
    text = "\n".join(lines)
    assert "evil\\x1b[31mred\\x1b]0;PWNED\\x07" in text
    assert "\x1b" not in text and "\x07" not in text


@pytest.mark.parametrize("width, expected", [
    (40, "loss per epoch, nats"),
    (100, "loss per epoch, nats (train: its mean as it trained; test: at its end)")])
async def test_a_title_too_long_leaves_its_aside_out_whole(width, expected):
    """At 80x24 the Train view's epoch chart read "(train: its mean as…", an aside cut
    half-way: a title that does not fit leaves its parenthesised asides out."""
    app = ChartApp("loss per epoch, nats (train: its mean as it trained; test: at its end)")
    async with app.run_test(size=(width, 12)) as pilot:
        chart = app.query_one(LossChart)
        chart.series = step_series(50)
        await pilot.pause()
        assert screen_lines(app)[0].strip() == expected
