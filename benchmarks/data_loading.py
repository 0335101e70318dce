"""Data loading: an image folder decoded cold (decode + cache write) and warm (the cache),
and the shapes generator.

    python benchmarks/data_loading.py /tmp/pics

The folder is made on the first run: 1,000 JPEGs of 178x218 (CelebA's size) in 4 classes.
"""

import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tui_vae import data, shapes


def make_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for c in range(4):
        (root / f"c{c}").mkdir(parents=True)
        for k in range(250):
            pixels = rng.integers(0, 256, (218 // 8, 178 // 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).resize((178, 218)).save(root / f"c{c}" / f"{k}.jpg",
                                                            quality=90)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tui-vae-bench-pics")
    if not root.exists():
        make_folder(root)
    cache = root.parent / f"{root.name}-data"
    shutil.rmtree(cache, ignore_errors=True)  # cold means no cache
    for label in ("cold", "warm"):
        data._load_cached.cache_clear()
        start = time.perf_counter()
        dataset = data.load_dataset(f"folder:{root}", cache, image_size=64, channels=3)
        count = len(dataset.train) + len(dataset.test)
        print(f"folder {label}: {time.perf_counter() - start:.2f} s for {count:,} images at 64x64")
    for size in (32, 64):
        start = time.perf_counter()
        shapes.generate_splits(size)
        print(f"shapes 20,000 + 2,000 at {size}x{size}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
