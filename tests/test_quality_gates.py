"""The project's quality gates run as tests, so the one test command checks everything CI checks:
ruff (lint and format), mypy strict on the package, and the import contract that keeps the centre pure.

The gates a run selects all start together, on the first of them: mypy takes most of the time (on a
fresh clone its cache is cold) on one core, and the others finish beside it. Each test then waits
for its own. mypy keeps its cache where it always does (.mypy_cache), so a second run is quick."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TIMEOUT_S = 600

GATES = {
    "test_ruff_lint": (str(BIN / "ruff"), "check", "src", "tests"),
    "test_ruff_format": (str(BIN / "ruff"), "format", "--check", "src", "tests"),
    "test_mypy_strict": (str(BIN / "mypy"),),
    "test_import_contract": (str(BIN / "lint-imports"),),
}


class Gate:
    """One gate's process, its output in a file (a pipe nobody reads while another gate is awaited
    could fill and stall it)."""

    def __init__(self, args: tuple[str, ...]) -> None:
        self.args = args
        self._out: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in `close`)
        self._process = subprocess.Popen(
            args, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT, text=True
        )

    def check(self) -> None:
        code = self._process.wait(timeout=TIMEOUT_S)
        if code != 0:
            self._out.seek(0)
            pytest.fail(f"{' '.join(self.args)} failed:\n{self._out.read()}")

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._out.close()


@pytest.fixture(scope="module")
def gates(request: pytest.FixtureRequest) -> Iterator[dict[str, Gate]]:
    """Every gate this run selected, started at once."""
    here = Path(__file__).resolve()
    selected = {item.name for item in request.session.items if item.path.resolve() == here}
    started = {name: Gate(args) for name, args in GATES.items() if name in selected}
    try:
        yield started
    finally:
        for gate in started.values():
            gate.close()


def test_ruff_lint(gates: dict[str, Gate]) -> None:
    gates["test_ruff_lint"].check()


def test_ruff_format(gates: dict[str, Gate]) -> None:
    gates["test_ruff_format"].check()


@pytest.mark.slow  # tens of seconds on a cold cache
def test_mypy_strict(gates: dict[str, Gate]) -> None:
    gates["test_mypy_strict"].check()


def test_import_contract(gates: dict[str, Gate]) -> None:
    gates["test_import_contract"].check()
