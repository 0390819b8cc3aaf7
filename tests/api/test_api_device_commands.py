"""Commands to devices over the API (issue 15): queued durably, handed to an HTTP device in the answer
to its next post, answered by it, kept across a restart, expired on time, each step audited. The
TCP and MQTT channels are tested in test_gateway_devices.py and test_gateway_owntracks.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import BOUND, BOUND_DEVICE
from vigil.store import device_commands
from vigil.store import tables as t


@pytest.fixture
def api(app_client):
    app_client.subject("S1", BOUND_DEVICE)
    return app_client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "teleport"}, "type"),
        ({"type": "set_interval"}, ""),  # needs seconds
        ({"type": "set_interval", "params": {"seconds": 2}}, ""),
        ({"type": "set_interval", "params": {"seconds": "ten"}}, ""),
        ({"type": "locate", "params": {"seconds": 10}}, ""),  # takes none
        ({"type": "message", "params": {"text": "x" * 101}}, ""),
        ({"type": "locate", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"type": "locate", "expires_at": "2020-01-01T00:00:00"}, "expires_at"),  # no offset
    ],
)
def test_bad_commands_are_refused_naming_why_and_nothing_is_queued(api, body, field) -> None:
    r = api.post(f"/v1/devices/{BOUND_DEVICE}/commands", body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field] or field == ""
    assert api.count(t.device_commands) == 0


def test_a_command_for_an_unknown_device_is_404(api) -> None:
    assert api.post("/v1/devices/NOPE/commands", {"type": "locate"}).status_code in (403, 404)
    assert api.count(t.device_commands) == 0


def test_an_http_device_gets_its_command_in_the_answer_to_its_post_and_answers_it(api) -> None:
    queued = api.post(
        f"/v1/devices/{BOUND_DEVICE}/commands", {"type": "set_interval", "params": {"seconds": 15}}
    )
    assert queued.status_code == 201, queued.text
    command = queued.json()
    assert (command["status"], command["params"], command["ref"]) == ("pending", {"seconds": "15"}, 1)
    r = api.send([api.fix(BOUND_DEVICE, api.HOME_LAT)], who=BOUND)
    assert r.status_code == 200, r.text
    assert r.json()["commands"] == [
        {
            "id": command["id"],
            "device": BOUND_DEVICE,
            "ref": 1,
            "type": "set_interval",
            "params": {"seconds": "15"},
        }
    ]
    # handed over once: the next post carries nothing
    assert "commands" not in api.send([api.fix(BOUND_DEVICE, api.HOME_LAT, seconds=5)], who=BOUND).json()
    path = f"/v1/devices/{BOUND_DEVICE}/commands/{command['id']}/reply"
    assert api.post(path, {"reply": "interval 15 s"}, who=BOUND).status_code == 200
    (done,) = api.get(f"/v1/devices/{BOUND_DEVICE}/commands").json()
    assert (done["status"], done["reply"]) == ("acknowledged", "interval 15 s")
    assert api.post(path, {"reply": "again"}, who=BOUND).status_code == 404  # done stays done


def test_a_device_token_answers_for_its_own_device_only(api) -> None:
    api.subject("S2", "AM-2")
    command = api.post("/v1/devices/AM-2/commands", {"type": "locate"}).json()
    r = api.post(f"/v1/devices/AM-2/commands/{command['id']}/reply", {"reply": "x"}, who=BOUND)
    assert r.status_code == 403
    # nor does a post for another device hand over its commands
    assert "commands" not in api.send([api.fix(BOUND_DEVICE, api.HOME_LAT)], who=BOUND).json()


def test_commands_survive_a_restart(api) -> None:
    command = api.post(f"/v1/devices/{BOUND_DEVICE}/commands", {"type": "locate"}).json()
    api.restart()
    (kept,) = api.get(f"/v1/devices/{BOUND_DEVICE}/commands").json()
    assert (kept["id"], kept["status"]) == (command["id"], "pending")
    r = api.send([api.fix(BOUND_DEVICE, api.HOME_LAT)], who=BOUND)
    assert [c["id"] for c in r.json()["commands"]] == [command["id"]]


def test_a_command_past_its_time_expires_and_is_never_handed_over(api) -> None:
    soon = (api.clock() + timedelta(minutes=1)).isoformat()
    command = api.post(f"/v1/devices/{BOUND_DEVICE}/commands", {"type": "locate", "expires_at": soon}).json()
    api.clock.advance(120)
    assert "commands" not in api.send([api.fix(BOUND_DEVICE, api.HOME_LAT)], who=BOUND).json()
    with api.db.begin() as conn:
        assert device_commands.expire(conn, api.clock()).result == 1
    (gone,) = api.get(f"/v1/devices/{BOUND_DEVICE}/commands").json()
    assert (gone["id"], gone["status"]) == (command["id"], "expired")


def test_each_step_is_in_the_audit_trail(api) -> None:
    command = api.post(f"/v1/devices/{BOUND_DEVICE}/commands", {"type": "locate"}).json()
    api.send([api.fix(BOUND_DEVICE, api.HOME_LAT)], who=BOUND)
    api.post(f"/v1/devices/{BOUND_DEVICE}/commands/{command['id']}/reply", {"reply": "ok"}, who=BOUND)
    with api.db.connect() as conn:
        actions = list(conn.execute(select(t.audit_log.c.action, t.audit_log.c.actor)))
    assert ("device.command", "u-operator") in actions  # the request, at the edge
    assert ("device.command.sent", "vigil") in actions  # the system handing it over
