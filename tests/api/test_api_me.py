"""The victim app's API (her status, what she may see of him, her position, her SOS), the field
terminal's buttons behind an incident link, and the control centre's live figures."""

from __future__ import annotations

import json

import pytest
from api_kit import HOME_LAT, HOME_LON, WATCH, north

from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token


@pytest.fixture
def victim(app_client) -> dict[str, str]:
    """P1's own account, S1 under an order to keep away from her, her phone at home."""
    api = app_client
    with api.db.begin() as conn:
        create_user(
            conn, user_id="u-p1", name="P1", role=Role.PROTECTED_PERSON, now=api.clock(), person_id="P1"
        )
        token = issue_token(conn, role=Role.PROTECTED_PERSON, now=api.clock(), user_id="u-p1")
    api.subject("S1", "AM-1")
    api.protected("P1", None)
    assert api.put("/v1/devices/PH-1", {"kind": "phone", "person_id": "P1"}).status_code == 201
    assert api.order("O1").status_code == 201
    assert api.send([api.fix("PH-1", HOME_LAT)]).status_code == 200
    return {"Authorization": f"Bearer {token}"}


def status_of(api, headers, metres: float) -> dict:
    api.clock.advance(1)
    assert api.send([api.fix("AM-1", north(metres))]).status_code == 200
    r = api.client.get("/v1/me/status", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_far_away_she_learns_nothing_about_him(app_client, victim):
    seen = status_of(app_client, victim, 2000)
    assert seen["status"] == "safe" and seen["offenders"] == []
    assert seen["own"]["lat"] == pytest.approx(HOME_LAT)


def test_in_the_warning_band_only_the_band(app_client, victim):
    seen = status_of(app_client, victim, 800)
    assert seen["status"] == "nearby"
    assert seen["offenders"] == [{"band": "warning", "from_m": 600, "to_m": 1000}]
    text = json.dumps(seen)
    assert f"{north(800):.4f}"[:7] not in text and "bearing" not in text and "compass" not in text


def test_within_her_view_his_position_and_heading(app_client, victim):
    seen = status_of(app_client, victim, 400)
    [him] = seen["offenders"]
    assert him["band"] == "near" and him["distance_m"] == pytest.approx(400, abs=10)
    assert him["lat"] == pytest.approx(north(400)) and him["compass"] == "N"
    seen = status_of(app_client, victim, 50)
    assert seen["status"] == "danger" and seen["offenders"][0]["danger"] is True


def test_her_phone_position_and_sos(app_client, victim):
    api = app_client
    api.clock.advance(1)  # a second after her phone's last fix
    r = api.client.post(
        "/v1/me/position", json={"lat": north(10), "lon": HOME_LON, "accuracy_m": 12}, headers=victim
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 1, "alerts": 0}, r.text
    features = api.get("/v1/positions", params=WATCH).json()["features"]
    mine = [f for f in features if f["properties"]["person"] == "P1"]
    assert mine[0]["geometry"]["coordinates"][1] == pytest.approx(north(10))
    api.clock.advance(1)
    r = api.client.post("/v1/me/sos", json={"position": {"lat": north(10), "lon": HOME_LON}}, headers=victim)
    assert r.status_code == 200 and r.json()["alerts"] == 1
    assert [a["kind"] for a in api.get("/v1/alerts").json()] == ["sos"]
    bad = api.client.post("/v1/me/position", json={"lat": 91, "lon": HOME_LON}, headers=victim)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "lat"


def test_only_her_own_account_reaches_her_status(app_client, victim):
    api = app_client
    assert api.get("/v1/me/status").status_code == 403  # an operator
    assert api.get("/v1/me/status", who=Role.PROTECTED_PERSON).status_code == 403  # not bound to anyone
    assert api.get("/v1/me", who=Role.OPERATOR).json()["role"] == "operator"
    assert api.client.get("/v1/me", headers=victim).json() == {
        "id": "u-p1",
        "role": "protected_person",
        "person_id": "P1",
    }
    assert api.client.get("/v1/positions", headers=victim).status_code == 403


def test_field_buttons_move_the_incident_and_end_with_it(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    path = f"/v1/incidents/{alert_id}/status"
    assert api.client.post(path, json={"status": "en_route"}, params={"token": "inc_x"}).status_code == 401
    for step, state in (("en_route", "dispatched"), ("on_scene", "on_scene")):
        r = api.client.post(path, json={"status": step}, params={"token": token})
        assert (r.status_code, r.json()["state"]) == (200, state)
    assert api.client.post(path, json={"status": "en_route"}, params={"token": token}).status_code == 409
    r = api.client.post(path, json={"status": "closed", "outcome": "false_alarm"}, params={"token": token})
    assert r.json()["state"] == "false_alarm"
    assert api.client.post(path, json={"status": "closed"}, params={"token": token}).status_code == 410
    actors = [c["actor"] for c in api.get(f"/v1/alerts/{alert_id}").json()["timeline"]]
    assert actors.count("u-field_officer") == 3  # the unit holding the link


def test_live_figures(app_client):
    api = app_client
    api.violation()
    figures = api.get("/v1/stats").json()
    assert figures["subjects"] == 1 and figures["subjects_online"] == 1
    assert figures["open_alerts_by_kind"] == {"proximity_violation": 1}
    assert figures["median_ack_s"] is None
    alert_id = api.get("/v1/alerts").json()[0]["id"]
    api.clock.advance(42)
    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "acknowledged"}).status_code == 200
    assert api.get("/v1/stats").json()["median_ack_s"] == 42
    assert api.get("/v1/stats", who=Role.ADMIN).status_code == 403


def test_her_sos_incident_shows_the_man_her_order_keeps_away(app_client, victim):
    api = app_client
    api.clock.advance(1)
    assert api.send([api.fix("AM-1", north(300))]).status_code == 200
    assert api.client.post("/v1/me/sos", json={}, headers=victim).status_code == 200
    [alert] = [a for a in api.get("/v1/alerts").json() if a["kind"] == "sos"]
    token = api.link(alert["id"])
    seen = api.client.get(f"/v1/incidents/{alert['id']}", params={"token": token}).json()
    assert seen["subject"]["id"] == "S1"
    assert seen["subject"]["position"]["geometry"]["coordinates"][1] == pytest.approx(north(300))
