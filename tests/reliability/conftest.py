"""The explorer's fixtures (tiny trained checkpoints, an app factory), shared with tests/tui."""

from tests.tui.conftest import (  # noqa: F401  (fixtures, found by name)
    checkpoints,
    make_app,
    restore_torch_threads,
    trained_folder,
)
