"""Fixtures shared with tests/tui (tiny trained checkpoints, an app factory) and
tests/cli (a folder with a tiny VAE and cVAE, `workdir`)."""

from tests.cli.test_cli import workdir  # noqa: F401  (fixtures, found by name)
from tests.tui.conftest import (  # noqa: F401
    checkpoints,
    make_app,
    restore_torch_threads,
    trained_folder,
)
