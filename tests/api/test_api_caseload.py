"""A probation officer's caseload view (`GET /v1/caseload`, issue 18): his subjects with the police
cases matched to them, the orders in force with their expiry, recent alerts and the load against the
guideline; an order that ends within the reminder window is shown to both agencies (here, and in
the case the police read). Operators see every officer's load, or one officer's caseload; a
probation officer only his own; no one else anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # grouped counts, IN lists and times compared in SQL

INV = Role.POLICE_INVESTIGATOR
PO = Role.PROBATION_OFFICER
OFFICER = "u-probation_officer"


def case(subject: str) -> dict[str, Any]:
    return {
        "kind": "stalking", "area": "31130", "station": "남양주남부경찰서",
        "suspect": {"name": f"subject {subject}", "subject_id": subject}, "victim": {"name": "이서연", "phone": "010-2345-6789"},
        "offences": ["stalking"], "measures_requested": ["3-2"],
    }  # fmt: skip


def scene(api: Any) -> str:
    """S1 and S2 in u-probation_officer's caseload, S3 in po-2's. A case names S1 and the court's
    3-2 ends in 10 days; S2's order ends in 60 days; an ended one of S2's is not shown. Returns the
    order the court made."""
    with api.db.begin() as conn:
        now = datetime.now(UTC)
        create_user(conn, user_id="po-2", name="박보호", role=PO, now=now)
        api.tokens["po-2"] = issue_token(conn, role=PO, now=now, user_id="po-2")
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    assert (
        api.put(
            "/v1/subjects/S3", {"legal_basis": "parole", "name": "S3", "probation_officer": "po-2"}
        ).status_code
        == 201
    )
    api.protected("P2", None)
    assert api.order("O2", "S2", "P2", valid_until=api.at(60 * 86400)).status_code == 201
    assert api.order("O2x", "S2", "P2").status_code == 201
    assert api.post("/v1/orders/O2x/end").status_code == 200
    r = api.put("/v1/cases/C-1", case("S1"), who=INV)
    assert r.status_code == 201 and r.json()["match"]["subject_id"] == "S1", r.text
    decision = {
        "measure": "3-2", "granted": True, "court_reference": "2026초기1234", "decided_on": "2026-12-06",
        "valid_until": api.at(10 * 86400 + 3600),
    }  # fmt: skip
    r = api.post("/v1/cases/C-1/decisions", decision, who=INV)
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


def test_an_officer_sees_his_subjects_cases_orders_alerts_and_load(app_client):
    api = app_client
    made = scene(api)
    r = api.get("/v1/caseload", who=PO)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["officer"] == OFFICER and (view["guideline"], view["field_average"]) == (10, 21.6)
    [load] = view["load"]
    assert load["officer"] == OFFICER and load["subjects"] == 2 and load["ratio"] == 0.2
    assert load["over_guideline"] is False
    assert [s["id"] for s in view["subjects"]] == ["S1", "S2"]
    s1, s2 = view["subjects"]
    assert s1["devices"] == ["AM-1"]
    [matched] = s1["cases"]
    assert (matched["id"], matched["kind"], matched["station"]) == ("C-1", "stalking", "남양주남부경찰서")
    assert matched["match_basis"] == "subject_id" and matched["measures_requested"] == ["3-2"]
    assert [(d["measure"], d["granted"], d["order_id"]) for d in matched["decisions"]] == [
        ("3-2", True, made)
    ]
    [order] = s1["orders"]
    assert order["id"] == made and order["in_force"] and order["expires_soon"] and order["days_left"] == 10
    assert [o["id"] for o in s2["orders"]] == ["O2"] and s2["orders"][0]["expires_soon"] is False
    # the case_match alert raised for him: counted among the week's, and open
    assert s1["alerts"]["recent"] == {"case_match": 1} and s1["alerts"]["recent_total"] == 1
    assert [a["kind"] for a in s1["alerts"]["open"]] == ["case_match"]
    assert s2["alerts"] == {"recent": {}, "recent_total": 0, "open": []}
    assert s1["absences"] == [] and s2["absences"] == []
    # reminded: the court's order, not S2's (60 days), nor the ended one
    assert [o["id"] for o in view["expiring"]] == [made]
    # her name and phone are the case's, not the caseload view's
    assert "이서연" not in r.text and "010-2345-6789" not in r.text

    # a wider window takes S2's order in; a narrower one leaves the court's out
    wide = api.get("/v1/caseload", who=PO, params={"within_days": 90}).json()
    assert [o["id"] for o in wide["expiring"]] == [made, "O2"]
    assert api.get("/v1/caseload", who=PO, params={"within_days": 5}).json()["expiring"] == []
    for bad in ("0", "121", "soon"):
        r = api.get("/v1/caseload", who=PO, params={"within_days": bad})
        assert r.status_code == 422 and "within_days" in r.text, bad

    # the police read the same reminder on the case
    found = api.get("/v1/cases/C-1", who=INV).json()
    [shown] = found["orders"]
    assert shown["id"] == made and shown["expires_soon"] and shown["days_left"] == 10

    # extended in the registry: both agencies see the new end at once, and no reminder
    her = found["victim"]["protected_person_id"]
    assert api.order(made, "S1", her, valid_until=api.at(90 * 86400)).status_code == 200
    [shown] = api.get("/v1/cases/C-1", who=INV).json()["orders"]
    assert shown["days_left"] == 90 and shown["expires_soon"] is False
    assert api.get("/v1/caseload", who=PO).json()["expiring"] == []


def test_operators_see_every_load_or_one_caseload_and_no_one_else_does(app_client):
    api = app_client
    made = scene(api)
    every = api.get("/v1/caseload").json()
    loads = {x["officer"]: x["subjects"] for x in every["load"]}
    assert loads[OFFICER] == 2 and loads["po-2"] == 1
    assert every["subjects"] is None and every["officer"] is None
    assert [o["id"] for o in every["expiring"]] == [made]
    one = api.get("/v1/caseload", params={"officer": "po-2"}).json()
    assert [x["officer"] for x in one["load"]] == ["po-2"] and [s["id"] for s in one["subjects"]] == ["S3"]
    assert one["expiring"] == []
    assert api.get("/v1/caseload", params={"officer": "nobody"}).status_code == 404
    assert api.get("/v1/caseload", params={"officer": "u-operator"}).status_code == 404  # not an officer

    # a probation officer: his own only, asking for another's is refused and recorded
    assert api.get("/v1/caseload", who=PO, params={"officer": OFFICER}).status_code == 200
    assert api.get("/v1/caseload", who=PO, params={"officer": "po-2"}).status_code == 403
    assert [s["id"] for s in api.get("/v1/caseload", who="po-2").json()["subjects"]] == ["S3"]
    for role in (
        INV,
        Role.POLICE_DISPATCHER,
        Role.FIELD_OFFICER,
        Role.PROTECTED_PERSON,
        Role.ADMIN,
        Role.AUDITOR,
    ):
        assert api.get("/v1/caseload", who=role).status_code == 403, role
    with api.db.connect() as conn:
        log = t.audit_log.c
        rows = conn.execute(
            select(log.action, log.detail).where(log.actor == OFFICER, log.action == "caseload.read")
        ).all()
    assert any(r.detail.get("allowed") is False and r.detail.get("refused") == "officer:po-2" for r in rows)
    assert any(r.detail.get("allowed") is True for r in rows)


def test_an_officer_over_the_guideline_is_flagged(app_client):
    api = app_client
    for n in range(11):
        api.subject(f"S{n}", None)
    [load] = api.get("/v1/caseload", who=PO).json()["load"]
    assert load["subjects"] == 11 and load["over_guideline"] and not load["over_field_average"]
    assert load["ratio"] == 1.1


def test_a_lapsed_order_is_no_longer_in_force_nor_reminded_of(app_client):
    api = app_client
    made = scene(api)
    api.clock.advance(11 * 86400)
    view = api.get("/v1/caseload", who=PO).json()
    assert view["expiring"] == [] and view["subjects"][0]["orders"] == []
    [shown] = api.get("/v1/cases/C-1", who=INV).json()["orders"]
    assert shown["id"] == made and shown["in_force"] is False and shown["expires_soon"] is False
    assert datetime.fromisoformat(shown["valid_until"]) < api.clock() + timedelta(0)


def test_the_caseload_shows_his_absences_in_force_or_upcoming(app_client):
    api = app_client
    scene(api)
    work = {"kind": "exclusion", "label": "work", "circle": {"lat": 37.70, "lon": 127.30, "radius_m": 300}}
    assert api.put("/v1/subjects/S1/zones/Z-work", work).status_code == 201

    def approve(zone: str | None, start_h: float, end_h: float) -> dict[str, Any]:
        body = {"zone_id": zone, "starts_at": api.at(start_h * 3600), "ends_at": api.at(end_h * 3600),
                "reason": "night shift at the Guri logistics centre"}  # fmt: skip
        r = api.post("/v1/subjects/S1/absences", body, who=PO)
        assert r.status_code == 201, r.text
        return dict(r.json())

    now, later, gone = approve("Z-work", -1, 8), approve(None, 24, 48), approve(None, 0, 1)
    r = api.client.delete(f"/v1/subjects/S1/absences/{gone['id']}", headers=api.auth(PO))
    assert r.status_code == 200
    s1 = api.get("/v1/caseload", who=PO).json()["subjects"][0]
    assert [(a["id"], a["zone"], a["zone_label"], a["in_force"]) for a in s1["absences"]] == [
        (now["id"], "Z-work", "work", True),
        (later["id"], None, None, False),
    ]
    api.clock.advance(9 * 3600)  # the first is over, the revoked one stays out
    s1 = api.get("/v1/caseload", who=PO).json()["subjects"][0]
    assert [a["id"] for a in s1["absences"]] == [later["id"]]
