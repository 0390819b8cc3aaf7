"""Live-track links: issued to one named holder (a unit sent to the incident, or a dispatch target it
was pushed to), each with its own id and expiry, stored only as a hash, revoked when the unit is taken
off, dead GRACE after the incident closes, audited under the holder at every use, and handed only to
those who send units (operators, dispatchers) and to the dispatch targets themselves."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
from api_kit import ENV_PATH, north, wait_until
from sqlalchemy import select

from vigil.domain.model import Role
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # expiry compared in SQL

UNIT = "u-field_officer"
TOKEN = re.compile(r"inc_[A-Za-z0-9_\-]+")


def use(api: Any, alert_id: str, token: str) -> int:
    return int(api.client.get(f"/v1/incidents/{alert_id}", params={"token": token}).status_code)


def step(api: Any, alert_id: str, token: str, status: str = "en_route") -> int:
    r = api.client.post(f"/v1/incidents/{alert_id}/status", json={"status": status}, params={"token": token})
    return int(r.status_code)


def link_id(token: str) -> str:
    return token.removeprefix("inc_").split("_", 1)[0]


def trail(api: Any, actor: str) -> list[dict[str, Any]]:
    r = api.get("/v1/audit", who=Role.AUDITOR, params={"actor": actor, "action": "incident"})
    assert r.status_code == 200, r.text
    return list(r.json())


# --- who gets the link --------------------------------------------------------------------------------


def test_only_those_who_send_units_are_handed_links_others_see_that_one_exists(app_client):
    api = app_client
    alert_id = api.violation()
    r = api.put(f"/v1/alerts/{alert_id}/assignments/{UNIT}", None)
    assert r.status_code == 200, r.text
    issued = r.json()["link"]
    assert issued["holder"] == UNIT and issued["holder_kind"] == "unit" and issued["live"] is True
    # no public URL is set: the link names the address the operator reached the server by
    # the link opens the alert's incident (all alerts of one danger), named in its URL
    incident = api.get(f"/v1/alerts/{alert_id}").json()["incident"]
    assert incident and issued["incident"] == incident and issued["alert"] == alert_id
    assert issued["url"].startswith(f"http://testserver/field/?incident={incident}&token=inc_{issued['id']}_")
    token = issued["url"].split("token=")[1]
    # The probation officer (who may read the alert, not her track) and the unit's own account see
    # that a link is out, never a URL or a token.
    for who in (Role.PROBATION_OFFICER, Role.FIELD_OFFICER):
        r = api.get(f"/v1/alerts/{alert_id}", who=who)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "inc_" not in r.text and "/field/" not in r.text and "live_track_url" not in body
        assert "links" not in body
        assert body["live_track"] == {"links": 1}
        assert body["assigned"] == [{"user": UNIT, "by": "u-operator", "at": body["assigned"][0]["at"],
                                     "has_link": True, "opened_at": None}]  # fmt: skip
    # Operators and dispatchers see each link's record, but its URL was shown once, when issued.
    for who in (Role.OPERATOR, Role.POLICE_DISPATCHER):
        r = api.get(f"/v1/alerts/{alert_id}", who=who)
        assert r.status_code == 200 and token not in r.text and "live_track_url" not in r.json()
        [record] = r.json()["links"]
        assert record == {k: v for k, v in issued.items() if k != "url"}
    # The database keeps the token's hash only.
    with api.db.connect() as conn:
        [row] = conn.execute(select(t.incident_links)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row))
    # Only operators and dispatchers may have one issued.
    for who in (Role.PROBATION_OFFICER, Role.FIELD_OFFICER, Role.PROTECTED_PERSON, Role.AUDITOR):
        assert api.post(f"/v1/alerts/{alert_id}/assignments/{UNIT}/link", who=who).status_code == 403
    assert use(api, alert_id, token) == 200


def test_assigning_again_keeps_the_link_and_a_new_one_replaces_it(app_client):
    api = app_client
    alert_id = api.violation()
    first = api.link(alert_id)
    again = api.put(f"/v1/alerts/{alert_id}/assignments/{UNIT}", None)
    assert again.status_code == 200 and again.json()["link"] is None  # he holds one: not re-issued
    r = api.post(f"/v1/alerts/{alert_id}/assignments/{UNIT}/link", who=Role.POLICE_DISPATCHER)
    assert r.status_code == 200, r.text
    second = r.json()["link"]["url"].split("token=")[1]
    assert use(api, alert_id, first) == 401  # the one he may have lost works no more
    assert use(api, alert_id, second) == 200
    records = {x["id"]: x for x in api.get(f"/v1/alerts/{alert_id}").json()["links"]}
    assert (
        records[link_id(first)]["live"] is False and "replaced" in records[link_id(first)]["revoked_reason"]
    )
    assert records[link_id(second)]["issued_by"] == "u-police_dispatcher"
    # No link for a unit that is not sent, nor once the incident is closed.
    r = api.post(f"/v1/alerts/{alert_id}/assignments/u-nobody/link")
    assert r.status_code == 404, r.text
    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    r = api.post(f"/v1/alerts/{alert_id}/assignments/{UNIT}/link")
    assert r.status_code == 409 and "closed" in r.text
    assert api.post(f"/v1/alerts/no-such-alert/assignments/{UNIT}/link").status_code == 404


# --- when it ends -------------------------------------------------------------------------------------


def test_a_unit_taken_off_the_incident_loses_its_link_at_once(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    assert use(api, alert_id, token) == 200
    r = api.client.delete(f"/v1/alerts/{alert_id}/assignments/{UNIT}", headers=api.auth())
    assert r.status_code == 200, r.text
    assert use(api, alert_id, token) == 401
    assert step(api, alert_id, token) == 401
    assert api.get(f"/v1/alerts/{alert_id}").json()["state"] == "open"  # his button moved nothing
    [record] = api.get(f"/v1/alerts/{alert_id}").json()["links"]
    assert record["revoked_at"] and "taken off" in record["revoked_reason"]
    # Sent again, he gets a new link; the old one stays dead.
    fresh = api.link(alert_id)
    assert use(api, alert_id, fresh) == 200 and use(api, alert_id, token) == 401


def test_a_unit_whose_account_is_disabled_or_no_longer_a_field_officer_loses_its_link(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    account = {"name": "field officer", "role": "field_officer"}
    assert api.put(f"/v1/users/{UNIT}", {**account, "disabled": True}, who=Role.ADMIN).status_code == 200
    assert use(api, alert_id, token) == 401
    assert api.put(f"/v1/users/{UNIT}", account, who=Role.ADMIN).status_code == 200
    assert use(api, alert_id, token) == 200  # the link itself was not revoked: he is back on duty
    assert api.put(f"/v1/users/{UNIT}", {**account, "role": "auditor"}, who=Role.ADMIN).status_code == 200
    assert use(api, alert_id, token) == 401 and step(api, alert_id, token) == 401


def test_a_link_dies_when_the_incident_has_been_closed_for_the_grace(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    api.clock.advance(14 * 60)
    assert use(api, alert_id, token) == 200  # units still on their way can finish
    [record] = api.get(f"/v1/alerts/{alert_id}").json()["links"]
    assert record["live"] is True
    api.clock.advance(2 * 60)
    assert use(api, alert_id, token) == 410
    assert step(api, alert_id, token, "on_scene") == 410
    assert api.get(f"/v1/alerts/{alert_id}").json()["live_track"] == {"links": 0}


@pytest.mark.app_settings(incident_link_s=600)
def test_an_expired_link_is_dead_and_the_unit_can_be_given_a_new_one(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    api.clock.advance(599)
    assert use(api, alert_id, token) == 200
    api.clock.advance(2)
    assert use(api, alert_id, token) == 401
    assert step(api, alert_id, token) == 401
    assert api.get(f"/v1/alerts/{alert_id}").json()["assigned"][0]["has_link"] is False
    fresh = api.link(alert_id)  # assigning again issues one: he holds none that works
    assert use(api, alert_id, fresh) == 200


def test_a_link_opens_its_own_incident_only(app_client):
    api = app_client
    mine = api.violation()
    other = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    token = api.link(mine)
    assert use(api, other, token) == 401
    assert step(api, other, token) == 401
    assert api.get(f"/v1/alerts/{other}").json()["state"] == "open"
    # Forgeries: the right id with another secret, a made-up token, a token with a character changed.
    forged = f"inc_{link_id(token)}_{'A' * 32}"
    for bad in (forged, "inc_forged", token[:-1], token + "x", "", "vgl_" + token[4:]):
        assert use(api, mine, bad) == 401, bad
    assert use(api, mine, token) == 200


def test_operators_revoke_a_leaked_link(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    path = f"/v1/alerts/{alert_id}/links/{link_id(token)}"
    assert api.client.delete(path, headers=api.auth(Role.PROBATION_OFFICER)).status_code == 403
    assert use(api, alert_id, token) == 200
    r = api.client.delete(path, headers=api.auth())
    assert r.status_code == 200 and r.json()["live"] is False and "u-operator" in r.json()["revoked_reason"]
    assert use(api, alert_id, token) == 401
    other = api.violation("O2", "S2", "P2", "AM-2", "W-2")
    r = api.client.delete(f"/v1/alerts/{other}/links/{link_id(token)}", headers=api.auth())
    assert r.status_code == 404  # a link of another incident is not this incident's to revoke


# --- the audit trail ----------------------------------------------------------------------------------


def test_every_use_is_audited_under_its_holder_with_the_link_id(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    assert use(api, alert_id, token) == 200
    assert step(api, alert_id, token) == 200
    entries = trail(api, UNIT)
    assert [e["detail"]["method"] for e in entries] == ["GET", "POST"]
    for entry in entries:
        assert entry["role"] == "field_unit"
        assert entry["detail"]["link"] == link_id(token) and entry["detail"]["holder_kind"] == "unit"
        assert entry["detail"]["alert"] == alert_id
        assert token not in str(entry)
    detail = api.get(f"/v1/alerts/{alert_id}").json()
    assert detail["timeline"][-1]["actor"] == UNIT  # his button, in his name
    # the control centre sees that the unit has opened it, and when (its first use, from the trail)
    [sent] = detail["assigned"]
    assert sent["opened_at"] is not None and sent["opened_at"] >= sent["at"]
    # Refused uses of a real link are recorded too: a unit taken off who tries again.
    api.client.delete(f"/v1/alerts/{alert_id}/assignments/{UNIT}", headers=api.auth())
    assert use(api, alert_id, token) == 401
    refused = trail(api, UNIT)[-1]
    assert refused["detail"]["allowed"] is False and "revoked" in refused["detail"]["refused"]


# --- dispatch targets ---------------------------------------------------------------------------------


def test_each_dispatch_target_is_pushed_a_link_of_its_own(dispatch_client, receiver):
    api = dispatch_client
    r = api.put(
        "/v1/dispatch/targets/probation",
        {"name": "probation", "url": receiver.url + "/probation", "secret": receiver.secrets["/probation"],
         "agency": "probation"},
        who="admin",
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    alert_id = api.violation()
    [police] = receiver.wait(ENV_PATH, 1)
    [probation] = receiver.wait("/probation", 1)

    def links_in(event: dict[str, Any]) -> set[str]:
        data = event["data"]
        return {
            *TOKEN.findall(data["alert"]["live_track_url"]),
            *TOKEN.findall(data["cap"]),
            *TOKEN.findall(str(data["eido"])),
        }

    [police_token], [probation_token] = links_in(police), links_in(probation)
    assert police_token != probation_token  # each body carries its own target's link (CAP, EIDO too)
    incident = api.get(f"/v1/alerts/{alert_id}").json()["incident"]
    assert police["data"]["alert"]["live_track_url"].startswith(
        f"https://vigil.test/field/?incident={incident}&token=inc_"
    )
    assert use(api, alert_id, police_token) == 200 and use(api, alert_id, probation_token) == 200
    [entry] = trail(api, "dispatch:env-default")
    assert entry["detail"]["link"] == link_id(police_token) and entry["detail"]["holder_kind"] == "target"
    holders = {
        x["id"]: (x["holder_kind"], x["holder"]) for x in api.get(f"/v1/alerts/{alert_id}").json()["links"]
    }
    assert holders == {link_id(police_token): ("target", "env-default"),
                       link_id(probation_token): ("target", "probation")}  # fmt: skip
    # A later push to the same target carries the same link; a revoked one is replaced.
    api.send([api.fix("AM-1", north(-60), seconds=1)])  # 110 m across her: news
    update = receiver.wait(ENV_PATH, 2)[1]
    assert links_in(update) == {police_token}
    r = api.client.delete(f"/v1/alerts/{alert_id}/links/{link_id(police_token)}", headers=api.auth())
    assert r.status_code == 200
    assert use(api, alert_id, police_token) == 401 and use(api, alert_id, probation_token) == 200
    api.send([api.fix("AM-1", north(60), seconds=3)])  # 120 m in 2 s: a move he could make
    [renewed] = links_in(receiver.wait(ENV_PATH, 3)[2])
    assert renewed != police_token and use(api, alert_id, renewed) == 200
    # The close: the last push carries the link, which then lives for the grace only.
    assert api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "done"}).status_code == 200
    assert links_in(receiver.wait(ENV_PATH, 4)[3]) == {renewed}
    api.clock.advance(16 * 60)
    assert use(api, alert_id, renewed) == 410 and use(api, alert_id, probation_token) == 410
    assert receiver.problems == []


def test_a_retried_push_carries_the_same_link(dispatch_client, receiver):
    api = dispatch_client
    receiver.down()
    alert_id = api.violation()

    def attempts() -> int:
        return int(api.get(f"/v1/alerts/{alert_id}/deliveries").json()[0]["attempts"])

    wait_until(lambda: attempts() >= 1)
    for _ in range(20):  # a few refused attempts, the clock moved past each backoff
        if attempts() >= 3:
            break
        api.clock.advance(5)
        api.client.app.state.services.deliverer.kick()
        time.sleep(0.05)
    assert attempts() >= 2
    with api.db.connect() as conn:
        [stored] = conn.execute(select(t.deliveries.c.body).where(t.deliveries.c.alert_id == alert_id)).all()
    receiver.up()
    for _ in range(30):
        if receiver.events(ENV_PATH):
            break
        api.clock.advance(5)
        api.client.app.state.services.deliverer.kick()
        time.sleep(0.05)
    event = receiver.wait(ENV_PATH, 1)[0]
    sent = TOKEN.findall(event["data"]["alert"]["live_track_url"])
    assert sent and set(TOKEN.findall(stored.body)) == set(sent)
    assert api.count(t.incident_links) == 1  # one link for the push, not one per attempt


# --- the base URL -------------------------------------------------------------------------------------


def test_links_name_the_address_the_server_really_listens_on(served_client, receiver):
    api = served_client
    base = str(api.client.base_url).rstrip("/")  # http://127.0.0.1:<the port it listens on>
    alert_id = api.violation()
    [event] = receiver.wait(ENV_PATH, 1)
    pushed = event["data"]["alert"]["live_track_url"]
    incident = api.get(f"/v1/alerts/{alert_id}").json()["incident"]
    assert pushed.startswith(f"{base}/field/?incident={incident}&token=inc_"), pushed
    assert ":8000/" not in pushed  # the configured port, not the one in use
    token = pushed.split("token=")[1]
    assert use(api, alert_id, token) == 200
    r = api.put(f"/v1/alerts/{alert_id}/assignments/{UNIT}", None)
    assert r.json()["link"]["url"].startswith(f"{base}/field/?incident={incident}&token=inc_")
