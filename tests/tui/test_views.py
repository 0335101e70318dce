"""Pilot tests: every view's keys lead to the expected state and images."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from tui_vae.tui.screens.compare import CompareScreen
from tui_vae.tui.screens.generate import GenerateScreen
from tui_vae.tui.screens.help import HelpScreen
from tui_vae.tui.screens.interpolate import InterpolateScreen
from tui_vae.tui.screens.models import ModelsScreen
from tui_vae.tui.screens.reconstruct import ReconstructScreen
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.workspace import SAMPLE_SOURCE, SAMPLE_TEST_SOURCE, Workspace

SIZE = (120, 40)


async def workers_done(app) -> None:
    """Wait for the app's workers; one cancelled meanwhile (a preview replaced by a
    newer one) is no failure, as `wait_for_complete` would make it."""
    from textual.worker import WorkerCancelled

    for worker in list(app.workers):
        try:
            await worker.wait()
        except WorkerCancelled:
            pass


async def settle(app, pilot) -> None:
    await workers_done(app)
    await pilot.pause()


async def activate(app, pilot, name: str) -> None:
    path = next(e.path for e in app.entries if e.path.name == name)
    app.activate(path)
    await settle(app, pilot)
    assert app.model is not None and app.active == path


async def open_view(app, pilot, key: str, checkpoint: str | None = None) -> None:
    """Wait for the app, make `checkpoint` active if given, and switch to the view on `key`."""
    await settle(app, pilot)
    if checkpoint:
        await activate(app, pilot, checkpoint)
    await pilot.press(key)
    await settle(app, pilot)


def grid(app, selector: str) -> ImageGrid:
    return app.screen.query_one(selector, ImageGrid)


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_opens_on_generate_with_the_active_model_and_the_sample(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, GenerateScreen)
        assert app.active.name == "cvae.safetensors"  # no shipped vae: the first by name
        assert app.sub_title.startswith("cvae · cVAE")
        # a model of the sample is shown the sample's own test split, not the digits
        # it trained on
        assert "cpu" in app.sub_title and SAMPLE_TEST_SOURCE in app.sub_title
        samples = grid(app, "#samples")
        assert len(samples.images) == samples.capacity(captions=False) > 0
        assert samples.images[0].shape == (28, 28)


async def test_first_paint_shows_loading_until_the_model_arrives(checkpoints, make_app):
    release = threading.Event()

    class SlowWorkspace(Workspace):
        def model(self, path):
            release.wait(10)
            return super().model(path)

    app = make_app(checkpoints, SlowWorkspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.loading and app.model is None
        assert "Loading" in grid(app, "#samples").placeholder
        release.set()
        await settle(app, pilot)
        assert not app.loading and len(grid(app, "#samples").images) > 0


async def test_generate_keys_pick_class_redraw_and_change_temperature(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        before = np.stack(grid(app, "#samples").images)
        await pilot.press("3")
        assert screen.label == 3
        after = np.stack(grid(app, "#samples").images)
        assert not np.array_equal(before, after)  # the class changed the images
        await pilot.press("space")
        assert screen.seed == 1
        assert not np.array_equal(after, np.stack(grid(app, "#samples").images))
        await pilot.press("minus", "minus")
        assert screen.temperature == pytest.approx(0.8)
        await pilot.press(*["minus"] * 4)  # past the lowest: it stays, and says so
        assert screen.temperature == pytest.approx(0.5)
        assert any("0.5 is the lowest offered" in n.message for n in app._notifications)
        await pilot.press("plus", "plus", "plus")
        await pilot.press("plus")
        assert screen.temperature == pytest.approx(0.9)
        await pilot.press("a")
        columns, _ = grid(app, "#samples").fit(captions=False)
        assert screen.rows and len(grid(app, "#samples").images) == 10 * columns
        assert "temperature 0.9" in str(screen.query_one("#status").render())


def footer_keys(app) -> dict[str, str]:
    """key -> description of the bindings the footer shows now."""
    return {key: active.binding.description for key, active in app.screen.active_bindings.items()
            if active.binding.show}


def help_text(app) -> str:
    """The help dialog's text, wrapped at the width the dialog gives it on screen."""
    from rich.console import Console

    static = app.screen.query_one("Static")
    console = Console(width=static.size.width, file=io.StringIO(), record=True)
    console.print(static.content)
    return console.export_text()


async def test_class_keys_show_and_work_only_for_a_cvae(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)  # the cVAE is active: 0-9 and "All classes" apply
        assert {"0", "a"} <= footer_keys(app).keys()
        await pilot.press("a")  # a row per class, the rows named in the status
        await settle(app, pilot)
        status = str(app.screen.query_one("#status").render())
        assert "a row per class, the same z down each column" in status
        # The temperature and seed lead, so that 80x24's two lines never cut them off.
        assert status.startswith("Samples from the prior N(0, I) at temperature 1, seed 0: ")
        samples = app.screen.query_one("#samples", ImageGrid)  # each row names its class
        columns = len(samples.images) // 10
        assert samples._captions[::columns] == [f"class {k}" for k in range(10)]
        assert not any(c for i, c in enumerate(samples._captions) if i % columns)
        await pilot.press("a")
        await activate(app, pilot, "vae.safetensors")
        assert not {"0", "a"} & footer_keys(app).keys()
        # "+ Temp + - Temp -" read as a puzzle in the footer
        assert footer_keys(app)["plus"] == "Hotter" and footer_keys(app)["minus"] == "Colder"
        await pilot.press("5", "a")
        assert app.screen.label == 0 and not app.screen.rows  # the keys do nothing
        await pilot.press("question_mark")
        text = help_text(app)
        assert "New samples" in text and "Class" not in text and "All classes" not in text
        await pilot.press("escape", "l")
        await settle(app, pilot)
        # The manifold grid needs a 2-D plain VAE; this one has a 4-D latent.
        assert "space" not in footer_keys(app) and "0" not in footer_keys(app)


async def test_help_lists_the_class_keys_once_and_question_mark_as_typed(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        text = help_text(app)
        assert text.count("0-9") == 2  # the Generate key line and the views' summary
        assert "generate.class0..class9" in text
        assert "question_mark" not in text and "  ?   " in text
        await pilot.press("escape")
        assert isinstance(app.screen, GenerateScreen)


async def test_help_at_80x24_scrolls_with_the_keys_at_once(checkpoints, make_app):
    from textual.containers import VerticalScroll

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        scroll = app.screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0  # longer than the screen
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("escape")
        assert isinstance(app.screen, GenerateScreen)


async def test_reconstruct_pages_filters_and_ranks_by_loss(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "r")
        screen = app.screen
        assert isinstance(screen, ReconstructScreen)
        pairs = grid(app, "#pairs")
        assert pairs.images[0].shape == (28, 57) and pairs._captions[0].startswith("#0 ")
        await pilot.press("right")
        assert screen.page == 1 and not pairs._captions[0].startswith("#0 ")
        await pilot.press("4")
        labels = app.images.split.labels.numpy()
        shown = [int(c.split()[0][1:]) for c in pairs._captions]
        assert screen.page == 0 and all(labels[i] == 4 for i in shown)
        await pilot.press("a", "w")
        losses = [float(c.split()[-1]) for c in pairs._captions]
        assert losses == sorted(losses, reverse=True)
        assert losses[0] == pytest.approx(screen.losses().max(), abs=0.5)


async def test_generate_samples_the_aggregate_posterior_on_request(checkpoints, make_app):
    import torch

    from tui_vae.tui.screens.generate import GenerateScreen

    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "g", "vae.safetensors")
        screen = app.screen
        assert isinstance(screen, GenerateScreen)
        prior = [image.copy() for image in grid(app, "#samples").images]
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        mixture = screen.mixture()
        assert mixture is not None and mixture.means.shape[1] == app.model.config.latent_dim
        shown = grid(app, "#samples").images
        assert len(shown) == len(prior) and not all(np.array_equal(a, b)
                                                    for a, b in zip(shown, prior))
        from tui_vae.gallery import mixture_codes

        z = mixture_codes(mixture, len(shown), torch.Generator().manual_seed(screen.seed), 1.0)
        expected = app.model.decode(z).numpy()[:, 0]
        assert np.allclose(expected * 255, shown, atol=1)
        assert "aggregate posterior" in screen.query_one("#status").render().plain
        await pilot.press("p")
        assert all(np.array_equal(a, b) for a, b in zip(grid(app, "#samples").images, prior))


async def test_a_view_that_cannot_redraw_says_so_once_while_the_cause_lasts(checkpoints,
                                                                             make_app):
    """A redraw failing at every poll (a link loop as the runs folder) stacked a notice a
    second."""
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        healthy = type(screen).redraw

        def broken(self):
            raise RuntimeError("Symlink loop from 'runs'")

        type(screen).redraw = broken
        try:
            for _ in range(3):
                screen.sync(force=True)
            await pilot.pause()
            assert sum("Symlink loop" in n for n in notices(app)) == 1
        finally:
            type(screen).redraw = healthy
        screen.sync(force=True)  # drawn again: a later failure is told again
        type(screen).redraw = broken
        try:
            screen.sync(force=True)
            await pilot.pause()
            assert sum("Symlink loop" in n for n in notices(app)) == 2
        finally:
            type(screen).redraw = healthy


async def test_reconstructs_captions_say_which_loss_they_are_at_80x24(checkpoints, make_app):
    """The captions' numbers (recon at z = mu + KL, below the sampled -ELBO) were named
    only in the status's last part, which 80 columns leave out: bare numbers."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "r")
        status = app.screen.query_one("#status").render().plain
        assert "under each: #index, class, recon at z=mu + KL (nats)" in status, status


async def test_the_header_leaves_parts_out_whole_at_80_columns(checkpoints, make_app):
    """At 80 columns the header ended "MNIST test set (1…": it now leaves out its last
    parts whole (the device first), and says all of them again when there is room."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        narrow = app.sub_title
        assert narrow == f"cvae · cVAE z=4 beta=1 · {SAMPLE_TEST_SOURCE}", narrow
        await pilot.resize_terminal(120, 30)
        await settle(app, pilot)
        assert app.sub_title == f"{narrow} · cpu"
        await pilot.resize_terminal(60, 20)
        await settle(app, pilot)
        assert app.sub_title == "cvae · cVAE z=4 beta=1"


async def test_at_80x24_the_class_rows_of_the_aggregate_posterior_say_they_scroll(
        checkpoints, make_app):
    """The status's first part (what the aggregate posterior is, and the rows) filled
    its two lines and pushed the scroll hint out."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "g", "cvae.safetensors")
        await pilot.press("a", "p")
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        status = app.screen.query_one("#status").render().plain
        assert "aggregate posterior" in status and "(↑/↓ scroll)" in status, status


async def test_reconstruct_shows_the_posteriors_spread(checkpoints, make_app):
    from tui_vae.gallery import posterior_spread

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "r", "cvae.safetensors")
        screen = app.screen
        await pilot.press("s")  # original | mean's decoding | three draws of z ~ q(z|x)
        tiles = grid(app, "#pairs")
        assert tiles.images and tiles.images[0].shape == (14, 71)
        assert all(region.right <= 80 for region in tiles.tile_regions())
        first = int(tiles._captions[0].split()[0][1:])
        draws = np.split(tiles.images[0][:, 15:], 4, axis=1)  # the mean, then the draws
        assert not np.allclose(draws[1], draws[2])  # draws differ from one another
        again = posterior_spread(app.model, app.images.split, [first])[0]
        assert np.allclose(again * 255, tiles.images[0], atol=1)  # the same draws each redraw
        assert "draws of z" in screen.query_one("#status").render().plain
        await pilot.press("s")  # back to pairs: at 80x24 four at half size (one full-size)
        assert tiles.images[0].shape == (14, 29) and len(tiles.tile_regions()) >= 3
        await pilot.press("d")  # Draw, as from every view (it was this view's own key)
        assert app.screen.TITLE == "Draw"


async def test_interpolate_endpoints_steps_slerp_and_condition_sweep(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "i")
        screen = app.screen
        assert isinstance(screen, InterpolateScreen)
        path = grid(app, "#path")
        assert len(path.images) == screen.steps + 2  # both originals around the path
        await pilot.press("plus")
        assert len(path.images) == 13
        await pilot.press("s")
        assert screen.spherical and "spherical" in str(
            screen.query_one("#path-title").render())
        sweep = grid(app, "#sweep")
        # The sweep laid out as the path: A, the steps, a blank under B; step under step.
        assert sweep.display and len(sweep.images) == len(path.images) == 13
        assert sweep._captions[0] == path._captions[0] and sweep._captions[1:-1] == [
            f"{t:.2f}" for t in np.linspace(0, 1, 11)] == path._captions[1:-1]
        # The fields name the pair shown from the start (their placeholders suggested
        # another); a field's text is selected as it takes the keys, so typing replaces it.
        assert [screen.query_one(f"#{n}").value for n in ("from", "to")] == ["0", "1"]
        await pilot.press("f")
        await pilot.press(*"c3", "tab", *"17", "enter")
        assert int(app.images.split.labels[screen.a]) == 3 and screen.b == 17
        assert path._captions[-1] == "B #17"
        await pilot.pause()
        assert screen.query_one("#from").value == str(screen.a)  # the 3 it drew
        await pilot.press("f", *"c99", "enter")
        assert any("c0-c9" in n or "class 99" in n for n in notices(app))
        await pilot.press("escape", "space")
        assert (screen.a, screen.b) != (0, 1)


async def test_interpolates_path_and_condition_sweep_scroll_row_for_row(checkpoints, make_app):
    # At 80x24 the sweep (two images fewer) ran out of rows first: at the path's
    # third row it still showed its second.
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "i")
        path, sweep = grid(app, "#path"), grid(app, "#sweep")
        assert sweep.display
        _, shown, total = path.rows()
        assert total > shown  # rows off screen: there is scrolling to do
        for _ in range(total):
            await pilot.press("down")
            assert path.rows()[0] == sweep.rows()[0]
        assert path.rows()[0] == total - shown
        await pilot.press("z")  # 2x has no room here: the grids say so, the status no rows
        await pilot.pause()
        status = str(app.screen.query_one("#status").render())
        assert path.rows()[1] == 0 and "no room" in path.render_line(0).text
        assert "rows" not in status and "row " not in status, status  # "rows 1-0 of 6"


async def test_compare_defaults_to_the_vae_against_the_beta0_run(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "c")
        assert isinstance(app.screen, CompareScreen)
        a, b = app.compare_pair
        assert app.workspace.model(b).config.beta == 0 and app.workspace.model(a).config.beta > 0
        for side in ("a", "b"):
            assert len(grid(app, f"#{side}-recon").images) > 0
            assert len(grid(app, f"#{side}-samples").images) > 0
        assert "beta=0" in str(app.screen.query_one("#b-title").render())
        # ELBO surgery per side: the beta = 0 run's prior gap is far the larger
        gaps = []
        for side in ("a", "b"):
            title = str(app.screen.query_one(f"#{side}-title").render())
            gaps.append(float(title.split("KL(q(z)||p(z)) ")[1].split()[0]))
        assert gaps[1] > gaps[0]
        assert "Figure 1" in app.screen.query_one("#status").text
        await pilot.press("x")
        assert app.compare_pair == (b, a)
        # Two runs that both keep the KL term are not the report's Figure 1.
        app.compare_pair = (b, b)
        app.screen.sync(force=True)
        await settle(app, pilot)
        status = app.screen.query_one("#status").text
        assert "Figure 1" not in status and status.startswith("A against B")
        # A pair chosen in Models shows when Compare comes back (it kept the old one).
        await pilot.press("m")
        await settle(app, pilot)
        table = app.screen.query_one("#checkpoints")
        table.move_cursor(next(i for i, e in enumerate(app.entries)
                               if e.path.name == "cvae.safetensors"))
        await pilot.press("a")
        await pilot.press("c")
        await settle(app, pilot)
        assert app.compare_pair[0].name == "cvae.safetensors"
        assert "· cvae\n" in str(app.screen.query_one("#a-title").render())


def test_compares_titles_cut_long_names_in_the_middle_to_fit():
    """Two runs named alike but for their time stamps still differ at 80 columns."""
    from pathlib import Path
    from types import SimpleNamespace

    from tui_vae.tui.screens.compare import describe

    def info(name):
        return SimpleNamespace(model_config={"model": "vae", "latent_dim": 20, "beta": 1.0},
                               final_test={}, path=Path(f"runs/{name}.safetensors"))

    firsts = [describe(info(f"vae-mnist-20261207-07{m}11"), width=36).splitlines()[0]
              for m in ("03", "04")]
    assert all(len(line) <= 36 and "…" in line for line in firsts), firsts
    assert firsts[0] != firsts[1] and firsts[0].endswith("070311")
    assert describe(info("vae"), width=36).splitlines()[0] == "VAE z=20 beta=1 · vae"


async def test_compare_says_when_the_two_sides_cannot_share_z(checkpoints, make_app):
    """Models of different latent sizes draw different z: the caption says so."""
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    model = ModelConfig(latent_dim=2, hidden_dim=16, dataset="mnist-sample")
    Trainer(TrainConfig(model=model, epochs=1, batch_size=100, device="cpu",
                        out=str(checkpoints / "two.safetensors"))).run()
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "c")
        label = app.screen.query_one("#b-samples-title")
        assert "the same z both sides" in str(label.render())
        app.compare_pair = (app.compare_pair[0], checkpoints / "two.safetensors")
        app.screen.sync()
        await settle(app, pilot)
        assert "z sizes differ" in str(label.render())
        title = str(app.screen.query_one("#b-title").render()).splitlines()[0]
        assert title.startswith("B  VAE z=2 beta=1 · two")


async def test_compare_at_80x24_cuts_no_figure(checkpoints, make_app):
    # A figure cut at the label's edge reads as another one ("KL 2" for 20.31).
    # A run's long name was cut at the side's edge, mid-word and with no "…" (the
    # label measured itself, as wide as its last text, not the side).
    import shutil

    from rich.cells import cell_len

    long = checkpoints / "vae-mnist-20261208-014533.safetensors"
    shutil.copy(checkpoints / "vae.safetensors", long)
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.compare_pair = (long, app.compare_pair[1])
        await open_view(app, pilot, "c")
        for side in ("a", "b"):
            label = app.screen.query_one(f"#{side}-title")
            lines = str(label.render()).splitlines()
            assert len(lines) == 5 and "KL(q(z)||p(z))" in lines[4]
            for line in lines:
                room = label.parent.content_region.width - label.styles.padding.width
                assert cell_len(line) <= room, (line, room)
            if side == "a":  # cut in its middle: the time stamp that tells runs apart stays
                assert "…" in lines[0] and lines[0].endswith("014533"), lines[0]
            # The surgery's parts add up to its own rate, on its own images: the
            # whole test set's KL above them did not (443.6 against 7.6 + 409.9).
            rate = float(lines[2].split("rate ")[1])
            mi = float(lines[3].split("I(x;z) ")[1].split()[0])
            gap = float(lines[4].split("KL(q(z)||p(z)) ")[1])
            assert "images)" in lines[2] and "log N" in lines[3]
            assert abs(rate - (mi + gap)) <= 0.11, (rate, mi, gap)


def _assert_a_dialog_over_the_view(app) -> None:
    """A dialog sits in the middle of the screen, the view dimmed behind it (a
    dialog's screen listing another base first lost ModalScreen's styles: it sat
    at the top left, on black)."""
    [dialog] = app.screen.query(".dialog")
    width, height = app.size
    region = dialog.region
    assert abs(region.x - (width - region.right)) <= 1, region
    assert abs(region.y - (height - region.bottom)) <= 1, region
    assert app.screen.styles.background.a < 1  # the view shows through


async def test_models_activates_picks_and_deletes_with_confirmation(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "m")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one("#checkpoints")
        assert table.row_count == 3
        # each kind named as the other views name it (Runs: cVAE, not "cvae")
        assert [screen._cells(row)[2] for row in range(3)] == ["cVAE", "VAE", "VAE"]
        await pilot.press("down", "down", "enter")  # the third row: cvae, vae, vae-beta0
        await settle(app, pilot)
        assert app.active.name == "vae-beta0.safetensors" and app.model.config.beta == 0
        await pilot.press("a")
        assert app.compare_pair[0].name == "vae-beta0.safetensors"
        await pilot.press("x")
        await pilot.pause()
        _assert_a_dialog_over_the_view(app)
        await pilot.press("n")  # declined: nothing deleted
        assert (checkpoints / "vae-beta0.safetensors").exists()
        await pilot.press("x", "y")
        await settle(app, pilot)
        assert not (checkpoints / "vae-beta0.safetensors").exists()
        assert not (checkpoints / "vae-beta0.metrics.jsonl").exists()
        assert table.row_count == 2 and app.compare_pair[0] is None
        assert app.active is not None and app.active.exists()  # another became active


@pytest.mark.parametrize("width", [80, 120])
async def test_a_long_name_gives_way_to_the_figures(width, checkpoints, make_app):
    """A sweep's long file name is cut with "…" so that the metrics (KL the last) stay
    on screen at 80 columns, and every column at 120; the details below show the name
    whole."""
    import shutil

    long = "a-long-name-from-a-beta-sweep-beta0.25-seed3-epochs50.safetensors"
    shutil.copyfile(checkpoints / "vae.safetensors", checkpoints / long)
    app = make_app(checkpoints)
    async with app.run_test(size=(width, 24)) as pilot:
        await open_view(app, pilot, "m")
        table = app.screen.query_one("#checkpoints")
        header = table.render_line(0).text
        row = next(table.render_line(y).text for y in range(1, 5)
                   if "a-lon" in table.render_line(y).text)
        last = "from" if width == 120 else "KL"
        assert last in header and len(header.rstrip()) <= width
        elbo = app.entries[app.entry_index[checkpoints / long]].final_test["loss"]
        assert f"{elbo:.2f}" in row and "…" in row
        table.move_cursor(next(i for i, e in enumerate(app.entries) if e.path.name == long))
        await settle(app, pilot)
        assert long in str(app.screen.query_one("#details").render())


async def test_unreadable_checkpoint_is_listed_and_cannot_be_used(checkpoints, make_app):
    (checkpoints / "aaa-broken.safetensors").write_bytes(b"\x00" * 20)
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "m")
        assert "unreadable" in str(app.screen.query_one("#details").render())
        await pilot.press("enter")
        assert any("cannot be loaded" in n for n in notices(app))
        assert app.active.name != "aaa-broken.safetensors"
        await pilot.press("b")  # not silently ignored either
        assert any("cannot be B" in n for n in notices(app))
        assert app.compare_pair[1] is None or app.compare_pair[1].name != "aaa-broken.safetensors"


async def test_help_opens_and_closes(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        _assert_a_dialog_over_the_view(app)
        text = help_text(app)
        assert "generate.new" in text and "view.train" in text
        await pilot.press("escape")
        assert isinstance(app.screen, GenerateScreen)


async def test_no_checkpoints_says_how_to_get_one(tmp_path, make_app):
    empty = tmp_path / "none"
    empty.mkdir()
    app = make_app(empty)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.model is None
        assert "train one" in grid(app, "#samples").placeholder
        for key in "rica":
            await pilot.press(key)
            await settle(app, pilot)


async def test_zoom_and_resizes_never_crash(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("z")
        assert app.scale == 2 and grid(app, "#samples").scale == 2
        for key in "grict":
            await pilot.press(key)
            for size in ((80, 24), (20, 10), (200, 60), (30, 12)):
                await pilot.resize_terminal(*size)
                await pilot.pause()
        await pilot.press("g")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert len(grid(app, "#samples").images) >= 1


async def test_keymap_file_remaps_a_binding(checkpoints, make_app, tmp_path):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('"view.reconstruct" = "R"\n')
    app = make_app(checkpoints, keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert " R " in str(app.screen.query_one("#tabs").render())  # the first view too
        await pilot.press("r")
        assert isinstance(app.screen, GenerateScreen)
        await pilot.press("R")
        assert isinstance(app.screen, ReconstructScreen)
        tabs = str(app.screen.query_one("#tabs").render())
        assert " R Reconstruct" in tabs and " r " not in tabs  # the tab bar names the new key


async def test_command_palette_lists_the_views_and_training(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Train view", "Compare view", "Start training", "Stop training"):
            assert title in titles
        # Textual's keys panel is named as what it is: "Help" and "Keys" read as one twice.
        assert "Keys" not in titles and "Keys panel" in titles and "Help" in titles
        keys = next(c for c in app.get_system_commands(app.screen) if c.title == "Keys panel")
        keys.callback()
        await pilot.pause()
        assert app.screen.query("HelpPanel")


async def test_escape_closes_the_keys_panel(checkpoints, make_app):
    """The command palette's "Keys" panel (Textual's) closed only from the palette."""
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        await pilot.press("escape")  # nothing to close: no error, the view stays
        assert isinstance(app.screen, GenerateScreen)


async def test_help_wraps_inside_its_columns_at_80x24(checkpoints, make_app):
    """A view's line too long for the dialog wraps under its own description, not at
    the dialog's edge; the Draw view's four arrow ids stay on one line."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "d")
        await pilot.press("question_mark")
        await pilot.pause()
        lines = help_text(app).splitlines()
        views = lines[lines.index("Views") + 1:]
        views = views[:views.index("")]
        assert len(views) > 10  # at 80 columns several views' lines wrap
        column = views[0].index(views[0].split()[2])  # where the descriptions start
        for line in views:
            head = line[:column]
            assert line[column - 1] == " " and line[column] != " ", views
            assert head.strip() == "" or head.split()[0].isalpha(), views
        starts = [line for line in views if line[:column].strip()]
        assert [line.split()[1] for line in starts][:3] == ["Train", "Models", "Runs"]
        arrows = [line for line in lines if "Move pen" in line]
        assert len(arrows) == 1 and arrows[0].rstrip().endswith("draw.up/down/left/right")


async def test_help_lists_keys_that_look_like_markup(checkpoints, make_app):
    """The Draw view's [ and ] keys must show as keys, not break the help's markup."""
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "d")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = help_text(app)
        assert "[    " in text and "Brush -" in text and "draw.thinner" in text
        # The four arrows: one line naming every id (each can be remapped)
        arrows = [line for line in text.splitlines() if "Move pen" in line]
        assert len(arrows) == 1 and arrows[0].split()[0] == "arrows"
        assert arrows[0].rstrip().endswith("draw.up/down/left/right")  # fits 80 columns
        # (the ten class keys, shown for a cVAE, keep their ids as a range)
        from tui_vae.tui.screens.help import binding_rows

        rows = [" ".join(row) for row in binding_rows(type(app.screen.view).BINDINGS, {})]
        assert any(row.split()[:2] == ["0-9", "Class"] and row.endswith("draw.class0..class9")
                   for row in rows), rows
        pages = [row for row in rows if "Class row" in row]  # PgDn and PgUp: one line
        assert len(pages) == 1 and pages[0].rstrip().endswith("draw.row_down/row_up"), rows
        # The other views' ↑/↓ rows too: one line, not "↑↓ Rows" then "↑ Row up"
        from tui_vae.tui.screens.generate import GenerateScreen
        from tui_vae.tui.screens.interpolate import InterpolateScreen
        from tui_vae.tui.screens.traversal import TraversalScreen

        for view in (GenerateScreen, InterpolateScreen, TraversalScreen):
            rows = [" ".join(row) for row in binding_rows(view.BINDINGS, {})]
            arrows = [row for row in rows if row.split()[0] in ("↑", "↓", "↑↓")]
            assert len(arrows) == 1 and arrows[0].rstrip().endswith("row_down/row_up"), rows


async def test_deleting_every_checkpoint_leaves_a_working_app(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "m")
        for _ in range(len(app.entries)):
            await pilot.press("x", "y")
            await settle(app, pilot)
        assert app.entries == [] and app.model is None and app.active is None
        for key in ("g", "r", "l", "v", "d", "i"):
            await pilot.press(key)
            await pilot.pause()
            screen = app.screen
            # The view's own keys would do nothing: the footer and help leave them out.
            own = [k for b in type(screen).BINDINGS for k in b.key.split(",")]
            offered = screen.active_bindings
            assert not [k for k in own if k in offered and offered[k].node is screen], key
        assert "No model" in str(app.screen.query_one("#status").render())


async def test_interpolate_form_applies_both_fields_and_gives_the_keys_back(checkpoints,
                                                                           make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "i")
        screen = app.screen
        await pilot.press("f", *"5", "tab", *"9", "enter")
        assert (screen.a, screen.b) == (5, 9) and app.focused is None
        await pilot.press("f", "tab", "backspace", *"12", "shift+tab", "backspace", *"7",
                          "enter")
        assert (screen.a, screen.b) == (7, 12) and app.focused is None
        await pilot.press("s")  # a view key again, not a letter typed into a field
        assert screen.spherical
        # While a field has the keys, the footer offers what they do there, not the view's.
        assert {"space", "s", "plus", "minus", "f"} <= set(screen.active_bindings)
        assert "escape" not in screen.active_bindings
        await pilot.press("f")
        await pilot.pause()
        offered = set(screen.active_bindings)
        assert "escape" in offered and not {"space", "s", "plus", "minus", "f"} & offered
        await pilot.press("escape")
        await pilot.pause()
        assert "plus" in screen.active_bindings and "escape" not in screen.active_bindings
        # A random pair is named in the fields (they said 7 and 12 under a new title).
        await pilot.press("space")
        await pilot.pause()
        assert (screen.a, screen.b) != (7, 12)
        fields = [screen.query_one(f"#{name}").value for name in ("from", "to")]
        assert fields == [str(screen.a), str(screen.b)]


async def test_models_details_are_words_not_json(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "m")
        details = str(app.screen.query_one("#details").render())
        assert "{" not in details and '"' not in details
        assert "batch 100" in details and "learning rate" in details
        assert "1 of 1 epoch done" in details and "UTC" in details
        await pilot.press("s")  # ELBO surgery of the selected checkpoint, from a worker
        await app.workers.wait_for_complete()
        await pilot.pause()
        details = str(app.screen.query_one("#details").render())
        assert "ELBO surgery on 200 test images" in details and "KL(q(z)||p(z))" in details


async def test_at_80x24_the_models_details_show_whole_surgery_included(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "m")
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        update = app.screen._compositor.render_update(full=True)
        screen = "\n".join("".join(seg.text for seg in strip) for strip in update.strips)
        assert "ELBO surgery on 200" in screen and "KL(q(z)||p(z))" in screen
        assert "created" in screen  # the lines above it kept too


async def test_unreadable_data_opens_the_model_on_the_sample_and_blames_the_data(tmp_path):
    """A truncated MNIST file once made the app refuse every MNIST model, its notice
    saying the checkpoint could not be loaded."""
    from tests.reliability.test_every_model import _train, tiny_mnist
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    root = tiny_mnist(tmp_path / "data", test_images=20)
    (tmp_path / "models").mkdir()
    _train(tmp_path / "models" / "mnist.safetensors", root, dataset="mnist")
    train_images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    train_images.write_bytes(train_images.read_bytes()[:-500])
    app = TuiVaeApp(Workspace(tmp_path / "models", root, "cpu", shipped_dir=None))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.pause(0.2)
        assert app.model is not None and app.images.source == SAMPLE_SOURCE
        [said] = [n for n in notices(app) if "cannot be read" in n]
        assert "MNIST" in said and str(root) in said and "bundled sample" in said
        assert not [n for n in notices(app) if "cannot load" in n or "cannot show" in n]
        await pilot.press("r")  # a view that encodes the test images
        await settle(app, pilot)
        assert app.screen.query("ImageGrid")


async def test_delete_on_a_shipped_model_says_why_not_and_asks_on_yours(
        checkpoints, make_app):
    """vae.safetensors in the shipped folder is a shipped model: Delete there says it
    cannot be deleted (no dialog, the file stays); on the user's own run it asks."""
    from tui_vae.tui.screens.confirm import ConfirmScreen

    def shipped_here(folder, data, device, shipped_dir=None):
        return Workspace(folder, data, device, shipped_dir=folder)

    app = make_app(checkpoints, workspace_class=shipped_here)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "m")
        screen = app.screen
        names = [entry.path.name for entry in app.entries]
        table = screen.query_one("#checkpoints")
        table.move_cursor(names.index("vae.safetensors"))
        await pilot.pause()
        assert "x" in footer_keys(app)
        await pilot.press("x")
        await pilot.pause()
        assert app.screen is screen and (checkpoints / "vae.safetensors").exists()
        assert "vae.safetensors is a shipped model; it cannot be deleted" in notices(app)
        (checkpoints / "mine.safetensors").write_bytes((checkpoints / "vae.safetensors")
                                                       .read_bytes())
        app.rescan(full=True)
        await settle(app, pilot)
        names = [entry.path.name for entry in app.entries]
        table.move_cursor(names.index("mine.safetensors"))
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


@pytest.mark.parametrize("width, named", [(80, False), (120, True), (160, True)])
async def test_the_tab_bar_names_every_view_where_the_names_fit(checkpoints, make_app, width,
                                                                 named):
    """At 120 columns the bar read "t  m  u  r  g Generate  i  c  l  v  d": nine letters
    that said nothing to a newcomer. Where the names fit, with shorter hints, they show;
    at 80 columns only the current view's does."""
    from tui_vae.tui.app import VIEWS

    app = make_app(checkpoints)
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(app, pilot)
        tabs = str(app.screen.query_one("#tabs").render())
        assert len(tabs.rstrip()) <= width
        titles = [title for _, title in VIEWS.values()]
        assert all(f" {title}" in tabs for title in titles) == named, tabs
        assert "? help" in tabs and "Generate" in tabs


def test_compare_names_the_users_conditional_model_a_cvae_with_no_metrics_to_come():
    """Side A read "VAE z=8 beta=1" for the user's cVAE, and "no test metrics yet",
    which a model trained outside tui-vae never gets."""
    from pathlib import Path
    from types import SimpleNamespace

    from tui_vae.runs import run_from
    from tui_vae.tui.screens.compare import describe

    user = SimpleNamespace(
        model_config={"model": "user", "kind": "cvae", "latent_dim": 8, "beta": 1.0},
        final_test=None, path=Path("mine/tiny-cvae.safetensors"), history=[], epochs_done=0)
    first, second = describe(user).splitlines()
    assert first == "cVAE z=8 beta=1 · tiny-cvae"
    assert second == "trained outside tui-vae: no test metrics"
    assert run_from(user).kind == "cVAE"
