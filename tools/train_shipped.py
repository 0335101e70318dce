"""Reproduce the shipped checkpoints in checkpoints/ from scratch.

Each model is trained with the project's own `tui-vae train` into runs/shipped/
(full state, resumable), then exported to checkpoints/<name>.safetensors without
the optimizer and RNG state (weights and metadata only: a third of the size).

    python tools/train_shipped.py            # all of them and the judge, in order
    python tools/train_shipped.py vae cvae   # some of them
    python tools/train_shipped.py --export-only vae   # re-export a finished run

Needs the full MNIST (--data-dir or $TUI_VAE_DATA_DIR); shapes-vae's data is generated.

The shipped checkpoints but conv-vae were trained before new runs started the
decoder's output at the training images' mean (their metadata has no
training.output_bias); a run of their recipes now starts there, so it ends near
the shipped figures, not on them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "shipped"
SHIPPED = ROOT / "checkpoints"

# name -> the `tui-vae train` flags that make it. Seeded; the seed's sizes
# (hidden 400, latent 20) except the 2-D latent model.
COMMON = ["--dataset", "mnist", "--seed", "0", "--lr", "2e-3", "--lr-schedule", "cosine",
          "--batch-size", "128"]
MODELS = {
    "vae": ["--model", "vae", "--epochs", "100"],
    # 200 epochs: at 100 its conditional accuracy at T = 1 was 94.3%, short of 95%.
    "cvae": ["--model", "cvae", "--epochs", "200"],
    "vae-beta0": ["--model", "vae", "--beta", "0", "--epochs", "100"],
    "vae-2d": ["--model", "vae", "--latent-dim", "2", "--epochs", "100"],
    # The literature's benchmark: binarised MNIST, z = 40 (Rezende & Mohamed 2015's
    # 784-400-40 network), aimed at the IWAE NLL target (<= 88.5 nats):
    # 300 epochs gave 89.34, its test -ELBO still falling with no sign of overfitting;
    # 1,000 gave 88.68, still short of it; 1,750 give the shipped figure (README).
    "vae-binary": ["--model", "vae", "--dataset", "mnist-binary", "--latent-dim", "40",
                   "--epochs", "1750"],
    # The convolutional network (--arch conv) on the same data as the MLPs: it
    # should beat the MLP VAE's test -ELBO and IWAE NLL by at least 2 nats.
    # 40 epochs at batch 128 and 2e-3 (before the decoder started at the mean)
    # gave test -ELBO 97.72 and IWAE NLL 93.67 (1.95 nats below the MLP's); 60
    # epochs overfitted (97.87 / 93.64): the train -ELBO went on falling, the
    # test one did not. The shipped one: the run's defaults, 40 epochs.
    "conv-vae": ["--model", "vae", "--arch", "conv", "--epochs", "40",
                 "--batch-size", "112", "--lr", "3e-3"],
    "conv-cvae": ["--model", "cvae", "--arch", "conv", "--epochs", "20"],
    # The colour demo: generated shapes (32x32 RGB, six known factors), z = 10 so
    # that each factor can have a dimension of its own with room to spare.
    "shapes-vae": ["--model", "vae", "--arch", "conv", "--dataset", "shapes",
                   "--latent-dim", "10", "--epochs", "60"],
}
JUDGE_EPOCHS = 6


def flags_for(name: str) -> list[str]:
    """COMMON's flags with the model's own in their place where it gives the same
    flag (every entry is a flag and its value), so each flag is given once."""
    words = {}
    for flags in (COMMON, MODELS[name]):
        if len(flags) % 2 or not all(flag.startswith("--") for flag in flags[::2]):
            raise ValueError(f"{name}: flags must come as --flag value pairs: {flags}")
        words.update(zip(flags[::2], flags[1::2]))
    return [word for pair in words.items() for word in pair]


def train(name: str, data_dir: str | None) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    out = RUNS / f"{name}.safetensors"
    cmd = [sys.executable, "-m", "tui_vae", "train", *flags_for(name), "--out", str(out)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    if out.exists():
        cmd.append("--resume")  # continue (or confirm) an interrupted run
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


def make_judge(data_dir: str | None) -> Path:
    """The MNIST judge classifier, used only by `tui-vae eval`."""
    import torch

    from tui_vae.data import load_dataset
    from tui_vae.judge import SHIPPED_JUDGE, accuracy, save_judge, train_judge

    torch.set_flush_denormal(True)
    dataset = load_dataset("mnist", data_dir)
    start = time.perf_counter()
    judge = train_judge(dataset.train, dataset.test, epochs=JUDGE_EPOCHS, seed=0)
    test_accuracy = accuracy(judge, dataset.test)
    path = save_judge(judge, SHIPPED_JUDGE, {"dataset": "mnist", "epochs": JUDGE_EPOCHS,
                                             "seed": 0, "test_accuracy": test_accuracy})
    print(f"judge: test accuracy {test_accuracy:.4f}, {time.perf_counter() - start:.0f} s, "
          f"saved {path}")
    return path


def export(name: str) -> Path:
    """Write checkpoints/<name>.safetensors: weights + metadata, no optimizer state."""
    from tui_vae.checkpoints import load_checkpoint, save_checkpoint
    from tui_vae.training import metrics_path

    ckpt = load_checkpoint(RUNS / f"{name}.safetensors")
    if ckpt.info.meta["progress"].get("step"):
        raise SystemExit(f"{name}: the run stopped mid-epoch; finish it first")
    meta = {k: v for k, v in ckpt.info.meta.items() if k != "optimizer_groups"}
    SHIPPED.mkdir(exist_ok=True)
    path = save_checkpoint(SHIPPED / f"{name}.safetensors", ckpt.model, meta)
    metrics_path(path).write_text(metrics_path(RUNS / f"{name}.safetensors").read_text())
    print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join([*MODELS, "judge"]))
    parser.add_argument("--data-dir")
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - {*MODELS, "judge"})
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}, judge")
    for name in args.names or [*MODELS, "judge"]:
        if name == "judge":
            make_judge(args.data_dir)
            continue
        if not args.export_only:
            train(name, args.data_dir)
        export(name)


if __name__ == "__main__":
    main()
