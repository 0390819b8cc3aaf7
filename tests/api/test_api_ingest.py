"""Device ingestion over HTTP: native JSON and OsmAnd, partial refusals, idempotent retries, limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from api_kit import WATCH

from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # idempotent retries (ON CONFLICT)

KNOT = 0.514444


def track(api, person: str) -> list[dict]:
    since = (api.clock() - timedelta(hours=1)).isoformat()
    r = api.get(
        f"/v1/people/{person}/track",
        params={"since": since, "purpose": "investigation", "reason": "checking what was stored"},
    )
    assert r.status_code == 200, r.text
    return r.json()["features"]


def live(api) -> dict[str, dict]:
    r = api.get("/v1/positions", params=WATCH)
    assert r.status_code == 200, r.text
    return {f["properties"]["person"]: f for f in r.json()["features"]}


def test_batch_keeps_good_messages_and_names_each_refusal(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    good_1 = api.fix("AM-1", 37.6001, seconds=-30)
    good_2 = api.fix("AM-1", 37.6002, seconds=-20)
    batch = [
        good_1,
        api.fix("NOPE-9", 37.6, seconds=-30),  # unknown device
        api.fix("AM-1", 91.0, seconds=-25),  # latitude out of range
        {"device": "AM-1", "at": api.at(-24), "fix": {"lat": "NaN", "lon": 127.2}},  # not a number
        {"device": "AM-1", "at": "1999-12-31T23:00:00Z", "fix": {"lat": 37.6, "lon": 127.2}},  # garbage time
        {"device": 42, "at": api.at(-23), "fix": {"lat": 37.6, "lon": 127.2}},  # wrong type
        {"device": "AM-1", "at": 1700000000, "fix": {"lat": 37.6, "lon": 127.2}},  # wrong type
        {"device": "AM-1", "at": api.at(-22), "fix": {"lat": 37.6, "lon": [127.2]}},  # wrong type
        good_2,
    ]
    r = api.send(batch)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["stored"], body["duplicates"]) == (2, 0)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "messages[1].device"),
        (2, "messages[2].fix.lat"),
        (3, "messages[3].fix.lat"),
        (4, "messages[4].at"),
        (5, "messages[5].device"),
        (6, "messages[6].at"),
        (7, "messages[7].fix.lon"),
    ]
    assert all(e["reason"] for e in body["errors"])
    features = track(api, "S1")
    assert [f["geometry"]["coordinates"][1] for f in features] == [37.6001, 37.6002]
    assert api.count(t.fixes) == 2


def test_retried_batch_is_acknowledged_and_stored_once(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.protected("P1", "W-1")
    batch = [
        api.fix("AM-1", 37.61, seconds=-30),
        api.fix("W-1", 37.60, seconds=-30),
        {"device": "AM-1", "at": api.at(-25), "event": "battery_low"},
        api.fix("AM-1", 37.611, seconds=-20),
    ]
    first = api.send(batch)
    assert first.status_code == 200, first.text
    assert (first.json()["stored"], first.json()["duplicates"]) == (4, 0)
    again = api.send(batch)
    assert again.status_code == 200, again.text
    assert again.json() == {"stored": 0, "duplicates": len(batch), "errors": []}
    assert api.count(t.fixes) == 3
    assert api.count(t.device_events) == 1
    # and a retry after a restart, when the processor's memory of the newest reports is rebuilt
    api.restart()
    assert api.send(batch).json() == {"stored": 0, "duplicates": len(batch), "errors": []}
    assert api.count(t.fixes) == 3


def test_out_of_order_fix_is_stored_and_the_live_position_does_not_go_back(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    assert api.send(api.fix("AM-1", 37.602, seconds=-10)).status_code == 200
    assert api.send(api.fix("AM-1", 37.601, seconds=-60)).status_code == 200  # measured earlier
    assert [f["geometry"]["coordinates"][1] for f in track(api, "S1")] == [37.601, 37.602]
    position = live(api)["S1"]
    assert position["geometry"]["coordinates"] == [127.2, 37.602]
    assert position["properties"]["time"] == api.at(-10)
    assert position["properties"]["person_kind"] == "subject"


def test_malformed_json_is_400(app_client):
    r = app_client.client.post(
        "/v1/devices/messages",
        content=b'[{"device": "AM-1", "at": ',
        headers={**app_client.auth("gateway"), "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "body"
    r = app_client.client.post(
        "/v1/devices/messages",
        content=b'{"device": "AM-1", "fix": {"lat": NaN, "lon": 1}}',
        headers=app_client.auth("gateway"),
    )
    assert r.status_code == 400


@pytest.mark.app_settings(max_body_bytes=1024)
def test_oversize_body_is_413(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    big = [api.fix("AM-1", 37.6, seconds=-i) for i in range(1, 40)]
    assert len(json.dumps(big)) > 1024
    r = api.send(big)
    assert r.status_code == 413
    assert api.count(t.fixes) == 0

    def chunks():  # no Content-Length: refused while streaming
        for _ in range(10):
            yield b" " * 200

    r = api.client.post("/v1/devices/messages", content=chunks(), headers=api.auth("gateway"))
    assert r.status_code == 413
    assert api.send(big[:3]).status_code == 200


def test_alarm_with_an_invalid_fix_is_kept_and_raises_tamper(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    r = api.send(
        {"device": "AM-1", "at": api.at(-5), "event": "strap_cut", "fix": {"lat": 123, "lon": 127.2}}
    )
    assert r.status_code == 422, r.text
    assert r.json()["stored"] == 1
    assert [e["field"] for e in r.json()["errors"]] == ["messages[0].fix.lat"]
    assert api.count(t.device_events, t.device_events.c.kind == "strap_cut") == 1
    assert api.count(t.fixes) == 0
    alerts = api.get("/v1/alerts").json()
    assert [(a["kind"], a["severity"], a["subject"]) for a in alerts] == [("tamper", "critical", "S1")]


def test_bound_device_token_may_post_only_for_its_device(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    r = api.send([api.fix("AM-2", 37.6, seconds=-5), api.fix("AM-1", 37.6, seconds=-5)], who="bound")
    assert r.status_code == 422, r.text
    assert r.json()["stored"] == 1
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(0, "messages[0].device")]
    assert "own device" in r.json()["errors"][0]["reason"]
    assert len(api.fixes_of("AM-1")) == 1 and api.fixes_of("AM-2") == []


# --- OsmAnd -----------------------------------------------------------------------------------------


def osmand_params(api, device: str = "W-1", seconds: float = -5, **extra) -> dict:
    when = datetime.fromisoformat(api.at(seconds))
    return {
        "id": device,
        "timestamp": str(int(when.timestamp())),
        "lat": "37.6012",
        "lon": "127.2034",
        "speed": "10",
        "bearing": "90.5",
        "altitude": "30",
        "accuracy": "12.5",
        "batt": "76",
        **extra,
    }


def test_osmand_query_with_token(app_client):
    api = app_client
    api.protected("P1", "W-1")
    r = api.client.get("/osmand", params={**osmand_params(api), "token": api.tokens["gateway"]})
    assert r.status_code == 200, r.text
    (row,) = api.fixes_of("W-1")
    assert (row.lat, row.lon, row.accuracy_m, row.heading_deg, row.battery_pct) == (
        37.6012,
        127.2034,
        12.5,
        90.5,
        76,
    )
    assert row.speed_mps == pytest.approx(10 * KNOT, rel=1e-5)
    feature = live(api)["P1"]
    assert feature["properties"]["speed_mps"] == pytest.approx(5.14444, rel=1e-5)
    assert feature["properties"]["person_kind"] == "protected_person"


def test_osmand_unknown_device_is_400(app_client):
    api = app_client
    r = api.client.get(
        "/osmand", params={**osmand_params(api, device="ghost"), "token": api.tokens["gateway"]}
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "messages[0].device"
    r = api.client.get("/osmand", params={"lat": "1", "lon": "2", "token": api.tokens["gateway"]})
    assert r.status_code == 400  # no id at all


def test_osmand_token_in_path(app_client):
    api = app_client
    api.protected("P1", "W-1")
    r = api.client.get(f"/osmand/t/{api.tokens['gateway']}", params=osmand_params(api))
    assert r.status_code == 200, r.text
    assert len(api.fixes_of("W-1")) == 1
    assert api.client.get("/osmand/t/not-a-token", params=osmand_params(api, seconds=-4)).status_code == 401
    r = api.client.get(f"/osmand/t/{api.tokens['operator']}", params=osmand_params(api, seconds=-4))
    assert r.status_code == 403


def test_osmand_form_post(app_client):
    api = app_client
    api.protected("P1", "W-1")
    r = api.client.post(
        "/osmand",
        data=osmand_params(api, speed="2"),
        headers=api.auth("gateway"),
    )
    assert r.status_code == 200, r.text
    (row,) = api.fixes_of("W-1")
    assert row.speed_mps == pytest.approx(2 * KNOT, rel=1e-5)


def test_osmand_json_body(app_client):
    api = app_client
    api.protected("P1", "W-1")
    doc = {
        "device_id": "W-1",
        "location": {
            "timestamp": api.at(-3),
            "coords": {"latitude": 37.6, "longitude": 127.2, "accuracy": 8, "speed": 1.5, "heading": 10},
            "battery": {"level": 0.5},
        },
    }
    r = api.client.post("/osmand", json=doc, headers=api.auth("gateway"))
    assert r.status_code == 200, r.text
    (row,) = api.fixes_of("W-1")
    assert (row.speed_mps, row.battery_pct) == (1.5, 50)  # JSON speed is m/s already
