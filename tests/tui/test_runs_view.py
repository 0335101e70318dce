"""Runs: the table, the overlaid curves, the rate-distortion plane and its cursor."""

from __future__ import annotations

import asyncio
import shutil

from tests.tui.test_views import open_view
from tui_vae.tui.screens.runs import RunsScreen
from tui_vae.tui.widgets.checkpoint_table import CheckpointTable
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.tui.widgets.loss_chart import LossChart
from tui_vae.tui.widgets.rd_plane import RatePlane


async def _wait(pilot, condition, timeout=30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


async def test_runs_table_curves_and_plane(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await pilot.pause()
        table = screen.query_one(CheckpointTable)
        names = [screen.runs[row].name for row in range(table.row_count)]
        assert sorted(names) == ["cvae", "vae", "vae-beta0"]
        chart = screen.query_one("#runs-chart", LossChart)
        assert sorted(s.name for s in chart.series) == sorted(names)  # all overlaid at first
        assert len({s.color for s in chart.series}) == 3  # a colour per run
        await pilot.press("space")  # the cursor's run leaves the chart
        assert len(chart.series) == 2 and names[0] not in {s.name for s in chart.series}
        await pilot.press("space")
        assert len(chart.series) == 3
        await pilot.press("k")  # next metric: test recon
        assert chart.title.startswith("test recon")
        assert all(s.y == tuple(r.curve("test_recon")[1]) for s, r in
                   zip(chart.series, [r for r in screen.runs if r.path in screen.overlaid]))
        await pilot.press("p")  # the plane, the cursor's run highlighted, its pictures
        plane = screen.query_one(RatePlane)
        assert plane.display and not chart.display
        await pilot.pause()
        assert len(plane.points) == 3 and len(plane.placed) == 3
        beta0 = next(k for k, p in enumerate(plane.points) if p.label == "b=0")
        others = [c for k, (c, _) in plane.placed.items() if k != beta0]
        assert plane.placed[beta0][0] > max(others)  # beta = 0 has by far the largest rate
        before = plane.cursor
        await pilot.press("down")
        assert plane.cursor != before and plane.cursor == [
            r.path for r in screen._plane_runs()].index(screen.selected().path)
        await _wait(pilot, lambda: screen.query_one("#runs-samples", ImageGrid).images)
        assert screen.query_one("#runs-recon", ImageGrid).images
        caption = str(screen.query_one("#runs-pictures-caption").render())
        assert "I(x;z)" in caption and "KL(q(z)||p(z))" in caption  # ELBO surgery


async def test_the_plane_says_what_its_marks_are_and_the_table_ties_rows_to_them(
        checkpoints, make_app):
    from rich.color import Color

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("u")
        screen = app.screen
        await pilot.pause()
        table = screen.query_one(CheckpointTable)
        # Each overlaid row's mark in its curve's colour; a row off the chart has none.
        chart = screen.query_one("#runs-chart", LossChart)
        for row, run in enumerate(screen.runs):
            strip = table.render_line(row + 1)
            mark = next(seg for seg in strip if seg.text.strip())
            curve = next(s for s in chart.series if s.name == run.name)
            assert mark.text.strip() == "■" and mark.style.color == Color.parse(curve.color)
        await pilot.press("space")  # the cursor's run off the chart: its mark goes, uncoloured
        row = table.render_line(1)
        assert "■" not in row.text
        assert not {seg.style.color for seg in row if seg.style} & {
            Color.parse(s.color) for s in chart.series}
        status = screen.query_one("#status")
        assert "k metric" in str(status.render()) and screen.check_action("next_metric", ())
        await pilot.press("p")
        await pilot.pause()
        plane = screen.query_one(RatePlane)
        lines = [strip.text for strip in plane.build(plane.size.width, plane.size.height)]
        assert any(line.startswith("◆ cursor's run · ● others") for line in lines), lines
        # The curves' keys are not offered over the plane, nor said in its status line.
        said = str(status.render())
        assert "k metric" not in said and "y log" not in said and "p curves" in said
        assert not screen.check_action("next_metric", ()) and not screen.check_action(
            "toggle_log", ())
        title = chart.title
        await pilot.press("k")
        assert chart.title == title


async def test_a_new_run_appears_without_a_key(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("u")
        screen = app.screen
        shutil.copy(checkpoints / "vae.safetensors", checkpoints / "vae-copy.safetensors")
        await _wait(pilot, lambda: len(screen.runs) == 4)
        assert "vae-copy" in [r.name for r in screen.runs]
        # and on the chart: a run trained meanwhile was left off it
        assert checkpoints / "vae-copy.safetensors" in screen.overlaid


async def test_the_plane_holds_only_runs_in_the_same_units(checkpoints, make_app):
    """A continuous-Bernoulli run's distortion is a density (about -2,000 nats on MNIST):
    on one plane with Bernoulli runs it crushed them into a line. The plane holds the
    cursor's run's data and likelihood, and says how many it leaves out."""
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    model = ModelConfig(latent_dim=4, hidden_dim=32, dataset="mnist-sample",
                        likelihood="continuous-bernoulli")
    Trainer(TrainConfig(model=model, epochs=1, batch_size=100, device="cpu",
                        out=str(checkpoints / "zz-cb.safetensors"))).run()
    # A run stopped before its first epoch ended: no test evaluation, no point.
    from tui_vae import checkpoints as ck
    from tui_vae.models import build_model

    early = ModelConfig(latent_dim=4, hidden_dim=32, dataset="mnist-sample")
    ck.save_checkpoint(checkpoints / "zz-early.safetensors", build_model(early, seed=0),
                       ck.build_metadata(early, {"seed": 0}, {"epochs_done": 0, "step": 3}, []))
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("u", "p")
        screen = app.screen
        await pilot.pause()
        plane = screen.query_one(RatePlane)
        assert screen.selected().likelihood == "bernoulli"
        assert len(plane.points) == 3 and len(plane.placed) == 3
        assert plane.scope == "mnist-sample, bernoulli; 1 other run not comparable"
        table = screen.query_one(CheckpointTable)
        table.move_cursor(next(i for i, r in enumerate(screen.runs) if r.name == "zz-cb"))
        await pilot.pause()
        assert len(plane.points) == 1 and plane.cursor == 0
        assert plane.scope == "mnist-sample, continuous-bernoulli; 3 other runs not comparable"
        # The cursor on a run with no point: it said nothing of it, over another's plane.
        table.move_cursor(next(i for i, r in enumerate(screen.runs) if r.name == "zz-early"))
        await pilot.pause()
        assert plane.cursor == -1 and len(plane.points) == 3
        assert plane.scope == ("zz-early: no test evaluation, not on the plane; mnist-sample, "
                               "bernoulli; 1 other run not comparable")


async def test_runs_at_80x24_cut_no_column_and_show_the_pictures(checkpoints, make_app):
    """At 80x24 the table keeps whole columns (the run names give way first, the
    scrollbar counted), and the plane's column shows the cursor's run's pictures,
    smaller where half size does not fit, with its figures never cut."""
    for k in range(12):  # enough runs for a scrollbar
        shutil.copy(checkpoints / "vae.safetensors", checkpoints / f"vae-copy-{k:02d}.safetensors")
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "u")
        screen = app.screen
        table = screen.query_one(CheckpointTable)
        room = table.scrollable_content_region.width
        header = table.render_line(0).text[:room].rstrip()
        assert header.endswith("recon") or header.endswith("KL") or header.endswith("time")
        # The columns left off are named (KL, the plane's x axis, went unsaid).
        cut = table.cut_columns()
        assert cut and cut[-1] == "dataset" and not any(title in header for title in cut)
        assert screen.query_one("#status").text.endswith(f"{', '.join(cut)}: a wider terminal")
        await pilot.press("p")
        await _wait(pilot, lambda: screen.query_one("#runs-samples", ImageGrid).images)
        await pilot.pause(0.2)
        for grid in ("#runs-recon", "#runs-samples"):
            assert screen.query_one(grid, ImageGrid).tile_regions(), grid
        caption = screen.query_one("#runs-pictures-caption")
        for line in str(caption.render()).splitlines()[1:]:  # the figures' lines
            assert len(line) <= caption.size.width, line


async def test_without_colour_no_more_runs_are_overlaid_than_dashes_tell_apart(
        checkpoints, make_app, monkeypatch):
    from tui_vae.tui.widgets.loss_chart import DASHES

    for index in range(len(DASHES) + 2):  # more runs than there are dash patterns
        shutil.copy(checkpoints / "vae.safetensors", checkpoints / f"extra{index}.safetensors")
    monkeypatch.setenv("NO_COLOR", "1")  # read when the App is built
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(app, pilot, "u")
        screen = app.screen
        assert len(screen.runs) > len(DASHES)
        assert len(screen.overlaid) == len(DASHES)  # each its own dash
        table = screen.query_one(CheckpointTable)
        outside = next(row for row, run in enumerate(screen.runs)
                       if run.path not in screen.overlaid)
        table.move_cursor(outside)
        await pilot.press("space")
        assert len(screen.overlaid) == len(DASHES)
        assert any("without colour" in n.message for n in app._notifications)
        # and the status says why, where the count alone (4 against 6 in colour) did not
        status = str(screen.query_one("#status").render())
        assert f"{len(DASHES)} overlaid (at most {len(DASHES)}: a dash pattern each" in status
        await pilot.press("p")  # the plane's status names space as the footer does
        assert "space overlay" in str(screen.query_one("#status").render())


async def test_runs_of_other_data_are_not_overlaid_at_first_and_the_table_names_it(
        checkpoints, make_app):
    """A run on other data (its losses in other units or far larger) would flatten the
    other curves: the chart starts with the runs comparable with the first one."""
    from tests.unit.test_checkpoints import rewrite_meta

    other = checkpoints / "zz-kmnist.safetensors"
    shutil.copyfile(checkpoints / "vae.safetensors", other)

    def kmnist(meta, header):
        meta["dataset"] = meta["model"]["dataset"] = "kmnist"

    rewrite_meta(other, kmnist)
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await open_view(app, pilot, "u")
        screen = app.screen
        names = [run.name for run in screen.runs]
        assert sorted(names) == ["cvae", "vae", "vae-beta0", "zz-kmnist"]
        chart = screen.query_one("#runs-chart", LossChart)
        assert sorted(s.name for s in chart.series) == ["cvae", "vae", "vae-beta0"]
        row = screen._cells(names.index("zz-kmnist"))
        assert row[-1] == "kmnist" and screen._cells(0)[-1] == screen.runs[0].dataset


def plane_app():
    """An app holding nothing but a rate-distortion plane."""
    from textual.app import App

    class PlaneApp(App):
        def compose(self):
            yield RatePlane()

    return PlaneApp()


async def test_the_cursors_label_is_whole_among_crowded_points():
    """At 120x40 the cursor's label ran into a neighbour's marker: "◆ b=● b=1"."""

    from tui_vae.tui.widgets.rd_plane import PlanePoint

    points = tuple(PlanePoint(f"b={beta:g}", rate, 100.0 - rate / 2, "")
                   for beta, rate in ((1, 20.0), (0.9, 21.0), (1.1, 19.5), (4, 3.0)))

    app = plane_app()
    async with app.run_test(size=(60, 20)) as pilot:
        plane = app.query_one(RatePlane)
        plane.points, plane.cursor = points, 0
        await pilot.pause()
        update = app.screen._compositor.render_update(full=True)
        lines = ["".join(seg.text for seg in strip) for strip in update.strips]
    drawn = next(text for text in lines if "◆" in text and "cursor's run" not in text)
    assert 0 in plane.labelled
    if plane.placed[2] == plane.placed[0]:  # b=1.1 under the cursor's marker: unlabelled
        assert 2 not in plane.labelled and "b=1.1" not in "".join(lines)
    assert "◆ b=1 " in drawn or " b=1 ◆" in drawn, drawn
    for index in plane.labelled:  # every label drawn is whole, beside its marker
        label = points[index].label
        assert any(f"● {label}" in text or f"{label} ●" in text or f"◆ {label}" in text
                   or f"{label} ◆" in text for text in lines), (label, lines)


async def test_the_planes_scope_line_is_whole_words_at_any_width():
    """At 80 columns it read "8 other runs not compar"."""

    from tui_vae.tui.widgets.rd_plane import PlanePoint

    app = plane_app()
    async with app.run_test(size=(40, 20)) as pilot:
        plane = app.query_one(RatePlane)
        plane.points = (PlanePoint("b=1", 20.0, 90.0, ""),)
        plane.scope = "mnist-sample, bernoulli; 8 other runs not comparable"
        await pilot.pause()
        update = app.screen._compositor.render_update(full=True)
        lines = ["".join(seg.text for seg in strip).rstrip() for strip in update.strips]
    assert "mnist-sample, bernoulli" in lines, lines
    assert not any("compar" in line for line in lines)


async def test_losses_no_chart_can_place_leave_the_explorer_running(checkpoints, make_app):
    """A header's history of 1e308 and -1e308 (finite, so valid) crashed the explorer:
    the chart's axis overflowed on the overlay, the plane's on `p`."""
    from tests.unit.test_checkpoints import rewrite_meta

    def huge(meta, header):
        first = meta["history"][0]
        meta["history"] = [{**first, "epoch": 1, "test": {**first["test"], "loss": 1e308}},
                           {**first, "epoch": 2, "test": {"loss": -1e308, "recon": -1e308,
                                                          "kl": 1e308}}]

    rewrite_meta(checkpoints / "vae.safetensors", huge)
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("u")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(CheckpointTable)
        row = next(k for k in range(table.row_count) if screen.runs[k].name == "vae")
        assert "1e+308" in table._format(screen._cells(row))  # said, in a few digits
        table.move_cursor(row)
        for key in ("space", "space", "y", "k", "p"):
            await pilot.press(key)
            await pilot.pause()
        assert app.is_running and app.crash is None
        plane = screen.query_one(RatePlane)
        assert all(abs(p.rate) <= 1e15 and abs(p.distortion) <= 1e15 for p in plane.points)


async def test_a_run_far_above_the_others_is_not_overlaid_at_first(checkpoints, make_app):
    """The shipped beta = 0 run (507 nats against about 100) set the chart's axis to
    600 and flattened every other curve into one band: it starts off the chart."""
    from tests.unit.test_checkpoints import rewrite_meta

    far = checkpoints / "zz-far.safetensors"
    shutil.copyfile(checkpoints / "vae.safetensors", far)

    def five_times(meta, header):
        for record in meta["history"]:
            record["test"]["loss"] *= 5

    rewrite_meta(far, five_times)
    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await open_view(app, pilot, "u")
        screen = app.screen
        chart = screen.query_one("#runs-chart", LossChart)
        shown = {s.name for s in chart.series}
        assert "zz-far" not in shown and "vae" in shown, shown
        table = screen.query_one(CheckpointTable)
        table.move_cursor(row=[r.name for r in screen.runs].index("zz-far"))
        await pilot.press("space")  # still there to add
        assert "zz-far" in {s.name for s in chart.series}
        # Taking every run off leaves none on (the first choice came back before).
        for index, run in enumerate(list(screen.runs)):
            if run.path in screen.overlaid:
                table.move_cursor(row=index)
                await pilot.press("space")
        await pilot.pause()
        assert not screen.overlaid and not chart.series
        assert "space adds" in "".join(strip.text for strip in chart.build(80, 10))


def test_every_overlaid_run_has_a_colour_of_its_own_as_drawn():
    # Textual draws ANSI colour names through its terminal theme, where red and
    # magenta (and cyan and bright cyan, green and bright green) are one colour:
    # ten named colours drew six, and two runs' curves and legends looked alike.
    from rich.color import Color, ColorSystem
    from textual._ansi_theme import DEFAULT_TERMINAL_THEME

    from tui_vae.tui.screens.runs import COLOURS, MAX_OVERLAID

    def drawn(colour, system):
        rgb = Color.parse(colour).get_truecolor(DEFAULT_TERMINAL_THEME)
        return Color.from_triplet(rgb).downgrade(system).triplet or rgb

    assert len(COLOURS) >= MAX_OVERLAID
    for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT):
        assert len({drawn(c, system) for c in COLOURS}) == len(COLOURS), system
