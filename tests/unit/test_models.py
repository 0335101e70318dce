"""The seed's VAE and cVAE: structure, shapes, gradients and conditioning."""

import pytest
import torch

from tui_vae.models import CVAE, VAE, ModelConfig, build_model


def test_vae_has_the_seed_structure_and_shapes():
    model = build_model(ModelConfig(latent_dim=7, hidden_dim=50), seed=0)
    assert isinstance(model, VAE) and not isinstance(model, CVAE)
    assert model.encoder_shared[0].in_features == 784
    assert model.fc_mu.out_features == 7 and model.fc_logvar.out_features == 7
    assert model.decoder[0].in_features == 7 and model.decoder[-1].out_features == 784
    x = torch.rand(3, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 7)
    probs = model.decode(mu)
    assert torch.allclose(probs, torch.sigmoid(model.decode_logits(mu)))
    assert probs.min() >= 0 and probs.max() <= 1


def test_gradients_flow_through_the_reparameterisation():
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    generator = torch.Generator().manual_seed(1)
    z = VAE.reparameterize(mu, logvar, generator)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    eps = torch.randn((4, 3), generator=torch.Generator().manual_seed(1))
    # dz/dlogvar = 0.5 * sigma * eps
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps, atol=1e-6)


def test_cvae_concatenates_the_one_hot_label_and_conditions_the_decoder():
    model = build_model(ModelConfig(model="cvae", latent_dim=5, hidden_dim=40), seed=0)
    assert isinstance(model, CVAE)
    assert model.encoder_shared[0].in_features == 784 + 10
    assert model.decoder[0].in_features == 5 + 10
    x, labels = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
    logits, mu, _ = model(x, labels)
    assert logits.shape == (2, 1, 28, 28) and mu.shape == (2, 5)
    z = torch.zeros(2, 5)
    as_three = model.decode(z, torch.tensor([3, 3]))
    as_seven = model.decode(z, torch.tensor([7, 7]))
    assert not torch.allclose(as_three, as_seven)
    # The label enters through the decoder's first layer: its column for class 3.
    expected = model.decoder(torch.cat((z, torch.nn.functional.one_hot(
        torch.tensor([3, 3]), 10).float()), 1))
    assert torch.allclose(torch.sigmoid(expected).view(2, 1, 28, 28), as_three)
    with pytest.raises(ValueError):
        model(x)


def test_build_model_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = build_model(ModelConfig(), seed=3)
    b = build_model(ModelConfig(), seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = build_model(ModelConfig(), seed=4)
    assert not torch.equal(a.fc_mu.weight, c.fc_mu.weight)
