"""ELBO surgery: the rate split into what the code says about the input and the prior gap.

Hoffman & Johnson 2016 ("ELBO surgery"): averaged over the data, the KL term
of the ELBO (the rate) is

    E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z)),

where q(z) = (1/N) sum_n q(z|x_n) is the aggregate posterior over the N test
images, I(x; z) the mutual information between an image's index and its code
under q, and KL(q(z) || p(z)) the distance of the aggregate posterior from the
prior: what sampling from the prior gets wrong.

Estimated by Monte Carlo: one z_m ~ q(z|x_m) per image, and
log q(z_m) = logsumexp_n log q(z_m | x_n) - log N over all N images (an N x N
table of Gaussian log-densities, computed in blocks). Then
I(x; z) = mean_m [log q(z_m | x_m) - log q(z_m)], which cannot exceed log N
(with N images the code can name at most one of N indices: an estimate near
log N means "as much as N images can show", not the true information), and
KL(q(z) || p(z)) = rate - I(x; z) with the rate in closed form, so the two
parts add up to the rate exactly. The error: the standard error of the mean
over the N samples, reported beside I(x; z) (the marginal KL carries the same).

Both parts are figures of these N images, not of the model: the estimate of
I(x; z) is the InfoNCE form, in expectation a lower bound on the model's
information over the data, and so KL(q(z) || p(z)) = rate - I(x; z) is in
expectation an upper bound on its prior gap. The bias shrinks as N grows
(slowly where the estimate is near log N) and the standard error leaves it
out, so figures at different N do not compare: `CAPPED` flags an estimate
near its cap.
"""

from __future__ import annotations

import math

import torch

from tui_vae.data import Split
from tui_vae.models import VAE
from tui_vae.objective import LOG_2PI, gaussian_kl

BLOCK = 1024  # codes per block of the N x N table of log-densities
# An estimate of I(x; z) above this share of log N is near its cap: the prior gap
# reads high at this N (module docstring).
CAPPED = 0.95


@torch.no_grad()
def encode_split(model: VAE, split: Split, batch_size: int = 1000):
    """Posterior means and log-variances of every image in `split`: (N, D) each."""
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, len(split), batch_size):
        x = split.floats(slice(start, start + batch_size)).to(device)
        labels = split.labels[start:start + batch_size].to(device)
        mu, logvar = model.encode(x, labels if model.config.conditional else None)
        mus.append(mu.float())
        logvars.append(logvar.float())
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def surgery_from_posteriors(mu: torch.Tensor, logvar: torch.Tensor, seed: int = 0) -> dict:
    """The rate, I(x; z) with its standard error and KL(q(z) || p(z)), in nats.

    `mu` and `logvar` are the (N, D) posteriors of the N images.
    """
    n = mu.shape[0]
    if n < 1:
        raise ValueError("ELBO surgery needs at least one image")
    generator = torch.Generator(mu.device).manual_seed(seed)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device).double()
    z = mu.double() + torch.exp(0.5 * logvar.double()) * eps
    # sum_d (z_d - mu_nd)^2 / var_nd expanded into products, in float64 (the
    # expansion cancels large terms when posteriors are narrow and far apart).
    mu64 = mu.double()
    inv_var = torch.exp(-logvar.double())  # (N, D)
    const = -0.5 * (LOG_2PI * mu.shape[1] + logvar.double().sum(dim=1))  # (N,)
    mu_term = (mu64.square() * inv_var).sum(dim=1)  # (N,)
    information = torch.empty(n, dtype=torch.float64, device=mu.device)
    for start in range(0, n, BLOCK):
        block = z[start:start + BLOCK]  # (B, D)
        # log q(z_b | x_n) for every image n: (B, N)
        sq = block.square() @ inv_var.T - 2 * block @ (mu64 * inv_var).T + mu_term[None, :]
        table = const[None, :] - 0.5 * sq.clamp(min=0)
        # log q(z_b | x_b) exactly, from the noise: the expansion above loses it to
        # rounding when a posterior is very narrow (beta = 0 models), and it is the
        # term that dominates its row.
        rows = torch.arange(block.shape[0], device=mu.device)
        own = const[start:start + BLOCK] - 0.5 * eps[start:start + BLOCK].square().sum(dim=1)
        table[rows, rows + start] = own
        information[start:start + BLOCK] = own - (torch.logsumexp(table, dim=1) - math.log(n))
    rate = gaussian_kl(mu, logvar).double().mean().item()
    mutual_information = information.mean().item()
    stderr = (information.std().item() / math.sqrt(n)) if n > 1 else float("nan")
    return {"rate": rate, "mutual_information": mutual_information,
            "marginal_kl": rate - mutual_information, "surgery_stderr": stderr,
            "surgery_images": n, "mutual_information_bound": math.log(n)}


def near_cap(result: dict) -> bool:
    """Whether a surgery's I(x; z) is near log N, where its parts are N's more than the model's."""
    bound = result["mutual_information_bound"]
    return bound > 0 and result["mutual_information"] > CAPPED * bound


def elbo_surgery(model: VAE, split: Split, seed: int = 0, limit: int | None = None) -> dict:
    """ELBO surgery on `split` (its first `limit` images when given)."""
    if limit is not None and limit < len(split):
        split = Split(split.images[:limit], split.labels[:limit])
    mu, logvar = encode_split(model, split)
    return surgery_from_posteriors(mu, logvar, seed)
