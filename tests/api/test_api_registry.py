"""The shared registry over REST: create vs update, reads, 404s, and 422s that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # zones and schedules in JSON columns, with time zones

HOME_LAT, HOME_LON = 37.60, 127.20


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["detail"]]


def test_subject_created_then_updated(app_client):
    api = app_client
    r = api.put("/v1/subjects/S1", {"legal_basis": "parole", "name": "Kim"})
    assert r.status_code == 201
    assert r.json()["name"] == "Kim"
    r = api.put("/v1/subjects/S1", {"legal_basis": "bail", "name": "Kim Min", "case_reference": "2025-77"})
    assert r.status_code == 200
    body = api.get("/v1/subjects/S1").json()
    assert (body["name"], body["legal_basis"], body["case_reference"]) == ("Kim Min", "bail", "2025-77")
    assert body["devices"] == [] and body["orders"] == [] and body["zones"] == []
    assert [s["id"] for s in api.get("/v1/subjects").json()] == ["S1"]
    assert api.get("/v1/subjects/nobody").status_code == 404


def test_protected_person_created_then_updated(app_client):
    api = app_client
    assert api.put("/v1/protected-persons/P1", {"name": "Lee"}).status_code == 201
    r = api.put("/v1/protected-persons/P1", {"name": "Lee", "phone": "+82 10 0000 0000"})
    assert r.status_code == 200
    assert r.json()["phone"] == "+82 10 0000 0000"
    assert [p["id"] for p in api.get("/v1/protected-persons").json()] == ["P1"]
    body = api.get("/v1/protected-persons/P1").json()
    assert body["devices"] == [] and body["orders"] == []
    assert api.get("/v1/protected-persons/nobody").status_code == 404


def test_device_location_limit_and_report_interval(app_client):
    """Both are stored, read back, validated, and reach the engine with the device."""
    api = app_client
    api.subject("S1", device=None)
    body = {"kind": "ankle_monitor", "person_id": "S1", "location_limit_s": 900, "report_interval_s": 300}
    r = api.put("/v1/devices/D1", body)
    assert r.status_code == 201
    assert (r.json()["location_limit_s"], r.json()["report_interval_s"]) == (900, 300)
    for bad in ({"location_limit_s": 0}, {"report_interval_s": -5}, {"location_limit_s": 86_401}):
        assert (
            api.put("/v1/devices/D1", {"kind": "ankle_monitor", "person_id": "S1", **bad}).status_code == 422
        )
    r = api.put("/v1/devices/D1", {"kind": "ankle_monitor", "person_id": "S1"})
    assert (r.json()["location_limit_s"], r.json()["report_interval_s"]) == (None, None)


def test_device_from_row_reads_both_limits():
    from types import SimpleNamespace

    from vigil.store.registry import device_from_row

    row = SimpleNamespace(
        id="D1", kind="ankle_monitor", person_id="S1", person_kind="subject", silence_limit_s=None,
        location_limit_s=900.0, report_interval_s=300.0, pursuit_since=None, ble_tag=None,
    )  # fmt: skip
    device = device_from_row(row)
    assert (device.location_limit_s, device.report_interval_s) == (900.0, 300.0)


def test_device_bound_rebound_and_unbound(app_client):
    api = app_client
    api.subject("S1", device=None)
    api.protected("P1", device=None)
    r = api.put("/v1/devices/D1", {"kind": "ankle_monitor", "person_id": "S1", "silence_limit_s": 120})
    assert r.status_code == 201
    assert (r.json()["person_kind"], r.json()["silence_limit_s"]) == ("subject", 120)
    assert [d["id"] for d in api.get("/v1/subjects/S1").json()["devices"]] == ["D1"]
    r = api.put("/v1/devices/D1", {"kind": "phone", "person_id": "P1"})
    assert r.status_code == 200
    assert (r.json()["kind"], r.json()["person_kind"]) == ("phone", "protected_person")
    assert api.get("/v1/subjects/S1").json()["devices"] == []
    assert [d["id"] for d in api.get("/v1/protected-persons/P1").json()["devices"]] == ["D1"]
    r = api.put("/v1/devices/D1", {"kind": "phone", "person_id": None})
    assert r.status_code == 200 and r.json()["person_id"] is None
    assert [d["id"] for d in api.get("/v1/devices").json()] == ["D1"]
    assert api.get("/v1/devices/D1").json()["person_kind"] is None
    assert api.get("/v1/devices/nothing").status_code == 404


def test_device_for_unknown_person_names_person_id(app_client):
    r = app_client.put("/v1/devices/D1", {"kind": "ankle_monitor", "person_id": "ghost"})
    assert fields_of(r) == ["person_id"]
    assert app_client.get("/v1/devices/D1").status_code == 404


def test_order_lifecycle_with_zones(app_client):
    api = app_client
    api.subject("S1", device=None)
    api.protected("P1", device=None)
    zone = {"label": "home", "circle": {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": 200}}
    r = api.order("O1", zones=[zone], reference="court 12")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["subject_id"], body["protected_person_id"], body["reference"]) == ("S1", "P1", "court 12")
    assert [(z["id"], z["label"], z["order_id"]) for z in body["zones"]] == [("O1.z1", "home", "O1")]

    square = [[HOME_LON, HOME_LAT], [HOME_LON + 0.01, HOME_LAT], [HOME_LON + 0.01, HOME_LAT + 0.01]]
    r = api.order("O1", violation_distance_m=200, zones=[{"id": "work", "polygon": square}])
    assert r.status_code == 200, r.text
    assert r.json()["violation_distance_m"] == 200
    assert [z["id"] for z in r.json()["zones"]] == ["work"]  # the old zone is gone
    assert api.get("/v1/orders/O1").json()["zones"][0]["shape"]["polygon"][0] == [HOME_LON, HOME_LAT]
    assert [o["id"] for o in api.get("/v1/orders").json()] == ["O1"]
    assert [o["id"] for o in api.get("/v1/subjects/S1").json()["orders"]] == ["O1"]
    assert [o["id"] for o in api.get("/v1/protected-persons/P1").json()["orders"]] == ["O1"]

    r = api.post("/v1/orders/O1/end")
    assert r.status_code == 200
    assert r.json()["ended_at"] is not None
    assert api.get("/v1/orders").json() == []
    assert [o["id"] for o in api.get("/v1/orders", params={"active": False}).json()] == ["O1"]
    assert api.post("/v1/orders/O1/end").status_code == 409  # already ended
    assert api.order("O1").status_code == 422  # an ended order is not revived: issue a new one
    assert api.get("/v1/orders/O2").status_code == 404
    assert api.post("/v1/orders/O2/end").status_code == 404


def test_subject_zone_put_update_delete(app_client):
    api = app_client
    api.subject("S1", device=None)
    curfew = {
        "kind": "inclusion",
        "label": "home at night",
        "circle": {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": 150},
        "schedule": [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}],
        "timezone": "Asia/Seoul",
    }
    r = api.put("/v1/subjects/S1/zones/Z1", curfew)
    assert r.status_code == 201, r.text
    assert r.json()["schedule"] == {
        "timezone": "Asia/Seoul",
        "windows": [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}],
    }
    r = api.put("/v1/subjects/S1/zones/Z1", {**curfew, "label": "home"})
    assert r.status_code == 200 and r.json()["label"] == "home"
    assert [z["id"] for z in api.get("/v1/subjects/S1").json()["zones"]] == ["Z1"]
    r = app_client.client.delete("/v1/subjects/S1/zones/Z1", headers=api.auth())
    assert r.status_code == 200 and r.json()["removed_at"] is not None
    assert api.get("/v1/subjects/S1").json()["zones"] == []
    assert app_client.client.delete("/v1/subjects/S1/zones/Z1", headers=api.auth()).status_code == 409
    assert app_client.client.delete("/v1/subjects/S1/zones/Z9", headers=api.auth()).status_code == 404
    assert app_client.client.delete("/v1/subjects/S2/zones/Z1", headers=api.auth()).status_code == 404


def test_zone_of_unknown_subject_names_subject_id(app_client):
    r = app_client.put("/v1/subjects/ghost/zones/Z1", {"circle": {"lat": 1, "lon": 2, "radius_m": 50}})
    assert fields_of(r) == ["subject_id"]


# --- validation -----------------------------------------------------------------------------------

ORDER = {
    "subject_id": "S1",
    "protected_person_id": "P1",
    "violation_distance_m": 100,
    "warning_distance_m": 1000,
    "legal_basis": "stalking_provisional_measure",
}


CIRCLE = {"lat": 1, "lon": 2, "radius_m": 50}
TWO_POINTS = [[127.2, 37.6], [127.3, 37.6]]

# (what, path, body, the field the 422 must name)
INVALID: list[tuple[str, str, dict[str, Any], str]] = [
    ("unknown legal basis", "/v1/subjects/S9", {"legal_basis": "vibes"}, "legal_basis"),
    ("missing legal basis", "/v1/subjects/S9", {"name": "x"}, "legal_basis"),
    ("id with a space", "/v1/subjects/bad id", {"legal_basis": "parole"}, "path.subject_id"),
    ("id starting with -", "/v1/subjects/-S9", {"legal_basis": "parole"}, "path.subject_id"),
    ("unknown device kind", "/v1/devices/D9", {"kind": "toaster"}, "kind"),
    ("zone lat 91", "/v1/subjects/S1/zones/Z9", {"circle": {**CIRCLE, "lat": 91}}, "circle.lat"),
    ("polygon of 2 points", "/v1/subjects/S1/zones/Z9", {"polygon": TWO_POINTS}, "body.polygon"),
    (
        "polygon of 2 distinct points",
        "/v1/subjects/S1/zones/Z9",
        {"polygon": [*TWO_POINTS, TWO_POINTS[0]]},
        "body.polygon",
    ),
    (
        "schedule at 25:00",
        "/v1/subjects/S1/zones/Z9",
        {"circle": CIRCLE, "schedule": [{"days": ["mon"], "start": "25:00", "end": "06:00"}]},
        "schedule.0.start",
    ),
    (
        "unknown time zone",
        "/v1/subjects/S1/zones/Z9",
        {
            "circle": CIRCLE,
            "schedule": [{"days": ["mon"], "start": "22:00", "end": "06:00"}],
            "timezone": "Mars/Olympus",
        },
        "timezone",
    ),
    ("warning < violation", "/v1/orders/O9", {**ORDER, "warning_distance_m": 50}, "warning_distance_m"),
    ("order legal basis", "/v1/orders/O9", {**ORDER, "legal_basis": "grudge"}, "legal_basis"),
    ("naive datetime", "/v1/orders/O9", {**ORDER, "valid_from": "2025-06-01T00:00:00"}, "valid_from"),
    (
        "until before from",
        "/v1/orders/O9",
        {**ORDER, "valid_from": "2025-06-02T00:00:00Z", "valid_until": "2025-06-01T00:00:00Z"},
        "valid_until",
    ),
    ("bad subject id", "/v1/orders/O9", {**ORDER, "subject_id": "x y"}, "subject_id"),
    (
        "order zone of 2 points",
        "/v1/orders/O9",
        {**ORDER, "zones": [{"polygon": TWO_POINTS}]},
        "zones[0].polygon",
    ),
    (
        "order zone lon 181",
        "/v1/orders/O9",
        {**ORDER, "zones": [{"circle": {**CIRCLE, "lon": 181}}]},
        "zones.0.circle.lon",
    ),
    ("unknown subject", "/v1/orders/O9", {**ORDER, "subject_id": "ghost"}, "subject_id"),
    (
        "unknown protected person",
        "/v1/orders/O9",
        {**ORDER, "protected_person_id": "ghost"},
        "protected_person_id",
    ),
    ("subject is a protected person", "/v1/orders/O9", {**ORDER, "subject_id": "P1"}, "subject_id"),
]


def test_validation_errors_name_the_field(app_client):
    """All cases against one app (an app per case would double the suite's run time)."""
    app_client.subject("S1", device=None)
    app_client.protected("P1", device=None)
    wrong = []
    for what, path, body, field in INVALID:
        r = app_client.put(path, body)
        detail = r.json().get("detail") if r.status_code == 422 else None
        if not detail or field not in [e["field"] for e in detail] or not all(e["reason"] for e in detail):
            wrong.append((what, r.status_code, r.json()))
    assert wrong == []
    with app_client.db.connect() as conn:
        for table in (t.orders, t.zones):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    assert app_client.get("/v1/subjects/S9").status_code == 404


def test_order_added_to_a_monitored_subject_protects_at_once(app_client):
    """Both parties report 50 m apart before any order exists; the order alone raises the violation."""
    api = app_client
    api.subject("S1", "AM-1")
    api.protected("P1", "W-1")
    r = api.send([api.fix("W-1", HOME_LAT, seconds=-10), api.fix("AM-1", api.north(50), seconds=-10)])
    assert r.status_code == 200, r.text
    assert api.get("/v1/alerts").json() == []
    fixes_before = api.count(t.fixes)

    r = api.order("O1")
    assert r.status_code == 201, r.text
    alerts = api.get("/v1/alerts").json()
    assert [(a["kind"], a["state"], a["order"], a["subject"], a["protected_person"]) for a in alerts] == [
        ("proximity_violation", "open", "O1", "S1", "P1")
    ]
    assert 40 < alerts[0]["facts"]["distance_m"] < 60
    assert api.count(t.fixes) == fixes_before  # no further fix was needed
