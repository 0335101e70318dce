"""The training service: events, reproducibility, stop and resume, checkpoints."""

import json
from dataclasses import replace

import pytest
import torch

from tui_vae.checkpoints import load_checkpoint
from tui_vae.errors import TrainingError
from tui_vae.training import (
    CheckpointSaved,
    EpochEnded,
    Failed,
    Finished,
    Started,
    StepLogged,
    Trainer,
    metrics_path,
)


def metrics_only(history):
    """History without wall-clock seconds, which legitimately differ between runs."""
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


class StopAfter:
    """A stop flag that turns on after `n` checks (one check per step)."""

    def __init__(self, n):
        self.n = n

    def is_set(self):
        self.n -= 1
        return self.n < 0


def test_events_arrive_in_order_with_honest_metrics(tiny_train_config, sample_dataset):
    events = []
    Trainer(tiny_train_config, on_event=events.append, dataset=sample_dataset).run()
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished
    assert kinds.count(EpochEnded) == 2 and kinds.count(CheckpointSaved) == 2
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert steps[0].steps_per_epoch == 13  # ceil(800 / 64)
    assert all(e.samples_per_s > 0 and e.loss == pytest.approx(e.recon + e.kl) for e in steps)
    epoch = next(e for e in events if isinstance(e, EpochEnded))
    assert epoch.test["loss"] == pytest.approx(epoch.test["recon"] + epoch.test["kl"])
    assert epoch.train["objective"] == pytest.approx(epoch.train["loss"])  # beta = 1
    lines = metrics_path(tiny_train_config.out).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_train_config, sample_dataset):
    config = replace(tiny_train_config, out=None)
    a = Trainer(config, dataset=sample_dataset).run().history
    b = Trainer(config, dataset=sample_dataset).run().history
    c = Trainer(replace(config, seed=1), dataset=sample_dataset).run().history
    assert metrics_only(a) == metrics_only(b)
    assert metrics_only(a) != metrics_only(c)


def test_two_epochs_equal_one_then_resume_one(tiny_train_config, sample_dataset, tmp_path):
    # A constant rate: under cosine, a 1-epoch run decays its rate over 1 epoch, a
    # different schedule by design (the stop/resume test below covers cosine).
    config = replace(tiny_train_config, lr_schedule="constant")
    straight = Trainer(config, dataset=sample_dataset).run()
    out = str(tmp_path / "resumed.safetensors")
    first = replace(config, out=out, epochs=1)
    Trainer(first, dataset=sample_dataset).run()
    resumed = Trainer(replace(first, epochs=2), resume=True, dataset=sample_dataset).run()
    assert metrics_only(resumed.history) == metrics_only(straight.history)
    a = load_checkpoint(tiny_train_config.out).model.state_dict()
    b = load_checkpoint(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_mid_epoch_saves_exact_state_and_resume_matches(
        tiny_train_config, sample_dataset, tmp_path):
    straight = Trainer(tiny_train_config, dataset=sample_dataset).run()
    config = replace(tiny_train_config, out=str(tmp_path / "stopped.safetensors"))
    events = []
    stopped = Trainer(config, on_event=events.append, stop=StopAfter(17),
                      dataset=sample_dataset).run()
    assert stopped.stopped and stopped.epochs_done == 1
    saved = [e for e in events if isinstance(e, CheckpointSaved)][-1]
    assert (saved.epochs_done, saved.step) == (1, 4)  # 13 steps, then 4 of the second epoch
    resumed = Trainer(config, resume=True, dataset=sample_dataset).run()
    assert not resumed.stopped
    assert metrics_only(resumed.history) == metrics_only(straight.history)


@pytest.mark.parametrize("step", ["auto", "autograd"])
def test_a_run_stopped_before_its_first_step_leaves_nothing(
        tiny_train_config, sample_dataset, tmp_path, step):
    """Ctrl-C at once: nothing was trained, so nothing is saved (no untrained
    checkpoint among the runs, no metrics file that a new run would refuse), and
    the same command run again ends where a run never stopped ends."""
    base = replace(tiny_train_config, step=step)
    straight = Trainer(base, dataset=sample_dataset).run()
    (tmp_path / "runs").mkdir()
    config = replace(base, out=str(tmp_path / "runs" / "at-once.safetensors"))
    stopped = Trainer(config, stop=StopAfter(0), dataset=sample_dataset).run()
    assert stopped.stopped and stopped.epochs_done == 0 and stopped.path is None
    assert list((tmp_path / "runs").iterdir()) == []
    again = Trainer(config, dataset=sample_dataset).run()
    assert not again.stopped and again.path == config.out
    assert metrics_only(again.history) == metrics_only(straight.history)


@pytest.mark.parametrize("step", ["auto", "autograd"])
def test_a_resumed_run_stopped_before_its_first_step_keeps_its_checkpoint(
        tiny_train_config, sample_dataset, tmp_path, step):
    """Ctrl-C at once on --resume: the checkpoint on disk is the run's state, untouched."""
    config = replace(tiny_train_config, step=step, epochs=2,
                     out=str(tmp_path / "resumed.safetensors"))
    Trainer(config, stop=StopAfter(3), dataset=sample_dataset).run()
    before = (tmp_path / "resumed.safetensors").read_bytes()
    stopped = Trainer(config, resume=True, stop=StopAfter(0), dataset=sample_dataset).run()
    assert stopped.stopped and stopped.path == config.out
    assert (tmp_path / "resumed.safetensors").read_bytes() == before
    resumed = Trainer(config, resume=True, dataset=sample_dataset).run()
    assert not resumed.stopped and resumed.epochs_done == 2


def _break_nan_moment(checkpoint):
    next(iter(checkpoint.optimizer_state["state"].values()))["exp_avg"][0] = float("nan")


def _break_negative_second_moment(checkpoint):
    next(iter(checkpoint.optimizer_state["state"].values()))["exp_avg_sq"].fill_(-1.0)


def _first_moments(checkpoint) -> dict:
    return next(iter(checkpoint.optimizer_state["state"].values()))


def _shrink_moment(checkpoint):  # Adam's fused kernel went past its end: a segfault
    _first_moments(checkpoint)["exp_avg"] = torch.zeros(3)


def _transpose_moment(checkpoint):
    moments = _first_moments(checkpoint)
    moments["exp_avg"] = moments["exp_avg"].t().contiguous()


def _drop_moment(checkpoint):
    del _first_moments(checkpoint)["exp_avg_sq"]


def _many_steps(checkpoint):
    _first_moments(checkpoint)["step"] = torch.zeros(1000)


def _negative_step(checkpoint):
    _first_moments(checkpoint)["step"] = torch.tensor(-5.0)


def _break_groups(checkpoint):
    checkpoint.optimizer_state["param_groups"] = []


def _break_noise(checkpoint):
    checkpoint.rng_state["noise"] = torch.zeros_like(checkpoint.rng_state["noise"])


def _break_step(checkpoint):
    checkpoint.meta["progress"]["step"] = 10**12


def _break_live(checkpoint):
    name = next(iter(checkpoint.live_weights))
    checkpoint.live_weights[name] = torch.full_like(checkpoint.live_weights[name], torch.nan)


def _drop_live(checkpoint):
    checkpoint.live_weights = None


def _break_average_steps(checkpoint):  # more than the run's 5 steps
    checkpoint.meta["progress"]["average_steps"] = 1 << 40


def _adam_setting(**settings):
    """Adam's group edited in the file: settings tui-vae never uses."""
    def damage(checkpoint):
        checkpoint.optimizer_state["param_groups"][0].update(settings)
    return damage


@pytest.mark.parametrize("damage, words", [
    (_break_nan_moment, "optimizer state is damaged"),
    (_break_negative_second_moment, "optimizer state is damaged"),
    (_break_groups, "optimizer state does not fit"),
    (_shrink_moment, r"does not fit the model \(parameter 0's exp_avg is \(3,\)"),
    (_transpose_moment, "does not fit the model .*exp_avg"),
    (_drop_moment, "does not fit the model .*no exp_avg_sq"),
    (_many_steps, "does not fit the model .*step count has 1000 values"),
    (_negative_step, "does not fit the model .*step count is -5"),
    (_break_noise, "noise generator's state is damaged"),
    (_break_step, "saved at step 1,000,000,000,000"),
    (_break_live, "live weights .* NaN"),
    (_drop_live, "has no live weights"),
    (_break_average_steps, "more than the 5 it was trained for"),
    (_adam_setting(maximize=True), "Adam's maximize is True, where tui-vae uses False"),
    (_adam_setting(eps=-1.0), "Adam's eps is -1.0"),
    (_adam_setting(weight_decay=float("nan")), "Adam's weight_decay is nan"),
    (_adam_setting(betas=[2, "x"]), r"Adam's betas is \[2, 'x'\]"),
    (_adam_setting(differentiable=True), "Adam's differentiable is True"),
    (_adam_setting(amsgrad=1), "Adam's amsgrad is 1"),
], ids=["nan-moment", "negative-moment", "groups", "short-moment", "transposed-moment",
        "no-moment", "many-steps", "negative-step", "noise", "step", "live-nan", "no-live",
        "average-steps", "maximize", "eps", "weight-decay", "betas", "differentiable",
        "amsgrad"])
def test_a_damaged_resume_state_is_one_clear_error(
        tiny_train_config, sample_dataset, tmp_path, damage, words):
    from tui_vae.checkpoints import save_checkpoint
    from tui_vae.errors import CheckpointError

    config = replace(tiny_train_config, out=str(tmp_path / "damaged.safetensors"))
    Trainer(config, stop=StopAfter(5), dataset=sample_dataset).run()
    checkpoint = load_checkpoint(config.out)
    damage(checkpoint)
    save_checkpoint(config.out, checkpoint.model, checkpoint.meta, checkpoint.optimizer_state,
                    checkpoint.rng_state, checkpoint.live_weights)
    with pytest.raises(CheckpointError, match=words):
        Trainer(config, resume=True, dataset=sample_dataset).run()


def test_a_diverging_run_says_whether_a_checkpoint_was_kept(
        tiny_train_config, sample_dataset, tmp_path):
    fresh = replace(tiny_train_config, out=str(tmp_path / "fresh.safetensors"), lr=1e30)
    with pytest.raises(TrainingError, match="no checkpoint had been saved"):
        Trainer(fresh, dataset=sample_dataset).run()
    # Nothing left behind: its empty metrics file would make the next run refuse.
    assert not (tmp_path / "fresh.metrics.jsonl").exists()
    Trainer(replace(fresh, lr=1e-3, epochs=1), dataset=sample_dataset).run()
    later = replace(tiny_train_config, out=str(tmp_path / "later.safetensors"), epochs=1)
    Trainer(later, dataset=sample_dataset).run()
    before = open(later.out, "rb").read()
    metrics = (tmp_path / "later.metrics.jsonl").read_bytes()
    with pytest.raises(TrainingError, match="the last good checkpoint is kept"):
        Trainer(replace(later, epochs=2, lr=1e30), resume=True, dataset=sample_dataset).run()
    assert open(later.out, "rb").read() == before
    assert (tmp_path / "later.metrics.jsonl").read_bytes() == metrics


def test_stop_is_honoured_before_the_next_step(tiny_train_config, sample_dataset):
    config = replace(tiny_train_config, out=None, log_every=1)
    events = []
    Trainer(config, on_event=events.append, stop=StopAfter(3), dataset=sample_dataset).run()
    assert [e.step for e in events if isinstance(e, StepLogged)] == [1, 2, 3]


def test_existing_checkpoint_is_not_overwritten(tiny_train_config, sample_dataset):
    Trainer(tiny_train_config, dataset=sample_dataset).run()
    before = open(tiny_train_config.out, "rb").read()
    with pytest.raises(TrainingError, match="already exists"):
        Trainer(tiny_train_config, dataset=sample_dataset).run()
    assert open(tiny_train_config.out, "rb").read() == before


def test_an_earlier_runs_metrics_are_not_overwritten(tiny_train_config, sample_dataset):
    """Its checkpoint moved away, a run's metrics stay where they are: a new run with
    the same --out is refused rather than writing over them; an empty file is no loss."""
    metrics = metrics_path(tiny_train_config.out)
    metrics.write_text('{"epoch": 99}\n')
    with pytest.raises(TrainingError, match="metrics.jsonl already exists"):
        Trainer(tiny_train_config, dataset=sample_dataset).run()
    assert metrics.read_text() == '{"epoch": 99}\n'
    metrics.write_text("")
    Trainer(replace(tiny_train_config, epochs=1), dataset=sample_dataset).run()
    assert json.loads(metrics.read_text().splitlines()[0])["epoch"] == 1


def test_resume_refuses_a_different_model(tiny_train_config, sample_dataset):
    Trainer(replace(tiny_train_config, epochs=1), dataset=sample_dataset).run()
    other = replace(tiny_train_config, model=replace(tiny_train_config.model, latent_dim=6))
    with pytest.raises(TrainingError, match="trained as"):
        Trainer(other, resume=True, dataset=sample_dataset).run()


def test_non_finite_loss_stops_with_a_clear_error(tiny_train_config, sample_dataset):
    Trainer(replace(tiny_train_config, epochs=1), dataset=sample_dataset).run()
    good = open(tiny_train_config.out, "rb").read()
    events = []
    config = replace(tiny_train_config, lr=1e12, epochs=3)
    with pytest.raises(TrainingError, match="loss became"):
        Trainer(config, on_event=events.append, resume=True, dataset=sample_dataset).run()
    assert isinstance(events[-1], Failed)
    assert open(tiny_train_config.out, "rb").read() == good


def test_kl_warmup_and_beta_zero(tiny_train_config, sample_dataset):
    config = replace(tiny_train_config, out=None, kl_warmup=2, log_every=1)
    events = []
    Trainer(config, on_event=events.append, dataset=sample_dataset).run()
    weights = [e.kl_weight for e in events if isinstance(e, StepLogged)]
    assert weights[0] == 0.0 and weights == sorted(weights) and weights[-1] < 1.0
    zero = replace(config, kl_warmup=0, model=replace(config.model, beta=0.0))
    history = Trainer(zero, dataset=sample_dataset).run().history
    assert history[-1]["train"]["objective"] == pytest.approx(history[-1]["train"]["recon"])
    assert history[-1]["test"]["loss"] > history[-1]["test"]["recon"]  # test loss is the real ELBO


def test_the_learning_rate_rises_from_zero_over_the_warm_up_then_follows_its_schedule(
        tiny_train_config, sample_dataset):
    from tui_vae.training import learning_rate

    config = replace(tiny_train_config, lr=0.004, lr_schedule="constant", lr_warmup=0.5,
                     epochs=4)
    assert [learning_rate(config, p) for p in (0.0, 0.125, 0.25, 0.5, 3.0)] == \
        pytest.approx([0.0, 0.001, 0.002, 0.004, 0.004])
    cosine = replace(config, lr_schedule="cosine")
    plain = replace(cosine, lr_warmup=0.0)
    assert learning_rate(cosine, 0.25) == pytest.approx(0.5 * learning_rate(plain, 0.25))
    assert learning_rate(cosine, 1.5) == learning_rate(plain, 1.5)
    # In a run: the first steps' rates climb, and the checkpoint records the warm-up.
    run = replace(config, epochs=2, log_every=1)
    events = []
    Trainer(run, on_event=events.append, dataset=sample_dataset).run()
    rates = [e.lr for e in events if isinstance(e, StepLogged)]
    assert rates[0] == 0.0 and rates[1] > 0.0 and max(rates) == pytest.approx(0.004)
    assert rates[:4] == sorted(rates[:4])
    from tui_vae.checkpoints import read_info
    assert read_info(run.out).meta["training"]["lr_warmup"] == 0.5


def test_cvae_trains(tiny_train_config, sample_dataset):
    config = replace(tiny_train_config, out=None, epochs=1,
                     model=replace(tiny_train_config.model, model="cvae"))
    history = Trainer(config, dataset=sample_dataset).run().history
    assert history[0]["test"]["loss"] < 545  # 784 * log 2: better than a coin per pixel


@pytest.mark.parametrize("change", [
    {"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"lr": float("nan")},
    {"lr_schedule": "step"}, {"kl_warmup": -1.0}, {"lr_warmup": -0.5},
    {"lr_warmup": float("inf")},
])
def test_invalid_settings_are_refused_before_training(tiny_train_config, sample_dataset, change):
    with pytest.raises(TrainingError):
        Trainer(replace(tiny_train_config, **change), dataset=sample_dataset).run()


def test_invalid_model_settings_are_refused(tiny_train_config, sample_dataset):
    for model_change in ({"beta": -0.5}, {"latent_dim": 0}, {"model": "gan"}):
        config = replace(tiny_train_config,
                         model=replace(tiny_train_config.model, **model_change))
        with pytest.raises(TrainingError):
            Trainer(config, dataset=sample_dataset).run()


def test_an_abort_before_the_first_save_leaves_no_metrics_file(
        tiny_train_config, sample_dataset, tmp_path):
    """A second Ctrl-C raises KeyboardInterrupt mid-run: a new run that had saved
    nothing leaves nothing (its empty metrics file would make a new run refuse)."""
    class Abort:
        def is_set(self):
            raise KeyboardInterrupt

    (tmp_path / "runs").mkdir()
    config = replace(tiny_train_config, out=str(tmp_path / "runs" / "aborted.safetensors"))
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, stop=Abort(), dataset=sample_dataset).run()
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_run_gives_its_caller_back_its_own_handling_of_denormals(
        sample_dataset, tiny_train_config):
    """The run flushes denormal floats to zero and left it so: the caller's later
    `0 < 1e-310` read False (a config check in the same process then took a 1e-310
    learning rate for 0)."""
    import torch

    from tui_vae.training import Trainer

    torch.set_flush_denormal(False)
    Trainer(tiny_train_config, dataset=sample_dataset).run()
    tiny = float("5e-324")
    assert tiny > 0.0
