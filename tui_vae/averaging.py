"""A moving average of the weights: what a run evaluates and saves.

Adam at the learning rates that train fastest leaves the weights jittering
around a minimum; their exponential moving average sits nearer its middle. So
the trainer keeps one beside the live weights (updated every few steps) and
evaluates and saves the average, while training goes on from the live
weights, which the checkpoint keeps too, for `--resume`. Its decay ramps up
from zero as (1 + n) / (10 + n) after n steps, to at most `decay`, so the first
steps' weights (far from any minimum) are soon forgotten. On MNIST this
reaches a given test -ELBO an epoch sooner and ends where the live weights
end (README, Performance).

`WeightAverage.update` is one fused lerp over all the weights; the test checks
it against the formula written out tensor by tensor, after every step and
every few.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Training folds the weights in every 4th step: its pass over the weights (as
# much memory traffic as a third of Adam's) is made a quarter as often, and on
# MNIST the test figures are those of an average of every step (README,
# Performance): the average spans some two hundred steps.
AVERAGE_EVERY = 4


def average_decay(decay: float, steps: int) -> float:
    """The weight the average keeps of itself at its `steps`-th update (from 1)."""
    return min(decay, (1 + steps) / (10 + steps))


class WeightAverage:
    """The exponential moving average of `model`'s trainable weights.

    It starts at the weights as they are (a resumed run's model holds its saved
    average when this is built) and has seen `steps` updates so far.
    """

    def __init__(self, model: nn.Module, decay: float, steps: int = 0, every: int = 1):
        self.decay = decay
        self.steps = steps
        self.every = every
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        with torch.no_grad():
            self.averaged = [p.detach().clone() for _, p in named]

    def update(self) -> None:
        """After an optimizer step: fold the live weights in, every `every`-th step.

        Then the average keeps the product of the skipped steps' decays, as if
        the weights had stood still between its updates: one pass over the
        weights in `every` steps instead of one a step."""
        self.steps += 1
        if self.steps % self.every:
            return
        keep = math.prod(average_decay(self.decay, n)
                         for n in range(self.steps - self.every + 1, self.steps + 1))
        with torch.no_grad():
            torch._foreach_lerp_(self.averaged, [p.detach() for p in self.params], 1.0 - keep)

    def state(self) -> dict[str, torch.Tensor]:
        """The averaged weights by parameter name (as a state_dict names them)."""
        return dict(zip(self.names, self.averaged, strict=True))

    @contextmanager
    def applied(self) -> Iterator[dict[str, torch.Tensor]]:
        """The model holds the averaged weights inside the block; it yields the live
        weights (copies), and puts them back after."""
        with torch.no_grad():
            live = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.averaged, strict=True):
                p.copy_(a)
        try:
            yield dict(zip(self.names, live, strict=True))
        finally:
            with torch.no_grad():
                for p, value in zip(self.params, live, strict=True):
                    p.copy_(value)
