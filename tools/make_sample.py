"""Rebuild tui_vae/assets/mnist_sample.npz: the first 100 test digits of each class.

Usage: python tools/make_sample.py ../shared/data
"""

import sys
from pathlib import Path

import numpy as np

from tui_vae.data import read_idx

PER_CLASS = 100


def main(root: str) -> None:
    raw = Path(root) / "MNIST" / "raw"
    images = read_idx(raw / "t10k-images-idx3-ubyte")
    labels = read_idx(raw / "t10k-labels-idx1-ubyte")
    chosen = np.concatenate([np.flatnonzero(labels == d)[:PER_CLASS] for d in range(10)])
    chosen.sort()  # keep the test set's order, classes interleaved as they come
    out = Path(__file__).resolve().parents[1] / "tui_vae" / "assets" / "mnist_sample.npz"
    np.savez_compressed(
        out, images=images[chosen], labels=labels[chosen], test_indices=chosen.astype(np.int32)
    )
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(chosen)} digits)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
