"""AdamUpdate moves weights and state exactly as optimizer.step() does."""

import copy

import pytest
import torch
from torch import nn

from tui_vae.optim import AdamUpdate, make_optimizer


def twin_models(seed=0):
    def build():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    return build(), build()


def set_grads(model, step):
    g = torch.Generator().manual_seed(step)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)


def assert_same(a_model, a_opt, b_model, b_opt):
    for a, b in zip(a_model.parameters(), b_model.parameters()):
        assert torch.equal(a, b)
    a_state, b_state = a_opt.state_dict()["state"], b_opt.state_dict()["state"]
    assert a_state.keys() == b_state.keys()
    for key in a_state:
        for name in a_state[key]:
            assert torch.equal(a_state[key][name], b_state[key][name]), name


FUSED_OPTIONS = [{"fused": True}, {"fused": True, "amsgrad": True},
                 {"fused": True, "weight_decay": 0.1, "maximize": True},
                 {"fused": True, "weight_decay": 0.1, "decoupled_weight_decay": True}]


@pytest.mark.parametrize("options", FUSED_OPTIONS + [{"foreach": False}, {"amsgrad": True}])
def test_it_equals_optimizer_step_bit_for_bit(options):
    ours, theirs = twin_models()
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-2, **options)
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2, **options)
    update = AdamUpdate(ours_opt)
    for step in range(12):
        lr = 1e-2 * (1 - step / 12)  # the trainer changes lr in the group every step
        ours_opt.param_groups[0]["lr"] = theirs_opt.param_groups[0]["lr"] = lr
        set_grads(ours, step)
        set_grads(theirs, step)
        update()
        theirs_opt.step()
    assert_same(ours, ours_opt, theirs, theirs_opt)


@pytest.mark.parametrize("options", FUSED_OPTIONS)
def test_a_fused_group_calls_the_kernels_directly(options):
    """The equality above covers the direct call only if it is taken; and a
    tensor learning rate, which the direct call does not handle, is not."""
    model, _ = twin_models()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, **options)
    update = AdamUpdate(optimizer)
    calls = []
    update._functional = lambda *args: calls.append("functional")
    real_fused = update._fused
    update._fused = lambda *args: (calls.append("fused"), real_fused(*args))
    for step in range(2):
        set_grads(model, step)
        update()
    optimizer.param_groups[0]["lr"] = torch.tensor(1e-2)
    update()
    assert calls == ["fused", "fused", "functional"]


def test_after_loading_a_state_it_continues_from_it():
    ours, theirs = twin_models()
    theirs_opt = make_optimizer(theirs, 1e-2, torch.device("cpu"))
    for step in range(3):
        set_grads(theirs, step)
        theirs_opt.step()
    ours.load_state_dict(theirs.state_dict())
    ours_opt = make_optimizer(ours, 1e-2, torch.device("cpu"))
    # deepcopy: load_state_dict would otherwise share the very moment tensors
    ours_opt.load_state_dict(copy.deepcopy(theirs_opt.state_dict()))
    update = AdamUpdate(ours_opt)
    for step in range(3, 6):
        set_grads(ours, step)
        set_grads(theirs, step)
        update()
        theirs_opt.step()
    assert_same(ours, ours_opt, theirs, theirs_opt)
    assert ours_opt.state_dict()["state"][0]["step"].item() == 6


def test_a_parameter_without_gradient_is_left_alone_as_adam_does():
    ours, theirs = twin_models()
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-2)
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    update = AdamUpdate(ours_opt)
    for step in range(4):
        set_grads(ours, step)
        set_grads(theirs, step)
        if step == 2:
            ours[0].bias.grad = theirs[0].bias.grad = None
        update()
        theirs_opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_more_than_one_group_is_refused():
    model, _ = twin_models()
    optimizer = torch.optim.Adam([{"params": model[0].parameters()},
                                  {"params": model[2].parameters(), "lr": 0.1}])
    with pytest.raises(ValueError, match="one parameter group"):
        AdamUpdate(optimizer)


@pytest.mark.parametrize("options", [{"fused": True}, {"foreach": False}, {"amsgrad": True}])
def test_its_own_first_state_is_adams_to_the_dtype_and_device(options):
    ours, theirs = twin_models()
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-2, **options)
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2, **options)
    set_grads(ours, 0)
    set_grads(theirs, 0)
    AdamUpdate(ours_opt)()  # the first step: no optimizer.step() behind it
    theirs_opt.step()
    assert_same(ours, ours_opt, theirs, theirs_opt)
    a, b = ours_opt.state_dict()["state"], theirs_opt.state_dict()["state"]
    for key in a:
        for name in a[key]:
            assert (a[key][name].dtype, a[key][name].device, a[key][name].shape) == (
                b[key][name].dtype, b[key][name].device, b[key][name].shape), name


def test_a_training_process_never_loads_the_compiler():
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from tui_vae.optim import AdamUpdate, make_optimizer, skip_compiler_import\n"
            "assert skip_compiler_import() > 0\n"
            "model = torch.nn.Linear(4, 3)\n"
            "optimizer = make_optimizer(model, 1e-3, torch.device('cpu'))\n"
            "update = AdamUpdate(optimizer)\n"
            "for _ in range(3):\n"
            "    model(torch.ones(2, 4)).sum().backward()\n"
            "    update()\n"
            "optimizer.load_state_dict(optimizer.state_dict())\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
