"""Export the README's result figures from the shipped checkpoints as PNG files.

    TUI_VAE_DATA_DIR=../shared/data python tools/figures.py [--out docs/figures]

- figure1.png: the report's Figure 1. Left the VAE, right the beta = 0 run. In
  each half: 10 test digits (row 1) and their reconstructions (row 2), then 4
  rows of samples decoded from the same z ~ N(0, I) on both sides.
- cvae-classes.png: the cVAE, a row per digit 0-9, the same z down each column.
- interpolation.png: the VAE's linear path between two test digits (top) and
  the cVAE's sweep of the condition from 1 to 7 on one z (bottom).
- manifold-2d.png: the 2-D VAE decoded over a 20 x 20 grid of Gaussian quantiles.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_vae import gallery  # noqa: E402
from tui_vae.export import save_png  # noqa: E402
from tui_vae.inference import load  # noqa: E402
from tui_vae.render import tile  # noqa: E402
from tui_vae.workspace import Workspace  # noqa: E402

SHIPPED = ROOT / "checkpoints"
GAP = 4  # pixels between the two halves of a side-by-side figure


def _half(model, split, index, seed: int) -> np.ndarray:
    originals = gallery.images_of(split, index)
    recon = gallery.reconstructions(model, split, index)
    samples = gallery.samples(model, 40, None, 1.0, seed)
    return tile(np.concatenate((originals, recon, samples)), columns=10, gap=1, fill=64)


def figure1(split, out: Path) -> Path:
    vae, bce = load(SHIPPED / "vae.safetensors"), load(SHIPPED / "vae-beta0.safetensors")
    index = gallery.first_of_each_class(split, 10)
    left, right = _half(vae, split, index, seed=0), _half(bce, split, index, seed=0)
    gap = np.full((left.shape[0], GAP), 255, np.uint8)
    return save_png(out / "figure1.png", np.hstack((left, gap, right)), scale=2)


def cvae_classes(out: Path) -> Path:
    cvae = load(SHIPPED / "cvae.safetensors")
    rows = gallery.class_rows(cvae, columns=12, temperature=1.0, seed=0)
    return save_png(out / "cvae-classes.png", tile(rows, columns=12, gap=1, fill=64), scale=2)


def interpolation(split, out: Path) -> Path:
    vae, cvae = load(SHIPPED / "vae.safetensors"), load(SHIPPED / "cvae.safetensors")
    a, b = gallery.first_of_each_class(split, 10)[2], gallery.first_of_each_class(split, 10)[8]
    ends = gallery.images_of(split, [a, b])
    path = gallery.interpolation(vae, split, a, b, steps=10, spherical=False)
    one = gallery.first_of_each_class(split, 10)[1]
    sweep = gallery.condition_sweep(cvae, split, one, 1, 7, steps=12)
    images = np.concatenate((ends[:1], path, ends[1:], sweep))
    return save_png(out / "interpolation.png", tile(images, columns=12, gap=1, fill=64),
                    scale=2)


def manifold(out: Path) -> Path:
    vae2d = load(SHIPPED / "vae-2d.safetensors")
    grid = gallery.manifold_grid(vae2d, n=20)
    return save_png(out / "manifold-2d.png", tile(grid, columns=20, gap=0), scale=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    split = Workspace(SHIPPED, args.data_dir).images("mnist").split
    for path in (figure1(split, args.out), cvae_classes(args.out),
                 interpolation(split, args.out), manifold(args.out)):
        print(path)


if __name__ == "__main__":
    main()
