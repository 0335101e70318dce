"""Every view on models that are not 28x28 grey: colour 32x32 conv models of the shapes
dataset (a VAE and a cVAE), a colour 64x64 one whose dataset (CelebA) is not on this
machine (the bundled digits, made 64x64 colour, stand in), at 80x24 and 120x40: whole
tiles only, every row reachable, pictures in colour, Compare across shapes, Draw's
plain refusal, and a colour PNG export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tui.test_layout import assert_no_tile_cut, assert_rows_reachable, shown_grids
from tests.tui.test_views import activate, footer_keys, settle
from tui_vae.tui.widgets.image_grid import ImageGrid

TINY = dict(arch="conv", latent_dim=4, hidden_dim=32)
# view key -> the key that scrolls its rows of tiles (as tests/tui/test_layout.py)
VIEWS = {"r": None, "g": "down", "i": "down", "c": None, "v": "down", "l": None}


def _train(folder: Path, name: str, data, **settings) -> None:
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    config = ModelConfig(**{**TINY, **settings})
    out = folder / f"{name}.safetensors"
    Trainer(TrainConfig(model=config, epochs=1, batch_size=100, device="cpu", out=str(out)),
            dataset=data).run()


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory) -> Path:
    """Tiny conv models trained one epoch on a few hundred images (seconds in all)."""
    from tui_vae.data import Dataset, Split, load_dataset
    from tui_vae.datasets import dataset_spec

    folder = tmp_path_factory.mktemp("colour")
    shapes = load_dataset("shapes")
    few = Dataset(shapes.spec, shapes.train.subset(slice(0, 300)), shapes.test, None)
    classes = len(shapes.classes)
    _train(folder, "shapes-vae", few, model="vae", dataset="shapes", channels=3,
           image_size=32, num_classes=classes)
    _train(folder, "shapes-cvae", few, model="cvae", dataset="shapes", channels=3,
           image_size=32, num_classes=classes)
    # A 64x64 colour model of a dataset this machine does not have (CelebA): trained on
    # random pictures here, it opens on the bundled digits made 64x64 colour.
    # Reddish noise: a model starts drawing its data's mean colour, so its pictures
    # are colour (not grey) from the first step.
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (100, 64, 64, 3), dtype=np.uint8)
    pictures[..., 1:] //= 4
    noise = Split(torch.from_numpy(pictures), torch.zeros(100, dtype=torch.long))
    _train(folder, "faces64-vae", Dataset(dataset_spec("celeba"), noise, noise, None),
           model="vae", dataset="celeba", channels=3, image_size=64, num_classes=1)
    # and a grey MLP of the report's shape, for Compare across shapes
    sample = load_dataset("mnist-sample")
    _train(folder, "digits-vae", sample, model="vae", arch="mlp", dataset="mnist-sample")
    return folder


def colour_grids(app) -> list[ImageGrid]:
    return [grid for grid in shown_grids(app) if grid.images[0].ndim == 3]


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def visit(app, pilot, where: str) -> None:
    """Every image view: whole tiles, rows reachable, colour pictures, no error."""
    for view, scroll in VIEWS.items():
        await pilot.press(view)
        await settle(app, pilot)
        here = f"{where} {type(app.screen).__name__}"
        assert shown_grids(app), f"{here}: no images"
        if view != "c":  # Compare shows whichever pair is chosen
            assert colour_grids(app), f"{here}: no colour pictures"
        assert_no_tile_cut(app, here)
        await assert_rows_reachable(app, pilot, scroll, here)
    assert not errors(app), errors(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_view_on_colour_models(size, colour_folder, make_app, tmp_path):
    app = make_app(colour_folder)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await activate(app, pilot, "shapes-cvae.safetensors")
        await visit(app, pilot, f"{size} cVAE")
        # Traversal: each dimension's line names the factor it follows most, and R
        await pilot.press("v")
        await settle(app, pilot)
        chart = str(app.screen.query_one("#kl-chart").render())
        assert len(chart.splitlines()) == 4  # a line per latent dimension
        assert all(any(name in line for name in ("shape", "hue", "size", "x", "y", "rotation"))
                   for line in chart.splitlines())
        assert "R (its correlation)" in str(app.screen.query_one("#kl-summary").render())
        # the class names come from the dataset
        await pilot.press("g", "2")
        await settle(app, pilot)
        status = str(app.screen.query_one("#status").render())
        assert "class triangle" in status and "0-4 class" in status
        await pilot.press("7")  # five classes: a key past them says so, changes nothing
        await settle(app, pilot)
        assert "class triangle" in str(app.screen.query_one("#status").render())
        assert any("knows 5 classes: keys 0-4" in n.message for n in app._notifications)
        assert not errors(app)
        await pilot.press("a")  # a row per class, reachable by keys
        await settle(app, pilot)
        assert app.screen.query_one("#samples", ImageGrid).rows()[2] == 5
        assert_no_tile_cut(app, f"{size} Generate rows")
        await assert_rows_reachable(app, pilot, "down", f"{size} Generate rows")
        await pilot.press("r", "s")  # the posterior's spread, smaller tiles
        await settle(app, pilot)
        assert colour_grids(app) and not errors(app)
        assert_no_tile_cut(app, f"{size} Reconstruct draws")
        # Draw: a grey 28x28 canvas; a colour model is refused plainly, nothing drawn
        await pilot.press("d", "space", "up", "o")
        await settle(app, pilot)
        status = str(app.screen.query_one("#status").render())
        assert "Draw needs a grey 28x28 model" in status and "colour 32x32" in status
        assert not shown_grids(app) and not errors(app)
        # its drawing keys are off: the footer offered them, and they drew on a canvas
        # nothing read
        await pilot.click("#canvas", offset=(4, 3))  # nor does the mouse draw
        assert app.screen.canvas.pixels.sum() == 0
        assert not {"space", "o", "x"} & set(footer_keys(app))
        if size == (80, 24):  # the 64x64 model: smaller where a whole image would not fit
            await activate(app, pilot, "faces64-vae.safetensors")
            await visit(app, pilot, f"{size} 64x64")
            assert "as colour 64x64" in app.images.source
        await pilot.press("m", "u", "p")  # Runs: the plane, the cursor run's pictures
        await settle(app, pilot)
        assert_no_tile_cut(app, f"{size} Runs plane")
        await pilot.press("t")  # Train's previews of a colour model: 14 px tiles, whole
        await settle(app, pilot)
        from tui_vae.gallery import training_preview

        app.preview = training_preview(app.model, app.images)
        app.screen.refresh_run()
        await pilot.pause()
        if not app.screen.query_one("#previews").display:
            await pilot.press("p")
            await pilot.pause()
        assert_no_tile_cut(app, f"{size} Train previews")
        assert {g.id for g in colour_grids(app)} == {"preview-recon", "preview-samples"}
        assert app.is_running and not errors(app)


async def test_compare_across_shapes_and_a_colour_export(colour_folder, make_app, tmp_path):
    from PIL import Image

    app = make_app(colour_folder)
    app.workspace.export_dir = tmp_path / "exports"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await activate(app, pilot, "shapes-vae.safetensors")
        app.compare_pair = (colour_folder / "digits-vae.safetensors",
                            colour_folder / "faces64-vae.safetensors")
        await pilot.press("c")
        await settle(app, pilot)
        await settle(app, pilot)
        a, b = (app.screen.query_one(f"#{side}-samples", ImageGrid) for side in "ab")
        assert a.images[0].ndim == 2 and b.images[0].ndim == 3  # grey beside colour
        assert_no_tile_cut(app, "Compare grey | 64x64 colour")
        assert not errors(app)
        picture = app.screen.export_images()
        assert picture.ndim == 3 and picture.shape[2] == 3  # both sides, in RGB
        await activate(app, pilot, "faces64-vae.safetensors")  # it draws reddish pictures
        await pilot.press("g", "e")
        await settle(app, pilot)
        saved = [n.message for n in app._notifications if ".png" in n.message]
        assert saved, [n.message for n in app._notifications]
        path = Path(saved[-1].split()[1])  # "saved PATH (W x H px)"
        assert path.parent == tmp_path / "exports"
        with Image.open(path) as png:
            assert png.mode == "RGB"
            pixels = np.asarray(png).astype(int)
        # colour, not grey stored three times
        assert (np.abs(pixels[..., 0] - pixels[..., 1]) > 20).any()


async def test_a_colour_model_under_no_color_draws_shades(colour_folder, make_app, monkeypatch):
    from tui_vae.render import SHADES, UPPER_HALF

    monkeypatch.setenv("NO_COLOR", "1")  # read when the App is built
    app = make_app(colour_folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await activate(app, pilot, "shapes-vae.safetensors")
        for key in "grivl":
            await pilot.press(key)
            await settle(app, pilot)
            app.screen._compositor.render_update(full=True)  # through NO_COLOR's filter
            assert colour_grids(app), key
            for grid in colour_grids(app):  # (the latent map's scatter keeps its blocks)
                text = "".join(strip.text for strip in grid._build())
                assert UPPER_HALF not in text, key
                # The test pictures beside reconstructions are shapes on black: shades
                # show. (A model trained for three steps draws its data's dark mean.)
                assert key != "r" or any(s in text for s in SHADES[1:]), key
        assert app.no_color and not errors(app)


async def test_truecolor_grids_skip_only_a_filter_that_would_change_nothing(colour_folder,
                                                                          make_app):
    """ImageGrid drops Textual's ANSI-to-truecolor line filter in truecolor (its cost
    was most of a new colour grid's frame): applied to every line the grid drew,
    with captions, the filter must hand back exactly the same segments."""
    from rich.color import ColorSystem
    from textual.filter import ANSIToTruecolor

    app = make_app(colour_folder)
    async with app.run_test(size=(120, 40)) as pilot:
        app.console._color_system = ColorSystem.TRUECOLOR
        await settle(app, pilot)
        await activate(app, pilot, "shapes-cvae.safetensors")
        truecolor = next(f for f in app.get_line_filters() if isinstance(f, ANSIToTruecolor))
        grids, captioned = [], 0
        for keys in (("g", "a"), ("v",)):  # a row per class; a traversal, captioned
            await pilot.press(*keys)
            await settle(app, pilot)
            for grid in colour_grids(app):
                grids.append(grid)
                captioned += grid._captions is not None
                assert truecolor not in grid.get_line_filters()
                background = grid.background_colors[1]
                for strip in grid._build():
                    assert list(truecolor.apply(list(strip), background)) == list(strip)
        assert grids and captioned
        app.console._color_system = ColorSystem.EIGHT_BIT  # palette numbers: it converts them
        assert all(truecolor in grid.get_line_filters() for grid in grids)


async def test_a_folders_note_is_a_notice_once(tmp_path, make_app):
    """What `train` says of a folder before training (unreadable files skipped), the
    app says when a model of that folder opens: once, not at every model chosen."""
    from tests.unit.test_image_folder import make_folder
    from tui_vae.data import load_dataset
    from tui_vae.datasets import fit_to_dataset
    from tui_vae.models import ModelConfig
    from tui_vae.training import TrainConfig, Trainer

    pictures = make_folder(tmp_path / "pics")
    (pictures / "reds" / "broken.png").write_bytes(b"not a picture")
    name = f"folder:{pictures}"
    data = load_dataset(name, tmp_path / "data", image_size=28, channels=1)
    assert "skipped 1 of" in data.note
    models = tmp_path / "models"
    models.mkdir()
    for out in ("a.safetensors", "b.safetensors"):
        config = fit_to_dataset(ModelConfig(latent_dim=2, hidden_dim=16, dataset=name),
                                image_size=28, channels=1)
        Trainer(TrainConfig(model=config, epochs=1, batch_size=4, device="cpu",
                            out=str(models / out)), dataset=data).run()
    app = make_app(models)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for checkpoint in ("a.safetensors", "b.safetensors", "a.safetensors"):
            await activate(app, pilot, checkpoint)
        said = [n.message for n in app._notifications if "skipped 1 of" in n.message]
        assert said == [data.note]
