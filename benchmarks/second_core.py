"""How much of the second core this machine gives right now: one product, 1 thread vs all.

On the 2-core development machine one thread's matrix products run at a steady
speed, but two threads' swing between about 1.8x one thread's speed and 1.4x
for minutes at a time, with nothing else running: the host lends the second
core only part of the time then. Every figure made with two threads (our
epochs, the GEMM bound, runs at once) moves with it, while the reference
pipeline (mostly one thread) hardly does. So the benchmarks print this reading
at their start and end, to say which kind of minute their figures come from.
The reading means that only on an otherwise idle machine: beside another busy
process two threads that spin for each other read far lower (0.15x once).

Run alone: python benchmarks/second_core.py   (a fresh process; about 2 s)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def speedup(rounds: int = 7, repeats: int = 100) -> tuple[float, float, float]:
    """(median microseconds with all threads, with one, their ratio) for the
    seed's largest product, 112x784 by 784x400, alternating the two settings."""
    import torch

    threads = torch.get_num_threads()
    a, w = torch.randn(112, 784), torch.randn(400, 784)
    timings: dict[int, list[float]] = {threads: [], 1: []}
    try:
        for _ in range(rounds):
            for count in timings:
                torch.set_num_threads(count)
                for _ in range(10):
                    a.mm(w.t())
                start = time.perf_counter()
                for _ in range(repeats):
                    a.mm(w.t())
                timings[count].append((time.perf_counter() - start) / repeats * 1e6)
    finally:
        torch.set_num_threads(threads)
    many, one = statistics.median(timings[threads]), statistics.median(timings[1])
    return many, one, one / many


def reading() -> str:
    """One line from a fresh process (so the caller's thread settings stay as they are)."""
    done = subprocess.run([sys.executable, __file__], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "second core: not measured"


def main() -> None:
    import torch

    many, one, ratio = speedup()
    print(f"second core: a 112x784x400 product takes {many:.0f} us on "
          f"{torch.get_num_threads()} threads, {one:.0f} us on 1: {ratio:.2f}x "
          f"(about 1.8x when the host leaves this machine's second core free)")


if __name__ == "__main__":
    main()
