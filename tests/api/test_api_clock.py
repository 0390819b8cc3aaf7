"""Alarms are never refused for their time: a device clock ahead, behind or broken costs no alarm and
no position. A report whose time is not believed is judged at its receipt, stored with both times and
marked clock_suspect; retries are still stored once; a server clock stepped back flags no one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_kit import ENV_PATH, HOME_LAT, north
from sqlalchemy import select

from vigil.processor import GARBAGE_TIME
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # times in any offset stored and read back; retries stored once


def events_of(api: Any, device: str) -> list[Any]:
    with api.db.connect() as conn:
        return list(
            conn.execute(
                select(t.device_events)
                .where(t.device_events.c.device_id == device)
                .order_by(t.device_events.c.id)
            )
        )


def open_alerts(api: Any, kind: str) -> list[dict[str, Any]]:
    return [a for a in api.get("/v1/alerts").json() if a["kind"] == kind and a["active"]]


def suspect(doubt: str, device_time: datetime, received_at: datetime) -> dict[str, str]:
    return {"doubt": doubt, "device_time": device_time.isoformat(), "received_at": received_at.isoformat()}


def test_a_strap_cut_seven_minutes_ahead_raises_tamper_judged_at_receipt(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    now = api.clock()
    claimed = now + timedelta(minutes=7)
    r = api.send({"device": "AM-1", "at": claimed.isoformat(), "event": "strap_cut"})
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 1, "duplicates": 0, "errors": []}
    [row] = events_of(api, "AM-1")
    assert (row.kind, row.time, row.device_time, row.received_at) == ("strap_cut", now, claimed, now)
    assert row.detail == {"clock_suspect": "future"}
    [alert] = open_alerts(api, "tamper")
    assert alert["subject"] == "S1" and alert["late"] is False
    assert alert["facts"]["clock_suspect"] == suspect("future", claimed, now)
    assert alert["facts"]["occurred_at"] == now.isoformat()
    timeline = api.get(f"/v1/alerts/{alert['id']}").json()["timeline"]
    assert timeline[0]["facts"]["clock_suspect"]["device_time"] == claimed.isoformat()


def test_an_event_fix_inherits_the_judgement(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    now = api.clock()
    claimed = now + timedelta(minutes=7)
    message = {"device": "AM-1", "at": claimed.isoformat(), "event": "case_open",
               "fix": {"lat": north(30), "lon": api.HOME_LON, "accuracy_m": 5}}  # fmt: skip
    assert api.send(message).status_code == 200
    [fix] = api.fixes_of("AM-1")
    assert (fix.time, fix.device_time) == (now, claimed)
    [alert] = open_alerts(api, "tamper")
    assert alert["facts"]["subject_position"]["time"] == now.isoformat()
    assert alert["facts"]["subject_position"]["lat"] == north(30)


def test_osmand_sos_400_s_ahead_is_accepted_and_raises_sos(app_client):
    api = app_client
    api.protected("P1", "W-1")
    now = api.clock()
    claimed = now + timedelta(seconds=400)
    params = {"id": "W-1", "timestamp": str(int(claimed.timestamp())), "lat": "37.6012", "lon": "127.2034",
              "alarm": "sos", "token": api.tokens["gateway"]}  # fmt: skip
    r = api.client.get("/osmand", params=params)
    assert r.status_code == 200, r.text
    [alert] = open_alerts(api, "sos")
    assert alert["protected_person"] == "P1"
    assert alert["facts"]["clock_suspect"] == suspect("future", claimed, now)
    [row] = events_of(api, "W-1")
    assert (row.kind, row.time, row.device_time) == ("sos", now, claimed)
    [fix] = api.fixes_of("W-1")
    assert (fix.time, fix.device_time) == (now, claimed)


def test_a_fix_ten_minutes_ahead_is_stored_at_receipt_with_its_claimed_time(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    now = api.clock()
    claimed = now + timedelta(minutes=10)
    r = api.send({"device": "AM-1", "at": claimed.isoformat(), "fix": {"lat": 37.61, "lon": 127.2}})
    assert r.status_code == 200, r.text
    [row] = api.fixes_of("AM-1")
    assert (row.time, row.device_time, row.received_at) == (now, claimed, now)
    live = {f["properties"]["person"]: f for f in api.get("/v1/positions", params=_WATCH).json()["features"]}
    assert live["S1"]["properties"]["time"] == now.isoformat()  # it moved the live position


_WATCH = {"purpose": "monitoring", "reason": "control-centre watch"}


def test_a_buffered_batch_ahead_keeps_its_spacing(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    now = api.clock()
    ahead = now + timedelta(minutes=10)
    batch = [
        {
            "device": "AM-1",
            "at": (ahead - timedelta(seconds=s)).isoformat(),
            "fix": {"lat": 37.6, "lon": 127.2},
        }
        for s in (60, 30, 0)
    ]
    assert api.send(batch).json() == {"stored": 3, "duplicates": 0, "errors": []}
    rows = api.fixes_of("AM-1")
    assert [r.time for r in rows] == [now - timedelta(seconds=60), now - timedelta(seconds=30), now]
    assert [r.device_time for r in rows] == [ahead - timedelta(seconds=s) for s in (60, 30, 0)]


def test_a_fix_from_1999_is_refused_by_name_and_the_rest_of_the_batch_is_stored(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    batch = [
        api.fix("AM-1", 37.6001, seconds=-30),
        {"device": "AM-1", "at": "1999-12-31T23:59:59+00:00", "fix": {"lat": 37.6, "lon": 127.2}},
        {"device": "AM-1", "at": "1999-06-01T00:00:00+00:00", "event": "heartbeat"},  # routine, not an alarm
        api.fix("AM-1", 37.6002, seconds=-20),
    ]
    r = api.send(batch)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["stored"], body["duplicates"]) == (2, 0)
    assert [(e["index"], e["field"], e["reason"]) for e in body["errors"]] == [
        (1, "messages[1].at", GARBAGE_TIME),
        (2, "messages[2].at", GARBAGE_TIME),
    ]
    assert [row.lat for row in api.fixes_of("AM-1")] == [37.6001, 37.6002]
    assert events_of(api, "AM-1") == []


def test_an_alarm_stamped_1980_is_accepted_and_raises(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.protected("P1", "W-1")
    now = api.clock()
    cold_start = datetime(1980, 1, 6, tzinfo=UTC)  # the GPS epoch, what a receiver says before it knows
    r = api.send(
        [
            {"device": "AM-1", "at": cold_start.isoformat(), "event": "strap_open",
             "fix": {"lat": 37.6, "lon": 127.2}},
            {"device": "W-1", "at": "0001-01-01T00:00:00+00:00", "event": "sos"},
        ]
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2
    [tamper] = open_alerts(api, "tamper")
    assert tamper["facts"]["clock_suspect"] == suspect("garbage", cold_start, now)
    [sos] = open_alerts(api, "sos")
    assert sos["facts"]["clock_suspect"]["doubt"] == "garbage"
    [row] = events_of(api, "AM-1")
    assert (row.time, row.device_time) == (now, cold_start)
    [fix] = api.fixes_of("AM-1")  # the alarm's fix is taken with it, at receipt
    assert (fix.time, fix.device_time) == (now, cold_start)
    [row] = events_of(api, "W-1")
    assert row.time == now and row.device_time.year == 2  # kept as near as every store can read back


def test_an_event_far_behind_the_devices_last_message_is_clock_suspect(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    assert api.send(api.fix("AM-1", 37.6, seconds=-10)).status_code == 200
    api.clock.advance(5)
    now = api.clock()
    reset = now - timedelta(days=3)  # a clock that lost its time and came back days behind
    r = api.send({"device": "AM-1", "at": reset.isoformat(), "event": "power_off"})
    assert r.status_code == 200, r.text
    [alert] = open_alerts(api, "power_off")
    assert alert["facts"]["clock_suspect"] == suspect("behind", reset, now)
    assert alert["late"] is False
    [row] = events_of(api, "AM-1")
    assert (row.time, row.device_time) == (now, reset)
    # an ordinary late fix (minutes behind) is still judged at its own time, unmarked
    assert api.send(api.fix("AM-1", 37.6003, seconds=-120)).status_code == 200
    assert [r.device_time for r in api.fixes_of("AM-1")] == [None, None]


def test_a_server_clock_stepped_back_does_not_flag_devices_reporting_the_right_time(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    true_now = api.clock()
    assert api.send(api.fix("AM-1", 37.6, seconds=0)).status_code == 200
    api.clock.advance(-600)  # the server's clock is stepped back ten minutes
    for step in (1, 2):
        right = true_now + timedelta(seconds=step)
        r = api.send([{"device": "AM-1", "at": right.isoformat(), "fix": {"lat": 37.6, "lon": 127.2}},
                      {"device": "AM-1", "at": right.isoformat(), "event": "strap_cut"}])  # fmt: skip
        assert r.json() == {"stored": 2, "duplicates": 0, "errors": []}, r.text
        assert [f.device_time for f in api.fixes_of("AM-1")][-1] is None
        assert api.fixes_of("AM-1")[-1].time == right
        [alert] = open_alerts(api, "tamper")
        assert alert["facts"]["clock_suspect"] is None
        api.restart()  # the newest receipt is taken back from the database


def test_a_retried_clock_suspect_report_is_stored_once(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    claimed = api.clock() + timedelta(minutes=7)
    batch = [
        {"device": "AM-1", "at": claimed.isoformat(), "event": "strap_cut"},
        {
            "device": "AM-1",
            "at": (claimed + timedelta(seconds=3)).isoformat(),
            "fix": {"lat": 37.6, "lon": 127.2},
        },
    ]
    assert api.send(batch).json() == {"stored": 2, "duplicates": 0, "errors": []}
    api.clock.advance(30)
    assert api.send(batch).json() == {"stored": 0, "duplicates": 2, "errors": []}
    api.restart()
    assert api.send(batch).json() == {"stored": 0, "duplicates": 2, "errors": []}
    # sent again once the server's clock has caught up (its time now believed): still the same report
    api.clock.advance(300)
    assert api.send(batch).json() == {"stored": 0, "duplicates": 2, "errors": []}
    assert len(events_of(api, "AM-1")) == 1
    assert len(api.fixes_of("AM-1")) == 1
    [alert] = open_alerts(api, "tamper")
    assert len(api.get(f"/v1/alerts/{alert['id']}").json()["timeline"]) == 1


def test_a_trusted_report_sent_again_when_it_looks_far_behind_is_stored_once(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    first = api.fix("AM-1", 37.6, seconds=0)
    assert api.send(first).status_code == 200
    api.clock.advance(2 * 86_400)
    assert api.send(api.fix("AM-1", 37.6001, seconds=0)).status_code == 200
    assert api.send(first).json() == {"stored": 0, "duplicates": 1, "errors": []}
    assert len(api.fixes_of("AM-1")) == 2


def test_the_device_cannot_mark_its_own_clock(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    r = api.send(
        {"device": "AM-1", "at": api.at(-1), "event": "strap_cut", "detail": {"clock_suspect": "no"}}
    )
    assert r.status_code == 200, r.text
    [row] = events_of(api, "AM-1")
    assert row.detail == {} and row.device_time is None


def test_the_push_to_dispatch_says_clock_suspect(dispatch_client, receiver):
    api = dispatch_client
    api.subject("S1", "AM-1")
    now = api.clock()
    claimed = now + timedelta(minutes=7)
    message = {"device": "AM-1", "at": claimed.isoformat(), "event": "strap_cut",
               "fix": {"lat": HOME_LAT, "lon": api.HOME_LON, "accuracy_m": 5}}  # fmt: skip
    assert api.send(message).status_code == 200
    [event] = receiver.wait(ENV_PATH, 1)
    assert receiver.problems == []
    alert = event["data"]["alert"]
    assert alert["kind"] == "tamper"
    mark = alert["clock_suspect"]
    assert mark["doubt"] == "future"
    assert datetime.fromisoformat(mark["device_time"]) == claimed
    assert datetime.fromisoformat(mark["received_at"]) == now
    assert datetime.fromisoformat(alert["occurred_at"]) == now
    assert "clock" in event["data"]["cap"].lower() or "시계" in event["data"]["cap"]
