"""Train: the run's settings, start and stop, live loss charts, progress and previews.

The run itself belongs to the App (a thread worker), so leaving this view does
not stop it; this screen reads the App's RunMonitor a few times a second.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, Select

from tui_vae.checkpoints import SUFFIX
from tui_vae.config import field_choices, field_default
from tui_vae.datasets import in_the_forms_words
from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.tui.widgets.loss_chart import LossChart, Series
from tui_vae.tui.widgets.ordered_input import OrderedInput
from tui_vae.tui.widgets.select import PageSafeSelect
from tui_vae.wording import printable

SAMPLE_DATASET = "mnist-sample"  # bundled: trains with no data folder and no network

# The settings' choices and defaults come from tui_vae/config.py; here only their labels.
# (field, label) for the choices, from the registries.
CHOICE_FIELDS = (
    ("model", "model"),
    ("arch", "network"),
    ("likelihood", "likelihood"),
    ("dataset", "dataset"),
    ("lr_schedule", "schedule"),
)
# Shorter names in a dropdown too narrow for the registry's (the form is a third of 80
# columns); the value chosen is still the registry's name.
SHORT_NAMES = {"continuous-bernoulli": "cont. Bernoulli"}
# (field, label, Input type) for the numeric settings.
NUMBER_FIELDS = (
    ("beta", "beta", "number"),
    ("kl_warmup", "KL warm-up", "number"),
    ("latent_dim", "latent size", "integer"),
    ("hidden_dim", "hidden widths", "text"),
    ("epochs", "epochs", "integer"),
    ("batch_size", "batch size", "integer"),
    ("lr", "learning rate", "number"),
    ("lr_warmup", "LR warm-up", "number"),
    ("seed", "seed", "integer"),
)


# The command's flags, as the form names the same settings: a run's refusal or
# failure ("lower --hidden or --latent-dim") is said in the form's words.
FLAG_LABELS = {"--" + name.replace("_", "-"): label
               for name, label, *_ in (*CHOICE_FIELDS, *NUMBER_FIELDS)} | {
    "--hidden": "hidden widths"}


def form_words(message: str) -> str:
    """A refusal's or failure's message with the form's names for the flags it cites."""
    message = in_the_forms_words(message)
    for flag, label in FLAG_LABELS.items():  # "--lr" leaves "--lr-warmup" alone
        message = re.sub(rf"{re.escape(flag)}(?![\w-])", label, message)
    return message


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
# Lines the run's column needs for everything at once: progress 3, charts at their
# minimum height 2 x 6, the previews' caption 1 and two rows of half-size tiles 2 x 7.
RUN_LINES_FOR_ALL = 3 + 2 * 6 + 1 + 2 * 7
MAX_NOTICE = 300  # characters of a refusal's notice (it may quote what was typed)
SWEEP_TEXT = 4000  # the sweep field's longest list (its values, commas between)
REFRESH_S = 0.5  # how often the charts and progress read the monitor while running


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def sweep_configs(config, betas: str, folder) -> list:
    """One TrainConfig per comma-separated value of `betas`, every other setting
    from `config`; checkpoints in `folder`, named as `tui-vae sweep` names them
    (sweep-<time>-beta<b>)."""
    import dataclasses
    import time

    from tui_vae.sweep import parse_values, plan

    values = parse_values(betas, float)
    if any(not 0 <= b < float("inf") for b in values):
        raise ValueError("sweep betas must be finite numbers >= 0")
    prefix = time.strftime("sweep-%Y%m%d-%H%M%S-")
    runs = plan({"beta": values}, [], Path(folder), prefix)
    configs = [dataclasses.replace(config, out=str(run.out),
                                   model=dataclasses.replace(config.model, beta=beta))
               for run, beta in zip(runs, values)]
    for beta, each in zip(values, configs):  # every run checked before any starts
        try:
            each.validate()
        except TuiVaeError as exc:  # beta 1e7: its run failed after the others trained
            raise ValueError(f"sweep beta {beta:g}: {exc}") from None
    return configs


def build_config(values: dict[str, str], checkpoint_dir, data_dir):
    """A validated TrainConfig from the form's strings; raises ValueError with the reason."""
    from tui_vae.checkpoints import new_checkpoint_path
    from tui_vae.config import (
        ModelConfig,
        TrainConfig,
        hidden_fields,
        parse_hidden,
        written_plainly,
    )
    from tui_vae.errors import TrainingError
    from tui_vae.memory import check_training_memory

    def number(name: str, kind):
        text = values.get(name, _shown(field_default(name))).strip()
        try:
            if not written_plainly(text):
                raise ValueError
            return kind(text)
        except ValueError:
            raise ValueError(f"{name.replace('_', ' ')}: {text!r} is not a valid number") from None

    def widths(name: str) -> tuple[int, ...]:
        try:
            return parse_hidden(values[name])
        except ValueError as exc:
            raise ValueError(f"hidden widths: {exc}") from None

    from tui_vae.datasets import fit_to_dataset

    # The image shape and class count are the dataset's (colour 32x32 for shapes).
    model = fit_to_dataset(ModelConfig(model=values["model"], arch=values.get("arch", "mlp"),
                                       likelihood=values.get("likelihood", "bernoulli"),
                                       latent_dim=number("latent_dim", int),
                                       **hidden_fields(widths("hidden_dim")),
                                       beta=number("beta", float), dataset=values["dataset"]))
    config = TrainConfig(
        model=model, epochs=number("epochs", int), batch_size=number("batch_size", int),
        lr_schedule=values.get("lr_schedule", field_default("lr_schedule")),
        lr=number("lr", float), lr_warmup=number("lr_warmup", float),
        kl_warmup=number("kl_warmup", float), seed=number("seed", int),
        data_dir=str(data_dir) if data_dir else None,
        out=str(new_checkpoint_path(checkpoint_dir, values["model"], values["dataset"])),
        log_every=5)
    try:
        config.validate()
        # The memory estimate too, as `tui-vae train` checks it before it starts: in
        # the child it failed after the run had begun, in the command's words.
        check_training_memory(config)
    except TrainingError as exc:
        raise ValueError(form_words(str(exc))) from None
    return config


class TrainScreen(ViewScreen):
    """Settings on the left; charts, progress and previews on the right."""

    _note_for: str | None = None  # the dataset the note under the field is about

    TITLE = "Train"
    NEEDS_MODEL = False
    BINDINGS = [
        Binding("s", "start", "Start", id="train.start"),
        Binding("x", "stop", "Stop", id="train.stop"),
        Binding("y", "toggle_log", "Log scale", id="train.log"),
        Binding("p", "toggle_previews", "Charts/previews", id="train.previews"),
        # Shown while a setting has focus: the letter keys type into it then, so
        # this is the one key the footer can offer (check_action).
        Binding("escape", "blur", "Done editing", id="train.blur"),
    ]

    def body(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="form") as form:
                form.can_focus = False  # Tab goes straight to the first setting
                for name, label in CHOICE_FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label)
                        yield PageSafeSelect(  # pageup before its list's layout: no crash
                            [(c.help if name == "dataset" else SHORT_NAMES.get(c.name, c.name),
                              c.name)
                             for c in field_choices(name).values()],
                            value=field_default(name), allow_blank=False,
                            compact=True, id=name)
                    if name == "dataset":  # why the form starts on the sample, when it does
                        note = Label("", id="dataset-note", classes="dim")
                        note.display = False
                        yield note
                for name, label, kind in NUMBER_FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label)
                        yield OrderedInput(_shown(field_default(name)), type=kind, compact=True,
                                    id=name)
                    if name == "beta":  # the hint under its own field
                        yield Label("beta 0: no KL term (the report's run)", classes="dim")
                with Horizontal(classes="field"):
                    yield Label("sweep betas")
                    # "e.g.": a bare "0,0.5,1" in grey read as a value that s would run.
                    yield OrderedInput("", placeholder="e.g. 0,0.5,1", compact=True,
                                       id="sweep_betas", max_length=SWEEP_TEXT)
                yield Label("empty: one run; a list: one run per beta, in turn (Runs, u, "
                            "shows them)", classes="dim")
                with Horizontal(id="buttons"):
                    yield Button("Start s", id="start", variant="success", compact=True)
                    yield Button("Stop x", id="stop", variant="error", compact=True)
            with Vertical(id="run"):
                yield Label("", id="progress-text")
                yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="progress")
                yield LossChart("train loss per step (smoothed), nats", "step", id="chart-steps")
                # The two curves are not one quantity at two places: train is the mean
                # over the epoch as it trained, test the saved (averaged) weights after.
                yield LossChart("loss per epoch, nats (train: its mean as it trained; "
                                "test: at its end)", "epoch", id="chart-epochs")
                with Vertical(id="previews"):
                    # short enough for the run's column at 80x24 (it lost its last "s")
                    yield Label("last epoch: original | model; samples", classes="dim")
                    yield ImageGrid(id="preview-recon", classes="preview")
                    yield ImageGrid(id="preview-samples", classes="preview")

    def on_mount(self) -> None:
        self._shown: dict = {}  # what refresh_run last put on screen
        self.previews_only = False  # a short screen shows charts or previews, `p` swaps
        super().on_mount()
        self.set_interval(REFRESH_S, self._tick)
        # Off the UI thread: the check loads the data module (and torch with it).
        self.run_worker(self._offer_the_sample, thread=True, group="train-dataset")

    def _offer_the_sample(self) -> None:
        """Where the default dataset is not on this machine, the form starts on the
        bundled sample: `s` then trains at once, offline too (the default would
        download, or fail without a network). Choosing it again downloads it."""
        from tui_vae.data import dataset_available, resolve_data_dir

        default, given = field_default("dataset"), self.app.workspace.data_dir
        if default == SAMPLE_DATASET or dataset_available(default, given):
            return
        self.app.call_from_thread(self._choose_the_sample, default, resolve_data_dir(given))

    def _choose_the_sample(self, default: str, folder) -> None:
        select = self.query_one("#dataset", Select)
        if select.value != default:  # chosen already: the user's choice stands
            return
        select.value = SAMPLE_DATASET
        title = field_choices("dataset")[default].help
        # Beside the field, for as long as it matters: a notice covered the form's
        # values for 8 s at 80x24, and was gone by the time one looked for it.
        note = self.query_one("#dataset-note", Label)
        # Which folder: a newcomer without --data-dir had no way to tell where it looked.
        note.update(Text(f"no {title} in the data folder ({folder}): choose it to download, "
                         f"or start with --data-dir DIR"))
        note.display = True
        self._note_for = SAMPLE_DATASET

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "dataset" and self._note_for is not None:
            if event.value != self._note_for:  # another dataset chosen: said its piece
                self.query_one("#dataset-note", Label).display = False
                self._note_for = None

    def redraw(self) -> None:
        self.set_status("Tab moves through the settings, escape leaves them · s start · "
                        "x stop · y log scale · the checkpoint is saved after every epoch")
        self.refresh_run()

    def _tick(self) -> None:
        if self.is_current and self.app.monitor.active:
            self.refresh_run()

    def refresh_run(self) -> None:
        """Read the App's monitor and update progress, charts, preview and buttons.

        Runs twice a second while training, on the UI thread that shares the
        GIL with the trainer: only what changed is touched, because every
        widget update costs a layout or a repaint (measured: refreshing all of
        it on every step report cut in-app training to a fifth of headless).
        """
        progress, curves = self.app.monitor.snapshot()
        total = max(progress.epochs * progress.steps, 1)
        done = min(progress.epoch * progress.steps + progress.step, total)
        text = {
            "idle": "No run yet: set the options, press s.",
            "failed": f"Failed: {form_words(progress.message)}",
        }.get(progress.state)
        place = self.app.sweep_place
        if text is None and progress.state in ("starting", "stopping") and not progress.steps:
            # Before its first report (torch and the data loading in the child): no
            # epochs or steps to count yet.
            doing = "starting the run..." if progress.state == "starting" else "stopping..."
            text = (f"sweep {place[0]}/{place[1]} · " if place else "") + doing
        if text is None:
            # The ETA leads the first line, so a narrow column (80x24) cuts only the
            # tail of a line, never the time left; the checkpoint's name goes last (its
            # folder is in the notice at the end and in Models).
            # As Models names it, without ".safetensors": at 80x24 the suffix cut the
            # line mid-word ("saved vae-shapes-20261207-204930.safeten…").
            name = Path(progress.path).name.removesuffix(SUFFIX) if progress.path else ""
            # While other work shares the cores, the run says on how many threads
            # it trains (cpu_share.ThreadShare): why its samples/s fell.
            state = progress.state + (f" on {progress.threads}" if progress.threads else "")
            state = f"sweep {place[0]}/{place[1]} · {state}" if place else state
            speed = f"{progress.samples_per_s:,.0f}"
            second = f"{state} · {speed} samples/s"
            width = self.query_one("#progress-text", Label).size.width
            # A sweep's run on fewer threads, at 80x24: "19,937…" had lost its unit.
            for shorter in (f"{state} · {speed} img/s",
                            f"{state.replace('running on', 'on')} · {speed} img/s"):
                if width and len(second) > width:
                    second = shorter
            if name and (not width or len(second) + 3 + len(name) <= width):
                second += f" · {name}"  # else left out whole: "samples/s ·…" said nothing
            eta = f"ETA {_duration(progress.eta_s)}"
            if place and progress.eta_s is not None and progress.step_s:
                # The sweep's, not this run's alone: it read 0:00:00 at the end of its
                # first run with the second still to come (its runs differ in beta only).
                left = (place[1] - place[0]) * progress.epochs * progress.steps
                eta = f"ETA {_duration(progress.eta_s + left * progress.step_s)} (sweep)"
            text = (f"{eta} · epoch "
                    f"{min(progress.epoch + 1, progress.epochs)}/{progress.epochs} · "
                    f"step {progress.step}/{progress.steps}\n{second}")
            if progress.state in ("finished", "stopped"):
                saved = f"saved {name}" if progress.path else "nothing was saved"
                text = f"{progress.ended()}\n{saved}"
        running = self.app.monitor.active
        shown = self._shown
        if shown.get("bar") != (total, done):
            self.query_one("#progress", ProgressBar).update(total=total, progress=done)
        if shown.get("text") != text:
            label = self.query_one("#progress-text", Label)
            failed = progress.state == "failed"
            if label.has_class("failed") != failed:
                # A failure says what to do about it: its lines wrap, whole.
                label.set_class(failed, "failed")
            # Else two fixed lines (status, then the checkpoint path): no layout pass.
            label.update(text, layout=failed)
        if shown.get("steps") != len(curves.step) or not curves.step:
            self.query_one("#chart-steps", LossChart).series = (
                Series("loss", "cyan", tuple(curves.step), tuple(curves.loss)),
                Series("recon", "green", tuple(curves.step), tuple(curves.recon)),
                Series("KL", "magenta", tuple(curves.step), tuple(curves.kl)),
            )
        if shown.get("epochs") != len(curves.epoch) or not curves.epoch:
            self.query_one("#chart-epochs", LossChart).series = (
                Series("train", "cyan", tuple(curves.epoch), tuple(curves.train_loss)),
                Series("test", "yellow", tuple(curves.epoch), tuple(curves.test_loss)),
                Series("test recon", "green", tuple(curves.epoch), tuple(curves.test_recon)),
                Series("test KL", "magenta", tuple(curves.epoch), tuple(curves.test_kl)),
            )
        if shown.get("preview") is not self.app.preview:
            pairs, samples = (self.query_one(f"#preview-{k}", ImageGrid)
                              for k in ("recon", "samples"))
            if self.app.preview:
                pairs.show(self.app.preview[0])
                samples.show(self.app.preview[1])
            else:
                pairs.clear("(after the first epoch)")
                samples.clear()
        if shown.get("running") != running:
            self.query_one("#start", Button).disabled = running
            self.query_one("#stop", Button).disabled = not running
            self.refresh_bindings()
        self._shown = {"bar": (total, done), "text": text, "steps": len(curves.step),
                       "epochs": len(curves.epoch), "preview": self.app.preview,
                       "running": running}

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # The run may have ended, or a sweep moved on, while another view showed:
        # _tick refreshes only the view on show.
        self.refresh_run()

    def on_resize(self) -> None:
        super().on_resize()
        self._place_previews()

    def _cramped(self) -> bool:
        """Whether charts and previews cannot both show whole in the run's column."""
        return 0 < self.query_one("#run").size.height < RUN_LINES_FOR_ALL

    def _place_previews(self) -> None:
        cramped = self._cramped()
        self.previews_only = self.previews_only and cramped
        for chart in self.query(LossChart):
            chart.display = not self.previews_only
        self.query_one("#previews").display = self.previews_only or not cramped
        self.refresh_bindings()

    def action_toggle_previews(self) -> None:
        self.previews_only = not self.previews_only
        self._place_previews()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "toggle_previews":
            return self._cramped()
        if action == "blur":
            return isinstance(self.focused, (Input, Select))
        # Start greys out while a run is active, Stop while none is.
        if action == "start":
            return not self.app.monitor.active or None
        if action == "stop":
            return (self.app.monitor.active or self.app.sweep_stop is not None) or None
        return True

    def form_values(self) -> dict[str, str]:
        values = {name: self.query_one(f"#{name}", Input).value for name, *_ in NUMBER_FIELDS}
        for name, _ in CHOICE_FIELDS:
            values[name] = str(self.query_one(f"#{name}", Select).value)
        return values

    def action_start(self) -> None:
        if self.app.monitor.active:
            self.notify("a run is already training; stop it first", severity="warning")
            return
        workspace = self.app.workspace
        betas = self.query_one("#sweep_betas", Input).value.strip()
        try:
            workspace.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            config = build_config(self.form_values(), workspace.checkpoint_dir,
                                  workspace.data_dir)
            runs = sweep_configs(config, betas, workspace.checkpoint_dir) if betas else None
        except (ValueError, OSError, TuiVaeError) as exc:
            # A sweep's list that names one run twice or too many runs is a TuiVaeError
            # (it crashed the explorer); a pasted 10,000-digit value is quoted back
            # in part, not over the whole screen.
            said = printable(str(exc))
            self.notify(said if len(said) <= MAX_NOTICE else said[:MAX_NOTICE - 1] + "…",
                        title="cannot start", severity="error", markup=False)
            return
        self.set_focus(None)
        if runs:
            self.app.start_sweep(runs)
        else:
            self.app.start_training(config)

    def action_stop(self) -> None:
        self.app.stop_training()

    def action_toggle_log(self) -> None:
        for chart in self.query(LossChart):
            chart.log_scale = not chart.log_scale

    def action_blur(self) -> None:
        self.set_focus(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        elif event.button.id == "stop":
            self.action_stop()
