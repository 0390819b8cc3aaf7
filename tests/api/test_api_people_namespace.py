"""An id names one person only: a subject and a protected person never share one, whichever is
made first, by whom, and whatever else already hangs on the first (a device, an order). A property
test over every create path, on both backends: the second is refused with 409 naming the field, and
nothing changes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from vigil.domain.model import Role
from vigil.replay import ScenarioError, parse
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # one id per person, refused inside the write

PO = Role.PROBATION_OFFICER.value
SUBJECT = {"legal_basis": "parole", "name": "him"}
ORDER = {
    "violation_distance_m": 100,
    "warning_distance_m": 1000,
    "legal_basis": "stalking_provisional_measure",
}
# Ids the registry accepts (its pattern), short, with the characters that matter: case and punctuation.
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True)
KINDS = ("subject", "protected_person")
PATHS = {"subject": "/v1/subjects/{}", "protected_person": "/v1/protected-persons/{}"}
FIELDS = {"subject": "subject_id", "protected_person": "person_id"}
BODIES = {"subject": SUBJECT, "protected_person": {"name": "her"}}
_examples = itertools.count()


def snapshot(api: Any) -> dict[str, list[tuple[str, ...]]]:
    tables = (t.subjects, t.protected_persons, t.devices, t.orders, t.users, t.tokens)
    with api.db.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, r)) for r in conn.execute(select(table))) for table in tables
        }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ident=IDS,
    first=st.sampled_from(KINDS),
    first_by=st.sampled_from(("operator", PO)),
    second_by=st.sampled_from(("operator", PO)),
    device=st.booleans(),
    order=st.booleans(),
)
def test_an_id_names_one_person_whatever_the_order_and_the_records_around_it(
    app_client: Any, ident: str, first: str, first_by: str, second_by: str, device: bool, order: bool
) -> None:
    api = app_client
    n = next(_examples)
    person = f"{ident}-{n}"  # each example its own ids: the database is shared across examples
    second = KINDS[1 - KINDS.index(first)]
    r = api.put(PATHS[first].format(person), BODIES[first], who=first_by)
    assert r.status_code == 201, r.text
    if device:
        r = api.put(f"/v1/devices/D-{n}", {"kind": "smartwatch", "person_id": person})
        assert r.status_code == 201, r.text
    if order:
        partner = f"partner-{n}"
        assert api.put(PATHS[second].format(partner), BODIES[second]).status_code == 201
        pair = (person, partner) if first == "subject" else (partner, person)
        body = {"subject_id": pair[0], "protected_person_id": pair[1], **ORDER}
        assert api.put(f"/v1/orders/O-{n}", body).status_code == 201
    before = snapshot(api)

    r = api.put(PATHS[second].format(person), BODIES[second], who=second_by)

    assert r.status_code == 409, (r.status_code, r.text)
    [problem] = r.json()["detail"]
    assert problem["field"] == FIELDS[second]
    assert snapshot(api) == before
    # The id still names the first person, who may still be updated as what they are.
    assert api.put(PATHS[first].format(person), BODIES[first]).status_code == 200


@pytest.mark.parametrize("first", ["subjects", "protected_persons"])
def test_a_scenario_cannot_give_one_id_to_two_people(first: str) -> None:
    """Replay builds its registry with the same store writes as REST, and refuses the file first."""
    other = "protected_persons" if first == "subjects" else "subjects"
    doc = {first: [{"id": "X", "devices": []}], other: [{"id": "X", "devices": []}]}
    with pytest.raises(ScenarioError, match="person id 'X' is already used"):
        parse({"timezone": "UTC", "orders": [], "messages": [], "until": "2026-01-01T00:00:00Z", **doc})
