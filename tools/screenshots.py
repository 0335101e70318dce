"""Save the README's screenshots of the explorer's views (SVG, and PNG via rsvg-convert).

    TUI_VAE_DATA_DIR=../shared/data python tools/screenshots.py [--out docs/screenshots]
    TUI_VAE_DATA_DIR=../shared/data python tools/screenshots.py --small

Drives the app headless with Pilot over the shipped checkpoints, in truecolor.
`--small` shoots every view at 80x24 (the default size of most terminals) into
docs/screenshots/80x24/, with the keys that page what does not fit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor"  # before Textual is imported

# (file name, keys pressed from the start, checkpoint to activate first or None)
SHOTS = (
    ("generate-cvae-rows", ["g", "a"], "cvae.safetensors"),
    ("generate-cvae-7", ["g", "7"], "cvae.safetensors"),
    ("reconstruct", ["r"], "vae.safetensors"),
    ("interpolate", ["i", "space"], "cvae.safetensors"),
    ("compare", ["c"], "vae.safetensors"),
    ("models", ["m"], "vae.safetensors"),
    ("latent-map", ["l", "right", "right", "up"], "vae.safetensors"),
    ("latent-manifold-2d", ["l", "space"], "vae-2d.safetensors"),
    ("traversal", ["v"], "vae.safetensors"),
    ("draw-cvae", ["d", "o"], "cvae.safetensors"),
    ("runs-curves", ["u"], "vae.safetensors"),
    ("runs-plane", ["u", "p", "down", "down"], "vae.safetensors"),
    # colour: the shapes model (32x32 RGB), its samples and its factor report
    ("shapes-generate", ["g"], "shapes-vae.safetensors"),
    ("shapes-traversal", ["v"], "shapes-vae.safetensors"),
    ("shapes-reconstruct", ["r"], "shapes-vae.safetensors"),
)
# At 80x24: every view, and the keys that bring what does not fit on screen.
SMALL_SHOTS = (
    ("models", ["m"], "vae.safetensors"),
    ("reconstruct", ["r"], "vae.safetensors"),
    ("generate-cvae", ["g"], "cvae.safetensors"),
    ("generate-cvae-rows", ["g", "a", "down", "down"], "cvae.safetensors"),
    ("interpolate", ["i", "space"], "cvae.safetensors"),
    ("interpolate-down", ["i", "space", "down"], "cvae.safetensors"),
    ("compare", ["c"], "vae.safetensors"),
    ("latent-map", ["l", "right", "right", "up"], "vae.safetensors"),
    ("latent-manifold-2d", ["l", "space"], "vae-2d.safetensors"),
    ("traversal", ["v"], "vae.safetensors"),
    ("traversal-down", ["v", "down", "down"], "vae.safetensors"),
    ("draw-cvae", ["d", "o"], "cvae.safetensors"),
    ("draw-cvae-classes", ["d", "o", "pagedown"], "cvae.safetensors"),
)


async def shoot(out: Path, size: tuple[int, int], shots=SHOTS,
                models: Path = ROOT / "checkpoints") -> list[Path]:
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    saved = []
    for name, keys, checkpoint in shots:
        if checkpoint and not (models / checkpoint).exists():
            print(f"{name}: skipped, no {models / checkpoint}")
            continue
        app = TuiVaeApp(Workspace(models, os.environ.get("TUI_VAE_DATA_DIR"), "cpu"))
        async with app.run_test(size=size) as pilot:
            await app.workers.wait_for_complete()
            if checkpoint:
                app.activate(models / checkpoint)
                await app.workers.wait_for_complete()
            for key in keys:
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            await pilot.pause(0.3)
            saved.append(Path(app.save_screenshot(f"{name}.svg", str(out))))
    return saved


async def shoot_training(out: Path, size: tuple[int, int], keys=()) -> Path:
    """The Train view a few epochs into a small run on the bundled sample."""
    import tempfile

    from textual.widgets import Input, Select

    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.workspace import Workspace

    with tempfile.TemporaryDirectory() as folder:
        app = TuiVaeApp(Workspace(folder, None, "cpu", shipped_dir=ROOT / "checkpoints"))
        async with app.run_test(size=size) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("t")
            screen = app.screen
            screen.query_one("#dataset", Select).value = "mnist-sample"
            screen.query_one("#model", Select).value = "cvae"
            screen.query_one("#epochs", Input).value = "200"
            screen.query_one("#batch_size", Input).value = "32"
            await pilot.press("s")
            while len(app.monitor.curves.epoch) < 25:
                await pilot.pause(0.2)
            await pilot.pause(0.5)
            path = Path(app.save_screenshot("train.svg", str(out)))
            for key in keys:  # e.g. p: the previews where the charts leave no room
                await pilot.press(key)
                await pilot.pause(0.5)
                path = Path(app.save_screenshot(f"train-{key}.svg", str(out)))
            await pilot.press("x")
            await app.workers.wait_for_complete()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--size", default="120x36")
    parser.add_argument("--small", action="store_true",
                        help="every view at 80x24 into docs/screenshots/80x24")
    parser.add_argument("--only", default="",
                        help="comma-separated shot names to remake (the others are kept)")
    parser.add_argument("--models", type=Path, default=ROOT / "checkpoints",
                        help="folder of the models the shots name (the shipped ones are "
                             "listed too)")
    args = parser.parse_args()
    if args.small:
        args.size = "80x24"
        args.out = args.out / "80x24"
    args.out.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.size.split("x"))
    shots = SMALL_SHOTS if args.small else SHOTS
    only = {name for name in args.only.split(",") if name}
    saved = asyncio.run(shoot(args.out, size, [s for s in shots if not only or s[0] in only],
                              args.models))
    if not only or "train" in only:  # a short training run, so only when wanted
        if args.small:  # and with p: the previews where the charts leave no room
            train = asyncio.run(shoot_training(args.out, size, keys=("p",)))
            saved += [train.with_name("train.svg"), train]
        else:
            saved.append(asyncio.run(shoot_training(args.out, size)))
    converter = shutil.which("rsvg-convert")
    for svg in saved:
        if converter:
            svg.write_text(unindent_lines(svg.read_text()))
            subprocess.run([converter, str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
            svg.unlink()
        print(svg.with_suffix(".png") if converter else svg)


_TEXT = re.compile(r'(<text [^>]*?x=")([\d.]+)("[^>]*?textLength=")([\d.]+)("[^>]*>)'
                   r'((?:&#160;)+)([^<]*)(</text>)')
_ENTITY = re.compile(r"&#?\w+;")


def unindent_lines(svg: str) -> str:
    """Textual's SVG with each line's leading spaces turned into an x offset.

    rsvg-convert drops the leading no-break spaces of a text element that has a
    textLength, so rows that begin with spaces (an empty first column) were drawn
    shifted left of those that do not. The terminal shows them aligned."""
    def moved(match: re.Match) -> str:
        start, x, middle, length, head, spaces, rest, tail = match.groups()
        lead = spaces.count("&#160;")
        total = lead + len(_ENTITY.sub("_", rest))
        if not rest or total == 0:
            return match.group(0)
        cell = float(length) / total
        return (f"{start}{float(x) + lead * cell:g}{middle}{float(length) - lead * cell:g}"
                f"{head}{rest}{tail}")

    return _TEXT.sub(moved, svg)


if __name__ == "__main__":
    main()
