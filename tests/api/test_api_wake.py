"""Waking her: Web Push to her browser and text messages through the SMS gateway, end to end.

A push service runs on loopback (tests/api/wake_kit.py): it checks each push's VAPID signature
against the public key Vigil serves to the app and decrypts the body with the keys her "browser"
made, so what is asserted is what her service worker would read. An SMS gateway stand-in checks
the bearer token and keeps the texts. Every message is recorded and shown to the control centre."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_kit import HOME_LAT, north, wait_until
from wake_kit import PushService, SmsGateway

from conftest import Api, _api
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

pytestmark = pytest.mark.both_backends  # the records are written and read back on each backend

SMS_TOKEN = "sms-gateway-token-for-tests"


@pytest.fixture
def wake(request: pytest.FixtureRequest, provisioned) -> Iterator[tuple[Api, PushService, SmsGateway]]:
    push, sms = PushService(), SmsGateway(SMS_TOKEN)
    push.up()
    sms.up()
    api = _api(request, provisioned, push_allow_loopback_http=True, sms_url=f"{sms.url}/sms",
               sms_token=SMS_TOKEN)  # fmt: skip
    api.start()
    try:
        yield api, push, sms
    finally:
        api.stop()
        push.down()
        sms.down()


def her_account(api: Api, pid: str = "P1", user: str = "u-p1") -> dict[str, str]:
    with api.db.begin() as conn:
        create_user(conn, user_id=user, name=pid, role=Role.PROTECTED_PERSON, now=api.clock(), person_id=pid)
        token = issue_token(conn, role=Role.PROTECTED_PERSON, now=api.clock(), user_id=user)
    return {"Authorization": f"Bearer {token}"}


def scene(api: Api, phone: str = "010-2345-6789") -> dict[str, str]:
    """S1 under an order to keep 100 m (warn at 1000 m) from P1, whose watch is at home."""
    api.subject("S1", "AM-1")
    r = api.put("/v1/protected-persons/P1", {"name": "person P1", "phone": phone})
    assert r.status_code == 201, r.text
    assert api.put("/v1/devices/W-1", {"kind": "smartwatch", "person_id": "P1"}).status_code == 201
    assert api.order("O1").status_code == 201
    return her_account(api)


def him_at(api: Api, metres: float) -> None:
    """30 s on: her watch at home, his monitor `metres` north of her."""
    api.clock.advance(30)
    r = api.send([api.fix("W-1", HOME_LAT), api.fix("AM-1", north(metres))])
    assert r.status_code == 200, r.text


def alert_of(api: Api) -> dict:
    [alert] = [a for a in api.get("/v1/alerts", params={"subject": "S1"}).json() if a["order"] == "O1"]
    return alert


def test_he_comes_near_her_browser_is_woken_with_a_push_it_can_decrypt(wake):
    api, push, _ = wake
    her = scene(api)
    key = api.client.get("/v1/me/push-key", headers=her)
    assert key.status_code == 200, key.text
    push.server_key = key.json()["public_key"]
    subscription, _ = push.subscribe("her-phone")
    r = api.client.put("/v1/me/push-subscription", json=subscription, headers=her)
    assert r.status_code == 200 and r.json()["created"] is True, r.text
    listed = api.client.get("/v1/me/push-subscriptions", headers=her).json()
    assert [s["service"] for s in listed] == ["127.0.0.1"] and "endpoint" not in listed[0]

    him_at(api, 3000)
    him_at(api, 850)  # within the warning distance, beyond her view (600 m): a text, not yet a push
    him_at(api, 500)  # within her view, where the app shows him: a push
    [near] = push.wait(1)
    assert near.payload["kind"] == "near" and near.payload["v"] == 1
    assert set(near.payload) == {"v", "kind", "alert", "at"}  # never where he is
    assert near.claims["aud"] == push.url and near.headers["urgency"] == "high"
    him_at(api, 480)  # nearer, still a warning: nothing new
    him_at(api, 50)  # a violation: danger
    received = push.wait(2)
    assert [p.payload["kind"] for p in received] == ["near", "danger"]
    alert_id = alert_of(api)["id"]
    assert {p.payload["alert"] for p in received} == {alert_id}

    # recorded, and shown to the control centre with the alert
    records = wait_until(
        lambda: [
            n for n in api.get(f"/v1/alerts/{alert_id}/notifications").json() if n["state"] == "delivered"
        ]
    )
    pushes = [n for n in records if n["channel"] == "push"]
    assert [n["kind"] for n in pushes] == ["near", "danger"]
    assert all(n["to"] == "127.0.0.1" and n["attempts"] == 1 and n["last_status"] == 201 for n in pushes)
    detail = api.get(f"/v1/alerts/{alert_id}").json()
    assert [n["kind"] for n in detail["notifications"] if n["channel"] == "push"] == ["near", "danger"]
    # and counted for /metrics (once the sender has settled what the writer recorded)
    wait_until(lambda: "vigil_notify_backlog 0.0" in api.get("/metrics", who=Role.ADMIN).text)
    # two pushes and three texts (her number is in the registry too: at 850, 500 and 50 m)
    assert "vigil_notify_delivered_total 5.0" in api.get("/metrics", who=Role.ADMIN).text


def test_her_sos_answered_is_pushed(wake):
    api, push, _ = wake
    her = scene(api)
    push.server_key = api.client.get("/v1/me/push-key", headers=her).json()["public_key"]
    subscription, _ = push.subscribe("her-phone")
    assert api.client.put("/v1/me/push-subscription", json=subscription, headers=her).status_code == 200
    him_at(api, 5000)
    r = api.client.post("/v1/me/sos", json={"position": {"lat": HOME_LAT, "lon": api.HOME_LON}}, headers=her)
    assert r.status_code == 200, r.text
    [sos] = [a for a in api.get("/v1/alerts").json() if a["kind"] == "sos"]
    r = api.post(f"/v1/alerts/{sos['id']}/steps", {"state": "acknowledged", "note": "calling her"})
    assert r.status_code == 200, r.text
    [answered] = push.wait(1)
    assert answered.payload["kind"] == "sos_answered" and answered.payload["alert"] == sos["id"]


def test_a_subscription_the_push_service_says_is_gone_is_removed(wake):
    api, push, _ = wake
    her = scene(api)
    push.server_key = api.client.get("/v1/me/push-key", headers=her).json()["public_key"]
    subscription, _ = push.subscribe("old-phone")
    assert api.client.put("/v1/me/push-subscription", json=subscription, headers=her).status_code == 200
    push.answers["/push/old-phone"] = [410]
    him_at(api, 3000)
    him_at(api, 500)
    wait_until(lambda: api.count(t.push_subscriptions) == 0)
    alert_id = alert_of(api)["id"]
    [record] = [n for n in api.get(f"/v1/alerts/{alert_id}/notifications").json() if n["channel"] == "push"]
    assert record["state"] == "gone" and record["last_status"] == 410
    assert api.client.get("/v1/me/push-subscriptions", headers=her).json() == []


def test_a_push_service_that_is_down_is_retried_until_delivered(wake):
    api, push, _ = wake
    her = scene(api)
    push.server_key = api.client.get("/v1/me/push-key", headers=her).json()["public_key"]
    subscription, _ = push.subscribe("her-phone")
    assert api.client.put("/v1/me/push-subscription", json=subscription, headers=her).status_code == 200
    push.answers["/push/her-phone"] = [503, 500]
    him_at(api, 3000)
    him_at(api, 500)
    alert_id = alert_of(api)["id"]

    def attempts() -> int:
        [n] = [n for n in api.get(f"/v1/alerts/{alert_id}/notifications").json() if n["channel"] == "push"]
        return int(n["attempts"])

    for expected in (1, 2):
        wait_until(lambda e=expected: attempts() >= e)
        api.clock.advance(120)  # past any backoff
    [near] = push.wait(1)
    assert near.payload["kind"] == "near"
    wait_until(lambda: attempts() == 3)


def test_texts_at_the_warning_distance_then_per_100_m_and_none_for_jitter(wake):
    api, _, sms = wake
    scene(api, phone="010-2345-6789")
    him_at(api, 3000)  # beyond the warning distance: nothing
    him_at(api, 850)  # within 1000 m: the first text
    him_at(api, 830)  # jitter
    him_at(api, 740)  # 110 m nearer than the last text: another
    him_at(api, 680)
    him_at(api, 660)  # the alert moves on, but 80 m from the last text: none
    him_at(api, 590)  # 150 m nearer: a text
    him_at(api, 730)  # 140 m farther: a text
    him_at(api, 50)  # a violation: a text at once
    # in the order they were staged (the sender may deliver two at once on a busy machine)
    texts = sorted(sms.wait(5), key=lambda m: int(m["id"].rsplit("-", 1)[-1]))
    api.clock.advance(5)
    assert all(m["to"] == "010-2345-6789" for m in texts)
    words = [m["text"] for m in texts]
    assert words == [
        "[안심] 접근 경보: 상대방이 약 900 m 이내에 있습니다. 안전한 곳에 머무르고, 위험하면 112에 신고하세요.",
        "[안심] 상대방이 지금 약 800 m 이내에 있습니다. 위험하면 112에 신고하세요.",
        "[안심] 상대방이 지금 약 600 m 이내에 있습니다. 위험하면 112에 신고하세요.",
        "[안심] 상대방이 지금 약 800 m 이내에 있습니다. 위험하면 112에 신고하세요.",
        "[안심] 위험: 상대방이 약 100 m 이내에 있습니다. 바로 안전한 곳으로 피하고 112에 신고하세요.",
    ], words
    alert_id = alert_of(api)["id"]

    def recorded() -> list[dict[str, Any]] | None:  # each answer is recorded through the writer, after it
        found = [n for n in api.get(f"/v1/alerts/{alert_id}/notifications").json() if n["channel"] == "sms"]
        return found if all(n["state"] == "delivered" for n in found) else None

    records = wait_until(recorded)
    assert [n["kind"] for n in records] == ["near", "distance", "distance", "distance", "danger"]
    assert all(n["to"] == "…6789" for n in records)
    assert sms.attempts == 5


def test_no_text_without_her_number_and_none_without_a_gateway(app_client):
    api = app_client  # no SMS gateway configured
    scene(api, phone="")
    him_at(api, 3000)
    him_at(api, 850)
    assert api.count(t.notifications) == 0
