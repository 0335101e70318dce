"""The declared minimum Python is honest: every source parses at that version, ruff
targets it, and CI's interpreter (the one running this suite) meets it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from tests.conftest import REPO


def _minimum() -> tuple[int, int]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    found = re.fullmatch(r">=\s*3\.(\d+)", project["project"]["requires-python"].strip())
    assert found, "requires-python should be a plain lower bound"
    return 3, int(found.group(1))


def test_every_source_parses_at_the_declared_minimum():
    minimum = _minimum()
    assert sys.version_info[:2] >= minimum
    sources = [path for folder in ("tui_vae", "tests", "tools", "benchmarks")
               for path in (REPO / folder).rglob("*.py")] + [REPO / "setup.py"]
    for path in sources:
        ast.parse(path.read_text(), str(path), feature_version=minimum)


def test_ruff_targets_the_declared_minimum():
    major, minor = _minimum()
    ruff = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == f"py{major}{minor}"
