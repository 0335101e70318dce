"""Pilot: the user's own VAE (--model-factory) in the explorer.

The example model of docs/examples (plain and conditional, untrained weights:
the views need shapes, not skill) opens as the active model, is listed in
Models, and every view opens on it with its keys; a factory that fails is one
notice and the app goes on with the other models.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import save_file

from tui_vae.tui.widgets.image_grid import ImageGrid

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
SIZE = (120, 40)
# view key -> keys pressed there (each view's own, and class keys where they apply)
VIEW_KEYS = {
    "t": ["tab", "escape"],
    "m": ["down", "up"],
    "u": ["space"],
    "r": ["right", "7", "a", "w"],
    "g": ["space", "plus", "7", "a"],
    "i": ["space", "s", "plus"],
    "l": ["up", "right", "7", "p"],
    "v": ["right", "7"],
    "d": ["space", "up", "right", "o"],
    "c": ["space", "x"],
}
# views whose grids must hold images of the model (Compare, Draw: checked apart)
IMAGE_VIEWS = {"r": "#pairs", "g": "#samples", "i": "#path", "l": "#decoded",
               "v": "#traversal", "d": "#recon", "c": "#a-recon"}


@pytest.fixture(scope="module")
def tiny_vae():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import tiny_vae
    finally:
        sys.path.remove(str(EXAMPLES))
    return tiny_vae


@pytest.fixture
def weights(tmp_path, tiny_vae):
    """Untrained weights of both example factories, in a folder of the user's own."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("build_sample", "build_conditional_sample"):
        save_file(getattr(tiny_vae, name)().state_dict(), str(folder / f"{name}.safetensors"))
    return folder


def make(folder: Path, tmp_path: Path, factory: str | None, weights: Path | None):
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    empty = tmp_path / "no-data"
    empty.mkdir(exist_ok=True)
    workspace = Workspace(folder, empty, "cpu", shipped_dir=None,
                          export_dir=tmp_path / "exports")
    if factory:
        workspace.set_user_model(factory, weights)
    app = TuiVaeApp(workspace)
    app.notices = []  # every notice, kept (the toasts expire)
    notify = app.notify

    def keep(message, *args, **kwargs):
        app.notices.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = keep
    return app


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def shown_images(app, selector: str) -> list:
    return app.screen.query_one(selector, ImageGrid).images


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    """The factory's module is found as it is from the examples folder."""
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.mark.parametrize("factory", ["build_sample", "build_conditional_sample"])
async def test_every_view_opens_on_the_users_model(checkpoints, tmp_path, weights, factory):
    path = weights / f"{factory}.safetensors"
    app = make(checkpoints, tmp_path, f"tiny_vae:{factory}", path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.active == path.absolute() and app.model is not None, app.notices
        assert app.model.config.arch == "user" and app.model.config.latent_dim == 8
        assert app.model.config.conditional == (factory == "build_conditional_sample")
        assert app.sub_title.startswith(f"{path.stem} · ")
        # listed first in Models, as "user", beside the tui-vae checkpoints
        entry = app.entries[0]
        assert entry.path == path.absolute() and entry.model_config["model"] == "user"
        assert len(app.entries) == 4  # and the three checkpoints of the folder
        app.compare_pair = (path.absolute(), app.entries[1].path)
        for view, keys in VIEW_KEYS.items():
            await pilot.press(view)
            await settle(app, pilot)
            await pilot.press(*keys)
            await settle(app, pilot)
            assert app.is_running and app.model is not None, view
            if view in IMAGE_VIEWS:
                images = shown_images(app, IMAGE_VIEWS[view])
                assert images and images[0].shape[0] % 14 == 0, view  # whole or half size
                assert all(np.isfinite(image).all() for image in images), view
        assert not [n for n in app.notices if "cannot" in n or "error" in n.lower()], app.notices
        # Models: the row names the kind "user"; its weights are never deleted
        await pilot.press("m")
        await settle(app, pilot)
        screen = app.screen
        assert screen._cells(0)[2] == "user" and screen._cells(0)[1] == path.stem
        await pilot.press("x", "y")  # delete, yes: refused, the file stays
        await settle(app, pilot)
        assert path.is_file() and app.entries[0].path == path.absolute()
        assert any("holds the weights of your own model" in n for n in app.notices)


async def test_a_factory_that_fails_is_one_notice_and_the_app_goes_on(checkpoints, tmp_path,
                                                                     weights):
    app = make(checkpoints, tmp_path, "tiny_vae:build_conditional_sample",
               weights / "build_sample.safetensors")  # a plain VAE's weights: they mismatch
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.is_running and app.model is not None
        assert app.active.name == "cvae.safetensors"  # the checkpoints' default
        failures = [n for n in app.notices if "weights do not match the model" in n]
        assert len(failures) == 1 and "\n" not in failures[0], app.notices
        assert all(e.model_config["model"] != "user" for e in app.valid_entries())
    missing = make(checkpoints, tmp_path, "no_such_module_here:build",
                   weights / "build_sample.safetensors")
    async with missing.run_test(size=SIZE) as pilot:
        await settle(missing, pilot)
        assert missing.is_running and missing.model is not None
        assert any("cannot import no_such_module_here" in n for n in missing.notices)


async def test_a_model_that_fails_on_large_batches_is_a_notice_in_every_view(
        checkpoints, tmp_path, weights, monkeypatch):
    """Its check (two images) passes; the Latent map encodes a thousand and Generate's
    `p` fits a mixture to them. The map crashed the explorer and `p` waited on
    "fitting..." for ever; both now say why, and the app goes on."""
    import os

    (tmp_path / "fragile_vae.py").write_text(
        "import os\nimport tiny_vae\n\n"
        "class Fragile(tiny_vae.TinyVAE):\n"
        "    def encode(self, x, y):\n"
        "        if len(x) > 64:\n"
        "            raise MemoryError('too many images at once')\n"
        "        return super().encode(x, y)\n\n"
        "    def decode(self, z, y):\n"
        "        os.chdir('/')  # every call: tui-vae must stay where it was\n"
        "        return super().decode(z, y)\n\n"
        "def build():\n"
        "    return Fragile(dataset='mnist-sample')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    app = make(checkpoints, tmp_path, "fragile_vae:build", weights / "build_sample.safetensors")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.active.name == "build_sample.safetensors"
        await pilot.press("l")
        await settle(app, pilot)
        await pilot.press("g", "p")
        await settle(app, pilot)
        await pilot.pause(0.2)
        assert app.is_running
        said = [n for n in app.notices if "too many images at once" in n]
        assert any(n.startswith("Latent: your model's encode") for n in said), app.notices
        assert any(n.startswith("cannot fit the aggregate posterior") for n in said)
        assert not app.screen.aggregate  # back on the prior, drawn
        assert shown_images(app, "#samples")
        assert os.getcwd() == str(tmp_path)
