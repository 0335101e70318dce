"""The `tui-vae` command line: a thin Typer layer over the services.

Heavy imports (torch, torchvision) happen inside the commands that need them,
so `tui-vae --help` and every subcommand's --help stay fast. Usage errors exit
with status 2 (Click's convention); runtime errors print one line on stderr and
exit with status 1, never a traceback (TUI_VAE_DEBUG=1 shows it).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tui_vae.config import (
    ARCHITECTURES,
    IMAGE_CHANNELS,
    IMAGE_SIZES,
    LIKELIHOODS,
    LR_SCHEDULES,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_SEED,
    MODEL_KINDS,
    ModelConfig,
    choices_help,
    field_default,
    field_help,
    hidden_fields,
)
from tui_vae.datasets import DATASET_NAMES, MAX_FOLDER_CLASSES
from tui_vae.paths import RUNS_FOLDER
from tui_vae.wording import metric, plural, printable, printable_lines

app = typer.Typer(
    help="Train and explore Variational Autoencoders in the terminal. With no command, "
         "opens the explorer (keyboard-driven; ? in it shows the keys).",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



def _choices(name: str, names) -> type[Enum]:
    """A Typer choice type from a registry's names (tui_vae/config.py)."""
    return Enum(name, {n.replace("-", "_"): n for n in names}, type=str)


# Choices come from the registries: a new architecture or likelihood needs no edit here.
ModelKind = _choices("ModelKind", MODEL_KINDS)
Architecture = _choices("Architecture", ARCHITECTURES)
Likelihood = _choices("Likelihood", LIKELIHOODS)
DatasetName = _choices("DatasetName", DATASET_NAMES)
DeviceName = _choices("DeviceName", ("auto", "cpu", "cuda", "mps"))
Schedule = _choices("Schedule", LR_SCHEDULES)
Gradients = _choices("Gradients", ("auto", "autograd"))

MAX_SAMPLE_FLAG = 10_000  # the most images `sample -n` draws
DEFAULT_CHECKPOINT_DIR = RUNS_FOLDER  # the user's runs; the shipped models live elsewhere


class SafeConsole(Console):
    """A Console that prints plain strings with their control characters escaped:
    a file name holding an escape sequence shows as text, never acts on the terminal.
    Nor are emoji codes replaced: a run saved to "r:x:.safetensors" was told to
    resume from "r❌.safetensors"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{"emoji": False, **kwargs})

    def print(self, *objects, **kwargs) -> None:
        super().print(*(_safe(o) if isinstance(o, str) else o for o in objects), **kwargs)


def _safe(text: str) -> str:
    """Control characters escaped; in an error, line breaks too: an error is one line
    (a data folder named with a newline in it made two)."""
    return printable(text) if text.startswith("error: ") else printable_lines(text)


def echo(text: str) -> None:
    """typer.echo, with control characters escaped as SafeConsole does. A reader that
    has gone (`... | head -1`) took what it wanted: the command ends there, with
    exit 0, as `models | head` does (Click exited 1 without a word)."""
    try:
        typer.echo(printable_lines(text))
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # Python's flush at exit must not fail
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


err = SafeConsole(stderr=True, highlight=False, soft_wrap=True)


class _SweepLines:
    """The sweep's report, a line at a time on stderr. Where stderr stops taking
    lines (a closed pipe: `tui-vae sweep ... 2>&1 | head`), Rich exited the
    process at once, and the runs it had started went on training with nobody
    to see or stop them. Now `on_gone` is called (the sweep stops its runs, each
    saving its state) and later lines go nowhere. `check` notices a pipe whose
    reader has gone between lines (runs can train for hours without one)."""

    class _Console(SafeConsole):
        def on_broken_pipe(self) -> None:  # Rich's own: exit at once
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    def __init__(self, on_gone: Callable[[], None]):
        self.console = self._Console(stderr=True, highlight=False, soft_wrap=True)
        self.on_gone = on_gone
        self.gone = False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            self.console.print(line, markup=False)
        except OSError:
            self._went()

    def check(self) -> None:
        """A pipe's writing end reports an error once its reader has closed it."""
        import select

        if self.gone or not hasattr(select, "poll"):
            return
        poller = select.poll()
        with contextlib.suppress(OSError, ValueError):
            poller.register(self.console.file.fileno(), select.POLLOUT)
            if any(events & select.POLLERR for _, events in poller.poll(0)):
                self._went()

    def _went(self) -> None:
        self.gone = True
        with contextlib.suppress(OSError):  # later writes, and the flush at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.console.file.fileno())
            os.close(devnull)
        self.on_gone()


def _file_path(value) -> Path:
    """A path option or argument naming a file (its parser): never empty, never a folder.

    Click's own Path type reads "" as the current folder and lets a device pass as
    a folder, so the messages were "'' is a directory" and, later, "File exists"."""
    text = str(value)
    if not text.strip():
        raise typer.BadParameter("an empty name names no file")
    if os.path.isdir(text):
        raise typer.BadParameter(f"{text} is a folder, not a file")
    return Path(text)


def _folder_path(value) -> Path:
    """A path option or argument naming a folder (its parser): never empty, and a folder
    where something of that name exists."""
    text = str(value)
    if not text.strip():
        raise typer.BadParameter("an empty name names no folder")
    if os.path.lexists(text) and not os.path.exists(text):
        raise typer.BadParameter(f"{text} is a link that leads nowhere (broken, or a loop)")
    if os.path.lexists(text) and not os.path.isdir(text):
        raise typer.BadParameter(f"{text} is not a folder")
    return Path(text)


DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dataset root (else $TUI_VAE_DATA_DIR, else a user cache).",
                 parser=_folder_path, metavar="<dir>"),
]
DeviceOption = Annotated[DeviceName, typer.Option(help="Compute device.")]


def _plain(kind: type, low: int | None = None, high: int | None = None) -> dict:
    """typer.Option's keywords for an int or float flag (`**_plain(int, low=1)`): its text
    must be written plainly, since Typer's own conversion reads "1_0" as 10 and "١" as 1,
    which the Train form and the sweep's lists refuse. `low` and `high` bound the value
    and show in the help (Typer does not apply its own bounds to a parsed value)."""
    from tui_vae.config import written_plainly

    what = "a whole number" if kind is int else "a number"

    def parse(text):
        if not isinstance(text, str):  # the default, already a number
            return text
        if not written_plainly(text):
            raise typer.BadParameter(f"{printable(text)!r}: write {what} in ASCII digits "
                                     f"(0-9), without underscores")
        try:
            value = kind(text)
        except ValueError:
            raise typer.BadParameter(f"{printable(text)!r} is not {what}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (f"{low:,} to {high:,}" if low is not None and high is not None
                      else f">= {low:,}" if low is not None else f"<= {high:,}")
            raise typer.BadParameter(f"must be {bounds}")
        return value

    return {"parser": parse, "min": low, "max": high}


def _positive(value: float | None) -> float | None:
    if value is not None and not 0 < value < float("inf"):
        raise typer.BadParameter("must be a finite number greater than 0")
    return value


def _non_negative(value: float | None) -> float | None:
    if value is not None and not 0 <= value < float("inf"):  # also refuses nan
        raise typer.BadParameter("must be a finite number >= 0")
    return value


def _decay(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:  # also refuses nan
        raise typer.BadParameter("must be a number in [0, 1) (0: no average)")
    return value


def _temperature(value: float) -> float:
    from tui_vae.config import MAX_TEMPERATURE

    if not 0 < value <= MAX_TEMPERATURE:
        raise typer.BadParameter(f"must be a number in (0, {MAX_TEMPERATURE:g}]")
    return value


def _one_of(allowed: tuple[int, ...]):
    """A Typer callback for an int option that takes one of `allowed` (or is not given)."""

    def check(value: int | None) -> int | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"must be one of {', '.join(map(str, allowed))}")
        return value

    return check


def _factory_spec(value: str | None) -> str | None:
    """--model-factory: "package.module:function", checked without importing anything."""
    if value is not None:
        from tui_vae.user_models import FactorySpecError, parse_factory

        try:
            parse_factory(value)
        except FactorySpecError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


FactoryOption = Annotated[str | None, typer.Option(
    "--model-factory", metavar="PACKAGE.MODULE:FUNCTION", callback=_factory_spec,
    help="Your own VAE: the function that builds it (README, \"Your own VAE\"); the "
         "checkpoint is then its weights, a safetensors file.")]


def _load_model(checkpoint: Path, factory: str | None, device: str = "cpu"):
    """(path, TrainedModel): a tui-vae checkpoint (a bare name is looked up in runs/,
    then the shipped models), or with `factory` the user's model and its weights."""
    if factory is not None:
        from tui_vae.user_models import load_user_model

        return checkpoint, load_user_model(factory, checkpoint, device)
    from tui_vae.inference import load
    from tui_vae.paths import SHIPPED_PREFIX, find_checkpoint, shadowed_shipped

    asked, checkpoint = checkpoint, find_checkpoint(checkpoint)
    shipped = shadowed_shipped(asked, checkpoint)
    if shipped is not None:  # `eval cvae` measured a 2-epoch run of the user's, unsaid
        stem = shipped.name.removesuffix(".safetensors")
        err.print(f"note: {asked} is your {checkpoint}; the shipped model of that name is "
                  f"{SHIPPED_PREFIX}/{stem}", markup=False)
    return checkpoint, load(checkpoint, device=device)




def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        echo(f"tui-vae {version('tui-vae')}")
    except PackageNotFoundError:  # a source folder on sys.path, never installed
        echo("tui-vae (not installed: no version recorded)")
    raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    # No default here: Click checks a default as if typed, and a file named `runs`
    # in the folder then failed every command, ones that never use it too, about an
    # option nobody gave. The explorer, `serve` and `models` fall back to `runs`.
    checkpoints: Annotated[Path | None, typer.Option(
        "--checkpoints", help="Folder of your runs, where the Train view saves (the shipped models are listed too).",
        parser=_folder_path, metavar="<dir>", show_default=DEFAULT_CHECKPOINT_DIR)] = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = DeviceName.auto,
    truecolor: Annotated[bool, typer.Option(
        "--truecolor", help="Force 24-bit colour (SSH sessions often hide it).")] = False,
    keymap: Annotated[Path | None, typer.Option(
        help="TOML file of binding id = keys [default: the user config folder's keymap.toml].",
        parser=_file_path, metavar="<file>")] = None,
    model_factory: FactoryOption = None,
    weights: Annotated[Path | None, typer.Option(
        help="With --model-factory: your model's weights, a safetensors file.",
        parser=_file_path, metavar="<file>")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print tui-vae's version and exit.")] = False,
) -> None:
    """Train and explore Variational Autoencoders in the terminal.

    With no command, opens the explorer (keyboard-driven; ? shows the keys).
    """
    if ctx.invoked_subcommand is not None:
        return
    _open_explorer(checkpoints or Path(DEFAULT_CHECKPOINT_DIR), data_dir, device, truecolor,
                   keymap, model_factory, weights)


def _check_explorer_options(checkpoints: Path, keymap: Path | None, model_factory: str | None,
                            weights: Path | None) -> None:
    """Refuse (BadParameter) explorer options that cannot work, before its screen opens
    or `serve` listens."""
    if os.path.lexists(checkpoints) and not checkpoints.is_dir():
        default = (" (the folder of your runs when --checkpoints is not given)"
                   if checkpoints == Path(DEFAULT_CHECKPOINT_DIR) else "")
        raise typer.BadParameter(f"{checkpoints}{default} is not a folder",
                                 param_hint="--checkpoints")
    if (model_factory is None) != (weights is None):
        raise typer.BadParameter("--model-factory and --weights go together",
                                 param_hint="--model-factory" if weights else "--weights")
    # Named, it must be there (the default file may well not be): a typo would
    # otherwise leave the default keys with not a word.
    if keymap is not None and not os.path.lexists(keymap):
        raise typer.BadParameter(f"no such file: {keymap}", param_hint="--keymap")


def _size_from_the_terminal(environ, output) -> None:
    """Where the output is a terminal, let its own size count: Textual takes COLUMNS
    and LINES first, and `COLUMNS=5 tui-vae` drew in a strip 5 columns wide."""
    if output.isatty():
        for name in ("COLUMNS", "LINES"):
            environ.pop(name, None)


def _bounded_browser_size(environ) -> None:
    """A browser tab's explorer (textual-serve) starts at the size its URL asks for,
    in COLUMNS and ROWS: held within the largest screen the app takes (20,000 x
    20,000 grew one process to 2.7 GB)."""
    if "TEXTUAL_DRIVER" not in environ:
        return
    from tui_vae.tui.app import MAX_COLUMNS, MAX_ROWS

    for name, largest, default in (("COLUMNS", MAX_COLUMNS, 80), ("ROWS", MAX_ROWS, 24)):
        text = environ.get(name, "")
        value = int(text) if text.isdecimal() and len(text) < 10 else default
        environ[name] = str(min(max(value, 1), largest))


def _open_explorer(checkpoints: Path = Path(DEFAULT_CHECKPOINT_DIR), data_dir: Path | None = None,
                   device: DeviceName = DeviceName.auto, truecolor: bool = False,
                   keymap: Path | None = None, model_factory: str | None = None,
                   weights: Path | None = None) -> None:
    """The explorer with these settings (the root command's options; their defaults
    are the bare `tui-vae`)."""
    if truecolor:  # read by Textual when it is imported, below
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor"
    _check_explorer_options(checkpoints, keymap, model_factory, weights)
    # Textual's browser driver (textual-serve) talks over pipes; anything else
    # needs a terminal, or the app would draw into a file until killed.
    if "TEXTUAL_DRIVER" not in os.environ and not (sys.stdin.isatty() and sys.stdout.isatty()):
        from tui_vae.errors import TuiVaeError

        raise TuiVaeError("the explorer needs a terminal (its input and output are not one); "
                          "`tui-vae --help` lists the commands that run without one")
    _size_from_the_terminal(os.environ, sys.stdout)
    _bounded_browser_size(os.environ)
    from tui_vae.tui.app import TuiVaeApp
    from tui_vae.tui.keymap import default_keymap_path
    from tui_vae.workspace import Workspace

    workspace = Workspace(checkpoints, data_dir, device.value)
    if model_factory is not None:  # loaded by the app's worker; a failure is a notice there
        workspace.set_user_model(model_factory, weights)
    explorer = TuiVaeApp(workspace, keymap or default_keymap_path())
    explorer.run()
    if explorer.crash is not None:  # one line; the traceback is in the log file
        from tui_vae.tui.crash import crash_line

        err.print(crash_line(explorer.crash, explorer.crash_log, explorer.crash_log_error),
                  markup=False)
        sys.exit(1)
    if explorer.stopped_by_quit is not None or explorer.sweep_unstarted:
        # The screen is gone: say where the run went, and what of a sweep never ran.
        err.print(quit_note(explorer.stopped_by_quit, data_dir, explorer.sweep_unstarted),
                  markup=False)
    if explorer.return_code:
        sys.exit(explorer.return_code)


# --------------------------------------------------------------------------- train


def quit_note(out: Path | None, data_dir: Path | None, unstarted: int = 0) -> str:
    """Said once the explorer's screen is gone, after a quit stopped its run (`out`;
    None where no run was part-way: one had just finished, or the next not begun)
    and, in a sweep, left `unstarted` runs never begun."""
    if out is None:
        return f"the sweep was stopped: {plural(unstarted, 'more run')} of it did not start"
    data = f" --data-dir {shlex.quote(str(data_dir))}" if data_dir else ""
    note = (f"the run in training was stopped and saved in {out}; continue it with: "
            f"tui-vae train --out {shlex.quote(str(out))} --resume{data}")
    if unstarted:
        note += f"; {plural(unstarted, 'more run')} of its sweep did not start"
    return note


def _act_on_early_signals() -> None:
    """Called once a headless command's imports are done. A SIGTERM or SIGHUP that came
    while it started (entry.main only noted it: raised inside an import, an interrupt
    left numpy half-loaded, and the command then failed on it or trained on to its
    end) ends it now as Ctrl-C does: one line, status 130, where the signal's default
    action had ended it without a word (143, 129). Later ones do the same at once,
    until the command sets handlers of its own (train: save and stop)."""
    from tui_vae.entry import early_signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # not all on Windows
            signal.signal(getattr(signal, name), interrupt)
    if early_signal() is not None:
        raise KeyboardInterrupt


def _stop_on_signals(stop: threading.Event, signalled: threading.Event) -> None:
    """First Ctrl-C, SIGTERM or SIGHUP: stop after the current step and save; a second
    Ctrl-C or SIGTERM aborts. A hang-up (the terminal closed, an SSH session dropped)
    never aborts: the run keeps its exact state and releases its lock. `signalled`
    records that a signal asked (the command then ends with status 130)."""

    # Which outputs are the terminal, asked now: once it hangs up, isatty() says no.
    terminal = [fd for fd in (1, 2) if os.isatty(fd)]

    def request_stop(signum, frame):
        if signum == signal.SIGHUP:
            _detach_from_terminal(terminal)
        elif stop.is_set():
            raise KeyboardInterrupt
        if not stop.is_set():
            signalled.set()
            stop.set()
            # On a terminal the progress line holds the cursor (and the ^C echoed
            # there): the notice starts on a line of its own.
            lead = "\n" if 2 in terminal else ""
            err.print(f"{lead}stopping after this step and saving... (press Ctrl-C again "
                      "to abort)", markup=False)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, request_stop)


def _stop_when_stdin_closes(stop: threading.Event) -> None:
    """The app's stop channel (`--events-json`): the end of a piped stdin.

    A signal sent while the child still starts can be lost (before our handler,
    Python's KeyboardInterrupt may land in an import that swallows it), and then
    the run trained on. A pipe keeps what was done to it: a stop the app made at
    any moment is read here, once the run listens, and a restart (exec) keeps the
    same stdin. The app gone closes the pipe too: a stop, as after Ctrl-C."""
    import stat

    try:
        piped = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return
    if not piped:
        return

    def read_to_the_end() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(0, 4096):
                pass
        stop.set()

    threading.Thread(target=read_to_the_end, name="stop-on-stdin", daemon=True).start()


def _detach_from_terminal(terminal: list[int]) -> None:
    """After a hang-up, writes to the terminal fail (EIO) and would end the run before
    it saves: send the outputs that were the terminal (`terminal`, fds) to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in terminal:
        os.dup2(devnull, fd)
    os.close(devnull)


def _hidden_widths(value: str | None) -> tuple[int, ...] | None:
    """--hidden "512,256" -> (512, 256)."""
    if value is None:
        return None
    from tui_vae.config import parse_hidden

    try:
        return parse_hidden(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _dataset_name(value: str | None) -> str | None:
    """--dataset: a registered name or folder:PATH (tui_vae/datasets.py), the path made
    absolute so the checkpoint finds its folder from any working folder."""
    from tui_vae.datasets import absolute_dataset_name, is_known_dataset

    if value is not None and not is_known_dataset(value):
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(DATASET_NAMES)}, "
                                 f"or folder:PATH")
    return absolute_dataset_name(value) if value is not None else None


def _resume_settings(out: Path, given: dict) -> dict:
    """Settings for --resume: the checkpoint's, checked against any flag given too; an
    --epochs that would train nothing is refused, a finished run is said to be so."""
    from tui_vae.checkpoints import read_info
    from tui_vae.wording import plural

    meta = read_info(out).meta
    # A run from before the weights' average, or the learning rate's warm-up, was
    # trained without one, and goes on so.
    saved = {**meta["model"], "average": 0.0, "lr_warmup": 0.0, **meta.get("training", {})}

    def widths(settings):  # --hidden's widths, from either form of the settings
        return ",".join(map(str, settings.get("hidden_widths") or [settings.get("hidden_dim")]))

    if given["hidden_dim"] is not None and widths(given) != widths(saved):
        # --hidden and the older --hidden-dim both set them: named as the newer.
        raise typer.BadParameter(f"--hidden {widths(given)} differs from the checkpoint's "
                                 f"{widths(saved)}", param_hint="--resume")
    for key, value in given.items():
        # --epochs is the new target, so it may differ; everything else must match.
        if key in ("epochs", "hidden_dim", "hidden_widths"):
            continue
        if value is not None and key in saved and saved[key] != value:
            raise typer.BadParameter(f"--{key.replace('_', '-')} {value} differs from the "
                                     f"checkpoint's {saved[key]}", param_hint="--resume")
    settings = {k: (v if v is not None else saved.get(k)) for k, v in given.items()}
    if _checking_run:  # `sweep --resume` checking its runs: only that the settings match
        return settings
    progress = meta.get("progress", {})
    done, step = progress.get("epochs_done", 0), progress.get("step", 0)
    if settings["epochs"] is not None and (settings["epochs"] < done
                                           or (settings["epochs"] == done and step)):
        raise typer.BadParameter(
            f"{settings['epochs']} epochs would train nothing: the checkpoint has "
            f"{plural(done, 'epoch')} done; give more to train on", param_hint="--epochs")
    if settings["epochs"] == done:
        # Finished already: said plainly (a recipe may resume to confirm a run).
        err.print(f"nothing to train: {out} has finished its {plural(done, 'epoch')}; "
                  f"give --epochs N (more than {done}) to train on", markup=False)
        raise typer.Exit(0)
    return settings


def _refuse_oversized(config) -> None:
    """Flags that size the model or a batch: checked against memory before anything runs."""
    from tui_vae.errors import TrainingError
    from tui_vae.memory import check_training_memory

    try:
        check_training_memory(config)  # first: for absurd sizes, the estimate says most
        config.validate()
    except TrainingError as exc:
        err.print(f"error: {_checking_run}{exc}", markup=False)
        raise typer.Exit(2) from None


_checking_run = ""  # "run NAME: " while `sweep` checks its runs (the error names the run)


@app.command()
def train(
    model: Annotated[ModelKind | None, typer.Option(help=field_help("model"))] = None,
    arch: Annotated[Architecture | None, typer.Option(help=f"{field_help('arch')} {choices_help(ARCHITECTURES)}.")] = None,
    likelihood: Annotated[Likelihood | None, typer.Option(help=f"{field_help('likelihood')} {choices_help(LIKELIHOODS)}.")] = None,
    epochs: Annotated[int | None, typer.Option(**_plain(int, low=1, high=MAX_EPOCHS), help=field_help("epochs"))] = None,
    latent_dim: Annotated[int | None, typer.Option(**_plain(int, low=1), help=field_help("latent_dim"))] = None,
    hidden: Annotated[str | None, typer.Option(metavar="W[,W...]", callback=_hidden_widths, help=f"Hidden widths from the image inward, e.g. 400 or 512,256 [default: {field_default('hidden_dim')}].")] = None,
    hidden_dim: Annotated[int | None, typer.Option(**_plain(int, low=1), help="One hidden width (the same as --hidden W).")] = None,
    beta: Annotated[float | None, typer.Option(**_plain(float), callback=_non_negative, help=field_help("beta"))] = None,
    kl_warmup: Annotated[float | None, typer.Option(**_plain(float), callback=_non_negative, help=field_help("kl_warmup"))] = None,
    lr_warmup: Annotated[float | None, typer.Option(**_plain(float), callback=_non_negative, help=field_help("lr_warmup"))] = None,
    average: Annotated[float | None, typer.Option(**_plain(float), callback=_decay, help=field_help("average"))] = None,
    batch_size: Annotated[int | None, typer.Option(**_plain(int, low=1, high=MAX_BATCH), help=field_help("batch_size"))] = None,
    lr: Annotated[float | None, typer.Option(**_plain(float), callback=_positive, help=field_help("lr"))] = None,
    lr_schedule: Annotated[Schedule | None, typer.Option(help=f"{field_help('lr_schedule')} {choices_help(LR_SCHEDULES)}.")] = None,
    seed: Annotated[int | None, typer.Option(**_plain(int, low=0, high=MAX_SEED), help=field_help("seed"))] = None,
    dataset: Annotated[str | None, typer.Option(metavar="NAME", callback=_dataset_name, help=f"{field_help('dataset')} One of {', '.join(DATASET_NAMES)}, or folder:PATH (a folder of images; its sub-folders are the classes).")] = None,
    image_size: Annotated[int | None, typer.Option(**_plain(int), callback=_one_of(IMAGE_SIZES), help="Image size in pixels, for datasets that resize (shapes, folder:PATH): 28, 32 or 64 [default: the dataset's].")] = None,
    channels: Annotated[int | None, typer.Option(**_plain(int), callback=_one_of(IMAGE_CHANNELS), help="1 grey or 3 colour, for folder:PATH [default: the dataset's].")] = None,
    gradients: Annotated[Gradients, typer.Option(help="auto: the hand-derived step where it provably applies (the report's MLP with a Bernoulli likelihood), autograd elsewhere; autograd: always the general path.")] = Gradients.auto,
    data_dir: DataDirOption = None,
    device: DeviceOption = DeviceName.auto,
    out: Annotated[Path | None, typer.Option(help="Checkpoint path [default: runs/<model>-<dataset>-<time>.safetensors].", parser=_file_path, metavar="<file>")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the checkpoint at --out.")] = False,
    tensorboard: Annotated[Path | None, typer.Option("--tensorboard", metavar="DIR", help="Also write TensorBoard event files to DIR/<checkpoint name> (needs the tensorboard extra: pip install \"tui-vae[tensorboard]\", from a clone pip install \".[tensorboard]\", with pipx: pipx inject tui-vae tensorboard).", parser=_folder_path)] = None,
    log_every: Annotated[int, typer.Option(**_plain(int, low=1, high=MAX_EPOCHS), hidden=True, help="Steps between progress reports.")] = 10,
    events_json: Annotated[bool, typer.Option("--events-json", hidden=True, help="Print each training event as a line of JSON on stdout, and stop when a piped stdin closes (how the app runs and stops its run).")] = False,
    stop_on_eof: Annotated[bool, typer.Option("--stop-on-stdin-eof", hidden=True, help="Stop, saving the run's state, when a piped stdin closes (how a sweep's runs end with the sweep, even one killed outright).")] = False,
    check_only: Annotated[bool, typer.Option("--check-only", hidden=True, help="Check the settings, the model's size against memory included, and stop (how `sweep` checks every run first).")] = False,
) -> None:
    """Train a VAE or cVAE headless, saving a checkpoint and a metrics JSONL beside it."""
    if hidden is not None:
        if hidden_dim is not None and (hidden_dim,) != hidden:
            raise typer.BadParameter(f"--hidden-dim {hidden_dim} differs from --hidden "
                                     f"{','.join(map(str, hidden))}", param_hint="--hidden")
        widths = hidden_fields(hidden)
        hidden_dim = widths["hidden_dim"]
        hidden_widths = list(widths["hidden_widths"]) or None  # one width: the older form
    else:
        hidden_widths = None
    given = {
        "model": model.value if model else None, "arch": arch.value if arch else None,
        "likelihood": likelihood.value if likelihood else None, "latent_dim": latent_dim,
        "hidden_dim": hidden_dim, "hidden_widths": hidden_widths, "beta": beta,
        "dataset": dataset, "image_size": image_size, "channels": channels, "epochs": epochs, "batch_size": batch_size, "lr": lr, "kl_warmup": kl_warmup,
        "lr_warmup": lr_warmup,
        "lr_schedule": lr_schedule.value if lr_schedule else None, "seed": seed,
        "average": average,
    }
    if out is not None and out.suffix != ".safetensors":
        # `models` and the explorer list *.safetensors only: any other name would be lost.
        raise typer.BadParameter("must end in .safetensors (the name every listing looks for)",
                                 param_hint="--out")
    if resume:
        if out is None:
            raise typer.BadParameter("--resume needs --out PATH, the checkpoint to continue",
                                     param_hint="--resume")
        given = _resume_settings(out, given)
    from dataclasses import asdict, replace

    from tui_vae.checkpoints import new_checkpoint_path
    from tui_vae.config import ModelConfig, TrainConfig
    from tui_vae.datasets import fit_to_dataset

    # The config's dataclasses hold the defaults; the help texts are derived from them.
    defaults = {**asdict(ModelConfig()), **TrainConfig().training_dict()}
    s = {k: (v if v is not None else defaults[k]) for k, v in given.items()}
    shape = {"image_size": given["image_size"], "channels": given["channels"]}  # None: the data's
    # By default a run is the user's: runs/ in the working folder, never the shipped models'.
    named_for_us = out is None  # then claimed, and numbered on, where another run took it
    runs = Path(DEFAULT_CHECKPOINT_DIR)
    if named_for_us and os.path.lexists(runs) and not runs.is_dir():
        raise typer.BadParameter(f"{runs} here is not a folder, and a run without --out saves "
                                 f"in {runs}/; give --out, or move {runs} away",
                                 param_hint="--out")
    out = out or new_checkpoint_path(runs, s["model"], s["dataset"])
    # runs/ is made just before training, and taken away again if the run fails
    # before saving anything into it (no data, say): no empty folder left behind.
    make_runs = (out.parent == runs and not resume
                 and not out.parent.exists())

    config = TrainConfig(
        # The image shape and class count come from the dataset (--image-size and
        # --channels choose where it allows), so cifar10 needs no --channels 3.
        model=fit_to_dataset(ModelConfig(model=s["model"], arch=s["arch"],
                                         likelihood=s["likelihood"], latent_dim=s["latent_dim"],
                                         hidden_dim=s["hidden_dim"],
                                         hidden_widths=tuple(s["hidden_widths"] or ()),
                                         beta=float(s["beta"]), dataset=s["dataset"]), **shape),
        epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], lr_schedule=s["lr_schedule"],
        lr_warmup=s["lr_warmup"], kl_warmup=s["kl_warmup"], average=s["average"], seed=s["seed"], device=device.value,
        data_dir=str(data_dir) if data_dir else None, out=str(out), step=gradients.value,
        log_every=log_every,
    )
    _refuse_oversized(config)
    if check_only:
        return
    if make_runs:
        out.parent.mkdir(exist_ok=True)
    lock = None
    if named_for_us:  # two runs started in the same second chose one name: one keeps it
        from tui_vae.checkpoints import claim_checkpoint_path

        try:
            out, lock = claim_checkpoint_path(out)
        except BaseException:
            if make_runs:
                with contextlib.suppress(OSError):
                    out.parent.rmdir()
            raise
        config = replace(config, out=str(out))
    try:
        _train_in_this_process(config, out, resume, make_runs, lock, tensorboard, events_json,
                               stop_on_eof)
    finally:
        if lock is not None:  # a failure before the Trainer took it over (it lets go)
            lock.release()


def _train_in_this_process(config, out: Path, resume: bool, make_runs: bool, lock,
                           tensorboard: Path | None, events_json: bool,
                           stop_on_eof: bool = False) -> None:
    """`train`'s run, once its settings are checked and its checkpoint named (and
    claimed: `lock`, held, where the name was of the run's own choosing)."""
    from tui_vae.progress import ConsoleReporter
    from tui_vae.training import Trainer

    if _AS_COMMAND:  # for what an abort (a second Ctrl-C) says: main()
        global _RUN_OUT
        _RUN_OUT = Path(config.out)
    _say_dataset_note(config)
    board = _tensorboard_logger(tensorboard, out) if tensorboard else None
    stop, signalled = threading.Event(), threading.Event()
    _act_on_early_signals()  # a stop asked while starting
    _stop_on_signals(stop, signalled)
    if events_json or stop_on_eof:
        _stop_when_stdin_closes(stop)
    reporter = (JsonEventWriter(on_gone=stop.set) if events_json
                else ConsoleReporter(on_gone=stop.set))
    from tui_vae.cpu_share import CompanyWatch, ThreadShare
    from tui_vae.events import EpochEnded, Finished

    # Only the command adapts to other work on the machine: in-process callers
    # (tests, the Python API through Typer) own their threads, and have no
    # command line of ours to run again.
    share = ThreadShare.for_this_process() if _AS_COMMAND else None
    watch = CompanyWatch.for_this_process(share=share) if _AS_COMMAND else None
    restart = threading.Event()

    def on_event(event) -> None:
        if restart.is_set() and not stop.is_set() and isinstance(event, Finished):
            return  # not a stop the user asked for: no "resume with" advice
        reporter(event)
        if board is not None:
            board(event)
        if (watch is not None and isinstance(event, EpochEnded)
                and watch.switch_due(event.epochs - event.epoch - 1)):
            restart.set()

    class StopOrRestart:  # the trainer saves and returns on either
        def is_set(self) -> bool:
            return stop.is_set() or restart.is_set()

    from tui_vae.optim import skip_compiler_import

    skip_compiler_import()  # this process compiles nothing: no 1.6 s compiler import
    try:
        finished = Trainer(config, on_event=on_event, stop=StopOrRestart(), resume=resume,
                           share=share, lock=lock).run()
    except BaseException:
        if make_runs:  # the Trainer let go of the lock: its file is gone too
            with contextlib.suppress(OSError):  # not empty (a save was made), or gone
                out.parent.rmdir()
        raise
    finally:
        reporter.close()
        if board is not None:
            board.close()
    if make_runs and not out.exists():  # stopped before its first step: nothing saved
        with contextlib.suppress(OSError):
            out.parent.rmdir()
    if restart.is_set() and not stop.is_set():
        _restart_from_checkpoint(out, watch.restart_environment(), watch.sharing)
    if isinstance(reporter, ConsoleReporter) and reporter.gone and finished.stopped:
        # Stopped because its output went away (said on stderr). The app's own run
        # (--events-json) whose reader left was stopped by the app: that is no failure.
        raise typer.Exit(1)
    if signalled.is_set() and finished.stopped:
        # Stopped, not finished: a script's `train ... && next` goes no further (as
        # `sweep` after a stop). The app's own stop (stdin closed) is no signal.
        raise typer.Exit(130)


class JsonEventWriter:
    """`--events-json`: each event a line on stdout, for the app reading its child run.

    When the reader is gone (the app was killed), the run stops as after
    Ctrl-C: it saves and ends instead of training on for nobody."""

    def __init__(self, on_gone):
        self.on_gone = on_gone
        self.gone = False

    def __call__(self, event) -> None:
        from tui_vae.events import event_to_json

        if self.gone:
            return
        try:
            sys.stdout.write(event_to_json(event) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.gone = True
            self.on_gone()
            with contextlib.suppress(OSError, ValueError):  # later writes must not fail
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def close(self) -> None:
        pass


def _restart_from_checkpoint(out: Path, env: dict[str, str], was_sharing: bool) -> None:
    """Replace this process by the same command resuming from `out` (cpu_share.CompanyWatch).

    Only at an epoch's end, after the checkpoint is saved: resuming is exact, so
    the run ends on the same figures as one never restarted."""
    args = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(out)]
    if "--resume" not in args:
        args.append("--resume")
    why = ("alone again: threads that spin between kernels" if was_sharing
           else "other runs share the cores: threads that sleep when idle")
    err.print(f"{why}; restarting from {out.name}", markup=False)
    sys.stdout.flush()
    sys.stderr.flush()
    from tui_vae.entry import own_command

    os.execve(sys.executable, own_command(*args), env)


def _say_dataset_note(config) -> None:
    """A folder's or CelebA's one line (how many unreadable files were skipped), before
    training.

    Loading here costs nothing twice: the trainer gets the same cached dataset.
    """
    from tui_vae.datasets import is_folder_dataset

    if is_folder_dataset(config.model.dataset) or config.model.dataset == "celeba":
        from tui_vae.data import load_for_model

        note = load_for_model(config.model, config.data_dir).note
        if note:
            err.print(note, markup=False)


def _tensorboard_logger(log_dir: Path, out: Path):
    """The --tensorboard consumer; without the package, one line saying how to get it (exit 2)."""
    from tui_vae.errors import TuiVaeError
    from tui_vae.tensorboard_log import TensorBoardLogger, TensorBoardMissing, run_folder

    folder = run_folder(log_dir, out)
    try:
        return TensorBoardLogger(folder)
    except TensorBoardMissing as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        raise TuiVaeError(f"cannot write TensorBoard files to {folder}: "
                          f"{exc.strerror or exc}") from None


# --------------------------------------------------------------------------- eval


# Burda et al. use 5,000; 100 times that takes hours on the test set, and more
# would run for days before a Ctrl-C.
MAX_IW_SAMPLES = 500_000


def _finite_or_null(value):
    """`value` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    return value


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A .safetensors checkpoint, or a name `tui-vae models` lists (vae, cvae, ...).", parser=_file_path)],
    iw_samples: Annotated[int | None, typer.Option(**_plain(int, low=1, high=MAX_IW_SAMPLES), help="Also estimate -log p(x) with K importance samples (Burda et al. 2015); the literature's binarised-MNIST figures use 5000, and 1000 reads a little higher.")] = None,
    iw_subset: Annotated[int | None, typer.Option(**_plain(int, low=1), help="Quick option: the IWAE NLL on the first N test images only (labelled as such).")] = None,
    judge: Annotated[Path | None, typer.Option(help="Judge classifier for sample quality [default: the shipped MNIST judge].", parser=_file_path, metavar="<file>")] = None,
    quality: Annotated[bool, typer.Option(help="Sample quality with the judge: Frechet distance, and a cVAE's conditional accuracy.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    seed: Annotated[int | None, typer.Option(**_plain(int, low=0, high=MAX_SEED), help="Noise seed [default: the checkpoint's].")] = None,
    batch_size: Annotated[int, typer.Option(**_plain(int, low=1))] = 1000,
    data_dir: DataDirOption = None,
    device: DeviceOption = DeviceName.auto,
    model_factory: FactoryOption = None,
) -> None:
    """Test-set negative ELBO, reconstruction and KL (nats), the IWAE NLL, and sample quality."""
    import json

    from tui_vae.report import evaluate_model, format_report

    if iw_subset is not None and iw_samples is None:  # else it would be ignored, silently
        raise typer.BadParameter("--iw-subset N chooses the images for --iw-samples K; "
                                 "give both", param_hint="--iw-subset")
    checkpoint, model = _load_model(checkpoint, model_factory, device.value)
    _act_on_early_signals()
    if seed is None:
        seed = model.meta.get("seed") or 0
    test, source = _eval_test_set(model.config, data_dir)
    train = None  # the aggregate posterior's mixture is fitted to the training codes
    if quality and not source["sample_fallback"]:
        from tui_vae.data import load_for_model, training_images_as_seen

        train = training_images_as_seen(load_for_model(model.config, data_dir))
    judged, skipped = None, None
    if quality and (model.config.dataset not in ("mnist", "mnist-binary", "mnist-sample")
                    or tuple(model.config.image_shape) != (1, 28, 28)):
        skipped = "the judge classifies MNIST digits only (grey, 28x28)"
    elif quality:
        from tui_vae.judge import SHIPPED_JUDGE, load_judge

        if judge is None and not SHIPPED_JUDGE.exists():
            skipped = f"no judge classifier at {SHIPPED_JUDGE} (--judge FILE names one)"
        else:
            judged = load_judge(judge, device=model.device)
    if skipped:  # said, never silently dropped
        err.print(f"note: sample quality (Frechet distance, conditional accuracy) skipped: "
                  f"{skipped}", markup=False)
    import numpy as np

    from tui_vae.errors import TuiVaeError

    try:
        result = evaluate_model(model, test, seed=seed, batch_size=batch_size,
                                iw_samples=iw_samples, iw_subset=iw_subset, judge=judged,
                                train=train)
    except np.linalg.LinAlgError as exc:  # the Frechet distance of non-finite samples
        raise TuiVaeError(f"{checkpoint}: cannot measure its sample quality ({exc}): its "
                          f"samples are not finite numbers (pass --no-quality for the "
                          f"rest)") from None
    except TuiVaeError as exc:  # which model, where several are evaluated in turn
        raise TuiVaeError(f"{checkpoint}: {exc}") from None
    result = {"checkpoint": str(checkpoint), **result, **source}
    if skipped:
        result["quality_skipped"] = skipped
    if as_json:
        # NaN and infinity are not JSON: a broken model's figures are null.
        typer.echo(json.dumps(_finite_or_null(result), indent=2, allow_nan=False))
    else:
        echo(format_report(result))
    if not np.isfinite(result["test_loss"]):  # reported, and a failure (sample refuses it)
        raise TuiVaeError(f"{checkpoint}: its test -ELBO is not a finite number "
                          f"({result['test_loss']}): the model's weights or outputs are broken")


def _eval_test_set(config, data_dir: Path | None) -> tuple:
    """The test split to evaluate on, and {"test_data": what it is, "sample_fallback": bool}.

    Like the explorer, an MNIST model falls back to the bundled sample when
    MNIST is neither on disk nor downloadable (offline), and says so. A
    dataset on disk that cannot be read is still an error.
    """
    from tui_vae.data import dataset_available, load_for_model, load_sample
    from tui_vae.datasets import dataset_spec
    from tui_vae.errors import DataError
    from tui_vae.workspace import SAMPLE_SOURCE

    dataset = config.dataset  # read at the model's image size and channels
    spec = dataset_spec(dataset)
    title = spec.title
    # Binarised MNIST too (its stand-in binarised as its test set is): it was told to
    # "train offline on the bundled digits", which an eval cannot use.
    if dataset in ("mnist", "mnist-binary") and not dataset_available(dataset, data_dir):
        try:
            test = load_for_model(config, data_dir).test
        except DataError as exc:
            # Why, too: a data folder that is a file or a link loop read as "offline".
            reason = str(exc).split(";")[0]
            sample, source = load_sample(), SAMPLE_SOURCE
            if spec.binarize:
                from tui_vae.data import BINARY_TEST_SEED, binarize_split

                sample, source = binarize_split(sample, BINARY_TEST_SEED), f"{source}, binarised"
            err.print(f"note: {title} is not on disk and could not be downloaded ({reason}): "
                      f"evaluating on the {source}, not the full test set (--data-dir "
                      f"DIR or TUI_VAE_DATA_DIR=DIR points at a full copy)", markup=False)
            return sample, {"test_data": source, "sample_fallback": True}
    else:
        test = load_for_model(config, data_dir).test
    return test, {"test_data": f"{title} test set", "sample_fallback": False}


# --------------------------------------------------------------------------- sample


MAX_PNG_PIXELS = 64_000_000  # a --out PNG larger than this is refused (memory, not taste)


def _write_samples(images, out: Path, columns: int | None, scale: int) -> None:
    """Write samples (N, C, H, W) as a .npy array or a PNG grid, through the export writer."""
    import io

    import numpy as np

    from tui_vae.errors import TuiVaeError
    from tui_vae.export import enlarge, grid, png_bytes, square_columns, write_bytes

    pixels = images.permute(0, 2, 3, 1).numpy()  # channels last, as image files hold them
    if pixels.shape[3] == 1:
        pixels = pixels[..., 0]
    if out.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, pixels.astype(np.float32), allow_pickle=False)
        data = buffer.getvalue()
    else:
        n, h, w = pixels.shape[:3]
        across = min(columns or square_columns(n), n)
        size = (-(-n // across) * (h + 2) - 2) * (across * (w + 2) - 2) * scale * scale
        if size > MAX_PNG_PIXELS:
            raise typer.BadParameter(f"the grid would be {size:,} pixels, over the "
                                     f"{MAX_PNG_PIXELS:,} limit; lower -n or --scale",
                                     param_hint="--scale")
        data = png_bytes(enlarge(grid(pixels, across, gap=2), scale))
    try:
        write_bytes(out, data)
    except OSError as exc:
        raise TuiVaeError(f"cannot write {out}: {exc.strerror or exc}") from None


@app.command()
def sample(
    checkpoint: Annotated[Path, typer.Argument(help="A .safetensors checkpoint, or a name `tui-vae models` lists (vae, cvae, ...).", parser=_file_path)],
    digit: Annotated[int | None, typer.Option(**_plain(int, low=0, high=MAX_FOLDER_CLASSES - 1), help="Class to generate (cVAE only): 0 .. the model's classes - 1 (a folder dataset may have more than 10).")] = None,
    n: Annotated[int | None, typer.Option("-n", "--n", **_plain(int, low=1, high=MAX_SAMPLE_FLAG), help="How many images [default: 64 into --out; drawn here, as many as fill the screen].")] = None,
    seed: Annotated[int, typer.Option(**_plain(int, low=0, high=MAX_SEED), help="Sampling seed (change it for other samples).")] = 0,
    temperature: Annotated[float, typer.Option(**_plain(float), callback=_temperature, help="Scale of z, in (0, 100].")] = 1.0,
    out: Annotated[Path | None, typer.Option(help="Write a .png grid or a .npy float32 array (N, H, W), or (N, H, W, 3) for colour, instead of drawing.", parser=_file_path, metavar="<file>")] = None,
    columns: Annotated[int | None, typer.Option(**_plain(int, low=1), help="Images per row [default: a square-ish grid, 16 -> 4 x 4].")] = None,
    scale: Annotated[int, typer.Option(**_plain(int, low=1, high=32), help="Enlarge a .png grid N times (nearest neighbour, sharp pixels).")] = 1,
    model_factory: FactoryOption = None,
) -> None:
    """Draw samples from the prior: a PNG, a NPY array, or half-block images here."""
    if out is not None and out.suffix.lower() not in (".png", ".npy"):
        raise typer.BadParameter("must end in .png or .npy", param_hint="--out")
    if scale != 1 and (out is None or out.suffix.lower() != ".png"):
        raise typer.BadParameter("applies to a .png --out only", param_hint="--scale")
    checkpoint, model = _load_model(checkpoint, model_factory)
    _act_on_early_signals()
    if digit is not None and not model.config.conditional:
        raise typer.BadParameter(f"{checkpoint} is a plain VAE; --digit needs a cVAE",
                                 param_hint="--digit")
    if digit is not None and digit >= model.config.num_classes:
        raise typer.BadParameter(f"{checkpoint} has {model.config.num_classes} classes, "
                                 f"0 to {model.config.num_classes - 1}; not {digit}",
                                 param_hint="--digit")
    console = Console()
    if n is None:  # 64 drawn here at 80 columns were 32 rows of two, 460 lines to scroll
        n = 64 if out is not None else _screenful(console, model.config.image_shape)
    labels = None
    if model.config.conditional:
        import torch

        labels = digit if digit is not None else torch.arange(n) % model.config.num_classes
    from tui_vae.errors import TuiVaeError

    try:  # weights that overflow give garbage, never a picture
        images = model.sample(n, labels, temperature=temperature, seed=seed).cpu()
    except ValueError as exc:
        raise TuiVaeError(f"{checkpoint}: {exc}") from None
    if out is not None:
        _write_samples(images, out, columns, scale)
        from tui_vae.wording import plural

        echo(f"wrote {plural(n, 'sample')} to {printable(str(out))}")
        return
    from tui_vae.render import HalfBlockImage, channels_last, tile

    if console.width < images.shape[3]:  # COLUMNS=0 or 5 printed blank or cropped lines
        console = Console(width=images.shape[3])  # one whole tile a row at least
    fit = _across(console.width, images.shape[3])
    pictures = channels_last(images.numpy())  # grey (N, H, W) or colour (N, H, W, 3)
    console.print(HalfBlockImage(tile(pictures, min(columns or fit, fit))))


def _across(cells: int, width: int) -> int:
    """Tiles `width` cells wide, a cell apart, that fit in `cells`: at least one."""
    return max(1, (cells + 1) // (width + 1))


def _screenful(console: Console, image_shape) -> int:
    """How many tiles of `image_shape` (C, H, W), a pixel column a cell and two pixel
    rows a line, fill the console's screen less a line for the prompt: at least one
    row of them, at most what -n takes (a screen of 100000 x 10^6 cells asked for
    237 million samples)."""
    _, height, width = image_shape
    down = _across(2 * (console.height - 1), height)  # rows of pixels, one apart
    return min(_across(console.width, width) * down, MAX_SAMPLE_FLAG)


# --------------------------------------------------------------------------- models


@app.command()
def models(
    ctx: typer.Context,
    folder: Annotated[Path | None, typer.Argument(help="Folder of checkpoints [default: your runs/ and the shipped models].", parser=_folder_path)] = None,
    model_factory: FactoryOption = None,
    weights: Annotated[Path | None, typer.Option(
        help="With --model-factory: your model's weights, listed first.", parser=_file_path, metavar="<file>")] = None,
) -> None:
    """List checkpoints with their metadata and final test metrics."""
    from rich.text import Text

    from tui_vae.checkpoints import CheckpointInfo, list_checkpoints
    from tui_vae.workspace import Workspace

    if (model_factory is None) != (weights is None):
        raise typer.BadParameter("--model-factory and --weights go together",
                                 param_hint="--model-factory" if weights else "--weights")
    if folder is not None and not folder.is_dir():  # a typo, not an empty folder
        raise typer.BadParameter(f"no such folder: {folder}", param_hint="FOLDER")
    # `tui-vae --checkpoints DIR models`: DIR in place of runs/, as the explorer has it.
    runs = ctx.parent.params.get("checkpoints") if ctx.parent else None
    given_runs = runs is not None and runs != Path(DEFAULT_CHECKPOINT_DIR)
    if folder is None and given_runs and not runs.is_dir():
        raise typer.BadParameter(f"no such folder: {runs}", param_hint="--checkpoints")
    # Knows which files are the shipped models.
    workspace = Workspace(folder if folder is not None or not given_runs else runs)
    # Without a folder: runs/ when there is one, and the shipped models from anywhere.
    folders = [folder] if folder else [f for f in workspace.folders() if f.is_dir()]
    found = sorted((item for f in folders for item in list_checkpoints(f)),
                   key=lambda item: workspace.list_order(item.path))
    if model_factory is not None:  # your own model (imports torch and the factory)
        workspace.set_user_model(model_factory, weights)
        user = workspace.open_user_model()
        found = [user, *(item for item in found if item.path.absolute() != user.path)]
    named = [folder] if folder else [f for f in workspace.top_folders() if f.is_dir()]
    names = " and ".join(str(f) for f in named) or str(workspace.checkpoint_dir)
    if not found:
        echo(f"no checkpoints (*.safetensors) in {names}")
        return
    columns = ("name", "model", "arch", "likelihood", "dataset", "z", "hidden", "beta",
               "epochs", "test -ELBO", "recon", "KL", "created", "from")
    rows = []
    unreadable = [item for item in found if not isinstance(item, CheckpointInfo)]
    for item in found:
        if item in unreadable:
            continue
        m, test = item.model_config, item.final_test or {}
        # Checkpoints from before the open engine are the report's MLP with a Bernoulli.
        rows.append((workspace.list_name(item.path), m["model"],
                     m.get("arch", "mlp"), m.get("likelihood", "bernoulli"), m["dataset"],
                     str(m["latent_dim"]),
                     ModelConfig.from_dict(m).hidden_text, f"{m['beta']:g}",
                     str(item.epochs_done), metric(test.get("loss"), ".2f"),
                     metric(test.get("recon"), ".2f"), metric(test.get("kl"), ".2f"),
                     item.meta.get("created", "-"),
                     "shipped" if workspace.is_shipped(item.path) else "yours"))
    console = SafeConsole()
    if not console.is_terminal:  # scripts and pipes get the whole table, unwrapped
        console = SafeConsole(width=200)
    if not rows:  # every one unreadable: an empty table said nothing
        echo(f"no readable checkpoints in {names}")
        for item in unreadable:
            console.print(f"unreadable: {item.reason}", markup=False, highlight=False)
        return
    shown = list(columns)
    table = _models_table(names, shown, columns, rows)
    # A narrow terminal: the least needed columns go, whole, rather than every
    # column cut to a couple of characters (names and figures stay readable).
    unbounded = console.options.update_width(1_000_000)  # measure() clamps to the width
    # Names may fold onto a second line down to 24 columns (most names fit that).
    foldable = max([len(row[0]) for row in rows] + [24]) - 24
    # "from" late: without it shipped models and your runs look alike. The loss's two
    # parts before the model and the data: without those a newcomer could not tell a
    # cVAE from a VAE, or a run on the bundled sample from one on MNIST, beside its
    # -ELBO (the test loss, which stays).
    # Before the model goes, headers of two words stack ("test" over "-ELBO"): at 80
    # columns the shipped models' table lost the model column for want of four.
    stacked = False
    for column in ("created", "likelihood", "hidden", "arch", "recon", "KL", "",
                   "model", "dataset", "from"):
        if console.measure(table, options=unbounded).maximum <= console.width + foldable:
            break
        if column:
            shown.remove(column)
        else:
            stacked = True
        table = _models_table(names, shown, columns, rows, stacked)
    left_out = [c for c in columns if c not in shown]
    if left_out:
        table.caption = Text(f"not shown at this width: {', '.join(left_out)} "
                             f"(a wider terminal, or a pipe, shows every column)")
    console.print(table)
    for item in unreadable:
        console.print(f"unreadable: {item.reason}", markup=False, highlight=False)


def _models_table(names: str, shown: list[str], columns: tuple[str, ...], rows: list,
                  stacked: bool = False):
    """The `models` table with the `shown` columns of `rows` (cells in `columns` order);
    `stacked`: each header's words on lines of their own, for a narrow terminal."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(printable(f"checkpoints in {names}")))
    keep = [columns.index(c) for c in shown]
    for column, index in zip(shown, keep):
        # Every column but the names is kept whole (a figure cut short reads as
        # another); long names fold onto a second line instead.
        whole = max([len(str(row[index])) for row in rows] + [max(map(len, column.split()))])
        header = column.replace(" ", "\n") if stacked else column
        table.add_column(header, overflow="fold", min_width=None if column == "name" else whole,
                         justify="left" if column in ("name", "arch", "likelihood", "created",
                                                      "from") else "right")
    for row in rows:
        # Text, not str: names and metadata come from files and are never markup.
        table.add_row(*(Text(printable(str(row[i]))) for i in keep))
    return table


# --------------------------------------------------------------------------- serve


def _given_options(ctx) -> dict[str, list[str]]:
    """The options typed on the command line for `ctx`, as tokens again (name -> tokens).

    Defaults are left out (the served app has the same ones) and so are values from
    the environment (the served app inherits it)."""
    given = {}
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        # By name: Typer bundles its own Click, whose classes are not public.
        if param.param_type_name != "option" or getattr(source, "name", "") != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        if param.is_flag:
            names = param.opts if value else param.secondary_opts
            given[param.name] = names[:1]
        else:
            given[param.name] = [param.opts[0], str(getattr(value, "value", value))]
    return given


def _explorer_args(ctx: typer.Context) -> list[str]:
    """The explorer's options given before `serve` or after it, checked like the app's own."""
    root = ctx.find_root()
    given = _given_options(root)
    if ctx.args:
        after = root.command.make_context(root.info_name, list(ctx.args), parent=None)
        # A group keeps its first positional (the subcommand's slot) apart from the rest.
        extra = [*getattr(after, "_protected_args", []), *after.args]
        if extra:
            raise typer.BadParameter(f"unexpected {' '.join(extra)!r}", param_hint="serve")
        given.update(_given_options(after))
    tokens = [token for tokens in given.values() for token in tokens]
    # Checked here as the explorer checks them, so that a bad option is told once
    # at the command line, not in every browser tab that opens the page.
    options = root.command.make_context(root.info_name, list(tokens), parent=None).params
    _check_explorer_options(options["checkpoints"] or Path(DEFAULT_CHECKPOINT_DIR),
                            options["keymap"], options["model_factory"], options["weights"])
    return tokens


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface (a classroom).")] = "localhost",
    port: Annotated[int, typer.Option(**_plain(int, low=1, high=65535), help="Port to listen on.")] = 8000,
    public_url: Annotated[str | None, typer.Option(help="The address browsers use, when it is not http://HOST:PORT (a proxy, a forwarded port).")] = None,
) -> None:
    """Serve the explorer to web browsers (needs the serve extra).

    The explorer's options (--checkpoints, --data-dir, --device, ...) pass through,
    before or after `serve`. Each browser tab runs its own explorer."""
    from tui_vae.serve import ServeMissing
    from tui_vae.serve import serve as run_server

    app_args = _explorer_args(ctx)
    try:
        run_server(app_args, host, port, public_url)
    except ServeMissing as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


# --------------------------------------------------------------------------- sweep


def _values(kind):
    """A Typer callback parsing "0,0.25,1" into a list of `kind`."""

    def parse(text: str | None):
        from tui_vae.sweep import parse_values

        if text is None:
            return None
        try:
            return parse_values(text, kind)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parse


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option(help="Folder for the runs' checkpoints, metrics and logs.", parser=_folder_path, metavar="<dir>")],
    beta: Annotated[str | None, typer.Option(callback=_values(float), help="KL weights, e.g. 0,0.25,0.5,1,2,4.")] = None,
    latent_dim: Annotated[str | None, typer.Option(callback=_values(int), help="Sizes of z, e.g. 2,20.")] = None,
    hidden_dim: Annotated[str | None, typer.Option(callback=_values(int), help="Hidden widths.")] = None,
    seed: Annotated[str | None, typer.Option(callback=_values(int), help="Seeds, e.g. 0,1.")] = None,
    lr: Annotated[str | None, typer.Option(callback=_values(float), help="Learning rates.")] = None,
    kl_warmup: Annotated[str | None, typer.Option(callback=_values(float), help="KL warm-ups (epochs).")] = None,
    epochs: Annotated[int, typer.Option(**_plain(int, low=1, high=MAX_EPOCHS), help="Epochs for every run.")] = 10,
    jobs: Annotated[int, typer.Option(**_plain(int, low=1, high=64), help="Runs at once on this machine.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the sweep: continue unfinished runs, skip finished ones.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print each run's `tui-vae train` command (with --resume: those left to run, as they resume), make --out-dir for them, and exit.")] = False,
) -> None:
    """Train the cartesian product of the given lists, JOBS runs at a time.

    Any other `train` option (--model, --arch, --dataset, ...) applies to every run.
    Each run is a plain `tui-vae train` command (see --dry-run)."""
    from tui_vae.errors import TuiVaeError
    from tui_vae.sweep import Sweep, plan
    from tui_vae.wording import plural

    for token in ctx.args:  # each run's own: named by the sweep, or the app's
        flag = token.split("=", 1)[0]
        if flag in ("--out", "--events-json", "--check-only"):
            raise typer.BadParameter(f"{flag} is set by the sweep for each run (their "
                                     f"checkpoints go in --out-dir)", param_hint=flag)
    grid = {"beta": beta, "latent_dim": latent_dim, "hidden_dim": hidden_dim, "seed": seed,
            "lr": lr, "kl_warmup": kl_warmup}
    try:
        runs = plan({k: v for k, v in grid.items() if v}, [*ctx.args, "--epochs", str(epochs)],
                    out_dir)
    except TuiVaeError as exc:  # the lists as given (too many runs, two alike): usage, 2
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    train_command = typer.main.get_command(app).commands["train"]
    for run in runs:  # every run's settings checked as `train` checks them, before any starts
        # With --resume, a run already saved is checked against its checkpoint: a
        # setting changed since (--arch conv over mlp runs) is refused, not reported
        # as a run done already.
        again = ["--resume"] if resume and run.out.exists() else []
        try:
            check = train_command.make_context("train", [*run.args, *again, "--check-only"],
                                               parent=ctx.parent)
        except typer.TyperException as exc:
            if hasattr(exc, "ctx"):  # a usage error: told against `sweep`, as typed there
                exc.ctx = ctx
                exc.message += " (checked as each run's `tui-vae train` option)"
                if getattr(exc, "possibilities", None):  # train's names, not sweep's
                    exc.possibilities = None
            raise
        global _checking_run
        _checking_run = f"run {run.name}: "
        try:  # its size against memory too, which only the built config tells
            train_command.invoke(check)
        finally:
            _checking_run = ""
    if dry_run:  # what the sweep would run now: with --resume, what is left, as it resumes
        # The folder the lines write into is made now: `... --dry-run | parallel`
        # failed on every line ("folder sw does not exist"), as `train` makes none.
        # A name with a control character (a newline, an escape) cannot be printed as
        # a command that runs: escaped, 'd\x1bX' named another folder in the shell, and
        # a newline split one run over two lines.
        for run in runs:
            odd = next((arg for arg in run.args if printable_lines(arg) != arg
                        or "\n" in arg), None)
            if odd is not None:
                raise typer.BadParameter(f"'{printable(odd)}' holds a control character, "
                                         f"which a printed command cannot carry; run the "
                                         f"sweep without --dry-run, or use another name")
        out_dir.mkdir(parents=True, exist_ok=True)
        report = _SweepLines(on_gone=lambda: None)
        for run, again in Sweep(runs, epochs, resume=resume, report=report).pending():
            echo(run.shell(resume=again))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def request_stop(signum, frame):
        if not stop.is_set():
            err.print("stopping every run after its current step; each saves its state...")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    report = _SweepLines(on_gone=stop.set)
    job = Sweep(runs, epochs, jobs, resume, report, stop, watch=report.check)
    left = job.run()
    if job.failed or report.gone:  # its output gone: stopped, not finished
        raise typer.Exit(1)
    if left:
        err.print(f"{left} of {plural(len(runs), 'run')} unfinished; the same command with --resume "
                  f"finishes them", markup=False)
        raise typer.Exit(130 if stop.is_set() else 1)
    # What next: the runs side by side (a table here, curves and the plane in the app).
    err.print(f"sweep done: {plural(len(runs), 'run')} in {out_dir}; compare them with "
              f"{shlex.join(['tui-vae', 'models', str(out_dir)])}, or in the explorer's "
              f"Runs view (u)", markup=False)


# --------------------------------------------------------------------------- entry point


_AS_COMMAND = False  # set by main(): this process is the `tui-vae` command itself
_RUN_OUT: Path | None = None  # the checkpoint `train` writes, once it is known


def interrupted_line(args: list[str]) -> str:
    """What a Ctrl-C before a run's own handlers are in place, or a second one (abort),
    says: "interrupted", and for `train` what is saved: the run's last save and how to
    continue from it (a run restarting itself to share the cores resumes one), or that
    nothing was."""
    out = None
    for i, arg in enumerate(args):
        if arg == "--out" and i + 1 < len(args):
            out = args[i + 1]
        elif arg.startswith("--out="):
            out = arg.removeprefix("--out=")
    if args[:1] == ["train"] and _RUN_OUT is not None and _RUN_OUT.is_file():
        # Aborted (a second Ctrl-C) after a save: the last one stands.
        args = [a for a in args if a != "--resume"]
        if out is None:  # a name of the run's own choosing: say it
            args += ["--out", str(_RUN_OUT)]
        return (f"interrupted; the last state saved is in {_RUN_OUT}. "
                f"Continue with: tui-vae {shlex.join([*args, '--resume'])}")
    if args[:1] != ["train"]:
        return "interrupted"
    if "--resume" not in args or not out or not Path(out).is_file():
        return "interrupted; nothing was saved"
    return (f"interrupted; the run's state is saved in {out}. "
            f"Continue with: tui-vae {shlex.join(args)}")


def _ignore_late_signals() -> None:
    """The command's work is done and its status chosen: a Ctrl-C or SIGTERM landing
    while Python shuts down (its handlers restored to the defaults by then) would
    turn a finished command into a killed one ("done", then status -2)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # not all on Windows
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _from_ctrl_c(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the exceptions `exc` was raised from."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def main() -> None:
    """Runs the command line and turns errors into one line (`entry.main` calls it)."""
    from tui_vae.cpu_share import adapt_to_load
    from tui_vae.errors import TuiVaeError, debugging

    global _AS_COMMAND
    _AS_COMMAND = True

    # The bare command opens the explorer without Typer parsing the root options:
    # its coercion imports pydantic, about 0.2 s of the first paint.
    launch = _open_explorer if sys.argv[1:] == [] else app
    try:
        adapt_to_load()  # before torch loads: libgomp reads the wait policy once
        launch()
        _ignore_late_signals()
    except SystemExit as exc:
        _ignore_late_signals()
        # Typer turns a Ctrl-C inside a command into a bare exit 130: say it, as below.
        if exc.code == 130 and _from_ctrl_c(exc):
            err.print(interrupted_line(sys.argv[1:]), markup=False)
        raise
    except typer.BadParameter as exc:  # the bare launch's own checks (else Typer's to report)
        err.print(f"error: {exc.format_message()}", markup=False)
        sys.exit(2)
    except TuiVaeError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print(interrupted_line(sys.argv[1:]), markup=False)
        sys.exit(130)
    except OSError as exc:  # the file system's refusal, where a command has not worded it
        if debugging():
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"error: {where}{exc.strerror or exc}", markup=False)
        sys.exit(1)
    except Exception as exc:  # the promise is: never a traceback, unless asked for
        if debugging():
            raise
        err.print(f"error: unexpected {type(exc).__name__}: {exc} "
                  f"(set TUI_VAE_DEBUG=1 for the traceback)", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
