"""Several trainings at once: each run's epoch time against one run alone.

Starts `tui-vae train` (full MNIST, the default model) alone, then two and
three at once, then alone again, and compares each run's median epoch time (epochs after the
first, from the metrics JSONL beside the checkpoint: training seconds, not
the test evaluation) with the run alone. Targets: two at once <= 2.25x, three
at once <= 3.4x. Run: python benchmarks/concurrent_runs.py --data-dir ../shared/data

`--app-run` starts the first run of each group at once as the explorer starts
its own (train_child.ChildRun: the same command, reporting its events as JSON,
which this process reads), so the app's run beside CLI runs is measured too.

`--staggered` also starts runs one after another, each once the one before has
ended its first epoch: the first starts alone (its threads spin) and must
adapt when company arrives (cpu_share.ThreadShare, or CompanyWatch where it
cannot). There each run's figure is the median of its epochs run entirely
while all the runs were training.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from second_core import reading


def _epoch_seconds(checkpoint: Path) -> float:
    lines = checkpoint.with_name(checkpoint.stem + ".metrics.jsonl").read_text().splitlines()
    seconds = [json.loads(line)["seconds"] for line in lines][1:]
    return statistics.median(seconds)


def run_together(count: int, epochs: int, data_dir: str, folder: Path, tag: str = "",
                 app_run: bool = False) -> tuple[list[float], float]:
    """Each run's median epoch, and the wall time of all. With `app_run` the first is
    started as the explorer starts its run (train_child.ChildRun, events read)."""
    outs = [folder / f"run{count}{tag}-{i}.safetensors" for i in range(count)]
    start = time.perf_counter()
    threads = []
    if app_run:
        threads.append(threading.Thread(target=_app_run, args=(epochs, data_dir, outs[0])))
        threads[0].start()
    procs = [subprocess.Popen(
        _command(epochs, data_dir, out, i), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"})
        for i, out in enumerate(outs) if not (app_run and i == 0)]
    for proc in procs:
        _, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a run failed: {stderr.decode()[-500:]}")
    for thread in threads:
        thread.join()
    return [_epoch_seconds(out) for out in outs], time.perf_counter() - start


def _app_run(epochs: int, data_dir: str, out: Path) -> None:
    """The app's run: the same `tui-vae train --events-json` child, its events read."""
    from tui_vae.config import ModelConfig, TrainConfig
    from tui_vae.train_child import ChildRun

    config = TrainConfig(model=ModelConfig(), epochs=epochs, data_dir=data_dir, out=str(out))
    ChildRun(config, lambda event: None).run()


def _command(epochs: int, data_dir: str, out: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "tui_vae", "train", "--epochs", str(epochs), "--data-dir",
            data_dir, "--out", str(out), "--seed", str(seed)]


def run_staggered(count: int, epochs: int, data_dir: str, folder: Path) -> list[float]:
    """Start `count` runs one epoch apart; each run's median epoch while all ran together."""
    outs = [folder / f"staggered{count}-{i}.safetensors" for i in range(count)]
    metrics = [out.with_name(out.stem + ".metrics.jsonl") for out in outs]
    ends: list[list[float]] = [[] for _ in outs]  # wall time each epoch line appeared
    procs: list[subprocess.Popen] = []
    started: list[float] = []
    finished: list[float | None] = [None] * count

    def poll() -> None:
        now = time.perf_counter()
        for i, path in enumerate(metrics[:len(procs)]):
            lines = path.read_text().splitlines() if path.exists() else []
            ends[i] += [now] * (len(lines) - len(ends[i]))
            if finished[i] is None and procs[i].poll() is not None:
                finished[i] = now

    while len(procs) < count or None in finished:
        if len(procs) < count and (not procs or len(ends[len(procs) - 1]) >= 1):
            procs.append(subprocess.Popen(_command(epochs, data_dir, outs[len(procs)], len(procs)),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            started.append(time.perf_counter())
        time.sleep(0.1)
        poll()
    if any(proc.returncode for proc in procs):
        raise SystemExit("a staggered run failed")
    together = (max(started), min(t for t in finished if t is not None))
    medians = []
    for i, path in enumerate(metrics):
        seconds = [json.loads(line)["seconds"] for line in path.read_text().splitlines()]
        inside = [s for s, end in zip(seconds, ends[i])
                  if end - s - 0.2 >= together[0] and end <= together[1]]
        medians.append(statistics.median(inside) if inside else float("nan"))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("TUI_VAE_DATA_DIR"), required=False)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--most", type=int, default=3, help="the most runs at once")
    parser.add_argument("--staggered", action="store_true",
                        help="also start the runs one epoch apart (the first starts alone)")
    parser.add_argument("--app-run", action="store_true",
                        help="start the first of the runs at once as the explorer starts its "
                             "run (a child reporting its events)")
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("--data-dir (or TUI_VAE_DATA_DIR) must point at a full MNIST copy")
    targets = {2: 2.25, 3: 3.4}
    with tempfile.TemporaryDirectory() as tmp:
        # This machine's second core comes and goes for minutes at a time
        # (second_core.py): one run alone is timed before and after the runs at
        # once, with the second core's reading before each, and the ratios use
        # their mean, so a spell that covers only one of them shows.
        print(reading())
        before, wall = run_together(1, args.epochs, args.data_dir, Path(tmp))
        print(f"1 run : epoch {before[0]:.2f} s (median of epochs 2-{args.epochs}), "
              f"whole run {wall:.1f} s")
        together = []
        for count in range(2, args.most + 1):
            print(reading())
            together.append((count, *run_together(count, args.epochs, args.data_dir, Path(tmp),
                                                  app_run=args.app_run)))
        print(reading())
        after, wall = run_together(1, args.epochs, args.data_dir, Path(tmp), tag="again")
        print(f"1 run again: epoch {after[0]:.2f} s, whole run {wall:.1f} s")
        alone = [(before[0] + after[0]) / 2]
        for count, each, wall in together:
            ratios = [e / alone[0] for e in each]
            target = targets.get(count)
            print(f"{count} runs{' (the first the app’s)' if args.app_run else ''}: epochs "
                  + ", ".join(f"{e:.2f}" for e in each)
                  + f" s; ratio to alone (mean {alone[0]:.2f} s) "
                  + ", ".join(f"{r:.2f}x" for r in ratios)
                  + (f" (target <= {target}x)" if target else "") + f", whole {wall:.1f} s")
        if args.staggered:
            for count in range(2, args.most + 1):
                each = run_staggered(count, args.epochs + 2 * count, args.data_dir, Path(tmp))
                print(f"{count} runs one epoch apart: epochs while all ran "
                      + ", ".join(f"{e:.2f}" for e in each) + " s; ratio to alone "
                      + ", ".join(f"{e / alone[0]:.2f}x" for e in each)
                      + (f" (target <= {targets[count]}x)" if count in targets else ""))
    print(reading())


if __name__ == "__main__":
    main()
