"""The flat layout: one Adam kernel over all parameters, the same update as per parameter."""

import copy

import pytest
import torch

from tui_vae.checkpoints import build_metadata, load_checkpoint, save_checkpoint
from tui_vae.elbo_step import ElboStep
from tui_vae.flat_params import ALIGN, flatten, joined
from tui_vae.models import ModelConfig, build_model
from tui_vae.optim import AdamUpdate, make_optimizer

CPU = torch.device("cpu")


def small_config(**options):
    return ModelConfig(latent_dim=4, hidden_dim=32, **options)


def report_model(seed=0, **options):
    return build_model(small_config(**options), seed=seed)


def batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 28, 28), generator=g).round(), torch.randint(0, 10, (n,), generator=g)


def set_grads(model, step):
    g = torch.Generator().manual_seed(step)
    for p in model.parameters():
        p.grad.copy_(torch.randn(p.shape, generator=g) * (step + 1))


def counting_kernel_calls(monkeypatch, update):
    """Patches `update` to record how many tensors each fused-kernel call it makes gets."""
    calls, real_kernel, real_update = [], torch._fused_adam_, update.__call__

    def kernel(params, *args, **kwargs):
        calls.append(len(params))
        return real_kernel(params, *args, **kwargs)

    def counted():
        with monkeypatch.context() as patch:
            patch.setattr(torch, "_fused_adam_", kernel)
            real_update()

    return calls, counted


def flat_and_plain(lr=3e-3):
    """The same model twice, one laid out flat, each with its optimizer and update."""
    flat_model, plain_model = report_model(), report_model()
    flat_opt, plain_opt = make_optimizer(flat_model, lr, CPU), make_optimizer(plain_model, lr, CPU)
    for model in (flat_model, plain_model):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
    flat_update = AdamUpdate(flat_opt)
    assert flat_update.flatten(ElboStep.parameter_order(flat_model))
    return (flat_model, flat_opt, flat_update), (plain_model, plain_opt)


def test_flattening_keeps_every_tensor_and_lays_them_out_in_order():
    (model, optimizer, _), (plain, _) = flat_and_plain()
    items, plain_items = ElboStep.parameter_order(model), ElboStep.parameter_order(plain)
    first = items[0]
    offset = 0
    for item, plain_item in zip(items, plain_items):
        if not isinstance(item, tuple):
            item, plain_item = (item,), (plain_item,)
        offset = -(-offset // ALIGN) * ALIGN  # each item on a 64-byte boundary
        assert item[0].data_ptr() % 64 == 0
        for p, q in zip(item, plain_item):  # a tuple's parameters end to end
            assert torch.equal(p, q)  # the values moved with them
            assert p.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
            assert p.storage_offset() == offset
            assert p.grad.untyped_storage().data_ptr() == first.grad.untyped_storage().data_ptr()
            assert p.grad.storage_offset() == offset
            offset += p.numel()
    heads = joined(model.fc_mu.weight, model.fc_logvar.weight)
    assert torch.equal(heads, torch.cat((model.fc_mu.weight, model.fc_logvar.weight)))
    assert joined(model.fc_mu.weight, model.fc_mu.bias) is None  # not stacked: shapes differ
    assert joined(model.encoder_shared[0].bias, model.fc_mu.bias) is None  # not adjacent
    steps = [optimizer.state[p]["step"] for p in model.parameters()]
    assert {float(s) for s in steps} == {0.0} and all(s.dim() == 0 for s in steps)


@pytest.mark.parametrize("lr_schedule", [False, True])
def test_one_flat_kernel_moves_weights_and_state_as_optimizer_step(monkeypatch, lr_schedule):
    (model, optimizer, update), (plain, plain_opt) = flat_and_plain()
    calls, update = counting_kernel_calls(monkeypatch, update)
    for step in range(25):
        if lr_schedule:
            lr = 3e-3 * (1 - step / 25)
            optimizer.param_groups[0]["lr"] = plain_opt.param_groups[0]["lr"] = lr
        set_grads(model, step)
        set_grads(plain, step)
        update()
        plain_opt.step()
    assert calls == [1] * 25  # one kernel call over the one flat buffer, every step
    for (name, a), b in zip(model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)
        assert not torch.equal(a, report_model().state_dict()[name])  # it did move
    ours, theirs = optimizer.state_dict()["state"], plain_opt.state_dict()["state"]
    for index in ours:
        assert float(ours[index]["step"]) == float(theirs[index]["step"]) == 25
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ours[index][key], theirs[index][key], rtol=1e-5, atol=1e-9)


def test_a_step_that_sets_grad_afresh_falls_back_to_the_plain_kernels(monkeypatch):
    (model, optimizer, update), (plain, plain_opt) = flat_and_plain()
    set_grads(model, 0)
    set_grads(plain, 0)
    update()
    plain_opt.step()
    for p in model.parameters():  # as autograd's step: new tensors, not the flat views
        p.grad = p.grad.clone()
    model.decoder[2].weight.data = model.decoder[2].weight.data.clone()  # and moved data
    calls, update = counting_kernel_calls(monkeypatch, update)
    set_grads(model, 1)
    set_grads(plain, 1)
    update()
    plain_opt.step()
    assert calls == [len(list(model.parameters()))]  # the per-parameter kernels read the new grads
    for a, b in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("why", ["amsgrad", "not fused", "other parameters", "uneven steps"])
def test_it_leaves_alone_what_it_cannot_lay_out(why):
    model = report_model()
    options = {"amsgrad": True} if why == "amsgrad" else {}
    fused = why != "not fused"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused, **options)
    update = AdamUpdate(optimizer)
    update._initialise()
    order = ElboStep.parameter_order(model)
    if why == "other parameters":
        order = order[:-1]
    if why == "uneven steps":
        optimizer.state[order[0]]["step"].fill_(3)
    before = [p.data_ptr() for p in model.parameters()]
    assert flatten(optimizer, order) is None
    assert [p.data_ptr() for p in model.parameters()] == before


def test_the_flat_update_does_not_depend_on_the_thread_count():
    if torch.get_num_threads() < 2:
        pytest.skip("one thread only: there is no other count to compare")
    threads = torch.get_num_threads()
    results = []
    for count in (threads, 1):
        (model, _, update), _ = flat_and_plain()
        torch.set_num_threads(count)
        try:
            for step in range(5):
                set_grads(model, step)
                update()
        finally:
            torch.set_num_threads(threads)
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results))


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_the_hand_derived_step_on_the_flat_layout_gives_the_same_gradients(kind):
    """Its heads are read in place (no copy) and written in place, bit for bit
    what the step gives on the model as built; also when the step was built
    before the layout moved its tensors."""
    x, labels = batch()
    cond = labels if kind == "cvae" else None
    plain = report_model(model=kind)
    ElboStep(plain)(x, cond, 1.0, torch.Generator().manual_seed(3))
    for built_first in (False, True):
        model = report_model(model=kind)
        update = AdamUpdate(make_optimizer(model, 1e-3, CPU))
        step = ElboStep(model) if built_first else None
        assert update.flatten(ElboStep.parameter_order(model))
        step = step or ElboStep(model)
        step(x, cond, 1.0, torch.Generator().manual_seed(3))
        assert step._heads_weight is not None and step._heads_weight_grad is not None
        for (name, a), b in zip(model.named_parameters(), plain.parameters()):
            assert torch.equal(a.grad, b.grad), name
        assert update._flat.intact()


def test_a_flat_run_saves_and_loads_like_any_other(tmp_path):
    (model, optimizer, update), _ = flat_and_plain()
    for step in range(3):
        set_grads(model, step)
        update()
    meta = build_metadata(small_config(), {"seed": 0}, {"epochs_done": 1, "step": 0}, [])
    path = save_checkpoint(tmp_path / "flat.safetensors", model, meta,
                           optimizer_state=optimizer.state_dict())
    loaded = load_checkpoint(path)
    for (name, a), b in zip(model.named_parameters(), loaded.model.parameters()):
        assert torch.equal(a, b), name
    fresh = make_optimizer(loaded.model, 3e-3, CPU)
    fresh.load_state_dict(copy.deepcopy(loaded.optimizer_state))
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            assert torch.equal(fresh.state_dict()["state"][index][key], value), key
