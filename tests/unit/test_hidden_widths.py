"""--hidden W[,W...]: several hidden layers for either architecture, one home for the
flag's parsing, checkpoints that say their widths, and the report's form kept for one."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.conftest import run_cli
from tui_vae.config import ModelConfig, hidden_fields, parse_hidden
from tui_vae.models import build_model
from tui_vae.train_step import AutogradStep, hand_derived_applies


def test_widths_parse_from_the_flags_text():
    assert parse_hidden("400") == (400,)
    assert parse_hidden("512, 256") == (512, 256)
    for bad in ("", "a,b", "0", "512,-1", "1,2,3,4,5,6,7,8,9", "70000"):
        with pytest.raises(ValueError):
            parse_hidden(bad)
    assert hidden_fields((400,)) == {"hidden_dim": 400, "hidden_widths": ()}
    assert hidden_fields((512, 256)) == {"hidden_dim": 256, "hidden_widths": (512, 256)}


def test_one_width_keeps_the_reports_module_names_and_the_fast_path():
    model = build_model(ModelConfig(**hidden_fields((400,))))
    assert set(model.state_dict()) == {f"{n}.{p}" for n in (
        "encoder_shared.0", "fc_mu", "fc_logvar", "decoder.0", "decoder.2")
        for p in ("weight", "bias")}
    assert hand_derived_applies(model) is None


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_several_widths_build_the_layers_in_order_and_train(arch, sample_dataset):
    config = ModelConfig(arch=arch, latent_dim=4, dataset="mnist-sample",
                         **hidden_fields((48, 24)))
    model = build_model(config, seed=0)
    dense = [m for m in model.encoder_shared if isinstance(m, nn.Linear)]
    assert [m.out_features for m in dense] == [48, 24]
    assert model.fc_mu.in_features == 24
    inward = [m for m in model.decoder if isinstance(m, nn.Linear)]
    assert [m.out_features for m in inward][:2] == [24, 48]  # the decoder mirrors them
    assert hand_derived_applies(model) is not None  # the fast path is for one layer only
    x = sample_dataset.train.images[:64].unsqueeze(1).float() / 255
    step, optimizer = AutogradStep(model), torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for i in range(20):
        losses.append(step(x, None, 1.0, torch.Generator().manual_seed(i))[0])
        optimizer.step()
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) < sum(losses[:5]) - 5.0


def test_validation_refuses_widths_that_disagree_with_the_hidden_size():
    assert ModelConfig(**hidden_fields((64, 32))).problems() == []
    for widths, hidden in (((64, 32), 64), ((64,), 64), ((64, 0), 0), ((64, "32"), 32)):
        assert ModelConfig(hidden_dim=hidden, hidden_widths=widths).problems()


def test_train_resume_models_and_bad_values_from_the_command_line(tmp_path):
    out = tmp_path / "deep.safetensors"
    common = ("train", "--dataset", "mnist-sample", "--hidden", "40,20", "--latent-dim", "3",
              "--out", str(out))
    first = run_cli(*common, "--epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "hidden=40,20" in first.stdout + first.stderr
    again = run_cli(*common, "--epochs", "2", "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    listing = run_cli("models", str(tmp_path), cwd=tmp_path)
    assert "40,20" in listing.stdout
    differs = run_cli(*common[:-2], "--hidden", "40,10", "--out", str(out), "--resume",
                      cwd=tmp_path)
    assert differs.returncode == 2
    assert "--hidden 40,10 differs from the checkpoint's 40,20" in differs.stderr
    one = run_cli(*common[:-2], "--hidden", "32", "--out", str(out), "--resume", cwd=tmp_path)
    assert one.returncode == 2 and "--hidden 32 differs from the checkpoint's 40" in one.stderr
    for bad in ("0,3", "x", "1,2,3,4,5,6,7,8,9"):
        refused = run_cli("train", "--hidden", bad, cwd=tmp_path)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
    both = run_cli("train", "--hidden", "64,32", "--hidden-dim", "5", cwd=tmp_path)
    assert both.returncode == 2 and "differs" in both.stderr


def test_a_checkpoint_with_malformed_widths_is_refused_in_one_line(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from tui_vae.checkpoints import read_info
    from tui_vae.errors import CheckpointError

    out = tmp_path / "deep.safetensors"
    assert run_cli("train", "--dataset", "mnist-sample", "--hidden", "40,20", "--epochs", "1",
                   "--out", str(out), cwd=tmp_path).returncode == 0
    assert read_info(out).meta["model"]["hidden_widths"] == [40, 20]
    tensors = load_file(out)
    from safetensors import safe_open

    with safe_open(out, "pt") as handle:
        meta = json.loads(handle.metadata()["tui_vae"])
    for widths in ("40,20", [40, "20"], [40, 30], [True, 20]):
        meta["model"]["hidden_widths"] = widths
        bad = tmp_path / "bad.safetensors"
        save_file(tensors, bad, metadata={"tui_vae": json.dumps(meta)})
        with pytest.raises(CheckpointError):
            read_info(bad)


def test_the_train_form_takes_a_list_of_widths(tmp_path):
    from tui_vae.config import field_default
    from tui_vae.tui.screens.train import NUMBER_FIELDS, build_config

    values = {name: str(field_default(name)) for name, *_ in NUMBER_FIELDS}
    values.update(model="vae", dataset="mnist-sample", hidden_dim="64, 32")
    config = build_config(values, tmp_path, None)
    assert config.model.widths == (64, 32) and config.model.hidden_dim == 32
    values["hidden_dim"] = "64,,"
    with pytest.raises(ValueError, match="hidden widths"):
        build_config(values, tmp_path, None)
