"""Closing and reopening a police case (issue 18): its station's investigator or an operator closes
it with an outcome and a reason; probation may not. A closed case keeps its court orders in force,
is matched no more, leaves probation's open cases, and refuses edits and decisions until reopened.
Every close and reopen is in the trail. An edit that leaves the national id empty keeps the stored
one (it is never shown back, so the edit form cannot hold it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from test_api_cases import BORN, INV, PO, RRN, alerts_of, case_body, monitored

from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends

CLOSE = {"outcome": "charged", "reason": "sent to the prosecutor on 2026-12-05"}
GRANT = {
    "measure": "3-2", "granted": True, "court_reference": "2026초기1", "decided_on": "2026-12-06",
    "valid_until": "2027-03-06T00:00:00+09:00",
}  # fmt: skip


def actions(api: Any, actor: str) -> list[tuple[str, dict[str, Any]]]:
    with api.db.connect() as conn:
        log = t.audit_log.c
        rows = conn.execute(select(log.action, log.detail).where(log.actor == actor).order_by(log.seq))
        return [(r.action, r.detail) for r in rows]


def test_a_case_closed_keeps_its_order_leaves_the_caseload_and_is_matched_no_more(app_client):
    api = app_client
    monitored(api, birth_date=BORN, national_id=RRN)
    assert api.put("/v1/cases/C-1", case_body(), who=INV).status_code == 201
    r = api.post("/v1/cases/C-1/decisions", GRANT, who=INV)
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    caseload = api.get("/v1/caseload", who=PO).json()
    [him] = [s for s in caseload["subjects"] if s["id"] == "S1"]
    assert [c["id"] for c in him["cases"]] == ["C-1"]

    r = api.post("/v1/cases/C-1/close", CLOSE, who=INV)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["status"] == "closed"
    assert case["closed"]["outcome"] == "charged" and case["closed"]["by"] == "u-police_investigator"
    assert case["closed"]["reason"] == CLOSE["reason"] and case["closed"]["at"]
    # the court's order stands
    assert [o["id"] for o in case["orders"]] == [order_id] and case["orders"][0]["in_force"] is True
    assert api.get(f"/v1/orders/{order_id}").json()["ended_at"] is None
    # the lists: closed, not open
    assert [c["id"] for c in api.get("/v1/cases", who=INV, params={"state": "closed"}).json()] == ["C-1"]
    assert api.get("/v1/cases", who=INV, params={"state": "open"}).json() == []
    assert [c["id"] for c in api.get("/v1/cases", who=INV, params={"state": "all"}).json()] == ["C-1"]
    # probation's caseload: no longer an open case of his
    [him] = [s for s in api.get("/v1/caseload", who=PO).json()["subjects"] if s["id"] == "S1"]
    assert him["cases"] == []

    # closed: no edit, no decision, no second close
    r = api.put("/v1/cases/C-1", case_body(), who=INV)
    assert r.status_code == 409 and "closed" in r.text and "reopen" in r.text
    assert api.post("/v1/cases/C-1/decisions", {**GRANT, "granted": False}, who=INV).status_code == 409
    r = api.post("/v1/cases/C-1/close", CLOSE, who=INV)
    assert r.status_code == 409 and "closed already" in r.text

    # reopened: open again, with who and why; reopening twice is 409
    r = api.post("/v1/cases/C-1/reopen", {"reason": "new reports after the charge"}, who=INV)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["closed"] is None
    assert r.json()["reopened"]["reason"] == "new reports after the charge"
    assert api.post("/v1/cases/C-1/reopen", {"reason": "again"}, who=INV).status_code == 409
    assert api.put("/v1/cases/C-1", case_body(), who=INV).status_code == 200

    trail = [(a, d.get("case"), d.get("outcome")) for a, d in actions(api, "u-police_investigator")]
    assert ("case.close", "C-1", "charged") in trail and ("case.reopen", "C-1", None) in trail


def test_a_closed_case_is_not_matched_when_a_subject_comes(app_client):
    api = app_client
    assert api.put("/v1/cases/C-2", case_body(), who=INV).json()["match"] == {"state": "none"}
    assert api.post("/v1/cases/C-2/close", {**CLOSE, "outcome": "withdrawn"}, who=INV).status_code == 200
    monitored(api, birth_date=BORN, national_id=RRN)  # he matches it by his national id
    assert api.get("/v1/cases/C-2").json()["match"]["state"] == "none"
    assert alerts_of(api, "S1") == []
    # reopened, and the next subject change matches it
    r = api.post("/v1/cases/C-2/reopen", {"reason": "she reported again"}, who=Role.OPERATOR)
    assert r.status_code == 200, r.text
    body = {"legal_basis": "parole", "name": "김민수", "birth_date": BORN, "national_id": RRN}
    assert api.put("/v1/subjects/S1", body).status_code == 200
    assert api.get("/v1/cases/C-2").json()["match"]["subject_id"] == "S1"
    assert len(alerts_of(api, "S1")) == 1


def test_a_closed_case_leaves_the_review_list_and_takes_no_match(app_client):
    api = app_client
    monitored(api, birth_date=BORN)  # 김민수, no national id
    assert api.put("/v1/cases/C-8", case_body(suspect={"name": "김민수"}), who=INV).status_code == 201
    assert [c["id"] for c in api.get("/v1/cases/review").json()] == ["C-8"]
    assert api.post("/v1/cases/C-8/close", {**CLOSE, "outcome": "transferred"}).status_code == 200
    assert api.get("/v1/cases/review").json() == []
    r = api.post("/v1/cases/C-8/match", {"subject_id": "S1"})
    assert r.status_code == 409 and "reopen" in r.text
    assert alerts_of(api, "S1") == []


def test_who_may_close(app_client):
    api = app_client
    monitored(api, birth_date=BORN, national_id=RRN)
    assert api.put("/v1/cases/C-3", case_body(), who=INV).status_code == 201
    with api.db.begin() as conn:
        now = datetime.now(UTC)
        create_user(conn, user_id="inv-seoul", name="inv", role=INV, now=now, areas=["11"])
        api.tokens["inv-seoul"] = issue_token(conn, role=INV, now=now, user_id="inv-seoul")
    # his probation officer reads the case but does not close the police's case
    assert api.get("/v1/cases/C-3", who=PO).status_code == 200
    for who in (PO, Role.AUDITOR, Role.POLICE_DISPATCHER, Role.ADMIN, "inv-seoul"):
        assert api.post("/v1/cases/C-3/close", CLOSE, who=who).status_code == 403, who
        assert api.post("/v1/cases/C-3/reopen", {"reason": "x"}, who=who).status_code == 403, who
    assert api.get("/v1/cases/C-3").json()["status"] == "open"
    assert api.post("/v1/cases/nope/close", CLOSE, who=INV).status_code == 404
    r = api.post("/v1/cases/C-3/close", {"outcome": "other", "reason": "duplicate of C-2"})  # an operator
    assert r.status_code == 200 and r.json()["closed"]["by"] == "u-operator"
    assert [a for a, _ in actions(api, "u-operator") if a.startswith("case.")] == ["case.close"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("close", {"reason": "no outcome"}, "outcome"),
        ("close", {"outcome": "acquitted", "reason": "not in the list"}, "outcome"),
        ("close", {"outcome": "charged"}, "reason"),
        ("close", {"outcome": "charged", "reason": "   "}, "reason"),
        ("close", {"outcome": "charged", "reason": "x" * 2001}, "reason"),
        ("reopen", {}, "reason"),
        ("reopen", {"reason": ""}, "reason"),
    ],
)
def test_a_bad_close_or_reopen_is_refused_naming_the_field(app_client, path, body, field):
    api = app_client
    assert api.put("/v1/cases/C-4", case_body(), who=INV).status_code == 201
    r = api.post(f"/v1/cases/C-4/{path}", body, who=INV)
    assert r.status_code == 422, r.text
    assert any(d["field"].endswith(field) for d in r.json()["detail"]), r.json()
    assert api.get("/v1/cases/C-4", who=INV).json()["status"] == "open"


def test_an_edit_leaving_the_national_id_empty_keeps_the_stored_one(app_client):
    api = app_client
    assert api.put("/v1/cases/C-5", case_body(), who=INV).json()["suspect"]["has_national_id"] is True
    edited = case_body(suspect={"name": "김 민수", "birth_date": BORN})  # as the edit form sends it
    r = api.put("/v1/cases/C-5", edited, who=INV)
    assert r.status_code == 200 and r.json()["suspect"]["has_national_id"] is True
    # and it is still what he is matched on
    monitored(api, national_id=RRN)
    assert api.get("/v1/cases/C-5").json()["match"]["basis"] == "national_id"


def test_a_wrong_national_id_is_removed_on_request_and_then_matches_no_one(app_client):
    api = app_client
    assert api.put("/v1/cases/C-7", case_body(), who=INV).json()["suspect"]["has_national_id"] is True
    # both at once is refused, naming the suspect, and changes nothing
    both = case_body(suspect={"name": "김 민수", "national_id": RRN, "forget_national_id": True})
    r = api.put("/v1/cases/C-7", both, who=INV)
    assert r.status_code == 422 and "suspect" in r.text, r.text
    assert api.get("/v1/cases/C-7").json()["suspect"]["has_national_id"] is True
    forget = case_body(suspect={"name": "김 민수", "forget_national_id": True})
    r = api.put("/v1/cases/C-7", forget, who=INV)
    assert r.status_code == 200 and r.json()["suspect"]["has_national_id"] is False, r.text
    # a subject registered with that number later is no match for it: the same name with no birth
    # date is only a near match, for an operator's review, and probation is not told
    monitored(api, national_id=RRN)
    assert api.get("/v1/cases/C-7").json()["match"]["state"] == "review"
    assert api.get("/v1/cases/C-7", who=INV).json()["match"]["state"] == "none"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"valid_from": "2026-12-06T10:00:00+09:00", "valid_until": "2026-12-06T09:00:00+09:00"},
            "valid_until",
        ),
        ({"violation_distance_m": 500, "warning_distance_m": 400}, "warning_distance_m"),
        ({"zones": [{"kind": "exclusion", "circle": {"lat": 37.6, "lon": 127.2, "radius_m": 0}}]}, "zones.0"),
    ],
)
def test_a_bad_decision_names_its_field(app_client, change, field):
    """Each refusal names the field to change: the decision form shows it there."""
    api = app_client
    assert api.put("/v1/cases/C-6", case_body(), who=INV).status_code == 201
    r = api.post("/v1/cases/C-6/decisions", {**GRANT, "granted": False, **change}, who=INV)
    assert r.status_code == 422, r.text
    assert any(d["field"].startswith(field) for d in r.json()["detail"]), r.json()


def test_a_granted_decision_with_a_start_and_a_zone_makes_the_order_with_them(app_client):
    api = app_client
    monitored(api, birth_date=BORN, national_id=RRN)
    assert api.put("/v1/cases/C-7", case_body(), who=INV).status_code == 201
    zone = {
        "kind": "exclusion",
        "label": "her flat",
        "circle": {"lat": 37.64, "lon": 127.21, "radius_m": 300},
    }
    body = {**GRANT, "valid_from": "2026-12-06T09:00:00+09:00", "zones": [zone]}
    r = api.post("/v1/cases/C-7/decisions", body, who=INV)
    assert r.status_code == 201, r.text
    order = api.get(f"/v1/orders/{r.json()['order_id']}").json()
    assert order["valid_from"].startswith("2026-12-06T00:00:00")
    [made] = order["zones"]
    assert made["label"] == "her flat" and made["shape"]["circle"]["radius_m"] == 300
