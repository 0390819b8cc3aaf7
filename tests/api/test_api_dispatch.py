"""The push to dispatch, end to end: a real HTTP receiver on loopback checks every signature and every
payload (CloudEvents, CAP XSD, EIDO), while the server's clock is moved by hand to play out minutes of
outage, Retry-After pauses and acknowledgement deadlines."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_kit import ENV_PATH, north, wait_until
from standardwebhooks.webhooks import Webhook

pytestmark = pytest.mark.both_backends  # the outbox: savepoints, deliveries stored once, restarts

SEOUL = ("/seoul-police", "/national-police", "/probation")


def play(api: Any, seconds: float, step_s: float = 5.0) -> None:
    """Move the server's clock `seconds` ahead in steps, giving the deliverer a moment at each."""
    done = 0.0
    while done < seconds:
        api.clock.advance(min(step_s, seconds - done))
        done += step_s
        api.client.app.state.services.deliverer.kick()
        time.sleep(0.03)


def deliveries(api: Any, alert_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/v1/alerts/{alert_id}/deliveries")
    assert r.status_code == 200, r.text
    return list(r.json())


def callback(api: Any, receiver: Any, path: str, target: str, body: Any, *, at: datetime | None = None,
             message_id: str | None = None, secret: str | None = None) -> Any:  # fmt: skip
    raw = json.dumps(body)
    message_id = message_id or f"cb-{uuid.uuid4()}"
    when = at or datetime.now(UTC)
    signature = Webhook(secret or receiver.secrets[path]).sign(message_id, when, raw)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(when.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}  # fmt: skip
    return api.client.post(f"/v1/dispatch/callbacks/{target}", content=raw, headers=headers)


def add_target(api: Any, receiver: Any, target: str, path: str, **body: Any) -> None:
    r = api.put(
        f"/v1/dispatch/targets/{target}",
        {"name": target, "url": receiver.url + path, "secret": receiver.secrets[path], **body},
        who="admin",
    )
    assert r.status_code in (200, 201), r.text


# --- the push -----------------------------------------------------------------------------------------


def test_a_violation_is_pushed_signed_valid_and_complete(dispatch_client, receiver):
    api = dispatch_client
    alert_id = api.violation()
    [event] = receiver.wait(ENV_PATH, 1)
    assert receiver.problems == []
    assert event["type"] == "org.vigil.alert.opened"
    assert event["subject"] == alert_id
    assert event["specversion"] == "1.0"
    alert = event["data"]["alert"]
    assert alert["kind"] == "proximity_violation"
    assert alert["subject"]["id"] == "S1" and alert["protected_person"]["id"] == "P1"
    assert alert["subject"]["position"]["accuracy_m"] == 5
    assert alert["protected_person"]["area"]["code"]  # jurisdiction from the position
    assert alert["order"]["legal_basis"] == "stalking_provisional_measure"
    plan = {task["agency"]: task for task in alert["response_plan"]}
    assert plan["probation"]["basis"] == "live_position"
    assert plan["police"]["basis"] == "live_position"
    incident = api.get(f"/v1/alerts/{alert_id}").json()["incident"]  # the link opens the incident
    assert alert["live_track_url"].startswith(f"https://vigil.test/field/?incident={incident}&token=inc_")
    assert "<identifier>" in event["data"]["cap"] and event["data"]["eido"]
    [delivery] = wait_until(lambda: [d for d in deliveries(api, alert_id) if d["state"] == "delivered"])
    assert (delivery["target"], delivery["attempts"], delivery["last_status"]) == ("env-default", 1, 200)
    assert api.get(f"/v1/alerts/{alert_id}").json()["deliveries"] == [delivery]  # also in the detail


def test_material_updates_and_the_close_are_pushed_with_references(dispatch_client, receiver):
    api = dispatch_client
    alert_id = api.violation()
    receiver.wait(ENV_PATH, 1)
    api.send([api.fix("AM-1", north(60))])  # 10 m: not news for a dispatcher
    api.send([api.fix("AM-1", north(-60), seconds=2)])  # 120 m across her in 2 s: news
    events = receiver.wait(ENV_PATH, 2)
    assert [e["type"] for e in events] == ["org.vigil.alert.opened", "org.vigil.alert.updated"]
    assert (
        api.post(f"/v1/alerts/{alert_id}/steps", {"state": "false_alarm", "note": "test"}).status_code == 200
    )
    events = receiver.wait(ENV_PATH, 3)
    closing = events[2]
    assert closing["type"] == "org.vigil.alert.closed"
    assert "<msgType>Cancel</msgType>" in closing["data"]["cap"]
    for earlier in events[:2]:
        assert earlier["id"] in closing["data"]["cap"]  # CAP references name every earlier push
    assert [e["sequence"] for e in events] == [1, 2, 3] or [int(e["sequence"]) for e in events] == [1, 2, 3]
    assert receiver.problems == []


@pytest.mark.app_settings(
    dispatch_alarm_after_s=120, dispatch_backoff_s=1, dispatch_backoff_max_s=30, dispatch_ack_timeout_s=3600
)
def test_target_down_for_minutes_then_up_delivers_everything_once_in_order(
    dispatch_client, receiver, gateway
):
    api = dispatch_client
    receiver.down()
    first = api.violation()
    for step, metres in enumerate((-50, 60, -60, 55)):  # crossing her each time: every one is news
        # two seconds apart: 110 m a second would be an impossible move, which moves no one
        api.send([api.fix("AM-1", north(metres), seconds=2 * (step + 1))])
    second = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    play(api, 150, step_s=10)  # two and a half minutes of refused connections
    status = api.get("/v1/dispatch/status").json()  # the operators' panel raises the backlog
    assert [a["kind"] for a in status["alarms"]] == ["outbox_backlog"], status
    assert "cluster" not in status  # the embedded mode has no cluster to tell of
    attempts = [d["attempts"] for d in deliveries(api, first)]
    assert attempts[0] >= 3  # it kept trying, backing off
    assert attempts[0] < 40  # ... but not in a tight loop
    alarms = [a for a in api.get("/v1/alerts").json() if a["kind"] == "dispatch_failure"]
    assert {a["subject"] for a in alarms} == {"S1", "S2"}  # operators see it on the dashboard
    wait_until(lambda: len(gateway.sms) == 2)  # the fallback channel, once per undelivered alert
    receiver.up()
    play(api, 120, step_s=10)
    wait_until(lambda: all(d["state"] == "delivered" for a in (first, second) for d in deliveries(api, a)))
    events = receiver.events(ENV_PATH)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))  # each exactly once by id
    stored = {d["event"] for a in (first, second) for d in deliveries(api, a)}
    assert set(ids) == stored
    for alert_id in (first, second):
        sequence = [int(e["sequence"]) for e in events if e["subject"] == alert_id]
        assert sequence == sorted(sequence), sequence  # in order per alert
    assert len([e for e in events if e["subject"] == first]) == 5
    assert {s["alert"] for s in gateway.sms} == {first, second}
    assert api.get("/v1/dispatch/status").json()["alarms"] == []
    cleared = [a for a in api.get("/v1/alerts").json() if a["kind"] == "dispatch_failure"]
    assert all(not a["active"] for a in cleared)  # delivered at last: the alarm condition ended
    assert receiver.problems == []


@pytest.mark.app_settings(dispatch_ack_timeout_s=3600)
def test_429_with_retry_after_is_honoured(dispatch_client, receiver):
    api = dispatch_client
    receiver.scripts[ENV_PATH].queue.append((429, {"Retry-After": "120"}))
    alert_id = api.violation()
    wait_until(lambda: deliveries(api, alert_id)[0]["attempts"] == 1)
    play(api, 100, step_s=10)
    assert deliveries(api, alert_id)[0]["attempts"] == 1  # still waiting, as asked
    play(api, 30, step_s=10)
    [done] = wait_until(lambda: [d for d in deliveries(api, alert_id) if d["state"] == "delivered"])
    assert done["attempts"] == 2
    assert len(receiver.events(ENV_PATH)) == 1


def test_410_disables_the_target_and_tells_operators(dispatch_client, receiver):
    api = dispatch_client
    add_target(api, receiver, "seoul-police", "/seoul-police", agency="police", priority=1)
    receiver.scripts["/seoul-police"].status = 410
    alert_id = api.violation()
    wait_until(lambda: any(d["state"] == "gone" for d in deliveries(api, alert_id)))
    targets = {t["id"]: t for t in api.get("/v1/dispatch/targets", who="admin").json()}
    assert targets["seoul-police"]["enabled"] is False
    assert "410" in targets["seoul-police"]["disabled_reason"]
    alarms = [a for a in api.get("/v1/alerts").json() if a["kind"] == "dispatch_failure"]
    assert any("410" in (a["facts"].get("event") or "") for a in alarms)
    second = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    receiver.wait(ENV_PATH, 2)
    assert {d["target"] for d in deliveries(api, second)} == {"env-default"}  # no longer pushed to it


@pytest.mark.app_settings(dispatch_ack_timeout_s=60, dispatch_url=None)
def test_an_unacknowledged_violation_escalates_to_the_next_target(dispatch_client, receiver):
    api = dispatch_client
    # Seoul's own 112 centre first, the national centre next; probation separately.
    add_target(
        api, receiver, "seoul-police", "/seoul-police", agency="police", codes=["11", "31"], priority=1
    )
    add_target(api, receiver, "national-police", "/national-police", agency="police", priority=2)
    add_target(api, receiver, "probation", "/probation", agency="probation", priority=1)
    alert_id = api.violation()
    receiver.wait("/seoul-police", 1)
    receiver.wait("/probation", 1)
    assert receiver.events("/national-police") == []
    r = callback(api, receiver, "/probation", "probation", {"alert": alert_id, "status": "received"})
    assert r.status_code == 200, r.text
    play(api, 65, step_s=5)
    [escalated] = receiver.wait("/national-police", 1)
    assert escalated["escalation"] in (1, "1")
    assert escalated["data"]["alert"]["escalation"]["level"] == 1
    assert len(receiver.events("/probation")) == 1  # probation answered: not escalated
    timeline = api.get(f"/v1/alerts/{alert_id}").json()["timeline"]
    flags = [c for c in timeline if c["change"] == "unacknowledged"]
    assert len(flags) == 1 and "national-police" in flags[0]["note"]
    assert receiver.problems == []


# --- the way back -------------------------------------------------------------------------------------


def test_the_full_callback_cycle_moves_the_alert(dispatch_client, receiver):
    api = dispatch_client
    add_target(api, receiver, "seoul-police", "/seoul-police", agency="police", priority=1)
    alert_id = api.violation()
    receiver.wait("/seoul-police", 1)

    def report(status: str, **extra: Any) -> Any:
        body = {"alert": alert_id, "status": status, **extra}
        return callback(api, receiver, "/seoul-police", "seoul-police", body)

    for status, extra, state in (
        ("received", {}, "open"),
        ("accepted", {"incident": "SEOUL-2026-1"}, "acknowledged"),
        ("units_assigned", {"units": ["Patrol 12"]}, "dispatched"),
        ("en_route", {}, "dispatched"),
        ("on_scene", {}, "on_scene"),
        ("closed", {"outcome": "resolved", "note": "subject detained"}, "resolved"),
    ):
        r = report(status, **extra)
        assert r.status_code == 200, (status, r.text)
        assert r.json()["state"] == state
    timeline = api.get(f"/v1/alerts/{alert_id}").json()["timeline"]
    assert [(c["change"], c["actor"]) for c in timeline[1:]] == [
        ("callback", "dispatch:seoul-police"),
        ("acknowledged", "dispatch:seoul-police"),
        ("dispatched", "dispatch:seoul-police"),
        ("callback", "dispatch:seoul-police"),
        ("on_scene", "dispatch:seoul-police"),
        ("resolved", "dispatch:seoul-police"),
    ]
    assert "Patrol 12" in timeline[3]["note"] and "subject detained" in timeline[6]["note"]
    events = receiver.wait(ENV_PATH, 2)  # the close goes to every target told
    assert events[-1]["type"] == "org.vigil.alert.closed"


def test_bad_callbacks_are_refused_and_change_nothing(dispatch_client, receiver):
    api = dispatch_client
    add_target(api, receiver, "seoul-police", "/seoul-police", agency="police", priority=1)
    alert_id = api.violation()
    receiver.wait("/seoul-police", 1)
    path, target = "/seoul-police", "seoul-police"
    ok = {"alert": alert_id, "status": "on_scene"}

    def timeline() -> list[Any]:
        return list(api.get(f"/v1/alerts/{alert_id}").json()["timeline"])

    before = timeline()
    cases = [
        (callback(api, receiver, path, target, ok, secret=receiver.secrets["/probation"]), 401),
        (callback(api, receiver, path, target, ok, at=datetime.now(UTC) - timedelta(minutes=10)), 401),
        (api.client.post(f"/v1/dispatch/callbacks/{target}", json=ok), 401),  # unsigned
        (callback(api, receiver, path, "nobody", ok), 401),  # unknown target
        (callback(api, receiver, path, target, {**ok, "alert": "no-such-alert"}), 404),
        (callback(api, receiver, path, target, {**ok, "status": "teleported"}), 422),
        (callback(api, receiver, path, target, {"alert": alert_id, "status": "rejected"}), 422),
        (callback(api, receiver, path, target, {"alert": alert_id, "status": "closed"}), 422),
    ]
    for response, expected in cases:
        assert response.status_code == expected, (expected, response.text)
    assert timeline() == before
    # A report about an alert this target was never sent is refused like an unknown alert.
    add_target(api, receiver, "probation", "/probation", agency="probation", codes=["99"])
    assert callback(api, receiver, "/probation", "probation", ok).status_code == 404
    # Forward, then backward: the backward step is illegal and changes nothing.
    assert callback(api, receiver, path, target, ok).status_code == 200
    settled = timeline()
    r = callback(api, receiver, path, target, {"alert": alert_id, "status": "en_route"})
    assert r.status_code == 409 and "backwards" in r.text
    assert timeline() == settled
    # A retried report (same webhook-id) is recorded once.
    first = callback(api, receiver, path, target, {"alert": alert_id, "status": "on_scene"}, message_id="m-1")
    again = callback(api, receiver, path, target, {"alert": alert_id, "status": "on_scene"}, message_id="m-1")
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert len(timeline()) == len(settled) + 1


@pytest.mark.app_settings(dispatch_url=None)
def test_a_rejection_escalates_at_once(dispatch_client, receiver):
    api = dispatch_client
    add_target(api, receiver, "seoul-police", "/seoul-police", agency="police", codes=["31"], priority=1)
    add_target(
        api, receiver, "gyeonggi-police", "/gyeonggi-police", agency="police", codes=["31"], priority=2
    )
    alert_id = api.violation()
    receiver.wait("/seoul-police", 1)
    body = {"alert": alert_id, "status": "rejected", "reason": "outside our area"}
    assert callback(api, receiver, "/seoul-police", "seoul-police", body).status_code == 200
    [escalated] = receiver.wait("/gyeonggi-police", 1)
    assert "outside our area" in escalated["data"]["alert"]["escalation"]["reason"]


def test_targets_are_managed_by_admins_and_never_show_secrets(dispatch_client, receiver):
    api = dispatch_client
    r = api.put(
        "/v1/dispatch/targets/t1",
        {"name": "t", "url": "http://127.0.0.1:9/x", "agency": "police"},
        who="admin",
    )
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    r = api.put(
        "/v1/dispatch/targets/t1",
        {"name": "t", "url": "http://127.0.0.1:9/y", "agency": "police"},
        who="admin",
    )
    assert r.status_code == 200 and "secret" not in r.json()
    listed = api.get("/v1/dispatch/targets", who="admin").json()
    assert all("secret" not in t for t in listed)
    bad = [
        ({"name": "t", "url": "ftp://x", "agency": "police"}, "url"),
        ({"name": "t", "url": "http://x", "agency": "army"}, "agency"),
        ({"name": "t", "url": "http://x", "agency": "police", "secret": "plain"}, "secret"),
        ({"name": "t", "url": "http://x", "agency": "police", "codes": ["Seoul"]}, "codes.0"),
        ({"name": "t", "url": "http://x", "agency": "police", "kinds": ["dispatch_failure"]}, "kinds"),
        ({"name": "t", "url": "http://x", "agency": "police", "priority": 0}, "priority"),
    ]
    for body, field in bad:
        r = api.put("/v1/dispatch/targets/t2", body, who="admin")
        assert r.status_code == 422, r.text
        assert field in [e["field"] for e in r.json()["detail"]], r.text
    assert api.put("/v1/dispatch/targets/t3", bad[0][0], who="operator").status_code == 403
    assert (
        api.put("/v1/dispatch/targets/env-default", bad[0][0] | {"url": "http://x"}, who="admin").status_code
        == 409
    )


# --- the live-track link ------------------------------------------------------------------------------


def test_the_live_track_link_opens_its_incident_only_while_it_lasts(dispatch_client, receiver):
    api = dispatch_client
    alert_id = api.violation()
    link = receiver.wait(ENV_PATH, 1)[0]["data"]["alert"]["live_track_url"]
    token = link.split("token=")[1]
    r = api.client.get(f"/v1/incidents/{alert_id}", params={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["alert"]["id"] == alert_id
    assert body["subject"]["position"]["geometry"]["coordinates"][1] == pytest.approx(north(50))
    assert len(body["subject"]["track"]["features"]) >= 1
    assert body["protected_person"]["position"] is not None
    other = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    assert api.client.get(f"/v1/incidents/{other}", params={"token": token}).status_code == 401
    assert api.client.get(f"/v1/incidents/{alert_id}", params={"token": "inc_forged"}).status_code == 401
    assert api.client.get(f"/v1/incidents/{alert_id}").status_code == 401
    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    assert api.client.get(f"/v1/incidents/{alert_id}", params={"token": token}).status_code == 200  # grace
    api.clock.advance(16 * 60)
    assert api.client.get(f"/v1/incidents/{alert_id}", params={"token": token}).status_code == 410
