"""Alerts over REST: the queue, one alert with its timeline, lifecycle steps, and a restart."""

from __future__ import annotations

from datetime import datetime

import pytest
from api_kit import HOME_LAT, north


def steps(api, alert_id: str) -> list[tuple[str, str, str]]:
    r = api.get(f"/v1/alerts/{alert_id}")
    assert r.status_code == 200, r.text
    return [(c["change"], c["state"], c["actor"]) for c in r.json()["timeline"]]


def step(api, alert_id: str, state: str, who: str = "operator", note: str = ""):
    return api.post(f"/v1/alerts/{alert_id}/steps", {"state": state, "note": note}, who=who)


def test_forward_steps_record_their_actors(app_client):
    api = app_client
    alert_id = app_client.violation()
    r = step(api, alert_id, "acknowledged", "operator", "calling the victim")
    assert r.status_code == 200, r.text
    assert (r.json()["change"], r.json()["actor"], r.json()["alert"]["state"]) == (
        "acknowledged",
        "u-operator",
        "acknowledged",
    )
    assert step(api, alert_id, "dispatched", "police_dispatcher").status_code == 200
    assert step(api, alert_id, "on_scene", "field_officer").status_code == 403  # only through the link
    assert step(api, alert_id, "on_scene", "operator").status_code == 200
    assert step(api, alert_id, "resolved", "probation_officer", "subject left").status_code == 200
    assert steps(api, alert_id) == [
        ("opened", "open", "vigil"),
        ("acknowledged", "acknowledged", "u-operator"),
        ("dispatched", "dispatched", "u-police_dispatcher"),
        ("on_scene", "on_scene", "u-operator"),
        ("resolved", "resolved", "u-probation_officer"),
    ]
    timeline = api.get(f"/v1/alerts/{alert_id}").json()["timeline"]
    assert [c["note"] for c in timeline][1] == "calling the victim"
    assert all(c["at"] and c["kind"] for c in timeline)
    assert api.get("/v1/alerts").json() == []  # resolved is no longer in the queue
    everything = api.get("/v1/alerts", params={"open_only": False}).json()
    assert [(a["id"], a["state"]) for a in everything] == [(alert_id, "resolved")]


def test_a_step_may_skip_ahead(app_client):
    alert_id = app_client.violation()
    assert step(app_client, alert_id, "dispatched").status_code == 200
    assert step(app_client, alert_id, "false_alarm", note="his neighbour's phone").status_code == 200
    assert [s[0] for s in steps(app_client, alert_id)] == ["opened", "dispatched", "false_alarm"]


def test_illegal_steps_are_409_and_change_nothing(app_client):
    api = app_client
    alert_id = api.violation()
    assert step(api, alert_id, "dispatched").status_code == 200
    r = step(api, alert_id, "acknowledged")  # backward
    assert r.status_code == 409, r.text
    assert step(api, alert_id, "dispatched").status_code == 409  # standing still is not a step
    assert step(api, alert_id, "resolved", note="he left").status_code == 200
    for state in ("on_scene", "false_alarm", "resolved"):
        assert step(api, alert_id, state).status_code == 409  # nothing leaves resolved
    r = step(api, alert_id, "open")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "state"
    r = api.post(f"/v1/alerts/{alert_id}/steps", {"state": "partying"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "state"
    assert [s[0] for s in steps(api, alert_id)] == ["opened", "dispatched", "resolved"]


def test_closing_a_critical_alert_takes_a_note(app_client):
    api = app_client
    alert_id = api.violation()  # a proximity violation: critical
    for state in ("resolved", "false_alarm"):
        for note in ("", "   "):
            r = step(api, alert_id, state, note=note)
            assert r.status_code == 422, r.text
            assert r.json()["detail"] == [
                {"field": "note", "reason": "a note is required to close a critical alert"}
            ]
    assert [s[0] for s in steps(api, alert_id)] == ["opened"]  # nothing moved
    assert step(api, alert_id, "acknowledged").status_code == 200  # other steps need none
    assert step(api, alert_id, "resolved", note="police on scene, he left").status_code == 200
    assert steps(api, alert_id)[-1] == ("resolved", "resolved", "u-operator")


def test_closing_a_warning_needs_no_note(app_client):
    api = app_client
    api.subject()
    api.protected()
    assert api.send([api.fix("W-1", HOME_LAT), api.fix("AM-1", north(500))]).status_code == 200
    assert api.order().status_code == 201
    (warning,) = api.get("/v1/alerts").json()
    assert (warning["kind"], warning["severity"]) == ("proximity_warning", "medium")
    assert step(api, warning["id"], "false_alarm").status_code == 200


def test_the_queue_and_the_time_to_acknowledge_count_from_the_latest_escalation(app_client):
    """A warning that became a violation ten minutes later: its alert says when it escalated, and
    acknowledging it half a minute after the escalation is half a minute to acknowledge, not ten."""
    api = app_client
    api.subject()
    api.protected()
    assert api.send([api.fix("W-1", HOME_LAT), api.fix("AM-1", north(500))]).status_code == 200
    assert api.order().status_code == 201
    (warning,) = api.get("/v1/alerts").json()
    assert warning["escalated_at"] == warning["opened_at"]
    api.clock.advance(600)
    assert api.send([api.fix("W-1", HOME_LAT), api.fix("AM-1", north(50))]).status_code == 200
    (alert,) = api.get("/v1/alerts").json()
    assert (alert["id"], alert["kind"]) == (warning["id"], "proximity_violation")
    raised = datetime.fromisoformat(alert["escalated_at"])
    assert (raised - datetime.fromisoformat(alert["opened_at"])).total_seconds() == 600
    assert api.get(f"/v1/alerts/{alert['id']}").json()["escalated_at"] == alert["escalated_at"]
    api.clock.advance(30)
    assert step(api, alert["id"], "acknowledged").status_code == 200
    assert api.get("/v1/stats").json()["median_ack_s"] == 30.0
    api.restart()  # read back from the store
    (stored,) = api.get("/v1/alerts").json()
    assert stored["escalated_at"] == alert["escalated_at"]


def test_unknown_alert_is_404(app_client):
    assert app_client.get("/v1/alerts/no-such-alert").status_code == 404
    assert step(app_client, "no-such-alert", "acknowledged").status_code == 404


def test_queue_filters_by_subject(app_client):
    api = app_client
    first = api.violation("O1", "S1", "P1", "AM-1", "W-1")
    second = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    assert {a["id"] for a in api.get("/v1/alerts").json()} == {first, second}
    assert [a["id"] for a in api.get("/v1/alerts", params={"subject": "S2"}).json()] == [second]
    assert api.get("/v1/alerts", params={"limit": 1}).status_code == 200
    assert len(api.get("/v1/alerts", params={"limit": 1}).json()) == 1
    assert api.get("/v1/alerts", params={"limit": 0}).status_code == 422


@pytest.mark.both_backends  # state read back from the store after a restart
def test_after_a_restart_the_open_alert_is_updated_not_duplicated(app_client):
    api = app_client
    alert_id = api.violation()
    assert step(api, alert_id, "acknowledged").status_code == 200
    api.restart()
    api.clock.advance(30)
    assert api.get("/v1/alerts/" + alert_id).json()["state"] == "acknowledged"
    r = api.send(api.fix("AM-1", api.north(10), seconds=-1))  # 40 m closer: material news
    assert r.status_code == 200, r.text
    alerts = api.get("/v1/alerts", params={"open_only": False}).json()
    assert [(a["id"], a["kind"], a["state"]) for a in alerts] == [
        (alert_id, "proximity_violation", "acknowledged")
    ]
    assert alerts[0]["facts"]["distance_m"] < 20
    assert [s[0] for s in steps(api, alert_id)] == ["opened", "acknowledged", "updated"]
    # the restarted engine still knows the alert: it can be moved on
    assert step(api, alert_id, "resolved", note="he left").status_code == 200
