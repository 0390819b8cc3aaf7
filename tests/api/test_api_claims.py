"""Claiming an incident, on both backends: one operator says "I am working this", everyone sees it
in the queue and the incident, a second must take it over (audited with whom it was taken from),
the claim ends with the incident, and those who may not work incidents, or not this one, are refused."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.domain.model import Role
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # stored through the writer, read back in the queue

SECOND = "u-operator2"


def second_operator(api: Any) -> str:
    with api.db.begin() as conn:
        create_user(conn, user_id=SECOND, name="second operator", role=Role.OPERATOR, now=api.clock())
        api.tokens[SECOND] = issue_token(conn, role=Role.OPERATOR, now=api.clock(), user_id=SECOND)
    return SECOND


def incident_of(api: Any) -> tuple[str, str]:
    violation = api.violation()
    incident = api.get(f"/v1/alerts/{violation}").json()["incident"]
    assert incident
    return violation, incident


def claim(api: Any, incident: str, who: str = Role.OPERATOR, take_over: bool = False) -> Any:
    return api.post(f"/v1/incidents/{incident}/claim", {"take_over": take_over}, who=who)


def test_a_claim_is_shown_to_everyone_and_a_second_operator_must_take_it_over(app_client):
    api = app_client
    other = second_operator(api)
    violation, incident = incident_of(api)
    assert api.get(f"/v1/incidents/{incident}").json()["claim"] is None

    r = claim(api, incident)
    assert r.status_code == 200, r.text
    me = r.json()["claim"]["user"]
    claimed_at = r.json()["claim"]["at"]
    for who in (Role.OPERATOR, other):
        [listed] = api.get("/v1/incidents", who=who).json()
        assert listed["claim"] == {"user": me, "role": "operator", "at": claimed_at}
        assert api.get(f"/v1/incidents/{incident}", who=who).json()["claim"]["user"] == me

    # claiming again keeps its time; the second operator is told who holds it
    api.clock.advance(60)
    assert claim(api, incident).json()["claim"]["at"] == claimed_at
    refused = claim(api, incident, who=other)
    assert refused.status_code == 409
    assert refused.json()["detail"][0]["field"] == "take_over" and me in refused.json()["detail"][0]["reason"]
    # nor may he release a claim he does not hold
    assert api.client.delete(f"/v1/incidents/{incident}/claim", headers=api.auth(other)).status_code == 409

    taken = claim(api, incident, who=other, take_over=True)
    assert taken.status_code == 200, taken.text
    assert taken.json()["claim"]["user"] == other and taken.json()["claim"]["at"] != claimed_at
    # an alert's id names its incident here too
    assert api.get(f"/v1/incidents/{violation}").json()["claim"]["user"] == other

    trail = api.get("/v1/audit", who="auditor", params={"action": "incident.claim"}).json()
    steps = [(e["actor"], e["detail"]["claim"], e["detail"].get("taken_from")) for e in trail]
    assert (me, "claimed", None) in steps and (other, "taken_over", me) in steps

    r = api.client.delete(f"/v1/incidents/{incident}/claim", headers=api.auth(other))
    assert r.status_code == 200 and r.json()["claim"] is None
    assert api.get(f"/v1/incidents/{incident}").json()["claim"] is None
    trail = api.get("/v1/audit", who="auditor", params={"action": "incident.claim"}).json()
    assert any(e["actor"] == other and e["detail"]["claim"] == "released" for e in trail)


def test_a_claim_ends_when_the_incident_closes(app_client):
    api = app_client
    violation, incident = incident_of(api)
    assert claim(api, incident).status_code == 200
    assert api.post(f"/v1/alerts/{violation}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    closed = api.get(f"/v1/incidents/{incident}").json()
    assert closed["open"] is False and closed["claim"] is None
    assert claim(api, incident).status_code == 409
    assert api.client.delete(f"/v1/incidents/{incident}/claim", headers=api.auth()).status_code == 200
    assert claim(api, "no-such-incident").status_code == 404


def test_roles_that_do_not_work_incidents_are_refused_and_the_claim_survives_a_restart(app_client):
    api = app_client
    _, incident = incident_of(api)
    for who in ("probation_officer", "field_officer", "auditor", "admin", "protected_person"):
        assert claim(api, incident, who=who).status_code == 403, who
    assert claim(api, incident).status_code == 200
    api.restart()
    assert api.get(f"/v1/incidents/{incident}").json()["claim"]["role"] == "operator"
