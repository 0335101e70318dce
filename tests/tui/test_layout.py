"""Layout at 80x24, 120x40 and 200x60: in every view no image tile is cut, and every
row of tiles can be brought on screen by keys (the key shown in the footer).

One app per size visits all the views in turn, with the cVAE active (it has the
most to show: a row per class, the condition sweep, Draw's class row).
"""

from __future__ import annotations

import numpy as np
import pytest
from textual.errors import NoWidget
from textual.widgets import Footer

from tests.tui.test_views import open_view, settle
from tui_vae.tui.widgets.image_grid import ImageGrid

SIZES = ((80, 24), (120, 40), (200, 60))
# view key -> the key that scrolls its rows of tiles (None: everything fits by design)
VIEWS = {"r": None, "g": "down", "i": "down", "c": None, "v": "down", "l": None,
         "d": "pagedown"}


def shown_grids(app) -> list[ImageGrid]:
    """The image grids on screen (laid out, displayed, holding images)."""
    grids = []
    for grid in app.screen.query(ImageGrid):
        try:
            app.screen.find_widget(grid)
        except NoWidget:  # inside a hidden container
            continue
        if grid.display and grid.images:
            grids.append(grid)
    return grids


def assert_no_tile_cut(app, where: str) -> None:
    """Every drawn tile lies inside its grid's visible part, above the footer."""
    screen = app.screen
    footer = screen.query_one(Footer).region
    for grid in shown_grids(app):
        geometry = screen.find_widget(grid)
        visible = geometry.region.intersection(geometry.clip).intersection(screen.region)
        for tile in grid.tile_regions():
            assert visible.intersection(tile) == tile, f"{where}: a tile of #{grid.id} is cut"
            assert not tile.overlaps(footer), f"{where}: #{grid.id} under the footer"
        # What the grid draws matches the tiles it reports: no lines beyond its region.
        assert len(grid._build()) <= grid.size.height, f"{where}: #{grid.id} overflows"


def assert_status_whole(app, where: str) -> None:
    """The status line is as tall as its (fitted) text: none of it cut."""
    status = app.screen.query_one("#status")
    size = status.size
    assert size.height == status.get_content_height(size, size, size.width), (
        f"{where}: the status line is cut: {status.text!r}")


def footer_has(app, key: str) -> bool:
    active = app.screen.active_bindings.get(key)
    return active is not None and active.binding.show and active.enabled


async def assert_rows_reachable(app, pilot, key: str | None, where: str) -> None:
    """Pressing `key` brings every row of every grid on screen, none of them cut."""
    grids = shown_grids(app)
    seen = {grid.id: set() for grid in grids}
    totals = {grid.id: grid.rows()[2] for grid in grids}
    for _ in range(max(totals.values(), default=0) + 2):
        for grid in shown_grids(app):
            first, shown, _ = grid.rows()
            seen.setdefault(grid.id, set()).update(range(first, first + shown))
        hidden = any(seen[g] != set(range(totals[g])) for g in totals)
        if not hidden or key is None:
            break
        assert footer_has(app, key), f"{where}: rows off screen and no {key} in the footer"
        await pilot.press(key)
        await settle(app, pilot)
        assert_no_tile_cut(app, f"{where} after {key}")
    for grid_id, total in totals.items():
        assert seen[grid_id] == set(range(total)), (
            f"{where}: rows of #{grid_id} never on screen: "
            f"{sorted(set(range(total)) - seen[grid_id])}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_view_fits_whole_tiles_and_scrolls_its_rows(size, checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=size) as pilot:
        await open_view(app, pilot, "g", "cvae.safetensors")
        for view, scroll in VIEWS.items():
            await pilot.press(view)
            await settle(app, pilot)
            where = f"{size} {type(app.screen).__name__}"
            assert shown_grids(app) or view == "d", f"{where}: no images at all"
            assert_no_tile_cut(app, where)
            assert_status_whole(app, where)
            await assert_rows_reachable(app, pilot, scroll, where)
            if view == "g":  # a row per class: ten rows, reached by keys where they don't fit
                await pilot.press("a")
                await settle(app, pilot)
                assert app.screen.rows and grid_rows(app, "#samples") == 10
                assert_no_tile_cut(app, f"{where} rows")
                await assert_rows_reachable(app, pilot, scroll, f"{where} rows")
                await pilot.press("a")
        if size == (200, 60):  # a large screen fills with more of the pair
            await pilot.press("c")
            await settle(app, pilot)
            for side in ("a", "b"):
                assert len(app.screen.query_one(f"#{side}-recon", ImageGrid).images) >= 6
                assert len(app.screen.query_one(f"#{side}-samples", ImageGrid).images) >= 12
        await pilot.press("t")  # Train's previews (half size) after an epoch
        await settle(app, pilot)
        rng = np.random.default_rng(0)
        app.preview = (rng.random((8, 14, 29)), rng.random((8, 14, 14)))
        app.screen.refresh_run()
        await pilot.pause()
        assert_no_tile_cut(app, f"{size} Train")
        # The previews are a glimpse (as many as fit); where charts and previews
        # cannot both show whole, p swaps them and says so in the footer.
        previews = app.screen.query_one("#previews")
        if not previews.display:
            assert size == (80, 24) and footer_has(app, "p")
            await pilot.press("p")
            await pilot.pause()
            assert_no_tile_cut(app, f"{size} Train previews")
        assert {g.id for g in shown_grids(app)} == {"preview-recon", "preview-samples"}
        await pilot.press("m")
        await settle(app, pilot)
        table = app.screen.query_one("#checkpoints")
        # The header and every checkpoint's row on screen, the details below them.
        assert screen_holds(app, table.region) and table.region.height > len(app.entries)
        assert screen_holds(app, app.screen.query_one("#details").region)


def grid_rows(app, selector: str) -> int:
    return app.screen.query_one(selector, ImageGrid).rows()[2]


def screen_holds(app, region) -> bool:
    return app.screen.region.intersection(region) == region


async def test_zoom_at_80x24_cuts_nothing_and_says_why_when_nothing_fits(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "g", "cvae.safetensors")
        samples = app.screen.query_one("#samples", ImageGrid)
        # Unzoomed, half size (ten fit, two at full size); at 2x, full size: the zoom
        # makes a reduced view finer, not its pixels larger.
        assert samples.images[0].shape == (14, 14) and len(samples.tile_regions()) >= 6
        await pilot.press("z")
        await settle(app, pilot)
        assert_no_tile_cut(app, "Generate at 2x")
        assert samples.images[0].shape == (28, 28) and samples.drawn_scale == 1
        assert len(samples.tile_regions()) == 2
        no_room = []
        for view in "rcilvd":
            await pilot.press(view)
            await settle(app, pilot)
            assert_no_tile_cut(app, f"{type(app.screen).__name__} at 2x")
            for grid in shown_grids(app):  # the notice whole, wrapped in narrow grids
                if not grid.tile_regions():
                    said = " ".join(strip.text.strip() for strip in grid._build())
                    # One image is "the image", not "a whole row of images".
                    what = "the image" if len(grid.images) == 1 else "a whole row of images"
                    assert f"(no room for {what}; z: back to 1x" in said, said
                    no_room.append(view)
        assert no_room  # (a 56 x 28 cell tile is taller than Interpolate's grid)


async def test_zoom_follows_the_user_from_view_to_view(checkpoints, make_app):
    """z is the app's: a view opened (or come back to) after it applies it, and the
    next z works there at once (a view left at the old zoom ignored one z, and with
    finer images never redrew at all)."""
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "g", "vae.safetensors")

        def shape(selector):
            return app.screen.query_one(selector, ImageGrid).images[0].shape

        await pilot.press("r")  # mounted at 1x: half-size pairs
        await settle(app, pilot)
        assert shape("#pairs") == (14, 29)
        await pilot.press("g", "z", "z", "z")  # Generate ends at 2x: full size
        await settle(app, pilot)
        assert app.scale == 2 and shape("#samples") == (28, 28)
        await pilot.press("r")  # back in Reconstruct: 2x here too
        await settle(app, pilot)
        assert shape("#pairs") == (28, 57)
        await pilot.press("z")
        await settle(app, pilot)
        assert app.scale == 1 and shape("#pairs") == (14, 29)
        await pilot.press("g")
        await settle(app, pilot)
        assert shape("#samples") == (14, 14)
        await pilot.press("z")
        await settle(app, pilot)
        assert shape("#samples") == (28, 28)
        # In a view with no images z changed the zoom unseen: now it says so.
        app.clear_notifications()
        await pilot.press("m", "z")
        await settle(app, pilot)
        assert app.scale == 1
        assert any("zoom 1x: the image views" in n.message for n in app._notifications)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_the_footer_shows_whole_keys_and_keeps_help(size, checkpoints, make_app):
    """Keys that do not fit are left out whole (they were cut mid-word at 80 columns,
    `? Help` and `q Quit` lost); `? Help` lists them all."""
    from textual.widgets._footer import FooterKey

    app = make_app(checkpoints)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        for key in ("m", "r", "g", "i", "c", "l", "v", "d", "u", "t"):
            await pilot.press(key)
            await settle(app, pilot)
            await pilot.pause(0.1)
            footer = app.screen.query_one(Footer)
            keys = list(footer.query(FooterKey))
            assert keys and keys[-1].description in ("Help", "Quit"), key
            assert "Help" in [k.description for k in keys], key
            update = app.screen._compositor.render_update(full=True)
            line = "".join(segment.text for segment in update.strips[-1])
            for shown in keys:
                assert shown.region.right <= size[0], (key, shown.description, shown.region)
                assert f"{shown.key_display} {shown.description}" in line, (key, line)


def test_a_status_too_long_leaves_its_last_parts_out_whole():
    from tui_vae.tui.screens.view import fit_status

    text = "Samples from the prior · temperature 1 · draw 3 · space new · +/- temperature"
    assert fit_status(text, 200) == text
    assert fit_status(text, 30) == "Samples from the prior\ntemperature 1 · draw 3"
    assert fit_status(text, 10, lines=1) == "Samples from the prior"  # one part stays
    assert fit_status(text, 0) == text  # not laid out yet


def test_a_status_breaks_between_its_parts_so_a_key_stays_with_its_action():
    # Wrapped word by word, "· p" ended a line and "aggregate posterior" began the next.
    from tui_vae.tui.screens.view import fit_status

    text = ("Samples from the prior N(0, I) at temperature 1, seed 0: unconditional · "
            "space new draw · +/- temperature · p aggregate posterior")
    hints = text.split(" · ")[1:]
    for width in range(40, 140):  # from where the first part fits two lines
        lines = fit_status(text, width).split("\n")
        assert len(lines) <= 2 and all(len(line) <= width for line in lines), width
        kept = [hint for hint in hints if hint.split()[0] in " ".join(lines).split()]
        assert all(any(hint in line for line in lines) for hint in kept), lines
        assert kept or width < 60, lines  # at 80 columns the hints are there to check


def test_a_title_too_long_keeps_whole_words_and_says_so():
    from tui_vae.wording import fit_words

    title = "spherical (slerp) path from A (class 7) to B (class 2), 10 steps, between them"
    assert fit_words(title, 200) == title
    assert fit_words(title, 60) == "spherical (slerp) path from A (class 7) to B (class 2), 10…"
    assert fit_words(title, 12) == "spherical…"  # "(slerp)" would not fit whole
    assert fit_words("a-single-long-name", 8) == "a-singl…"  # no word boundary to use
    assert all(len(fit_words(title, w)) <= w for w in range(1, 90))


async def test_interpolates_titles_are_not_cut_mid_word_at_80x24(checkpoints, make_app):
    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(app, pilot, "i", "cvae.safetensors")
        await pilot.press("s")  # slerp: the longest path title
        await settle(app, pilot)
        update = app.screen._compositor.render_update(full=True)
        lines = ["".join(seg.text for seg in strip) for strip in update.strips]
        title = next(line for line in lines if "spherical (slerp) path" in line).strip()
        assert title.endswith(("…", "originals")), title
        assert title.rstrip("…").split()[-1] in app.screen.query_one("#path-title").text


async def test_every_views_status_fits_its_two_lines_at_80x24(checkpoints, make_app):
    import textwrap

    app = make_app(checkpoints)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("a")  # in Models: the first checkpoint as Compare's A
        for key in ("m", "r", "g", "i", "c", "l", "v", "d", "u", "t"):
            await pilot.press(key)
            await settle(app, pilot)
            status = app.screen.query_one("#status")
            text = str(status.render())
            assert len(textwrap.wrap(text, status.size.width)) <= 2, (key, text)


def test_a_cut_name_keeps_both_ends_so_names_that_share_a_beginning_still_differ():
    from tui_vae.tui.widgets.checkpoint_table import cut_middle

    names = [f"vae-mnist-20261207-06{m:02d}00" for m in (10, 11, 12)]
    cut = [cut_middle(name, 12) for name in names]
    assert all(len(c) == 12 and "…" in c for c in cut) and len(set(cut)) == 3, cut
    assert cut[0] == "vae-mn…61000"
    assert cut_middle("short", 12) == "short" and cut_middle("abcdefgh", 4) == "abc…"
    # a sweep's runs in their folder: "beta/b…atent2" for both beta0 and beta1
    assert [cut_middle(f"beta/beta{b}-latent2", 13) for b in (0, 1)] == [
        "beta0-latent2", "beta1-latent2"]
    assert cut_middle("beta/beta0-latent2", 15) == "…beta0-latent2"
    assert cut_middle("runs/beta/beta0.25-latent20-hidden400", 12) == "beta0.…en400"


async def test_a_table_too_narrow_leaves_its_last_columns_out_whole():
    """Models at 80 columns drew its KL column cut at the edge: "16." for 16.15."""
    from textual.app import App

    from tui_vae.tui.widgets.checkpoint_table import CheckpointTable, Column

    columns = [Column("name", 24), Column("loss", 8, right=True), Column("recon", 8, right=True),
               Column("KL", 8, right=True)]
    rows = [("vae-mnist-20261207-143129", "102.80", "86.65", "16.15")]

    class TableApp(App):
        def compose(self):
            yield CheckpointTable(columns, yielding=0, kept=2)

    for width, shown in ((80, 4), (44, 3), (36, 2)):
        app = TableApp()
        async with app.run_test(size=(width, 5)) as pilot:
            table = app.query_one(CheckpointTable)
            table.set_rows(1, lambda row: rows[row])
            await pilot.pause()
            header, line = (table._format([c.title for c in columns]),
                            table._format(rows[0]))
        assert len(line) <= width and header.split()[-1] == columns[shown - 1].title, header
        assert line.split()[1:] == list(rows[0][1:shown]), (width, line)


def test_an_endpoint_that_is_no_number_is_said_in_words():
    """Interpolate's From/To: "²" passed str.isdigit() and int() failed on it; 10,000
    digits hit Python's 4,300-digit limit; both reached the notice as Python's words."""
    import numpy as np
    import pytest

    from tui_vae.tui.screens.interpolate import parse_endpoint

    labels, rng = np.arange(100) % 10, np.random.default_rng(0)
    assert parse_endpoint("42", labels, rng) == 42
    assert labels[parse_endpoint("c7", labels, rng)] == 7
    for text in ("²", "c²", "9" * 10_000, "c" + "9" * 10_000, "100", "-1", "c"):
        with pytest.raises(ValueError, match="give an index 0-99 or a class") as info:
            parse_endpoint(text, labels, rng)
        assert len(str(info.value)) < 100
