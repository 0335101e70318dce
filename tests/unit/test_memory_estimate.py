"""The training memory estimate counts what the network really holds per image."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tui_vae.config import ModelConfig, TrainConfig
from tui_vae.datasets import fit_to_dataset
from tui_vae.memory import feature_map_floats, training_bytes
from tui_vae.models import build_model


@pytest.mark.parametrize("dataset, size", [("mnist", 28), ("shapes", 32), ("shapes", 64)])
def test_the_conv_nets_feature_maps_are_counted_as_the_model_makes_them(dataset, size):
    """The estimate counted the dense layers only: a conv run of batch 6,000 was put at
    0.3 GiB and took 1.6 GB. Its feature maps are now counted, as the encoder makes them
    (the decoder mirrors them)."""
    config = fit_to_dataset(ModelConfig(arch="conv", dataset=dataset), image_size=size)
    model = build_model(config, seed=0)
    made = []

    def count(module, inputs, output):
        made.append(output[0].numel())  # one image's map

    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            layer.register_forward_hook(count)
    with torch.no_grad():
        model.encode(torch.rand(1, *config.image_shape), None)
    assert made and feature_map_floats(config) == sum(made)
    assert feature_map_floats(fit_to_dataset(ModelConfig(dataset=dataset),
                                             image_size=size)) == 0  # the MLP has none


def test_a_large_conv_batch_is_estimated_above_what_it_was_measured_to_take():
    config = TrainConfig(model=ModelConfig(arch="conv", hidden_dim=64), batch_size=6000)
    _, needed = training_bytes(config)
    assert needed > 1.6e9  # it took 1.6 GB at its peak (README, Headless use)
