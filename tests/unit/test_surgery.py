"""ELBO surgery's estimators on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from tui_vae.surgery import elbo_surgery, surgery_from_posteriors


def test_a_posterior_equal_to_the_prior_carries_no_information_and_no_gap():
    mu, logvar = torch.zeros(2000, 5), torch.zeros(2000, 5)
    result = surgery_from_posteriors(mu, logvar)
    assert result["rate"] == pytest.approx(0.0, abs=1e-9)
    assert result["mutual_information"] == pytest.approx(0.0, abs=1e-9)
    assert result["marginal_kl"] == pytest.approx(0.0, abs=1e-9)


def test_far_apart_narrow_codes_name_their_image_log_n_nats():
    n = 500
    mu = torch.randn(n, 3) * 100  # codes far apart, posteriors narrow
    result = surgery_from_posteriors(mu, torch.full((n, 3), -10.0))
    assert result["mutual_information"] == pytest.approx(math.log(n), abs=1e-3)
    assert result["mutual_information"] <= result["mutual_information_bound"] + 1e-9
    assert result["rate"] == pytest.approx(result["mutual_information"] + result["marginal_kl"])


def test_known_gaussian_mutual_information_and_marginal_kl():
    # x ~ N(0, s^2) in each dimension, q(z|x) = N(x, v): the aggregate posterior is
    # N(0, s^2 + v), I = 0.5 log(1 + s^2 / v) and KL(q(z) || N(0, 1)) in closed form.
    torch.manual_seed(0)
    n, d, s2, v = 4000, 2, 1.5, 0.5
    mu = torch.randn(n, d) * math.sqrt(s2)
    result = surgery_from_posteriors(mu, torch.full((n, d), math.log(v)), seed=1)
    information = d * 0.5 * math.log(1 + s2 / v)
    total = s2 + v
    marginal = d * 0.5 * (total - 1 - math.log(total))
    assert result["mutual_information"] == pytest.approx(information, abs=0.1)
    assert result["marginal_kl"] == pytest.approx(marginal, abs=0.1)


def test_on_a_trained_model(tiny_model_config, sample_dataset):
    from tui_vae.models import build_model

    model = build_model(tiny_model_config, seed=0)
    result = elbo_surgery(model, sample_dataset.test, limit=100)
    assert result["surgery_images"] == 100
    assert 0 <= result["mutual_information"] <= math.log(100) + 1e-9


def test_very_narrow_posteriors_stay_finite_and_exact():
    # beta = 0 models: posteriors so narrow that the expanded square loses the own term.
    n = 300
    result = surgery_from_posteriors(torch.randn(n, 20), torch.full((n, 20), -40.0))
    assert math.isfinite(result["marginal_kl"])
    assert result["mutual_information"] == pytest.approx(math.log(n), abs=1e-6)


def test_the_report_never_prints_a_negative_zero():
    """An estimate a hair below zero (a posterior equal to the prior) reads 0.000."""
    from tui_vae.report import format_report

    result = {"dataset": "mnist", "test_size": 10000, "test_loss": 1.0, "recon": 1.0, "kl": 0.0,
              "mutual_information": -1e-7, "mutual_information_bound": 7.6,
              "marginal_kl": -4e-5, "surgery_images": 2000, "surgery_stderr": 0.01}
    line = next(li for li in format_report(result).splitlines() if "I(x; z)" in li)
    assert "I(x; z) 0.000" in line and "KL(q(z) || p(z)) 0.000" in line and "-0.000" not in line


def test_one_image_reads_no_monte_carlo_error_not_nan():
    """A one-image test set printed "+/- nan Monte Carlo error"."""
    from tui_vae.report import format_report

    result = surgery_from_posteriors(torch.randn(1, 4), torch.zeros(1, 4))
    assert math.isnan(result["surgery_stderr"])
    result.update(dataset="mnist", test_size=1, test_loss=1.0, recon=1.0, kl=0.0)
    line = next(li for li in format_report(result).splitlines() if "I(x; z)" in li)
    assert line.endswith("[ELBO surgery on N = 1 image; one image gives no Monte Carlo error]")


def test_the_estimate_grows_with_n_and_the_report_flags_its_cap():
    """I(x; z) from N images is a lower bound on the model's: with codes that tell
    every image apart it sits at log N, and the prior gap it leaves shrinks as N
    grows. The report says so when the estimate is near its cap, and not otherwise."""
    from tui_vae.report import format_report
    from tui_vae.surgery import near_cap

    generator = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4000, 8, generator=generator), torch.full((4000, 8), -6.0)
    small, large = (surgery_from_posteriors(mu[:n], logvar[:n]) for n in (500, 4000))
    assert small["mutual_information"] < large["mutual_information"]
    assert small["marginal_kl"] > large["marginal_kl"] + 1.0
    assert near_cap(small) and near_cap(large)
    wide = surgery_from_posteriors(mu[:500], torch.zeros(500, 8))  # posteriors that overlap
    assert not near_cap(wide)
    base = {"dataset": "mnist", "model": {"likelihood": "bernoulli"}, "test_size": 500,
            "test_loss": 1.0, "recon": 1.0, "kl": 1.0}
    flagged, plain = (format_report({**base, **r}) for r in (small, wide))
    assert "near log N" in flagged and "near log N" not in plain
    assert "Monte Carlo error at this N" in plain


@pytest.mark.parametrize("dataset, likelihood, label", [
    ("mnist-binary", "bernoulli", "NLL (IWAE)"),
    ("mnist", "bernoulli", "not a normalised likelihood"),
    ("mnist", "gaussian", "not a likelihood of 8-bit images"),
    ("mnist", "continuous-bernoulli", "not a likelihood of 8-bit images"),
])
def test_the_iwae_figure_is_called_an_nll_only_where_it_is_one(dataset, likelihood, label):
    from tui_vae.report import format_report

    result = {"dataset": dataset, "model": {"likelihood": likelihood}, "test_size": 10,
              "test_loss": 1.0, "recon": 1.0, "kl": 1.0, "nll_iw": 0.5, "iw_samples": 5,
              "iw_images": 10, "iw_whole_test_set": True, "iw_seconds": 0.1}
    line = next(li for li in format_report(result).splitlines() if "K=5" in li)
    assert label in line
    assert ("NLL" in line) == (dataset == "mnist-binary")
