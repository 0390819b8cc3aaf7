"""Which protected person a police case may name (issue 18). An investigator cannot read the registry,
so the only registered victims they may name are those of their own station's cases (a second case
for the same woman); any other id is refused with one answer whether or not she exists, so the case
form is no oracle for the registry, and a granted 3-2 never protects a stranger whose id was guessed
or mistyped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from vigil.domain.model import Role
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends

INV = Role.POLICE_INVESTIGATOR
REASON = "not the victim of one of your station's cases: enter her name and phone instead"


def body(victim: dict[str, Any], area: str = "31130") -> dict[str, Any]:
    return {
        "kind": "stalking", "area": area, "station": "남양주남부경찰서",
        "suspect": {"name": "박 수상"}, "victim": victim, "offences": ["stalking"],
    }  # fmt: skip


def refused(api: Any, case_id: str, victim: dict[str, Any]) -> dict[str, Any]:
    r = api.put(f"/v1/cases/{case_id}", body(victim), who=INV)
    assert r.status_code == 422, r.text
    return dict(r.json())


def test_a_victim_of_the_stations_own_case_may_be_named_again(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    assert api.put("/v1/cases/C-1", {**body({"name": "이서연", "phone": "010-1111-2222"}),
                                      "suspect": {"name": "subject S1", "subject_id": "S1"}}, who=INV).status_code == 201  # fmt: skip
    decision = {"measure": "3-2", "granted": True, "court_reference": "2026초기1", "decided_on": "2026-12-06"}
    assert api.post("/v1/cases/C-1/decisions", decision, who=INV).status_code == 201
    her = api.get("/v1/cases/C-1", who=INV).json()["victim"]["protected_person_id"]
    assert her
    r = api.put("/v1/cases/C-2", body({"protected_person_id": her}), who=INV)
    assert r.status_code == 201, r.text
    assert r.json()["victim"]["protected_person_id"] == her


def test_a_registered_stranger_and_a_made_up_id_get_the_same_answer_and_nothing_is_written(app_client):
    api = app_client
    api.protected("P1", None)  # registered by the control centre, in no police case
    known = refused(api, "C-9", {"protected_person_id": "P1"})
    unknown = refused(api, "C-9", {"protected_person_id": "P-nobody"})
    assert known == unknown == {"detail": [{"field": "victim.protected_person_id", "reason": REASON}]}
    assert api.count(t.cases) == 0
    with api.db.connect() as conn:
        refusals = conn.execute(
            select(t.audit_log.c.detail).where(t.audit_log.c.action == "cases.write")
        ).all()
    assert [r.detail.get("refused") for r in refusals if r.detail.get("allowed") is False] == [
        "victim",
        "victim",
    ]


def test_another_stations_victim_is_a_stranger_too(app_client):
    api = app_client
    # a case of a Seoul station (area 11), made straight in the store: not this station's
    with api.db.begin() as conn:
        conn.execute(
            t.cases.insert().values(
                id="C-SEOUL", kind="stalking", area="11110", station="종로경찰서", status="open",
                suspect_name="x", victim_id="P-SEOUL", victim_name="", victim_phone="", offences=[],
                reports=[], measures_requested=[], match_state="none", match_basis="", review=[],
                created_by="someone", created_at=api.clock(), updated_at=api.clock(),
            )
        )  # fmt: skip
    refused(api, "C-10", {"protected_person_id": "P-SEOUL"})
