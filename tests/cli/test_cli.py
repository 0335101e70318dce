"""The headless CLI through a subprocess, on the bundled sample."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

TINY = ["--dataset", "mnist-sample", "--hidden-dim", "32", "--latent-dim", "4",
        "--batch-size", "100", "--device", "cpu"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding one tiny trained cVAE and one VAE."""
    folder = tmp_path_factory.mktemp("cli")
    for kind in ("cvae", "vae"):
        result = run_cli("train", "--model", kind, "--epochs", "1", *TINY,
                         "--out", f"{kind}.safetensors", cwd=folder)
        assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["sample"], ["models"]])
def test_help_does_not_import_torch(command):
    code = ("import sys; sys.argv = ['tui-vae', *sys.argv[1:], '--help'];"
            "from tui_vae.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\nassert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code, *command], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_train_writes_checkpoint_and_metrics(workdir):
    assert (workdir / "cvae.safetensors").is_file()
    lines = (workdir / "cvae.metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert record["epoch"] == 1 and set(record["test"]) == {"loss", "recon", "kl"}


def test_eval_json_reproduces_the_recorded_test_loss(workdir):
    result = run_cli("eval", "cvae.safetensors", "--json", "--iw-samples", "20", "--no-quality",
                     cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"test_loss", "recon", "kl", "nll_iw"} <= set(report)
    recorded = json.loads((workdir / "cvae.metrics.jsonl").read_text().splitlines()[-1])
    assert report["test_loss"] == pytest.approx(recorded["test"]["loss"], rel=1e-6)
    assert report["nll_iw"] < report["test_loss"]
    # ELBO surgery: the rate splits into I(x; z) (at most log N) and the prior gap
    assert report["mutual_information"] + report["marginal_kl"] == pytest.approx(report["rate"])
    assert report["rate"] == pytest.approx(report["kl"], rel=0.05)  # closed form vs sampled
    assert 0 <= report["mutual_information"] <= report["mutual_information_bound"] + 1e-9


def scaled_copy(source: Path, name: str, factor: float, out: Path) -> Path:
    """A copy of the checkpoint `source` with its tensor `name` multiplied by `factor`."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(source))
    tensors[name] = tensors[name] * factor
    save_file(tensors, str(out), metadata=metadata)
    return out


def test_eval_of_a_model_whose_elbo_is_not_a_number_fails_after_its_report(workdir,
                                                                            tmp_path):
    """Reported, and a failure: eval exited 0 on a -ELBO of NaN, as if all was well
    (`sample` refuses the same model)."""
    broken = scaled_copy(workdir / "vae.safetensors", "model.decoder.2.weight", 1e38,
                         tmp_path / "overflowing.safetensors")
    result = run_cli("eval", str(broken), "--json", "--no-quality", cwd=workdir)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "its test -ELBO is not a finite number" in line, line
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    assert report["test_loss"] is None


def test_eval_json_of_a_model_with_absurd_weights_is_strict_json(workdir, tmp_path):
    """NaN is not JSON: figures a broken model cannot give are null."""
    broken = scaled_copy(workdir / "vae.safetensors", "model.fc_logvar.weight", 1e30,
                         tmp_path / "broken.safetensors")
    result = run_cli("eval", str(broken), "--json", "--no-quality", cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    unknown = [key for key, value in report.items() if value is None]
    assert "mutual_information" in unknown, report  # NaN for these weights
    assert all(isinstance(report[key], float) for key in ("recon",)), report


def test_a_model_whose_samples_overflow_draws_no_garbage_picture(workdir, tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    source = workdir / "vae.safetensors"
    with safe_open(str(source), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(source))
    # Finite weights whose hidden units overflow to inf, and a zero weight after
    # them: 0 x inf is NaN in every pixel.
    first = torch.zeros_like(tensors["model.decoder.0.weight"])
    first[:, 0] = 3e38
    tensors["model.decoder.0.weight"] = first
    tensors["model.decoder.0.bias"] = torch.full_like(tensors["model.decoder.0.bias"], 3e38)
    tensors["model.decoder.2.weight"] = torch.zeros_like(tensors["model.decoder.2.weight"])
    broken = tmp_path / "huge.safetensors"
    save_file(tensors, str(broken), metadata=metadata)
    result = run_cli("sample", str(broken), "-n", "4", "--out", "x.png", cwd=tmp_path)
    assert result.returncode == 1 and not (tmp_path / "x.png").exists(), result
    [line] = result.stderr.splitlines()
    assert "not finite" in line and "Warning" not in result.stderr


def test_sample_to_png_npy_and_terminal(workdir):
    png = run_cli("sample", "cvae.safetensors", "--digit", "3", "-n", "12", "--out", "s.png",
                  cwd=workdir)
    assert png.returncode == 0, png.stderr
    assert (workdir / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npy = run_cli("sample", "vae.safetensors", "-n", "5", "--out", "s.npy", cwd=workdir)
    assert npy.returncode == 0, npy.stderr
    array = np.load(workdir / "s.npy")
    assert array.shape == (5, 28, 28) and array.dtype == np.float32
    assert 0 <= array.min() and array.max() <= 1
    shown = run_cli("sample", "vae.safetensors", "-n", "3", cwd=workdir,
                    env={"COLORTERM": "truecolor", "TERM": "xterm-256color"})
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 14  # 28 rows / 2


def test_sample_on_a_terminal_narrower_than_a_tile_prints_whole_tiles(workdir):
    """COLUMNS=0 printed nothing and COLUMNS=5 a blank strip: one whole tile a row."""
    for columns in ("0", "5"):
        narrow = run_cli("sample", "vae.safetensors", "-n", "2", cwd=workdir,
                         env={"COLORTERM": "truecolor", "TERM": "xterm-256color",
                              "COLUMNS": columns})
        lines = narrow.stdout.splitlines()
        # two tiles, one above the other: 14 rows each and a gap, each row a whole tile
        assert narrow.returncode == 0 and len(lines) == 29, narrow.stdout
        assert {len(line) for line in lines} <= {0, 28} and len(set("".join(lines))) > 2


@pytest.mark.parametrize("columns, lines, across, down", [(80, 24, 2, 1), (120, 40, 4, 2)])
def test_sample_without_n_draws_a_screenful(workdir, columns, lines, across, down):
    # 64 samples by default filled 460 lines at 80 columns; a file still gets 64.
    shown = run_cli("sample", "vae.safetensors", cwd=workdir,
                    env={"COLORTERM": "truecolor", "TERM": "xterm-256color",
                         "COLUMNS": str(columns), "LINES": str(lines)})
    drawn = shown.stdout.splitlines()
    assert shown.returncode == 0 and len(drawn) == 15 * down - 1 < lines, shown.stdout
    assert len(drawn[0]) == 29 * across - 1  # tiles of 28 cells, a cell apart
    written = run_cli("sample", "vae.safetensors", "--out", "all.npy", cwd=workdir,
                      env={"COLUMNS": str(columns), "LINES": str(lines)})
    assert written.returncode == 0 and np.load(workdir / "all.npy").shape[0] == 64


def test_models_lists_checkpoints_with_metrics(workdir):
    result = run_cli("models", ".", cwd=workdir)
    assert result.returncode == 0, result.stderr
    # by the names sample and eval take: no .safetensors
    assert "│ cvae " in result.stdout and "│ vae " in result.stdout
    assert ".safetensors" not in result.stdout and "mnist-sample" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "likelihood" in line)
    assert "arch" in header  # every checkpoint's architecture and likelihood
    row = next(line for line in result.stdout.splitlines() if "│ cvae " in line)
    assert "mlp" in row and "bernoulli" in row


def test_models_says_so_when_no_checkpoint_is_readable(tmp_path):
    """Every one unreadable printed an empty table; a dangling link was "no such
    checkpoint; `tui-vae models` lists them", naming the command being run."""
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / "dangling.safetensors").symlink_to(tmp_path / "gone.safetensors")
    result = run_cli("models", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "no readable checkpoints in ." and "┃" not in result.stdout, lines
    assert "unreadable: dangling.safetensors is a link to a file that does not exist" in lines
    assert any(line.startswith("unreadable: junk.safetensors") for line in lines)


def test_models_lists_the_folder_the_root_checkpoints_option_names(workdir, tmp_path):
    """`tui-vae --checkpoints DIR models` lists DIR (as the explorer would), not ./runs;
    a DIR that is not there is said to be missing."""
    elsewhere = tmp_path / "elsewhere"
    result = run_cli("--checkpoints", str(workdir), "models", cwd=elsewhere.parent)
    assert result.returncode == 0, result.stderr
    assert "│ cvae " in result.stdout
    missing = run_cli("--checkpoints", str(elsewhere), "models", cwd=tmp_path)
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_entry_point_finds_the_command_past_the_root_options():
    # entry.py notes early signals for train, eval and sample only (never the
    # explorer's), reading the command word itself: its list of root options that take
    # a value must be the command line's.
    import typer

    from tui_vae.cli import app
    from tui_vae.entry import _ROOT_VALUES, _command

    root = typer.main.get_command(app)
    assert _ROOT_VALUES == {opt for p in root.params if not p.is_flag for opt in p.opts}
    assert _command(["--device", "cpu", "--truecolor", "train", "--epochs", "1"]) == "train"
    assert _command(["--checkpoints", "train"]) is None  # a folder named train: the app
    assert _command(["--data-dir=d", "sample", "vae"]) == "sample"


def test_version_and_the_help_say_what_a_newcomer_asks_first():
    version = run_cli("--version", cwd=Path.cwd())
    assert version.returncode == 0 and version.stdout.startswith("tui-vae "), version
    assert "0" <= version.stdout.split()[1][:1] <= "9"
    shown = run_cli("--help", cwd=Path.cwd())
    assert "With no command, opens the explorer" in " ".join(shown.stdout.split())


def test_models_on_an_80_column_terminal_leaves_columns_out_whole_rather_than_cut_all(workdir):
    # Every column used to be cut to two characters ("93…" for 93.55, "4…" for 400).
    import re

    result = run_cli("models", ".", cwd=workdir,
                     env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and "…" not in text
    header = next(line for line in lines if "name" in line and "test -ELBO" in line)
    # the model and the data kept before the loss's parts (which its total sums)
    assert "model" in header and "dataset" in header and "created" not in header
    assert "not shown at this width:" in text and "created" in text
    row = next(line for line in lines if "│ cvae " in line)
    figures = [cell.strip() for cell in row.split("│")[2:-2]
               if "mnist" not in cell and cell.strip() not in ("vae", "cvae")]
    assert row.split("│")[-2].strip() == "yours"  # shipped or yours: kept at 80 columns
    assert all(re.fullmatch(r"-?[0-9.]+", f) for f in figures), figures


def test_models_of_the_shipped_checkpoints_at_80_columns_say_which_is_a_cvae(tmp_path):
    # The shipped list (names up to 10 characters, "mnist-binary") left the model column
    # out at 80 columns for want of four: "cvae" and "conv-cvae" read as plain VAEs.
    import re

    result = run_cli("models", cwd=tmp_path,
                     env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "name" in line and "model" in line)
    assert "-ELBO" in "".join(lines[:lines.index(header) + 1])  # stacked over two lines
    row = next(line for line in lines if line.startswith("│ conv-cvae "))
    assert "cvae" in row.split("│")[2]


@pytest.mark.parametrize("args", [
    ["train", "--epochs", "0"],
    ["train", "--batch-size", "-1"],
    ["train", "--latent-dim", "0"],
    ["train", "--beta", "-1"],
    ["train", "--lr", "0"],
    ["train", "--model", "gan"],
    ["train", "--dataset", "cifar"],
    ["train", "--device", "tpu"],
    ["train", "--resume"],
    ["sample", "cvae.safetensors", "--digit", "10"],
    ["sample", "vae.safetensors", "--digit", "3"],
    ["sample", "vae.safetensors", "--out", "x.jpg"],
    ["eval", "vae.safetensors", "--iw-samples", "0"],
    ["eval", "vae.safetensors", "--iw-subset", "0"],
    ["--checkpoints", "vae.safetensors"],
    ["--device", "tpu"],
])
def test_bad_flags_exit_2_with_a_message(workdir, args):
    result = run_cli(*args, cwd=workdir)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Error" in result.stderr and "Traceback" not in result.stderr


def test_runtime_errors_are_one_line_exit_1(workdir, tmp_path):
    (workdir / "junk.safetensors").write_bytes(b"\x00" * 50)
    for args in (["eval", "missing.safetensors"], ["sample", "junk.safetensors"],
                 ["train", "--device", "cuda", *TINY[:2], "--out", "new.safetensors"],
                 ["train", *TINY, "--out", "cvae.safetensors"],
                 ["train", "--out", str(tmp_path / "absent" / "x.safetensors"), *TINY]):
        result = run_cli(*args, cwd=workdir)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    (workdir / "junk.safetensors").unlink()


def test_offline_without_data_gives_one_clear_message(tmp_path):
    proxy = "http://127.0.0.1:9"  # nothing listens there: every download fails at once
    result = run_cli("train", "--data-dir", str(tmp_path / "data"), "--epochs", "1",
                     "--out", "x.safetensors", cwd=tmp_path,
                     env={"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
                          "http_proxy": proxy, "https_proxy": proxy})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: MNIST is not in") and "--data-dir" in last
    assert "TUI_VAE_DATA_DIR" in last and "Traceback" not in result.stderr


def test_resume_continues_to_more_epochs(workdir):
    result = run_cli("train", "--out", "vae.safetensors", "--resume", "--epochs", "2",
                     "--device", "cpu", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = (workdir / "vae.metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    clash = run_cli("train", "--out", "vae.safetensors", "--resume", "--hidden-dim", "64",
                    cwd=workdir)
    assert clash.returncode == 2 and "differs" in clash.stderr


def test_sigint_saves_and_prints_how_to_resume(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_vae", "train", "--epochs", "500", *TINY,
         "--out", "run.safetensors"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run.metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().strip()):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr  # saved, but not finished: `&&` goes no further
    assert "--resume" in stdout and "Traceback" not in stderr
    from tui_vae.checkpoints import read_info

    saved = (tmp_path / "run.safetensors").read_bytes()
    progress = read_info(tmp_path / "run.safetensors").meta["progress"]
    resumed = run_cli("train", "--out", "run.safetensors", "--resume", "--epochs", "1",
                      cwd=tmp_path)
    # The stopped run is at least at epoch 1: resuming to 1 epoch trains nothing. Past
    # epoch 1 (mid-way into epoch 2, or later), that is a target behind the run
    # (refused); stopped right at epoch 1's end, a finished run.
    if progress.get("step") or progress["epochs_done"] > 1:
        assert resumed.returncode == 2 and "would train nothing" in resumed.stderr
    else:
        assert resumed.returncode == 0 and "nothing to train" in resumed.stderr
    assert (tmp_path / "run.safetensors").read_bytes() == saved


def test_the_app_and_its_views_import_without_torch():
    """The first paint must not wait for torch, nor for numpy (it comes with the first
    images) or pydantic (Typer's option parsing, skipped by the bare command)."""
    code = ("import sys, tui_vae.cli, tui_vae.tui.app\n"
            "late = [m for m in ('torch', 'numpy', 'pydantic') if m in sys.modules]\n"
            "assert not late, f'{late} imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_escape_sequences_in_file_names_never_reach_the_terminal(workdir, tmp_path):
    """A file name may hold anything but "/": its control characters print escaped,
    in the models table, in what a command wrote, in its errors and in training's lines."""
    import io
    import shutil

    from rich.console import Console

    from tui_vae.events import Finished
    from tui_vae.progress import ConsoleReporter

    odd = "red\x1b[31mX"
    shutil.copy(workdir / "vae.safetensors", tmp_path / f"{odd}.safetensors")
    results = [
        run_cli("models", ".", cwd=tmp_path),
        run_cli("sample", f"{odd}.safetensors", "-n", "2", "--out", f"{odd}.png",
                cwd=tmp_path),
        run_cli("sample", "gone\x1b]0;title\x07.safetensors", cwd=tmp_path),
    ]
    assert [r.returncode for r in results] == [0, 0, 1], [r.stderr for r in results]
    for result in results:
        assert "\x1b" not in result.stdout + result.stderr
        assert "\x07" not in result.stdout + result.stderr
    assert "red\\x1b[31mX" in results[0].stdout and "\\x1b[31m" in results[1].stdout
    assert "gone\\x1b]0;title\\x07" in results[2].stderr
    # training's own lines (the same reporter `tui-vae train` prints with)
    written = io.StringIO()
    reporter = ConsoleReporter(Console(file=written, force_terminal=False, width=200))
    reporter(Finished(1, False, f"new{odd}.safetensors"))
    reporter(Finished(1, True, f"new{odd}.safetensors"))
    assert "\x1b" not in written.getvalue()
    assert written.getvalue().count("newred\\x1b[31mX.safetensors") == 3
    # A line break in a name: what was written stays one line (it printed "a", "b.png").
    broken = run_cli("sample", f"{odd}.safetensors", "-n", "1", "--out", "a\nb.png",
                     cwd=tmp_path)
    assert broken.returncode == 0 and broken.stdout == "wrote 1 sample to a\\nb.png\n"
    lines = io.StringIO()
    ConsoleReporter(Console(file=lines, force_terminal=False, width=200))(
        Finished(1, False, "c\nd.safetensors"))
    assert lines.getvalue() == "done: 1 epoch, checkpoint c\\nd.safetensors\n"


def test_an_error_naming_a_path_with_a_line_break_stays_one_line(tmp_path):
    """A data folder named with a newline in it made the offline error two lines."""
    from tui_vae.cli import err

    with err.capture() as captured:
        err.print("error: MNIST is not in /tmp/x\ny\x1b[31m", markup=False)
        err.print("note: two\nlines", markup=False)
    lines = captured.get().splitlines()
    assert lines == ["error: MNIST is not in /tmp/x\\ny\\x1b[31m", "note: two", "lines"]


def test_a_file_named_runs_troubles_only_what_would_save_into_runs(tmp_path):
    # Click checked --checkpoints' default as if typed: every command (train --out,
    # sample, eval, models DIR) failed with "Invalid value for '--checkpoints'".
    (tmp_path / "runs").write_text("not a folder")
    tiny = ["--dataset", "mnist-sample", "--hidden-dim", "8", "--latent-dim", "2",
            "--epochs", "1"]
    trained = run_cli("train", *tiny, "--out", "x.safetensors", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    sampled = run_cli("sample", "x.safetensors", "-n", "1", "--out", "s.png", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    listed = run_cli("models", ".", cwd=tmp_path)
    assert listed.returncode == 0 and "x" in listed.stdout, listed.stderr
    # A run with no --out would save in runs/: told so, in the option it needs.
    refused = run_cli("train", *tiny, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "runs here is not a folder" in refused.stderr and "--out" in refused.stderr
    assert (tmp_path / "runs").read_text() == "not a folder"
