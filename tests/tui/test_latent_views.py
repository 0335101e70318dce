"""Pilot tests for the latent views: Latent map (l), Traversal (v), Draw (d), Export (e)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from tui_vae.render import to_uint8
from tui_vae.tui.screens.draw import DrawScreen
from tui_vae.tui.screens.latent import LatentScreen
from tui_vae.tui.screens.traversal import TraversalScreen
from tui_vae.tui.widgets.latent_map import LatentMap

from .test_views import SIZE, grid, notices, open_view, settle


@pytest.fixture
def with_2d(checkpoints):
    """The checkpoints plus a tiny plain VAE with a 2-D latent."""
    from tui_vae.data import load_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    model = ModelConfig(latent_dim=2, hidden_dim=32, dataset="mnist-sample")
    config = TrainConfig(model=model, epochs=1, batch_size=100, device="cpu",
                         out=str(checkpoints / "vae-2d.safetensors"))
    Trainer(config, dataset=load_dataset("mnist-sample")).run()
    return checkpoints


async def open_2d_map(app, pilot):
    """Latent on the 2-D model: (the screen, its map)."""
    await open_view(app, pilot, "l", "vae-2d.safetensors")
    return app.screen, app.screen.query_one("#map", LatentMap)


async def test_latent_map_cursor_decodes_live_and_shows_the_projection(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "vae.safetensors")
        screen = app.screen
        assert isinstance(screen, LatentScreen)
        latent_map = screen.query_one("#map", LatentMap)
        assert len(latent_map._xy) == len(app.images.split)  # the sample's test split, all of it
        info = str(screen.query_one("#latent-info").render())
        assert "PCA of the 4-D means" in info and "variance" in info
        assert info.startswith(f"{len(app.images.split):,} test images\n")
        before = grid(app, "#decoded").images[0].copy()
        start = latent_map.cursor
        await pilot.press("shift+right", "shift+right", "up")
        assert latent_map.cursor == (start[0] + 10, start[1] - 1)
        after = grid(app, "#decoded").images[0]
        assert not np.array_equal(before, after)  # a new point, a new image
        # The decoded image is the model's decoding of the cursor's latent point.
        z = screen.cache.projection.to_latent(latent_map.cursor_point())
        expected = app.model.decode(z[None].astype(np.float32)).numpy()[0, 0]
        np.testing.assert_array_equal(after, to_uint8(expected))
        await pilot.press("space")  # no manifold for a 4-D latent: the key is not offered
        assert not screen.manifold and "space" not in screen.active_bindings


async def test_latent_map_of_a_2d_model_is_exact_and_toggles_the_manifold(with_2d, make_app):
    app = make_app(with_2d)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "vae-2d.safetensors")
        screen = app.screen
        assert "drawn exactly" in str(screen.query_one("#latent-info").render())
        await pilot.press("space")
        await settle(app, pilot)
        manifold = grid(app, "#manifold")
        assert screen.manifold and manifold.display and not screen.query_one("#map").display
        n = int(np.sqrt(len(manifold.images)))
        assert n >= 2 and len(manifold.images) == n * n
        await pilot.press("space")
        assert not screen.manifold and screen.query_one("#map").display


async def test_back_from_the_manifold_the_cursor_and_its_keys_are_the_maps_again(
        with_2d, make_app):
    import re

    app = make_app(with_2d)
    async with app.run_test(size=SIZE) as pilot:
        screen, latent_map = await open_2d_map(app, pilot)
        await pilot.press("shift+right", "up")
        await pilot.press("space")
        await settle(app, pilot)
        # The map's keys do nothing over the grid: the footer does not offer them,
        # nor does the side speak of a cursor or a legend.
        assert not {"up", "p"} & set(screen.active_bindings)
        assert not any(screen.query_one(side).display
                       for side in ("#decoded-title", "#decoded", "#legend"))
        await pilot.press("space")
        await settle(app, pilot)
        assert {"up", "p"} <= set(screen.active_bindings)
        assert all(screen.query_one(side).display
                   for side in ("#decoded-title", "#decoded", "#legend"))
        info = str(screen.query_one("#latent-info").render())
        x, y = map(float, re.search(r"cursor at \(([-+.\d]+), ([-+.\d]+)\)", info).groups())
        # The coordinates are those of the cell the cursor is on, inside the map.
        np.testing.assert_allclose((x, y), latent_map.cursor_point(), atol=0.006)
        left, right, bottom, top = latent_map.bounds
        assert left <= x <= right and bottom <= y <= top, (x, y, latent_map.bounds)


async def test_showing_the_prior_keeps_the_cursor_on_its_plane_point(with_2d, make_app):
    # The rings widen the map's bounds: the cursor once kept its cell, so it pointed
    # (and decoded) somewhere else.
    app = make_app(with_2d)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "vae-2d.safetensors")
        latent_map = app.screen.query_one("#map", LatentMap)
        await pilot.press("shift+left", "shift+up")
        before, bounds = latent_map.cursor_point(), latent_map.bounds
        await pilot.press("p")
        await settle(app, pilot)
        assert latent_map.bounds != bounds
        cell = ((latent_map.bounds[1] - latent_map.bounds[0]) / latent_map.size.width,
                (latent_map.bounds[3] - latent_map.bounds[2]) / latent_map.size.height)
        after = latent_map.cursor_point()
        assert abs(after[0] - before[0]) <= cell[0] and abs(after[1] - before[1]) <= cell[1]
        # Exactly the same point, decoded and said the same: within a cell, the
        # coordinates shown still changed ((-0.05,-0.28) became (-0.03,-0.19)).
        np.testing.assert_array_equal(after, before)
        said = str(app.screen.query_one("#latent-info").render())
        # A smaller terminal: the cells move under the cursor, its point stays (it
        # kept its cell, which pointed at (-1.60,+1.52) instead).
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        np.testing.assert_array_equal(latent_map.cursor_point(), before)
        assert "cursor at (" + said.split("cursor at (")[1].split(")")[0] in str(
            app.screen.query_one("#latent-info").render())
        col, line = latent_map.cursor
        centre = latent_map._centre(col, line)
        await pilot.press("right")  # the arrows go on cell by cell from the cell it is in
        assert latent_map.cursor == (col + 1, line)
        np.testing.assert_allclose(latent_map.cursor_point(), latent_map._centre(col + 1, line))
        assert latent_map.cursor_point()[0] > centre[0]


async def test_the_manifold_fills_its_space_again_after_leaving_the_view(with_2d, make_app):
    # Shown again on return, the grid was laid out at 2 x 2 (it had no size yet).
    app = make_app(with_2d)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(app, pilot, "l", "vae-2d.safetensors")
        await pilot.press("space")
        await settle(app, pilot)
        first = len(grid(app, "#manifold").images)
        assert first > 4
        await pilot.press("space", "g")
        await settle(app, pilot)
        await pilot.press("l")
        await settle(app, pilot)
        await pilot.press("space")
        await settle(app, pilot)
        assert len(grid(app, "#manifold").images) == first


async def test_latent_map_shows_the_priors_rings_and_its_samples_in_the_holes(
        with_2d, make_app):
    from tui_vae.tui.widgets.latent_map import CONTOUR, HOLE, NEAR

    app = make_app(with_2d)
    async with app.run_test(size=SIZE) as pilot:
        screen, latent_map = await open_2d_map(app, pilot)
        before = [list(strip) for strip in latent_map._build()]
        await pilot.press("p")  # the prior's 1, 2, 3 sigma rings
        assert [colour for _, colour in latent_map.overlay] == [CONTOUR]
        assert [list(strip) for strip in latent_map._build()] != before
        assert "prior's 1, 2, 3 sigma" in str(screen.query_one("#latent-info").render())
        await pilot.press("p")  # and 300 prior samples, marked in a hole of q(z) or not
        colours = [colour for _, colour in latent_map.overlay]
        assert colours == [CONTOUR, NEAR, HOLE]
        assert sum(len(points) for points, _ in latent_map.overlay[1:]) == 300
        holes, total = screen.holes
        assert total == 300 and len(latent_map.overlay[2][0]) == holes
        assert "in a hole of it, q(z) < p(z)/100" in str(
            screen.query_one("#latent-info").render())
        await pilot.press("p")
        assert latent_map.overlay == []


async def test_latent_map_of_a_cvae_decodes_with_the_chosen_class(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "cvae.safetensors")
        before = grid(app, "#decoded").images[0].copy()
        await pilot.press("7")
        assert app.screen.label == 7
        assert not np.array_equal(before, grid(app, "#decoded").images[0])
        assert "decoded as class 7" in str(app.screen.query_one("#latent-info").render())


async def test_traversal_rows_follow_the_kl_order_and_digits_change(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "v", "vae.safetensors")
        screen = app.screen
        assert isinstance(screen, TraversalScreen)
        kl, active, order = screen.stats()
        assert list(kl[order]) == sorted(kl, reverse=True)
        traversal = grid(app, "#traversal")
        steps = traversal._columns
        assert steps % 2 == 1 and len(traversal.images) % steps == 0
        rows = len(traversal.images) // steps
        assert [c.split()[0] for c in traversal._captions[::steps]] == [
            f"z{d}" for d in order[:rows]]
        summary = str(screen.query_one("#kl-summary").render())
        assert f"active units: {int(active.sum())} of 4" in summary
        first = traversal.images[0].copy()
        await pilot.press("right")
        assert screen.index == 1 and not np.array_equal(first, traversal.images[0])
        await pilot.press("6")
        assert int(app.images.split.labels[screen.index]) == 6


async def test_draw_with_keys_and_mouse_updates_the_reconstruction_and_map(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "d", "vae.safetensors")
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        blank = grid(app, "#recon").images[0].copy()
        await pilot.press("space", "down", "down", "down", "right", "right")
        assert screen.canvas.pixels.sum() > 0
        recon = grid(app, "#recon").images[0]
        assert not np.array_equal(blank, recon)
        mu, _ = app.model.encode(screen.canvas.pixels[None, None])
        np.testing.assert_array_equal(recon, to_uint8(app.model.decode(mu).numpy()[0, 0]))
        marker = screen.query_one("#draw-map", LatentMap).marker
        np.testing.assert_allclose(marker, screen.cache.projection.to_plane(mu.numpy()[0]))
        await pilot.press("backspace")
        assert screen.canvas.pixels.sum() == 0
        # The mouse: a drag across the canvas inks a stroke.
        await pilot.mouse_down("#canvas", offset=(4, 3))
        await pilot.hover("#canvas", offset=(20, 3))
        await pilot.mouse_up("#canvas", offset=(20, 3))
        assert screen.canvas.pixels.sum() > 0
        assert grid(app, "#draw-classes").images == []  # a plain VAE: no class row


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_draw_zooms_the_canvas_and_reconstruction_together_where_they_fit(
        checkpoints, make_app, size):
    # z at 120x40 replaced the reconstruction with "no room for a whole row of
    # images" and left the canvas at 1x above twenty empty lines.
    from tui_vae.tui.widgets.draw_canvas import DrawCanvas

    app = make_app(checkpoints)
    async with app.run_test(size=size) as pilot:
        await open_view(app, pilot, "d", "vae.safetensors")
        screen = app.screen
        await pilot.press("o", "z")
        await pilot.pause()
        canvas, recon = screen.query_one(DrawCanvas), grid(app, "#recon")
        status = str(screen.query_one("#status").render())
        if size == (120, 40):  # room for both at 2x: 56 x 28 cells each, whole
            assert canvas.scale == 2 and canvas.size == (56, 28) and recon.scale == 2
            assert recon.tile_regions() and "zoomed it needs" not in status
            # a pixel is two cells across and one down: the mouse lands on the pixel
            screen.canvas.clear()
            await pilot.click("#canvas", offset=(21, 9))
            row, col = np.argwhere(screen.canvas.pixels > 0.5).mean(axis=0)
            assert abs(row - 9.5) < 1.5 and abs(col - 10) < 1.5
        else:  # no room: the drawing stays whole at 1x, and the status says why
            assert canvas.scale == 1 and canvas.size == (28, 14) and recon.scale == 1
            assert recon.tile_regions() and "zoomed it needs 116x36" in status
        await pilot.press("z")
        await pilot.pause()
        assert canvas.scale == 1 and canvas.size == (28, 14)


async def test_draw_zoom_and_the_tabs_make_room_for_the_keys_panel(checkpoints, make_app):
    # The Keys panel narrows the body without resizing the screen: zoomed under it, the
    # canvas stayed 2x and was cut at the panel's edge, and the tab bar, fitted to the
    # screen, was cut after "Compare". The panel listed "arrows  Move pen" four times
    # and "0-9  Class" ten.
    from rich.cells import cell_len
    from rich.console import Console
    from textual.widgets._key_panel import BindingsTable

    from tui_vae.tui.widgets.draw_canvas import DrawCanvas

    app = make_app(checkpoints)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(app, pilot, "d", "cvae.safetensors")
        screen = app.screen
        await pilot.press("o", "z")
        await pilot.pause()
        canvas = screen.query_one(DrawCanvas)
        assert canvas.scale == 2
        app.action_show_help_panel()
        await settle(app, pilot)
        assert canvas.scale == 1 and grid(app, "#recon").scale == 1
        assert canvas.region.right <= screen.query_one("HelpPanel").region.x  # whole
        status = " ".join(str(screen.query_one("#status").render()).split())
        assert "beside the Keys panel" in status
        tabs = screen.query_one("#tabs")
        assert tabs.size.width < 100 and cell_len(screen._tabs_shown) <= tabs.size.width
        assert "Draw" in screen._tabs_shown
        console = Console(width=60, record=True, file=io.StringIO())
        console.print(screen.query_one(BindingsTable).render_bindings_table())
        keys = console.export_text()
        lines = [" ".join(line.split()) for line in keys.splitlines()]
        assert lines.count("arrows Move pen") == 1 and lines.count("0-9 Class") == 1, keys
        await pilot.press("escape")  # hides the panel: the room is back
        await settle(app, pilot)
        assert canvas.scale == 2 and canvas.size == (56, 28)


async def test_draw_with_a_cvae_shows_every_class(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "d", "cvae.safetensors")
        await pilot.press("o")  # a test digit onto the canvas
        classes = grid(app, "#draw-classes")
        assert len(classes.images) == 10 and classes._captions[3] == app.images.classes[3]
        assert not np.array_equal(classes.images[0], classes.images[1])
        # e saves what the view shows: the drawing beside its reconstruction, then
        # the class row (it saved the reconstruction and the row, not the drawing).
        picture = app.screen.export_images()
        np.testing.assert_array_equal(picture[:28, :28], to_uint8(app.screen.canvas.pixels))
        np.testing.assert_array_equal(picture[:28, 30:58], grid(app, "#recon").images[0])
        row = classes.exportable()
        np.testing.assert_array_equal(picture[-row.shape[0]:, :row.shape[1]], row)


async def test_draw_exports_only_what_is_on_screen_at_80x24(checkpoints, make_app):
    """At 80x24 the class row waits below (PgDn): the export holds the drawing and its
    reconstruction, and the class row once it is shown."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "d", "cvae.safetensors")
        await pilot.press("o")
        await settle(app, pilot)
        classes = grid(app, "#draw-classes")
        assert classes.images and not classes.tile_regions()  # "no room" until PgDn
        said = " ".join("".join(strip.text for strip in classes._build()).split())
        assert said == "(no room for a whole row of images; PgDn shows it)", said
        assert app.screen.export_images().shape == (28, 58)
        await pilot.press("pagedown")
        await settle(app, pilot)
        assert len(classes.tile_regions()) == 10
        title = app.screen.query_one("#draw-classes-title")
        assert str(title.content).endswith("decoded as every class")
        picture = app.screen.export_images()
        assert picture.shape[0] > 28
        # The class row at the model's size, though shown at half size here (it was
        # saved at 14 px beside the 28 px drawing).
        assert classes.images[0].shape[0] < 28 and picture.shape[1] == 10 * (28 + 2) - 2
        # At 116x36, under the canvas, one row of seven: the title says how many of
        # the ten show, and the key for the rest (it said "every class" over 0-6).
        await pilot.resize_terminal(116, 36)
        await pilot.press("pageup")
        await settle(app, pilot)
        shown = len(classes.tile_regions())
        assert 0 < shown < 10
        assert str(title.content).endswith(
            f"every class ({shown} of 10 shown; PgDn/PgUp for the rest)")


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


async def test_export_writes_the_grid_on_screen_as_a_png(checkpoints, make_app, tmp_path):
    app = make_app(checkpoints)
    app.workspace.export_dir = tmp_path / "exports"
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)  # Generate, the cVAE's samples
        samples = grid(app, "#samples")
        columns = samples.fit(captions=False)[0]
        rows = -(-len(samples.images) // columns)
        await pilot.press("e")
        files = list((tmp_path / "exports").glob("generate-*.png"))
        assert len(files) == 1
        assert _png_size(files[0]) == (columns * 30 - 2, rows * 30 - 2)  # 28 px + 2 px gaps
        assert any(str(files[0]) in n for n in notices(app))
        await pilot.press("m", "e")  # Models has no images
        assert any("no images" in n for n in notices(app))
        assert len(list((tmp_path / "exports").glob("*.png"))) == 1


async def _export_failures(app, exports) -> list[str]:
    """The notices of a failed export: `e` pressed in the opening view."""
    app.workspace.export_dir = exports
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        return [n for n in notices(app) if "export failed" in n]


@pytest.mark.parametrize("kind", ["file", "link"])
async def test_a_file_or_a_link_where_the_exports_folder_goes_is_said_in_words(
        checkpoints, make_app, tmp_path, kind):
    """A file there gave "[Errno 17] File exists". A link planted in a shared working
    folder sent every export where it pointed, and the notice said "saved exports/...":
    it is refused too, and nothing lands where it points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if kind == "file":
        (tmp_path / "exports").write_text("a file")
    else:
        (tmp_path / "exports").symlink_to(elsewhere)
    said = await _export_failures(make_app(checkpoints), tmp_path / "exports")
    assert said == [f"export failed: {tmp_path / 'exports'} is a {kind}, not a folder"
                    + ("" if kind == "file" else ": exports go into a folder of their own "
                       "only (remove the link, or start tui-vae elsewhere)")], said
    assert list(elsewhere.iterdir()) == []
    if kind == "file":
        assert (tmp_path / "exports").read_text() == "a file"


async def test_a_full_disk_is_said_in_words_when_exporting(checkpoints, make_app, tmp_path,
                                                           monkeypatch):
    """It read "export failed: [Errno 28] No space left on device"."""
    import tui_vae.export

    def full(path, picture):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tui_vae.export, "save_png", full)
    (said,) = await _export_failures(make_app(checkpoints), tmp_path / "exports")
    assert said.startswith(f"export failed: cannot write {tmp_path / 'exports'}/")
    assert said.endswith(".png: No space left on device") and "Errno" not in said


async def test_the_palettes_screenshot_goes_beside_the_exports(checkpoints, make_app, tmp_path,
                                                                monkeypatch):
    """Textual's own saved to ~/Downloads and failed where there is none."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Downloads folder in it
    app = make_app(checkpoints)
    app.workspace.export_dir = tmp_path / "exports"
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        # Through the palette's own command: it called Textual's writer, not ours.
        [command] = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        command.callback()
        for _ in range(20):
            await pilot.pause(0.05)
            if list((tmp_path / "exports").glob("screenshot-*.svg")):
                break
        [svg] = list((tmp_path / "exports").glob("screenshot-*.svg"))
        assert svg.read_text().lstrip().startswith("<svg")
        assert any(f"saved {svg}" in n for n in notices(app)), notices(app)


@pytest.mark.parametrize("key, grid_id, width", [
    ("g", "#samples", 28), ("r", "#pairs", 57),  # a pair: two images and a divider
    ("v", "#traversal", 28), ("i", "#path", 28)])
async def test_an_export_at_80x24_keeps_the_models_pixels(checkpoints, make_app, key, grid_id,
                                                          width):
    """At 80x24 the views show digits at half size to fit; `e` saved them so (14x14
    tiles). It now saves the same tiles, in the same layout, at 28x28."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, key, "vae.safetensors")
        shown = grid(app, grid_id)
        assert shown.images and shown.images[0].shape[0] == 14, shown.images[0].shape
        columns = shown.tile_layout()[0]
        # the rows on screen: where they scroll, not all (Generate saved its ten class
        # rows where two showed)
        first, on_screen, total = shown.rows()
        rows = min(-(-len(shown.images) // columns), on_screen or total)
        picture = shown.exportable()
        assert picture.shape == (rows * 30 - 2, columns * (width + 2) - 2), (picture.shape,
                                                                            rows, columns)
        # the same first image, finer: the shown one is the exported one averaged 2x2
        pooled = picture[:28, :28].astype(float).reshape(14, 2, 14, 2).mean(axis=(1, 3))
        assert np.abs(pooled - shown.images[0][:, :14]).max() <= 1.0


async def test_an_export_of_rows_that_scroll_saves_those_on_screen(checkpoints, make_app):
    # e is "the images on screen": Generate's row per class saved all ten rows at 80x24,
    # where two showed.
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "g", "cvae.safetensors")
        await pilot.press("a", "down")
        await settle(app, pilot)
        shown = grid(app, "#samples")
        first, on_screen, total = shown.rows()
        assert total == 10 and 0 < on_screen < total and first == 1
        picture = shown.exportable()
        assert picture.shape[0] == on_screen * 30 - 2, picture.shape
        columns = shown.tile_layout()[0]
        np.testing.assert_array_equal(picture[:28, :28], shown._full[first * columns])


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


async def test_fashion_mnist_class_names_in_the_views(tmp_path, make_app):
    """A Fashion-MNIST cVAE (on a small IDX set in torchvision's layout) is labelled
    with clothing names: Generate's status, the latent legend, Draw's class row."""
    from tui_vae.data import SPLIT_FILES, load_sample
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer
    from tui_vae.workspace import Workspace

    data = tmp_path / "data"
    raw = data / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    sample = load_sample()  # any 28x28 images will do: this is about the names
    for split in ("train", "test"):
        images_name, labels_name = SPLIT_FILES[split]
        _write_idx(raw / images_name, sample.images.numpy())
        _write_idx(raw / labels_name, sample.labels.numpy())
    folder = tmp_path / "ckpts"
    folder.mkdir()
    model = ModelConfig(model="cvae", latent_dim=3, hidden_dim=16, dataset="fashion-mnist")
    Trainer(TrainConfig(model=model, epochs=1, batch_size=100, device="cpu",
                        data_dir=str(data), out=str(folder / "fashion.safetensors"))).run()
    from tui_vae.tui.app import TuiVaeApp

    app = TuiVaeApp(Workspace(folder, data, "cpu", shipped_dir=None))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.images.classes[1] == "Trouser"
        await pilot.press("1")
        assert "class Trouser" in str(app.screen.query_one("#status").render())
        await pilot.press("l")
        await settle(app, pilot)
        assert "9 Ankle boot" in str(app.screen.query_one("#legend").render())
        await pilot.press("d")
        await settle(app, pilot)
        await pilot.press("o")
        assert grid(app, "#draw-classes")._captions[0] == "T-shirt/top"


async def test_draw_and_latent_never_use_another_models_encoding(with_2d, make_app):
    # The encoding is shared by Latent, Draw and Traversal; a key pressed right after
    # another model became active must use that model's (a storm found this).
    from tui_vae.tui.screens.latent import SHARED_ENCODING

    app = make_app(with_2d)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "d", "vae.safetensors")
        screen = app.screen
        await open_view(app, pilot, "l", "vae-2d.safetensors")
        latent = app.screen
        SHARED_ENCODING.get(app.workspace.model(with_2d / "vae.safetensors"),
                            app.images.split)  # another view's model, left in the cache
        latent.action_move(1, 0)  # the 2-D model's cursor, with the 20-D cache left behind
        await pilot.press("d")
        app.screen.sync(force=True)
        SHARED_ENCODING.get(app.workspace.model(with_2d / "vae.safetensors"), app.images.split)
        screen.action_brush(1)  # a stroke on the 2-D model's canvas, same stale cache
        await pilot.pause()
        assert app.is_running


async def test_without_colour_the_classes_are_told_apart_by_character(
        checkpoints, make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # read when the App is built
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "vae.safetensors")
        screen = app.screen
        latent_map = screen.query_one("#map", LatentMap)
        drawn = "".join(latent_map.render_line(y).text for y in range(latent_map.size.height))
        # Each point is its class's digit: the sample's ten classes, nothing else
        # but blanks and the cursor.
        assert set("0123456789") <= set(drawn)
        assert set(drawn) <= set("0123456789 \u253c")
        legend = str(screen.query_one("#legend").render())
        assert legend == "each point is drawn as its class, 0-9"
        from tui_vae.tui.screens.latent import class_legend

        named = class_legend(("cat", "dog"), colour=False).plain
        assert named.splitlines() == ["each point is its class's character:", "0 cat  1 dog"]
        await pilot.press("p", "p")  # the prior's rings and samples
        await settle(app, pilot)
        drawn = "".join(latent_map.render_line(y).text for y in range(latent_map.size.height))
        assert "." in drawn and {"+", "@"} & set(drawn)
        info = str(screen.query_one("#latent-info").render())
        assert "dotted rings" in info and "+ where the codes' aggregate posterior" in info
        assert "@ in a hole" in info


async def test_a_map_of_part_of_the_test_set_says_how_much(checkpoints, make_app, monkeypatch):
    """The caption names the whole test set; where the map draws a subset the side
    panel says so rather than a second, different count."""
    import tui_vae.tui.screens.latent as latent_screen

    monkeypatch.setattr(latent_screen, "MAP_POINTS", 60)
    app = make_app(checkpoints)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(app, pilot, "l", "vae.safetensors")
        info = str(app.screen.query_one("#latent-info").render())
        assert info.startswith(f"60 of the {len(app.images.split):,} test images\n"), info


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_manifold_zoomed_still_draws_a_whole_grid(with_2d, make_app, size):
    """Zoomed (z), the manifold kept its half-size tiles, 2 x 2 of them no longer
    fitted, and the grid drew nothing; it now shrinks them until 2 x 2 fit whole."""
    app = make_app(with_2d)
    async with app.run_test(size=size) as pilot:
        await open_view(app, pilot, "l", "vae-2d.safetensors")
        await pilot.press("space", "z")
        await settle(app, pilot)
        manifold = grid(app, "#manifold")
        n = int(np.sqrt(len(manifold.images)))
        assert n >= 2 and len(manifold.images) == n * n
        first, fit, total = manifold.rows()
        assert fit == total == n, (first, fit, total)  # every row on screen, whole
        assert len(manifold.tile_regions()) == n * n


async def test_reconstructs_posterior_draws_export_at_the_models_size(checkpoints, make_app):
    """`s` (the posterior's draws) showed its tiles shrunk at 80x24 and `e` saved them
    so (71 x 30 px): the pairs exported at full size, the draws did not."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "r", "vae.safetensors")
        await pilot.press("s")
        await settle(app, pilot)
        shown = grid(app, "#pairs")
        tile = shown.images[0].shape
        assert tile[0] < 28, tile  # shrunk on screen
        picture = shown.exportable()
        factor = 28 // tile[0]
        assert picture.shape[0] >= 28 and picture.shape[1] >= tile[1] * factor - factor
        # the original, at the model's size, is the export's first 28 x 28
        pooled = picture[:28, :28].astype(float).reshape(
            tile[0], factor, tile[0], factor).mean(axis=(1, 3))
        assert np.abs(pooled - shown.images[0][:, :tile[0]]).max() <= 1.0


def test_the_priors_three_greys_are_told_apart_in_256_colours():
    # The samples near the codes (252) and those in holes (231) looked alike there.
    from rich.color import Color, ColorSystem

    from tui_vae.tui.widgets.latent_map import CONTOUR, HOLE, NEAR, OVERLAY_COLORS

    greys = [Color.parse(OVERLAY_COLORS[k]).downgrade(ColorSystem.EIGHT_BIT).get_truecolor()
             for k in (CONTOUR, NEAR, HOLE)]
    levels = sorted(sum(rgb) / 3 for rgb in greys)
    assert min(b - a for a, b in zip(levels, levels[1:])) >= 60, greys
