"""The project's quality gates run as tests, so the one test command checks everything CI checks:
ruff (lint and format), mypy strict on the package, and the import contract that keeps the centre pure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> None:
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def test_ruff_lint() -> None:
    _run(str(BIN / "ruff"), "check", "src", "tests")


def test_ruff_format() -> None:
    _run(str(BIN / "ruff"), "format", "--check", "src", "tests")


# Most of this file's time: tens of seconds on a cold cache (a fresh clone, CI), a few on the warm
# one it keeps in .mypy_cache. Run with everything else, not in the quick loop.
@pytest.mark.slow
def test_mypy_strict() -> None:
    _run(str(BIN / "mypy"))


def test_import_contract() -> None:
    _run(str(BIN / "lint-imports"))
