"""The explorer's plain services: workspace, gallery, run monitor, keymap, chart maths."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tui_vae.checkpoints import CheckpointInfo, build_metadata, save_checkpoint
from tui_vae.events import EpochEnded, Finished, Started, StepLogged, ThreadsChanged
from tui_vae.models import ModelConfig, build_model
from tui_vae.monitor import RunMonitor
from tui_vae.training import TrainConfig
from tui_vae.tui.keymap import load_keymap
from tui_vae.tui.widgets.image_grid import grid_capacity
from tui_vae.tui.widgets.loss_chart import Series, braille_rows, nice_ticks, plot_dots
from tui_vae.workspace import SAMPLE_SOURCE, Workspace


def _save(path, beta=1.0, kind="vae"):
    config = ModelConfig(model=kind, latent_dim=3, hidden_dim=8, beta=beta,
                         dataset="mnist-sample")
    history = [{"epoch": 1, "train": {}, "test": {"loss": 1.0, "recon": 1.0, "kl": 0.0}}]
    meta = build_metadata(config, {"epochs": 1}, {"epochs_done": 1, "step": 0}, history)
    save_checkpoint(path, build_model(config, seed=0), meta)


def test_workspace_lists_shipped_first_and_picks_defaults(tmp_path):
    mine, shipped = tmp_path / "mine", tmp_path / "shipped"
    mine.mkdir()
    shipped.mkdir()
    _save(mine / "a-mine.safetensors", kind="cvae")
    _save(shipped / "vae.safetensors")
    _save(shipped / "vae-beta0.safetensors", beta=0.0)
    ws = Workspace(mine, tmp_path / "nodata", "cpu", shipped_dir=shipped)
    entries = ws.scan()
    assert [e.path.name for e in entries] == ["vae.safetensors", "vae-beta0.safetensors",
                                              "a-mine.safetensors"]
    assert all(isinstance(e, CheckpointInfo) for e in entries)
    assert ws.default_checkpoint(entries) == shipped / "vae.safetensors"
    a, b = ws.default_pair(entries)
    assert a == shipped / "vae.safetensors"  # the plain VAE twin, not the cVAE
    assert ws.model(b).config.beta == 0
    assert ws.is_shipped(shipped / "vae.safetensors") and not ws.is_shipped(entries[2].path)


def test_workspace_falls_back_to_the_bundled_sample_and_reloads_changed_files(tmp_path):
    _save(tmp_path / "m.safetensors")
    ws = Workspace(tmp_path, tmp_path / "nodata", "cpu", shipped_dir=None)
    images = ws.images("mnist")
    assert images.source == SAMPLE_SOURCE and len(images.split) == 1000
    first = ws.model(tmp_path / "m.safetensors")
    assert ws.model(tmp_path / "m.safetensors") is first  # cached
    _save(tmp_path / "m.safetensors", beta=0.5)
    assert ws.model(tmp_path / "m.safetensors").config.beta == 0.5  # changed on disk
    assert len(ws._models) == 1  # the old version is not kept (a run saves every epoch)
    (tmp_path / "m.metrics.jsonl").write_text("{}\n")
    ws.delete(tmp_path / "m.safetensors")
    assert not list(tmp_path.glob("m.*"))  # the checkpoint and its metrics file


def test_the_workspace_keeps_a_bounded_number_of_models(tmp_path):
    from tui_vae.workspace import MODELS_KEPT

    ws = Workspace(tmp_path, tmp_path / "nodata", "cpu", shipped_dir=None)
    paths = [tmp_path / f"m{i}.safetensors" for i in range(MODELS_KEPT + 3)]
    for path in paths:
        _save(path)
    first = ws.model(paths[0])
    for path in paths[1:]:
        ws.model(path)
        ws.model(paths[0])  # used again and again: kept
    assert len(ws._models) == MODELS_KEPT
    assert ws.model(paths[0]) is first
    kept = {k[0] for k in ws._models}
    assert kept >= {os.path.realpath(paths[0]), os.path.realpath(paths[-1])}
    assert os.path.realpath(paths[1]) not in {k[0] for k in ws._models}  # the least recently used


def test_gallery_shapes_and_class_rows(tmp_path):
    from tui_vae import gallery
    from tui_vae.inference import TrainedModel

    config = ModelConfig(model="cvae", latent_dim=3, hidden_dim=8, dataset="mnist-sample")
    model = TrainedModel(build_model(config, seed=0))
    ws = Workspace(tmp_path, tmp_path, "cpu", shipped_dir=None)
    split = ws.images("mnist-sample").split
    rows = gallery.class_rows(model, columns=4, temperature=1.0, seed=0)
    assert rows.shape == (40, 28, 28)
    # The same z down each column: rows differ only by the condition.
    z_row = gallery.class_rows(model, columns=4, temperature=0.0, seed=0)
    assert np.allclose(z_row[0], z_row[1]) and not np.allclose(z_row[0], z_row[4])
    pairs = gallery.side_by_side(gallery.images_of(split, [0, 1]),
                                 gallery.reconstructions(model, split, [0, 1]))
    assert pairs.shape == (2, 28, 57)
    assert np.allclose(pairs[:, :, :28], gallery.images_of(split, [0, 1]))
    path = gallery.interpolation(model, split, 0, 1, steps=5, spherical=True)
    assert path.shape == (5, 28, 28)
    # Both ends of the path are the two images' reconstructions.
    assert np.allclose(path[[0, -1]], gallery.reconstructions(model, split, [0, 1]), atol=1e-5)
    losses = gallery.per_image_losses(model, split, batch_size=150)
    assert losses.shape == (200,) and np.all(losses > 0)  # the sample's test split, batched
    assert gallery.half_size(np.ones((2, 28, 28))).shape == (2, 14, 14)


@pytest.mark.parametrize("with_mixture", [False, True])
def test_more_samples_keep_the_first_ones_and_the_class_rows_match(with_mixture):
    # At 80x24 Generate showed a class's 5 samples whose fifth was not the fifth of its
    # 10, nor the fifth column of the row per class: torch draws a tensor's normals in
    # blocks of 16, and 5 x 20 ends on a block drawn afresh.
    import torch

    from tui_vae import gallery
    from tui_vae.aggregate import fit_mixture
    from tui_vae.inference import TrainedModel

    config = ModelConfig(model="cvae", latent_dim=20, hidden_dim=8, dataset="mnist-sample")
    model = TrainedModel(build_model(config, seed=0))
    mixture = (fit_mixture(torch.randn(300, 20), components=4, iterations=3)
               if with_mixture else None)
    five = gallery.samples(model, 5, 3, 0.9, seed=7, mixture=mixture)
    ten = gallery.samples(model, 10, 3, 0.9, seed=7, mixture=mixture)
    rows = gallery.class_rows(model, 5, 0.9, seed=7, mixture=mixture)
    # (to the last bit but for the decoder's sums over batches of another size)
    np.testing.assert_allclose(five, ten[:5], atol=1e-6)
    np.testing.assert_allclose(rows[3 * 5:4 * 5], five, atol=1e-6)
    assert not np.array_equal(ten[:5], ten[5:])


def test_monitor_folds_events_into_progress_and_curves():
    monitor = RunMonitor()
    monitor.reset()
    config = TrainConfig(epochs=2)
    monitor.record(Started(config, "cpu", 100, 10, 4, None))
    for step, loss in enumerate((200.0, 100.0), start=1):
        monitor.record(StepLogged(0, step, 4, step, loss, loss - 20, 20.0, 1.0, 1e-3, 500.0))
    monitor.record(EpochEnded(0, 2, {"loss": 150.0}, {"loss": 140.0, "recon": 120.0,
                                                     "kl": 20.0}, 1.0))
    progress, curves = monitor.snapshot()
    assert progress.state == "running" and progress.epoch == 1 and progress.steps == 4
    assert curves.loss == pytest.approx([200.0, 0.9 * 200.0 + 0.1 * 100.0])  # smoothed
    assert curves.test_loss == [140.0] and curves.epoch == [1]
    monitor.record(ThreadsChanged(1, 2))  # other work came: the run says on how many threads
    assert monitor.snapshot()[0].threads == "1 thread"
    monitor.record(ThreadsChanged(2, 2))
    assert monitor.snapshot()[0].threads == ""
    assert monitor.active
    monitor.request_stop()
    assert monitor.snapshot()[0].state == "stopping"
    monitor.record(Finished(1, True, "x.safetensors"))
    assert monitor.snapshot()[0].state == "stopped" and not monitor.active
    assert monitor.snapshot()[0].ended() == "stopped after 1 epoch"  # at the epoch's end
    # A stop partway through an epoch says which (not "after 0 epochs").
    monitor.reset()
    monitor.record(Started(config, "cpu", 100, 10, 4, None))
    monitor.record(StepLogged(0, 2, 4, 2, 100.0, 80.0, 20.0, 1.0, 1e-3, 500.0))
    monitor.record(Finished(0, True, "x.safetensors"))
    assert monitor.snapshot()[0].ended() == "stopped in epoch 1 (0 epochs complete)"
    monitor.reset()
    monitor.record(Started(config, "cpu", 100, 10, 4, None))
    monitor.record(Finished(2, False, "x.safetensors"))
    assert monitor.snapshot()[0].ended() == "finished after 2 epochs"
    # Stopped before its first step: nothing trained and nothing saved, and it says so.
    monitor.reset()
    monitor.record(Started(config, "cpu", 100, 10, 4, None))
    monitor.record(Finished(0, True, None))
    progress = monitor.snapshot()[0]
    assert progress.ended() == "stopped before its first step" and progress.path is None


def test_keymap_file_reading(tmp_path):
    assert load_keymap(tmp_path / "missing.toml") == ({}, None)
    good = tmp_path / "k.toml"
    good.write_text('"view.train" = "T"\n"bad" = 3\n')
    keymap, problem = load_keymap(good)
    assert keymap == {"view.train": "T"} and "1 entry ignored" in problem
    broken = tmp_path / "b.toml"
    broken.write_text("= = =")
    assert load_keymap(broken)[0] == {} and "default keys" in load_keymap(broken)[1]
    # Under the size limit, nested past Python's recursion limit: a notice, no crash.
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 30000 + "]" * 30000 + "\n")
    keymap, problem = load_keymap(deep)
    assert keymap == {} and "nested too deeply" in problem and "default keys" in problem


def test_grid_capacity_fits_tiles_and_never_returns_zero():
    assert grid_capacity(120, 40, (28, 28), 1, captions=False) == (4, 2)
    assert grid_capacity(120, 40, (28, 28), 2, captions=False) == (2, 1)
    assert grid_capacity(10, 3, (28, 28), 1, captions=True) == (1, 1)


def test_nice_ticks_and_braille_plot():
    assert nice_ticks(0, 100, 5) == [0, 25, 50, 75, 100]
    assert nice_ticks(95, 120, 3) == [100, 120]  # step 12.5 rounds up to 20
    rising = Series("up", "red", (0.0, 1.0), (0.0, 1.0))
    grid = plot_dots([rising], width=4, height=2, x_range=(0, 1), y_range=(0, 1), log=False)
    assert grid.shape == (8, 8)
    assert grid[7, 0] == 0 and grid[0, 7] == 0  # bottom-left to top-right
    assert (grid[:, 0] >= 0).sum() >= 1 and (grid >= 0).sum() >= 8
    rows = braille_rows(grid, ["red"])
    assert len(rows) == 2 and all(len(row.plain) == 4 for row in rows)
    assert rows[1].plain[0] != " " and rows[0].plain[-1] != " "


def test_loss_chart_log_scale_drops_non_positive_values():
    series = Series("s", "red", (0.0, 1.0, 2.0), (0.0, 10.0, 100.0))
    grid = plot_dots([series], 10, 3, (0, 2), (10.0, 100.0), log=True)
    assert (grid >= 0).any()
    assert (grid[:, 0] == -1).all()  # log scale: the zero at x = 0 is not drawn


def test_manifold_grid_needs_a_2d_plain_vae():
    from tui_vae import gallery
    from tui_vae.inference import TrainedModel

    model = TrainedModel(build_model(ModelConfig(latent_dim=2, hidden_dim=8), seed=0))
    grid = gallery.manifold_grid(model, n=5)
    assert grid.shape == (25, 28, 28)
    with pytest.raises(ValueError):
        gallery.manifold_grid(TrainedModel(build_model(ModelConfig(latent_dim=3, hidden_dim=8))))


def test_a_checkpoints_description_names_its_network_and_likelihood():
    """The Models view's details: a conv net said so (the table has no room for it)."""
    from dataclasses import asdict
    from pathlib import Path
    from types import SimpleNamespace

    from tui_vae.config import ModelConfig
    from tui_vae.tui.screens.models import describe_checkpoint

    model = asdict(ModelConfig(arch="conv", likelihood="gaussian"))
    entry = SimpleNamespace(meta={"model": model, "training": {"epochs": 3}},
                            model_config=model, epochs_done=2, path=Path("conv.safetensors"))
    second = describe_checkpoint(entry).splitlines()[1]
    assert second.startswith("VAE · conv · gaussian · latent 20"), second


def test_compare_calls_a_pair_the_reports_figure_1_only_for_one_network_with_and_without_kl():
    from dataclasses import replace

    from tui_vae.config import ModelConfig
    from tui_vae.tui.screens.compare import caption

    vae = ModelConfig()
    assert "Figure 1" in caption([vae, replace(vae, beta=0.0)])
    assert "Figure 1" not in caption([vae, replace(vae, beta=2.0)])  # both keep the KL
    shapes = ModelConfig(dataset="shapes", latent_dim=10, image_size=32, channels=3)
    assert "Figure 1" not in caption([shapes, replace(vae, beta=0.0)])  # other networks
    assert "Figure 1" not in caption([replace(vae, arch="conv"), replace(vae, beta=0.0)])
    assert caption([vae, None]).startswith("A against B")
    # each side on its own data: said, and that their figures do not compare (a run
    # on the bundled sample beside one on MNIST read as "the same test images")
    said = caption([replace(vae, dataset="mnist-sample"), vae])
    assert said.startswith("A on MNIST sample, B on MNIST:") and "do not compare" in said
