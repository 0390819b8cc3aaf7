"""Incidents through the API, on both backends: the alerts of one danger grouped under one radio
number, listed latest escalation first, read by staff with their alerts and timeline, surviving a
restart; and one live-track link per unit per incident that opens that incident and nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_kit import north

from vigil.dispatch import links
from vigil.dispatch.links import Holder
from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends  # incident numbers by day; read back after a restart

UNIT = "u-field_officer"
NUMBER = re.compile(r"^\d{4}-\d{2,}$")


def tamper(api: Any, device: str = "AM-1", seconds: float = 0.0) -> None:
    r = api.send({"device": device, "at": api.at(seconds), "event": "strap_cut"})
    assert r.status_code == 200, r.text


def alert_of(api: Any, alert_id: str) -> dict[str, Any]:
    r = api.get(f"/v1/alerts/{alert_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def alerts_of(api: Any, subject: str) -> list[dict[str, Any]]:
    return list(api.get("/v1/alerts", params={"subject": subject}).json())


def test_one_danger_is_one_incident_with_a_radio_number_and_another_danger_another(app_client):
    api = app_client
    violation = api.violation()
    api.clock.advance(30)
    tamper(api)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    incident = alert_of(api, violation)["incident"]
    assert incident and strap["incident"] == incident
    api.clock.advance(30)
    other = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    assert alert_of(api, other)["incident"] not in (None, incident)

    listed = api.get("/v1/incidents").json()
    # latest escalation first: the second pair's violation is newer than the strap cut
    assert [i["id"] for i in listed] == [alert_of(api, other)["incident"], incident]
    first = listed[1]
    assert NUMBER.match(first["number"]) and first["number"] != listed[0]["number"]
    assert (first["kind"], first["severity"], first["open"]) == ("proximity_violation", "critical", True)
    assert (first["subject"], first["protected_person"]) == ("S1", "P1")
    assert sorted(a["id"] for a in first["alerts"]) == sorted([violation, strap["id"]])

    # the strap cut, as grave as the violation, is this incident's latest escalation
    body = api.get(f"/v1/incidents/{incident}").json()
    assert body["escalated_at"] == strap["opened_at"]
    assert [(e["alert"], e["change"]) for e in body["timeline"]] == [
        (violation, "opened"),
        (strap["id"], "opened"),
    ]
    # an alert's id names its incident
    assert api.get(f"/v1/incidents/{violation}").json()["id"] == incident


def test_an_incident_closes_when_all_its_alerts_are_closed_and_the_filters_follow(app_client):
    api = app_client
    violation = api.violation()
    tamper(api, seconds=1)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    incident = alert_of(api, violation)["incident"]
    assert api.post(f"/v1/alerts/{violation}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    assert [i["id"] for i in api.get("/v1/incidents").json()] == [incident]  # the tamper is still open
    assert (
        api.post(f"/v1/alerts/{strap['id']}/steps", {"state": "false_alarm", "note": "done"}).status_code
        == 200
    )
    assert api.get("/v1/incidents").json() == []
    [closed] = api.get("/v1/incidents", params={"state": "closed"}).json()
    assert closed["id"] == incident and closed["open"] is False and closed["closed_at"]
    assert [i["id"] for i in api.get("/v1/incidents", params={"state": "all"}).json()] == [incident]
    # what comes after is a new danger, with a new number
    api.clock.advance(60)
    tamper(api, seconds=0)
    [again] = [a for a in alerts_of(api, "S1") if a["state"] == "open"]
    assert again["incident"] not in (None, incident)


def test_incidents_survive_a_restart_and_keep_grouping(app_client):
    api = app_client
    violation = api.violation()
    incident = alert_of(api, violation)["incident"]
    number = api.get(f"/v1/incidents/{incident}").json()["number"]
    api.restart()
    api.clock.advance(10)
    tamper(api)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    assert strap["incident"] == incident
    assert api.get(f"/v1/incidents/{incident}").json()["number"] == number


# --- the live-track link ------------------------------------------------------------------------------


def view(api: Any, ident: str, token: str) -> Any:
    return api.client.get(f"/v1/incidents/{ident}", params={"token": token})


def test_a_unit_sent_to_two_alerts_of_one_incident_holds_one_link_that_opens_that_incident_only(app_client):
    api = app_client
    violation = api.violation()
    tamper(api, seconds=1)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    incident = alert_of(api, violation)["incident"]
    token = api.link(violation)
    # sent to the incident's other alert as well: no second link
    r = api.put(f"/v1/alerts/{strap['id']}/assignments/{UNIT}", None)
    assert r.status_code == 200 and r.json()["link"] is None, r.text
    assert len([x for x in alert_of(api, strap["id"])["links"] if x["live"]]) == 1

    r = view(api, incident, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["incident"]["id"] == incident
    assert {a["id"] for a in body["incident"]["alerts"]} == {violation, strap["id"]}
    assert body["alert"]["kind"] == "proximity_violation"  # the gravest open alert first
    assert body["subject"]["id"] == "S1" and body["protected_person"]["id"] == "P1"
    assert view(api, violation, token).status_code == 200  # the alert it was issued for names it

    # another danger's incident and alerts stay shut to it, as does the staff list
    other = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    other_incident = alert_of(api, other)["incident"]
    for ident in (other_incident, other, strap["id"] + "x"):
        assert view(api, ident, token).status_code == 401, ident
    assert api.client.get("/v1/incidents", params={"token": token}).status_code == 401
    # a link is not a staff token: with a staff header the call is judged as staff's
    r = api.client.get(
        f"/v1/incidents/{other_incident}", params={"token": token}, headers=api.auth(Role.FIELD_OFFICER)
    )
    assert r.status_code == 403

    # the unit's steps move every open alert of the incident
    r = api.client.post(
        f"/v1/incidents/{incident}/status", json={"status": "on_scene"}, params={"token": token}
    )
    assert r.status_code == 200, r.text
    assert {alert_of(api, a)["state"] for a in (violation, strap["id"])} == {"on_scene"}


def test_taking_the_unit_off_one_alert_keeps_its_link_while_it_is_on_another_of_the_incident(app_client):
    api = app_client
    violation = api.violation()
    tamper(api, seconds=1)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    incident = alert_of(api, violation)["incident"]
    token = api.link(violation)
    assert api.put(f"/v1/alerts/{strap['id']}/assignments/{UNIT}", None).status_code == 200
    assert (
        api.client.delete(f"/v1/alerts/{violation}/assignments/{UNIT}", headers=api.auth()).status_code == 200
    )
    assert view(api, incident, token).status_code == 200
    assert (
        api.client.delete(f"/v1/alerts/{strap['id']}/assignments/{UNIT}", headers=api.auth()).status_code
        == 200
    )
    assert view(api, incident, token).status_code == 401


def test_an_incident_link_lives_while_its_incident_does_and_grace_after(app_client):
    api = app_client
    violation = api.violation()
    tamper(api, seconds=1)
    [strap] = [a for a in alerts_of(api, "S1") if a["kind"] == "tamper"]
    incident = alert_of(api, violation)["incident"]
    token = api.link(violation)
    # the alert it was issued for closes; the incident is still open: the link works on
    assert api.post(f"/v1/alerts/{violation}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    api.clock.advance(20 * 60)
    assert view(api, incident, token).status_code == 200
    assert view(api, incident, token).json()["alert"]["id"] == strap["id"]
    # (twenty minutes of silence have raised signal_loss for both devices: the same danger)
    still = [a["id"] for a in api.get(f"/v1/incidents/{incident}").json()["alerts"] if a["state"] == "open"]
    assert strap["id"] in still
    for alert_id in still:
        assert (
            api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "done"}).status_code == 200
        )
    assert api.get(f"/v1/incidents/{incident}").json()["open"] is False
    api.clock.advance(14 * 60)
    assert view(api, incident, token).status_code == 200  # the grace
    api.clock.advance(2 * 60)
    assert view(api, incident, token).status_code == 410


def test_a_link_from_before_incidents_still_opens_its_alert_and_only_that(app_client):
    api = app_client
    violation = api.violation()
    incident = alert_of(api, violation)["incident"]
    assert api.put(f"/v1/alerts/{violation}/assignments/{UNIT}", None).json()["link"]
    with api.db.begin() as conn:  # issued as before incidents: no incident_id
        old = links.issue(conn, violation, Holder.UNIT, UNIT, "u-operator", api.clock(), links.GRACE * 40)
    token = old.token
    assert old.url("http://x").endswith(f"incident={violation}&token={token}")
    assert view(api, violation, token).status_code == 200
    assert view(api, incident, token).status_code == 401
    assert api.send(api.fix("AM-1", north(40), seconds=1)).status_code == 200
    position = view(api, violation, token).json()["subject"]["position"]
    assert position["geometry"]["coordinates"][1] == pytest.approx(north(40))


# --- one stream of pushes per incident ------------------------------------------------------------------


def test_the_pushes_of_one_incident_form_one_stream_with_one_link_per_target(dispatch_client, receiver):
    import xml.etree.ElementTree as ET

    from api_kit import ENV_PATH

    api = dispatch_client
    violation = api.violation()
    [first] = receiver.wait(ENV_PATH, 1)
    tamper(api, seconds=1)
    second = receiver.wait(ENV_PATH, 2)[1]
    assert receiver.problems == []  # signatures, CloudEvents, CAP XSD and EIDO all checked there
    incident = alert_of(api, violation)["incident"]
    number = api.get(f"/v1/incidents/{incident}").json()["number"]
    assert second["data"]["alert"]["kind"] == "tamper"
    for event in (first, second):
        assert (event["incident"], event["incidentnumber"]) == (incident, number)
        cap = ET.fromstring(event["data"]["cap"])
        assert cap.findtext("{urn:oasis:names:tc:emergency:cap:1.2}incidents") == number
    cap = ET.fromstring(second["data"]["cap"])
    references = cap.findtext("{urn:oasis:names:tc:emergency:cap:1.2}references") or ""
    assert [r.split(",")[1] for r in references.split()] == [first["id"]]
    # the target was sent one link for the incident, not one per alert
    assert first["data"]["alert"]["live_track_url"] == second["data"]["alert"]["live_track_url"]
    assert f"incident={incident}&" in first["data"]["alert"]["live_track_url"]


# --- the queue's search and filters, and the printable report ----------------------------------------


def test_the_queue_is_searched_and_filtered_on_the_server(app_client):
    api = app_client
    first = alert_of(api, api.violation())["incident"]
    api.clock.advance(30)
    tamper(api, "AM-1")
    second_alert = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    second = alert_of(api, second_alert)["incident"]
    number = api.get(f"/v1/incidents/{first}").json()["number"]

    def found(**params: Any) -> set[str]:
        r = api.get("/v1/incidents", params={"state": "all", **params})
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()}

    assert found() == {first, second}
    assert found(q=number) == {first}  # the radio number, as read over the radio
    assert found(q=number.split("-")[1]) >= {first}  # part of it
    assert found(q=first) == {first} and found(q=second_alert) == {second}  # ids, of it or an alert
    assert found(q="s2") == {second}  # a party's id, without regard to case
    assert found(q="Subject S1") == {first} and found(q="person p2") == {second}  # names
    assert found(person="P1") == {first} and found(person="P") == set()  # an exact id
    assert found(kind="tamper") == {first}  # one of its alerts is of this kind
    assert found(severity="critical") == {first, second} and found(severity="low") == set()
    assert found(area="31") == {first, second} and found(area="11") == set()  # both in Namyangju
    assert found(q="nobody") == set() and found(q="  ") == {first, second}  # blank: no search
    assert found(q="%") == set() and found(q="_") == set()  # wildcards are plain characters
    assert found(kind="tamper", person="S2") == set()  # every filter given must match


# The API refuses these before it writes: nothing checked depends on the store, so SQLite alone.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"kind": "fire"}, "query.kind", "enum"),
        ({"severity": "urgent"}, "query.severity", "enum"),
        ({"state": "gone"}, "query.state", "literal_error"),
        ({"area": "Seoul"}, "query.area", "string_pattern_mismatch"),
        ({"area": "1"}, "query.area", "string_pattern_mismatch"),
        ({"q": "x" * 101}, "query.q", "string_too_long"),
        ({"limit": "0"}, "query.limit", "greater_than_equal"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(app_client, params, field, code):
    r = app_client.get("/v1/incidents", params=params)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["detail"]] == [(field, code)]


WHY = {"purpose": "investigation", "reason": "incident report test"}


def test_the_report_holds_the_alerts_timeline_positions_units_claim_and_notes(app_client):
    api = app_client
    violation = api.violation()
    incident = alert_of(api, violation)["incident"]
    assert api.post("/v1/subjects/S1/notes", {"text": "seen near her work"}).status_code == 201
    assert api.put(f"/v1/alerts/{violation}/assignments/{UNIT}", None).status_code == 200
    assert api.post(f"/v1/incidents/{incident}/claim").status_code == 200
    api.clock.advance(20)
    r = api.post(f"/v1/alerts/{violation}/steps", {"state": "resolved", "note": "arrested"})
    assert r.status_code == 200, r.text

    assert api.get(f"/v1/incidents/{incident}/report").status_code == 422  # history: a purpose
    r = api.get(f"/v1/incidents/{violation}/report", params=WHY)  # an alert's id names it
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["incident"]["id"] == incident and body["incident"]["open"] is False
    assert body["timezone"] == "Asia/Seoul" and body["generated_by"] == "u-operator"
    [alert] = body["incident"]["alerts"]
    assert alert["id"] == violation and [u["user"] for u in alert["assigned"]] == [UNIT]
    assert "deliveries" in alert and alert["callbacks"] == []
    changes = [(e["change"], e["actor"]) for e in body["timeline"] if e["change"] != "updated"]
    assert changes[0] == ("opened", "vigil") and changes[-1] == ("resolved", "u-operator")
    opened = body["timeline"][0]
    assert opened["subject_position"]["lat"] == pytest.approx(north(50), abs=1e-6)
    assert opened["protected_position"]["lat"] == pytest.approx(api.HOME_LAT, abs=1e-6)
    assert opened["distance_m"] == pytest.approx(50, abs=2)
    assert body["timeline"][-1]["note"] == "arrested"
    assert body["claim"]["user"] == "u-operator"  # a closed incident's report still says who worked it
    assert [(c["user"], c["step"]) for c in body["claims"]] == [("u-operator", "claimed")]
    assert [n["text"] for n in body["notes"]] == ["seen near her work"]
    # a probation officer reads his subject's incident, but not the notes on her
    r = api.get(f"/v1/incidents/{incident}/report", who="probation_officer", params=WHY)
    assert r.status_code == 200 and [n["person"] for n in r.json()["notes"]] == ["S1"]
    # audited as an access, with its purpose
    trail = api.get("/v1/audit", who="auditor", params={"actor": "u-operator"}).json()
    assert any(e["target"].startswith(f"/v1/incidents/{violation}/report") for e in trail)
    assert api.get("/v1/incidents/nothing/report", params=WHY).status_code == 404


def test_a_search_with_a_nul_is_refused_not_a_server_error(app_client):
    """PostgreSQL refuses a NUL inside a string: the query string is refused before the search
    (hardening's check, 400) rather than failing in the database."""
    for params in ({"q": "a\x00b"}, {"person": "S\x001"}):
        r = app_client.get("/v1/incidents", params=params)
        assert r.status_code == 400 and "NUL" in r.text, r.text
