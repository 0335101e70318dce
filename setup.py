"""Build step: the shipped models travel in the wheel.

The repository's `checkpoints/` folder stays their only source; building the
package copies the files that tui_vae/paths.py names into the build folder as
`tui_vae/shipped/`, where an installed tui-vae finds them. Everything else is
configured in pyproject.toml.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PATHS = runpy.run_path(str(ROOT / "tui_vae" / "paths.py"))  # stdlib only: safe before install


class BuildPyWithModels(build_py):
    """build_py, plus a copy of the shipped models and the judge into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads checkpoints/ in place
            return
        # A build folder reused from an earlier build may hold files no longer shipped.
        shutil.rmtree(Path(self.build_lib) / "tui_vae" / PATHS["PACKAGED_FOLDER"],
                      ignore_errors=True)
        for name, source, target in self._shipped():
            if not source.is_file():
                raise FileNotFoundError(f"{source}: a shipped file is missing; "
                                        f"tui_vae/paths.py names it ({name})")
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [str(target) for _, _, target in self._shipped()]
        return [*super().get_outputs(include_bytecode), *extra]

    def _shipped(self) -> list[tuple[str, Path, Path]]:
        folder = Path(self.build_lib) / "tui_vae" / PATHS["PACKAGED_FOLDER"]
        return [(name, ROOT / "checkpoints" / name, folder / name)
                for name in PATHS["shipped_files"]()]


setup(cmdclass={"build_py": BuildPyWithModels})
