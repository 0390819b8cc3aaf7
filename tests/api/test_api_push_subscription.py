"""Her push subscription through the API: what is refused (and why, by field), and who may touch
it. The server will POST to the endpoint it keeps, so an endpoint is checked like any URL the server
is asked to call: https only (http on loopback only when a test allows it), no private addresses."""

from __future__ import annotations

import base64

import pytest
from wake_kit import Browser, b64

from conftest import BOUND, Api
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

ENDPOINT = "https://push.example.com/send/abc"


def account(api: Api, pid: str, user: str) -> dict[str, str]:
    r = api.put(f"/v1/protected-persons/{pid}", {"name": f"person {pid}"})
    assert r.status_code in (200, 201), r.text
    with api.db.begin() as conn:
        create_user(conn, user_id=user, name=pid, role=Role.PROTECTED_PERSON, now=api.clock(), person_id=pid)
        token = issue_token(conn, role=Role.PROTECTED_PERSON, now=api.clock(), user_id=user)
    return {"Authorization": f"Bearer {token}"}


def body(endpoint: str = ENDPOINT, **keys: str) -> dict:
    return {"endpoint": endpoint, "keys": {**Browser().keys(), **keys}}


@pytest.fixture
def her(app_client) -> dict[str, str]:
    return account(app_client, "P1", "u-p1")


@pytest.mark.parametrize(
    ("sent", "field", "why"),
    [
        (body("http://push.example.com/x"), "endpoint", "https://"),
        (body("ftp://push.example.com/x"), "endpoint", "https://"),
        (body("https:///nohost"), "endpoint", "host"),
        (body("https://[::1/x"), "endpoint", "host"),
        (body("https://user:pw@push.example.com/x"), "endpoint", "credentials"),
        (body("https://127.0.0.1/x"), "endpoint", "not this machine"),
        (body("https://10.1.2.3/x"), "endpoint", "private"),
        (body("https://[fe80::1]/x"), "endpoint", "private"),
        (body("http://127.0.0.1:9/x"), "endpoint", "https://"),  # loopback http: tests only
        (body(p256dh=b64(b"\x04" + b"\x01" * 64)), "keys.p256dh", "not a point"),
        (body(p256dh=b64(b"\x02" + b"\x01" * 32)), "keys.p256dh", "uncompressed"),
        (body(p256dh="!!!"), "keys.p256dh", ""),
        (body(auth=b64(b"short")), "keys.auth", "16-byte"),
        (body(auth=b64(b"x" * 17)), "keys.auth", "16-byte"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(app_client, her, sent, field, why):
    r = app_client.client.put("/v1/me/push-subscription", json=sent, headers=her)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["field"] == field and why in problem["reason"], problem
    assert app_client.count(t.push_subscriptions) == 0


def test_missing_keys_and_oversized_fields_are_422(app_client, her):
    for sent in ({"endpoint": ENDPOINT}, {"keys": Browser().keys()},
                 body("https://push.example.com/" + "x" * 2100), body(auth="a" * 41)):  # fmt: skip
        r = app_client.client.put("/v1/me/push-subscription", json=sent, headers=her)
        assert r.status_code == 422, r.text


def test_she_registers_refreshes_lists_and_removes_her_own(app_client, her):
    api = app_client
    sent = body()
    r = api.client.put("/v1/me/push-subscription", json=sent, headers=her)
    assert r.status_code == 200 and r.json()["created"] is True
    again = api.client.put("/v1/me/push-subscription", json=body(), headers=her)  # new keys, same browser
    assert again.json() == {"id": r.json()["id"], "created": False}
    # a new browser is told to her account (whoever holds it may have registered one of their own);
    # a refresh of the same one is not
    told = [n for n in api.client.get("/v1/me/notices", headers=her).json() if n["kind"] == "push_subscribed"]
    assert [n["detail"] for n in told] == [{"service": "push.example.com"}]
    assert [s["service"] for s in api.client.get("/v1/me/push-subscriptions", headers=her).json()] == [
        "push.example.com"
    ]
    r = api.client.delete("/v1/me/push-subscription", params={"endpoint": ENDPOINT}, headers=her)
    assert r.status_code == 204
    r = api.client.delete("/v1/me/push-subscription", params={"endpoint": ENDPOINT}, headers=her)
    assert r.status_code == 404
    assert api.count(t.push_subscriptions) == 0


def test_another_victim_can_neither_take_nor_remove_nor_read_hers(app_client, her):
    api = app_client
    other = account(api, "P2", "u-p2")
    assert api.client.put("/v1/me/push-subscription", json=body(), headers=her).status_code == 200
    taken = api.client.put("/v1/me/push-subscription", json=body(), headers=other)
    assert taken.status_code == 409 and taken.json()["detail"][0]["field"] == "endpoint"
    gone = api.client.delete("/v1/me/push-subscription", params={"endpoint": ENDPOINT}, headers=other)
    assert gone.status_code == 404
    assert api.client.get("/v1/me/push-subscriptions", headers=other).json() == []
    with api.db.connect() as conn:
        [row] = conn.execute(t.push_subscriptions.select()).all()
    assert row.person_id == "P1"


@pytest.mark.parametrize(
    "who", [Role.OPERATOR, Role.PROBATION_OFFICER, Role.ADMIN, Role.FIELD_OFFICER, BOUND]
)
def test_no_other_role_nor_his_device_may_register_or_read_hers(app_client, her, who):
    api = app_client
    assert api.client.put("/v1/me/push-subscription", json=body(), headers=her).status_code == 200
    auth = api.auth(who)
    assert api.client.put("/v1/me/push-subscription", json=body(), headers=auth).status_code == 403
    assert api.client.get("/v1/me/push-subscriptions", headers=auth).status_code == 403
    assert api.client.get("/v1/me/push-key", headers=auth).status_code == 403
    r = api.client.delete("/v1/me/push-subscription", params={"endpoint": ENDPOINT}, headers=auth)
    assert r.status_code == 403
    assert api.count(t.push_subscriptions) == 1


def test_ten_browsers_at_most(app_client, her):
    api = app_client
    for i in range(10):
        sent = body(f"https://push.example.com/send/{i}")
        assert api.client.put("/v1/me/push-subscription", json=sent, headers=her).status_code == 200
    r = api.client.put("/v1/me/push-subscription", json=body("https://push.example.com/send/x"), headers=her)
    assert r.status_code == 422 and "at most 10" in r.json()["detail"][0]["reason"]


def test_the_served_key_is_the_public_half_of_a_p256_pair(app_client, her):
    key = app_client.client.get("/v1/me/push-key", headers=her).json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    # kept across a restart: subscriptions made with it stay valid
    app_client.restart()
    assert app_client.client.get("/v1/me/push-key", headers=her).json()["public_key"] == key
