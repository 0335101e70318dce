"""Weight shapes worked out without torch agree with the models torch builds, and a
listing refuses a file whose weights do not fit the model its metadata describes."""

import itertools
import json
import struct
import subprocess
import sys

import pytest

from tui_vae import checkpoints as ck
from tui_vae.config import ARCHITECTURES, LIKELIHOODS, MODEL_KINDS, ModelConfig
from tui_vae.datasets import DATASETS
from tui_vae.weight_shapes import SHAPES_OF, weight_shapes

from .test_checkpoints import rewrite_meta, save_tiny


def _configs():
    """Every registered kind, architecture and likelihood, on each dataset's image
    shape (every size a dataset allows), with one and with several hidden layers."""
    for spec, kind, arch, likelihood, widths in itertools.product(
            DATASETS.values(), MODEL_KINDS, ARCHITECTURES, LIKELIHOODS, ((40,), (24, 12, 8))):
        for size in spec.image_sizes or (spec.image_size,):
            config = ModelConfig(
                model=kind, arch=arch, likelihood=likelihood, dataset=spec.name,
                latent_dim=3, hidden_dim=widths[-1],
                hidden_widths=widths if len(widths) > 1 else (),
                num_classes=len(spec.classes), channels=spec.channels, image_size=size)
            if not config.problems():
                yield config


def test_every_registered_model_has_its_shapes_worked_out():
    assert set(ARCHITECTURES) | set(LIKELIHOODS) <= set(SHAPES_OF)


def test_the_worked_out_shapes_are_those_of_the_model_torch_builds():
    configs = list(_configs())
    seen = {(c.arch, c.likelihood, c.model, c.image_size, c.channels) for c in configs}
    assert len(seen) >= 2 * 3 * 2 * 3  # both nets, every likelihood, both kinds, 28/32/64
    for config in configs:
        assert weight_shapes(config) == ck.model_shapes(config), config


def test_an_unregistered_architecture_is_left_to_loading(monkeypatch):
    monkeypatch.delitem(SHAPES_OF, "mlp")
    assert weight_shapes(ModelConfig()) is None


@pytest.mark.parametrize("edit, words", [
    # The metadata says hidden 17; the tensors are hidden 16's.
    (lambda m, h: m["model"].update(hidden_dim=17),
     "model.encoder_shared.0.weight is shape [16, 784], the config needs [17, 784]"),
    (lambda m, h: h.update({"model.extra": h.pop("model.fc_mu.bias")}), "fc_mu.bias is missing"),
    (lambda m, h: m["model"].update(likelihood="gaussian"), "likelihood.log_scale is missing"),
])
def test_weights_that_do_not_fit_the_metadata_are_listed_as_bad(tmp_path, edit, words):
    # `models` listed such a file as a healthy model, with its metrics; every
    # command that then loaded it refused it.
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    rewrite_meta(path, edit)
    with pytest.raises(ck.CheckpointError, match="weights do not match its config") as info:
        ck.read_info(path)
    assert words in str(info.value)
    (listed,) = ck.list_checkpoints(tmp_path)
    assert isinstance(listed, ck.BadCheckpoint) and words in listed.reason


def test_a_tensor_the_model_does_not_have_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8:8 + length]), raw[8 + length:]
    # A whole tensor of its own (after the others' bytes) that the model lacks.
    header["model.decoder.9.bias"] = {"dtype": "F32", "shape": [784],
                                      "data_offsets": [len(data), len(data) + 4 * 784]}
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data + bytes(4 * 784))
    with pytest.raises(ck.CheckpointError, match="model.decoder.9.bias is not one of its weights"):
        ck.read_info(path)


def test_checking_the_shapes_imports_no_torch(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tiny(path)
    code = ("import sys; from tui_vae.checkpoints import read_info; "
            f"read_info({str(path)!r}); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
