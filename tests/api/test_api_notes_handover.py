"""Notes on a person outside any alert, and the shift handover, on both backends: a note is stored
with its author and time, read under the person's scope and audited; the handover lists the open
incidents with their latest escalation and claim, what was opened, escalated and closed since, and
the notes written since."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends  # notes and claims stored, read back by time

PO = Role.PROBATION_OFFICER


def test_a_note_on_a_person_is_stored_with_author_and_time_scoped_and_audited(app_client):
    api = app_client
    api.violation()  # S1 (in the officer's caseload) and P1
    r = api.post("/v1/subjects/S1/notes", {"text": "  new job in Suwon from Monday  "}, who=PO)
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["text"], note["person"], note["person_kind"]) == (
        "new job in Suwon from Monday",
        "S1",
        "subject",
    )
    assert note["author_role"] == "probation_officer" and note["at"]
    api.clock.advance(5)
    assert api.post("/v1/subjects/S1/notes", {"text": "called him: answered"}).status_code == 201
    listed = api.get("/v1/subjects/S1/notes", who=PO).json()
    assert [n["text"] for n in listed] == ["called him: answered", "new job in Suwon from Monday"]
    # she is no one's caseload: the officer may not read or write notes on her; the operator may
    assert api.post("/v1/protected-persons/P1/notes", {"text": "moved in with her sister"}).status_code == 201
    assert api.get("/v1/protected-persons/P1/notes", who=PO).status_code == 403
    assert api.post("/v1/protected-persons/P1/notes", {"text": "x"}, who=PO).status_code == 403
    assert [n["text"] for n in api.get("/v1/protected-persons/P1/notes").json()] == [
        "moved in with her sister"
    ]
    # a subject's id does not reach a protected person's notes, nor do notes on no one exist
    assert api.get("/v1/protected-persons/S1/notes").status_code == 404
    assert api.post("/v1/subjects/nobody/notes", {"text": "x"}).status_code == 404
    assert api.post("/v1/subjects/S1/notes", {"text": "   "}).status_code == 422
    for who in ("police_dispatcher", "field_officer", "auditor", "admin"):
        assert api.post("/v1/subjects/S1/notes", {"text": "x"}, who=who).status_code == 403, who
    trail = api.get("/v1/audit", who="auditor", params={"action": "note.write"}).json()
    assert {(e["detail"]["person"], e["detail"]["note"]) for e in trail} >= {("S1", note["id"])}


def test_the_handover_tells_the_next_shift_what_is_open_what_changed_and_the_notes(app_client):
    api = app_client
    since = api.clock()
    first = api.violation()
    api.clock.advance(60)
    second = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    incident = {a: api.get(f"/v1/alerts/{a}").json()["incident"] for a in (first, second)}
    assert api.post(f"/v1/incidents/{incident[first]}/claim", {}).status_code == 200
    assert (
        api.post(f"/v1/alerts/{second}/steps", {"state": "resolved", "note": "police on scene"}).status_code
        == 200
    )
    assert api.post("/v1/subjects/S1/notes", {"text": "seen near her work"}).status_code == 201

    body = api.get("/v1/handover").json()  # the last 12 hours
    assert [i["id"] for i in body["open"]] == [incident[first]]
    [open_one] = body["open"]
    assert open_one["claim"]["role"] == "operator" and open_one["number"]
    assert open_one["latest_escalation"]["alert"] == first
    assert open_one["latest_escalation"]["change"] == "opened"
    assert {i["id"] for i in body["changes"]["opened"]} == set(incident.values())
    assert [i["id"] for i in body["changes"]["closed"]] == [incident[second]]
    assert body["counts"] == {"open": 1, "opened": 2, "escalated": 0, "closed": 1, "notes": 1}
    assert body["notes"][0]["text"] == "seen near her work"

    # since after all that: nothing changed, the open incident is still handed over
    api.clock.advance(60)
    later = api.get(
        "/v1/handover", params={"since": (api.clock() - timedelta(seconds=30)).isoformat()}
    ).json()
    assert later["counts"] == {"open": 1, "opened": 0, "escalated": 0, "closed": 0, "notes": 0}
    assert later["since"] > since.isoformat()[:19]
    assert api.get("/v1/handover", params={"since": "2020-01-01T00:00:00+00:00"}).status_code == 422
    assert api.get("/v1/handover", params={"since": "2020-01-01T00:00:00"}).status_code == 422
    for who in ("probation_officer", "police_dispatcher", "field_officer", "auditor", "admin"):
        assert api.get("/v1/handover", who=who).status_code == 403, who
