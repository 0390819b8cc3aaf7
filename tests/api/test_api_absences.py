"""Approved absences (issue 18): his officer approves a window in which a zone violation is held back
from dispatch and marked covered in its timeline; an approach to her is never covered; a revoked
approval covers nothing more; both agencies read the approval; bad windows are refused by field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_kit import HOME_LAT, HOME_LON, north

from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends

ZONE_AT = (37.70, 127.30)
ZONE = {"kind": "exclusion", "circle": {"lat": ZONE_AT[0], "lon": ZONE_AT[1], "radius_m": 300}}
PO = Role.PROBATION_OFFICER


def window(api: Any, start_h: float = -1, end_h: float = 8, **extra: Any) -> dict[str, Any]:
    return {
        "starts_at": api.at(start_h * 3600),
        "ends_at": api.at(end_h * 3600),
        "reason": "night shift at the Guri logistics centre",
        **extra,
    }


def zone_alert(api: Any) -> dict[str, Any]:
    [alert] = [
        a for a in api.get("/v1/alerts", params={"subject": "S1"}).json() if a["kind"] == "zone_violation"
    ]
    return alert


def pushed(api: Any, alert_id: str) -> list[Any]:
    r = api.get(f"/v1/alerts/{alert_id}/deliveries")
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_zone_violation_in_an_approved_window_is_held_back_and_said_covered(dispatch_client):
    api = dispatch_client
    api.subject("S1", "AM-1")
    assert api.put("/v1/subjects/S1/zones/Z1", ZONE).status_code == 201
    r = api.post("/v1/subjects/S1/absences", window(api, zone_id="Z1"), who=PO)
    assert r.status_code == 201, r.text
    absence = r.json()
    assert absence["in_force"] and absence["approved_by"] == "u-probation_officer"

    assert api.send([api.fix("AM-1", ZONE_AT[0], ZONE_AT[1])]).status_code == 200
    alert = zone_alert(api)
    assert pushed(api, alert["id"]) == []
    timeline = api.get(f"/v1/alerts/{alert['id']}").json()["timeline"]
    [covered] = [c for c in timeline if c["change"] == "covered"]
    assert absence["id"] in covered["note"] and "night shift" in covered["note"]
    # both agencies read the approval (the dispatcher through the open alert in his jurisdiction)
    assert [a["id"] for a in api.get("/v1/subjects/S1/absences", who=PO).json()] == [absence["id"]]

    # revoked: his next material move is pushed as news
    r = api.client.delete(f"/v1/subjects/S1/absences/{absence['id']}", headers=api.auth(PO))
    assert (
        r.status_code == 200
        and r.json()["in_force"] is False
        and r.json()["revoked_by"] == "u-probation_officer"
    )
    api.clock.advance(30)
    assert api.send([api.fix("AM-1", ZONE_AT[0] + 150 / 111_195, ZONE_AT[1])]).status_code == 200
    assert len(pushed(api, alert["id"])) >= 1


def test_no_absence_covers_an_approach_to_her(dispatch_client):
    api = dispatch_client
    assert api.put("/v1/protected-persons/P1", {"name": "her"}).status_code == 201
    api.subject("S1", "AM-1")
    assert api.put("/v1/devices/W-1", {"kind": "smartwatch", "person_id": "P1"}).status_code == 201
    assert api.post("/v1/subjects/S1/absences", window(api), who=PO).status_code == 201  # every zone
    assert api.order("O1", "S1", "P1").status_code == 201
    assert (
        api.send([api.fix("W-1", HOME_LAT, HOME_LON), api.fix("AM-1", north(50), HOME_LON)]).status_code
        == 200
    )
    [alert] = [
        a
        for a in api.get("/v1/alerts", params={"subject": "S1"}).json()
        if a["kind"] == "proximity_violation"
    ]
    assert len(pushed(api, alert["id"])) >= 1


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"start_h": -3, "end_h": -2}, "ends_at", None),  # over already
        ({"start_h": 2, "end_h": 1}, "ends_at", "after_start"),  # ends before it starts
        ({"start_h": 0, "end_h": 24 * 40}, "ends_at", "too_long"),  # longer than a month
        ({"reason": "x"}, "reason", "string_too_short"),
        ({"zone_id": "Z-other"}, "zone_id", None),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(app_client, change, field, code):
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    assert api.put("/v1/subjects/S2/zones/Z-other", ZONE).status_code == 201
    change = dict(change)  # the parameter is shared by both backends' runs
    hours = {k: change.pop(k) for k in ("start_h", "end_h") if k in change}
    r = api.post("/v1/subjects/S1/absences", window(api, **hours, **change), who=PO)
    assert r.status_code == 422, r.text
    # the field, and the rule's code where it has one (the control centre says it in Korean by it)
    assert [(d["field"], d.get("code")) for d in r.json()["detail"]] == [(field, code)], r.json()
    assert api.get("/v1/subjects/S1/absences", who=PO).json() == []


def test_only_his_officer_and_operators_approve(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    for who in (
        Role.POLICE_DISPATCHER,
        Role.FIELD_OFFICER,
        Role.PROTECTED_PERSON,
        Role.ADMIN,
        Role.POLICE_INVESTIGATOR,
    ):
        assert api.post("/v1/subjects/S1/absences", window(api), who=who).status_code == 403, who
    assert api.post("/v1/subjects/S1/absences", window(api)).status_code == 201  # an operator
    assert api.post("/v1/subjects/nobody/absences", window(api)).status_code == 404
    assert api.client.delete("/v1/subjects/S1/absences/abs-none", headers=api.auth()).status_code == 404
    assert timedelta(days=31)  # the longest window (api/absences.py LONGEST)


def test_the_police_case_matched_to_him_shows_what_probation_allowed(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    assert api.put("/v1/subjects/S1/zones/Z1", {**ZONE, "label": "her workplace"}).status_code == 201
    now_on = api.post("/v1/subjects/S1/absences", window(api, zone_id="Z1"), who=PO).json()["id"]
    later = api.post("/v1/subjects/S1/absences", window(api, 24, 30), who=PO).json()["id"]
    gone = api.post("/v1/subjects/S1/absences", window(api, 1, 2), who=PO).json()["id"]
    assert api.client.delete(f"/v1/subjects/S1/absences/{gone}", headers=api.auth(PO)).status_code == 200
    case = {
        "kind": "stalking", "area": "31130", "suspect": {"name": "subject S1", "subject_id": "S1"},
        "victim": {"name": "Lee"}, "offences": ["stalking"],
    }  # fmt: skip
    inv = Role.POLICE_INVESTIGATOR
    assert api.put("/v1/cases/C-1", case, who=inv).status_code == 201
    shown = api.get("/v1/cases/C-1", who=inv).json()["match"]["absences"]
    assert [(a["id"], a["zone_label"], a["in_force"]) for a in shown] == [
        (now_on, "her workplace", True),
        (later, None, False),
    ]  # the revoked one is not shown; an unmatched case shows none (no "absences" key)
    unmatched = {**case, "suspect": {"name": "someone else"}}
    assert "absences" not in api.put("/v1/cases/C-2", unmatched, who=inv).json()["match"]
