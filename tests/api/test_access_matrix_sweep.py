"""The access matrix's sweep: every row of `test_access_matrix.matrix` against every role, on each side
of the scene (the rows, the roles and the scene are there; this file only runs them, apart, so the
suite's test processes can share the two files' time)."""

from __future__ import annotations

import pytest
from test_access_matrix import ALL, IN, NONE, ROLES, call, matrix, passes, scene

pytestmark = pytest.mark.both_backends  # scope is filtered in SQL

__all__ = ["scene"]  # the fixture, used by name


@pytest.mark.slow  # every endpoint, every role, both sides
def test_every_endpoint_against_every_role_in_and_out_of_scope(scene):
    api, alerts = scene
    wrong = []
    for row in matrix(alerts["A1"], alerts["A2"]):
        for who in ROLES:
            expect = row.expect.get(who, NONE)
            for side, path, body in (("in", row.inside, row.body_in), ("out", row.outside, row.body_out)):
                should = expect == ALL or (expect == IN and side == "in")
                r = call(api, who, row.method, path, body, row.params)
                unconfigured = row.unconfigured and r.status_code == 404
                if should and not passes(row.method, r.status_code) and not unconfigured:
                    wrong.append((who, row.method, path, "should pass", r.status_code, r.text[:120]))
                if not should and r.status_code != 403:
                    wrong.append((who, row.method, path, "should be refused", r.status_code, r.text[:120]))
    assert wrong == []
