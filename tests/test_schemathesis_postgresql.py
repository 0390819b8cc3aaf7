"""The PostgreSQL half of tests/test_schemathesis.py: the operations that write, fuzzed on PostgreSQL,
which refuses text SQLite stores (NUL characters, strings longer than their column). A file of its own
so that pytest-xdist (which hands out whole files) runs it beside the SQLite half, not after it."""

from __future__ import annotations

import pytest

from test_schemathesis import Fuzzed, fuzzed, no_server_errors  # noqa: F401  (fuzzed: a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_no_server_errors(fuzzed: Fuzzed) -> None:  # noqa: F811
    no_server_errors(fuzzed)
