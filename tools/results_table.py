"""Print the README's results table from the saved `tui-vae eval --json` reports.

    python tools/results_table.py docs/results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    m = r["model"]
    kind = f"{'cVAE' if m['model'] == 'cvae' else 'VAE'} z={m['latent_dim']} beta={m['beta']:g}"
    if m.get("arch", "mlp") != "mlp":
        kind += f", {m['arch']}"
    if m.get("dataset", "mnist") != "mnist":
        kind += f", {m['dataset']}"
    accuracy = {a["temperature"]: a["overall"] for a in r.get("conditional_accuracy", [])}
    acc = (f"{accuracy[1.0]:.1%} / {accuracy[0.8]:.1%}" if accuracy else "-")
    iw = "-"
    if "nll_iw" in r:
        subset = "" if r.get("iw_whole_test_set", True) else f", first {r['iw_images']:,} images"
        iw = f"{r['nll_iw']:.2f} ({r['iw_seconds']:.0f} s{subset})"
    fd = f"{r['frechet_distance']:.2f}" if "frechet_distance" in r else "-"
    return (f"| `{Path(r['checkpoint']).name}` | {kind} | {r['test_loss']:.2f} | {r['recon']:.2f} "
            f"| {r['kl']:.2f} | {iw} | {fd} | {acc} |")


def main() -> None:
    print("| checkpoint | model | test -ELBO | recon | KL | IWAE -log p(x), K=1000 (time) "
          "| Frechet distance | cond. accuracy T=1 / T=0.8 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in sys.argv[1:]:
        print(row(Path(name)))


if __name__ == "__main__":
    main()
