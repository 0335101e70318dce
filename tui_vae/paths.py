"""Where things live: the shipped models, the judge, and the user's runs folder.

The top-level `checkpoints/` folder of the repository is the source of the
shipped models. A wheel carries a copy of exactly the files named here, as
`tui_vae/shipped/` (setup.py's build step copies them), so an installed
tui-vae finds them from any working folder; a checkout or an editable install
reads `checkpoints/` in place. User runs go to `runs/` in the working folder,
never into the shipped folder.

Standard library only, with nothing done at import: setup.py reads this file
directly (before tui-vae is installed) to know what to copy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# The shipped models, by file stem; each has a .metrics.jsonl beside it.
SHIPPED_MODELS = ("vae", "cvae", "vae-beta0", "vae-2d", "vae-binary", "conv-vae",
                  "conv-cvae", "shapes-vae")
# The judge classifier, relative to the shipped folder (a sub-folder, so it is
# not listed as a model).
JUDGE_FILE = "judge/mnist.safetensors"
# The shipped folder's name inside the installed package.
PACKAGED_FOLDER = "shipped"
# The source of the shipped files in a checkout.
CHECKOUT_FOLDER = Path(__file__).resolve().parent.parent / "checkpoints"
# Where `tui-vae train` and the app's Train view write by default (relative to
# the working folder).
RUNS_FOLDER = "runs"
# How a name asks for a shipped model by name (`shipped/cvae`), past a run of the
# user's with the same name.
SHIPPED_PREFIX = "shipped"


def shipped_files() -> list[str]:
    """Every shipped file, relative to the shipped folder: models, their metrics, the judge."""
    files = [f"{stem}{suffix}" for stem in SHIPPED_MODELS
             for suffix in (".safetensors", ".metrics.jsonl")]
    return [*files, JUDGE_FILE]


def shipped_dir() -> Path | None:
    """The folder of the shipped models: the installed package's copy, else the checkout's.

    None when neither is there (say, a source tree without its checkpoints).
    """
    packaged = resources.files("tui_vae").joinpath(PACKAGED_FOLDER)
    if packaged.is_dir():
        # Wheels install as plain folders, so the resource is a real path.
        return Path(str(packaged))
    if (CHECKOUT_FOLDER / f"{SHIPPED_MODELS[0]}.safetensors").is_file():
        return CHECKOUT_FOLDER
    return None


def shipped_judge() -> Path:
    """Where the shipped judge is (or would be: check that it exists before use)."""
    return (shipped_dir() or CHECKOUT_FOLDER) / JUDGE_FILE


def is_shipped_model(path: Path, shipped: Path | None) -> bool:
    """Whether `path` is one of the shipped models in the shipped folder `shipped`.

    A user's file in that folder (an old run saved there) is not one.
    """
    return (shipped is not None and path.name.endswith(".safetensors")
            and path.name.removesuffix(".safetensors") in SHIPPED_MODELS
            and path.resolve().parent == shipped.resolve())


def runs_dir() -> Path:
    """The user's runs folder: `runs/` in the working folder."""
    return Path(RUNS_FOLDER)


def find_checkpoint(path: Path) -> Path:
    """`path` itself when it exists; else a bare name found here, in runs/ or in the
    shipped folder, or a sub-folder's name (`beta/b0.5`) found in runs/, with or
    without its `.safetensors` (the names the explorer and `tui-vae models` show).

    So `tui-vae eval vae.safetensors` and `tui-vae sample vae` work from any
    folder; `shipped/vae` is the shipped model even where a run of the user's is
    named `vae`. A path that is nowhere is returned unchanged, for the loader to
    report.
    """
    if path.exists() or path.is_absolute():
        return path
    names = [path]
    if not path.name.endswith(".safetensors"):
        names.append(path.with_name(path.name + ".safetensors"))
    # A name in a sub-folder (beta/b0.5, as `models` lists a sweep's run) is looked
    # for from here and under runs/; a bare name also among the shipped ones.
    folders = (Path("."), runs_dir(), shipped_dir()) if path.parent == Path(".") else (
        Path("."), runs_dir())
    for folder in folders:
        for name in names:
            if folder is not None and (folder / name).is_file():
                return name if folder == Path(".") else folder / name
    # `shipped/cvae`: the shipped model where a run of the user's has its name (the
    # lists show it so then), or at any time.
    shipped = shipped_dir()
    if path.parent == Path(SHIPPED_PREFIX) and shipped is not None:
        for name in names:
            candidate = shipped / name.name
            if candidate.is_file() and is_shipped_model(candidate, shipped):
                return candidate
    return path


def shadowed_shipped(asked: Path, found: Path) -> Path | None:
    """The shipped model that a bare name `asked` would have named, where a run of
    the user's in runs/ (`found`) took the name first; else None. A file named as
    it is in the working folder is the one meant: no shipped model is in question."""
    shipped = shipped_dir()
    if shipped is None or asked.parent != Path(".") or found.parent != runs_dir():
        return None
    candidate = shipped / found.name
    return candidate if candidate.is_file() and is_shipped_model(candidate, shipped) else None
