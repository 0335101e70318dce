"""Messages the App's workers post to the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from tui_vae.events import StepLogged


class TrainingEvent(Message):
    """One event from the training service (Started, StepLogged, EpochEnded, ...)."""

    def __init__(self, event: Any, ended: str = "") -> None:
        super().__init__()
        self.event = event
        # For Finished: how the run stands (RunMonitor's Progress.ended), read when it
        # ended; a sweep's next run may have reset the monitor by the time this is read.
        self.ended = ended

    def can_replace(self, message: Message) -> bool:
        # Step reports may pile up behind a busy UI: keep only the newest one.
        return (isinstance(message, TrainingEvent) and isinstance(message.event, StepLogged)
                and isinstance(self.event, StepLogged))


class ModelReady(Message):
    """The active model and the images to show are loaded."""

    def __init__(self, path, model, images) -> None:
        super().__init__()
        self.path = path
        self.model = model
        self.images = images


class PreviewReady(Message):
    """Reconstructions and samples of the running training's latest checkpoint."""

    def __init__(self, pairs, samples) -> None:
        super().__init__()
        self.pairs = pairs
        self.samples = samples


class EntriesChanged(Message):
    """A scan of the checkpoint folders found something new, changed or gone."""

    def __init__(self, entries: list, shipped: frozenset, problems: tuple[str, ...],
                 index: dict) -> None:
        super().__init__()
        self.entries = entries  # the workspace's sorted list (read-only)
        self.shipped = shipped  # the paths among them that are shipped models
        self.problems = problems  # folders that could not be read, one line each
        self.index = index  # each entry's row, by path


class DefaultChosen(Message):
    """The first scan's choice of the model to open with and Compare's pair."""

    def __init__(self, path, pair) -> None:
        super().__init__()
        self.path = path
        self.pair = pair
