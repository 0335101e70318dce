"""`tui-vae eval`'s figures in one dict, and their plain-text report.

Every figure carries what it was measured on (images, samples, K, temperature,
seconds), so a quick figure on a subset can never pass for a whole-set one.
"""

from __future__ import annotations

import math
import time

from tui_vae.aggregate import aggregate_posterior
from tui_vae.data import Split
from tui_vae.evaluation import evaluate_elbo, importance_weighted_nll
from tui_vae.gallery import TEMPERATURES
from tui_vae.inference import TrainedModel
from tui_vae.judge import Judge
from tui_vae.sample_quality import conditional_accuracy, sample_frechet_distance
from tui_vae.surgery import elbo_surgery, near_cap

FD_SAMPLES = 10_000
SURGERY_IMAGES = 10_000  # ELBO surgery on at most this many test images (all of MNIST's)
ACCURACY_PER_CLASS = 1_000


def evaluate_model(model: TrainedModel, test: Split, seed: int = 0, batch_size: int = 1000,
                   iw_samples: int | None = None, iw_subset: int | None = None,
                   judge: Judge | None = None, train: Split | None = None) -> dict:
    """The test ELBO, optionally the IWAE NLL, and with a judge the sample quality, from
    the prior and from the aggregate posterior (a mixture fitted to `train`'s codes, or
    the test set's when no training split is given)."""
    elbo = evaluate_elbo(model.module, test, seed=seed, batch_size=batch_size)
    result = {"dataset": model.config.dataset, "model": model.config.to_dict(),
              "test_size": len(test), "test_loss": elbo.loss, "recon": elbo.recon,
              "kl": elbo.kl}
    if len(test) >= 1:  # ELBO surgery: the rate split into I(x; z) and the prior gap
        started = time.perf_counter()
        # An N x N table: capped, so a large test set costs seconds, not hours.
        result.update(elbo_surgery(model.module, test, seed=seed, limit=SURGERY_IMAGES))
        result["surgery_seconds"] = round(time.perf_counter() - started, 3)
    if iw_samples:
        subset = test if not iw_subset else Split(test.images[:iw_subset],
                                                  test.labels[:iw_subset])
        started = time.perf_counter()
        result["nll_iw"] = importance_weighted_nll(model.module, subset, iw_samples, seed=seed)
        result["iw_samples"] = iw_samples
        result["iw_images"] = len(subset)
        result["iw_whole_test_set"] = len(subset) == len(test)
        result["iw_seconds"] = round(time.perf_counter() - started, 3)
    if judge is not None:
        try:
            result.update(_quality(model, test, seed, judge, train))
        except ValueError as exc:  # the model's samples are not numbers (its decoder's)
            from tui_vae.errors import TuiVaeError

            raise TuiVaeError(f"cannot measure its sample quality: {exc} (pass --no-quality "
                              f"for the rest)") from None
    return result


def _quality(model: TrainedModel, test: Split, seed: int, judge: Judge,
             train: Split | None) -> dict:
    """The sample-quality part of evaluate_model's result."""
    result = {}
    if len(test) < 2:  # a covariance needs two points
        from tui_vae.errors import DataError

        raise DataError(f"the Frechet distance needs at least 2 test images, not "
                        f"{len(test)}; pass --no-quality")
    started = time.perf_counter()
    result["frechet_distance"] = sample_frechet_distance(model, judge, test, FD_SAMPLES,
                                                         seed)
    result["frechet_samples"] = FD_SAMPLES
    if model.config.conditional:
        result["conditional_accuracy"] = [
            conditional_accuracy(model, judge, t, ACCURACY_PER_CLASS, seed).to_dict()
            for t in TEMPERATURES]
    fit_on = train if train is not None and len(train) else test
    mixture = aggregate_posterior(model, fit_on, seed=seed)
    result["aggregate_fit"] = {"images": min(len(fit_on), 20_000),
                               "on": "train" if fit_on is train else "test",
                               "components": int(mixture.weights.shape[0])}
    result["frechet_distance_aggregate"] = sample_frechet_distance(
        model, judge, test, FD_SAMPLES, seed, mixture)
    if model.config.conditional:
        result["conditional_accuracy_aggregate"] = conditional_accuracy(
            model, judge, 1.0, ACCURACY_PER_CLASS, seed, mixture).to_dict()
    result["quality_seconds"] = round(time.perf_counter() - started, 3)
    return result


def iwae_label(result: dict) -> str:
    """What the IWAE figure estimates: -log p(x) only where the likelihood is one for
    these pixels (Bernoulli on binary pixels); otherwise says what it is instead."""
    from tui_vae.datasets import dataset_spec
    from tui_vae.errors import DataError

    likelihood = result["model"].get("likelihood", "bernoulli")
    try:
        binary = dataset_spec(result["dataset"]).binarize
    except DataError:
        binary = False
    if likelihood == "bernoulli":
        return ("NLL (IWAE)" if binary else
                "IWAE -log p(x) (Bernoulli on grey levels: not a normalised likelihood)")
    return ("IWAE -log density (at the 256 grey levels, not dequantised: not a likelihood "
            "of 8-bit images)")


def format_report(result: dict) -> str:
    """The dict from `evaluate_model` as lines for people."""
    lines = [f"{result.get('checkpoint', 'model')} on the {result['test_size']:,} "
             f"{result['dataset']} test images (nats per image)",
             f"  negative ELBO  {result['test_loss']:9.3f}",
             f"  reconstruction {result['recon']:9.3f}",
             f"  KL             {result['kl']:9.3f}"]
    if result.get("sample_fallback"):  # eval offline: said in the report, not only on stderr
        lines.insert(1, f"  test images: the {result['test_data']}, standing in for MNIST "
                        f"(not on disk, no download)")
    if "mutual_information" in result:
        # round() + 0.0: an estimate a hair below zero reads 0.000, not -0.000.
        info, gap = (round(result[k], 3) + 0.0 for k in ("mutual_information", "marginal_kl"))
        stderr = result["surgery_stderr"]
        error = (f"+/- {stderr:.3f} Monte Carlo error at this N" if math.isfinite(stderr)
                 else "one image gives no Monte Carlo error")  # it read "+/- nan"
        lines.append(f"  rate (the KL) = I(x; z) {info:.3f} "
                     f"(at most log N = {result['mutual_information_bound']:.3f}) "
                     f"+ KL(q(z) || p(z)) {gap:.3f}  "
                     f"[ELBO surgery on N = {result['surgery_images']:,} "
                     f"image{'s' if result['surgery_images'] != 1 else ''}; {error}]")
        if near_cap(result):
            lines.append("    I(x; z) is near log N: it is a lower bound on the model's, so the "
                         "prior gap reads high at this N (a larger N gives a smaller one)")
    if "nll_iw" in result:
        where = ("the whole test set" if result["iw_whole_test_set"]
                 else f"SUBSET: the first {result['iw_images']:,} test images only")
        lines.append(f"  {iwae_label(result)}, K={result['iw_samples']}: {result['nll_iw']:.3f}  "
                     f"[{where}; {result['iw_seconds']:.1f} s]")
    if "frechet_distance" in result:
        lines.append(f"  Frechet distance, judge features, {result['frechet_samples']:,} prior "
                     f"samples vs the test set: {result['frechet_distance']:.3f}")
    if "frechet_distance_aggregate" in result:
        fit = result["aggregate_fit"]
        lines.append(f"  Frechet distance, samples from the aggregate posterior instead (a "
                     f"{fit['components']}-Gaussian mixture over {fit['images']:,} "
                     f"{fit['on']} codes): {result['frechet_distance_aggregate']:.3f}")
    if "conditional_accuracy_aggregate" in result:
        acc = result["conditional_accuracy_aggregate"]
        lines.append(f"  conditional accuracy, aggregate posterior, T=1: "
                     f"{acc['overall'] * 100:5.1f}%")
    for acc in result.get("conditional_accuracy", []):
        per_class = " ".join(f"{v * 100:.0f}" for v in acc["per_class"])
        marker = "  <- z ~ N(0, I)" if acc["temperature"] == 1.0 else ""
        lines.append(f"  conditional accuracy at T={acc['temperature']:<4g} "
                     f"{acc['overall'] * 100:5.1f}%  per class (%): {per_class}{marker}")
    return "\n".join(lines)
