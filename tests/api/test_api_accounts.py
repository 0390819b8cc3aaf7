"""Accounts: password logins (argon2) with short-lived tokens, refresh with reuse detection, logout
and revocation, lockout after wrong passwords, a protected person's activation code, and device
credentials that rotate."""

from __future__ import annotations

import json

import pytest

from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends  # token families revoked in SQL; lockout and expiry times read back

PASSWORD = "correct horse battery"


def make_user(api, user: str = "kim", role: str = "operator", **extra) -> None:
    body = {"name": "Kim", "role": role, "password": PASSWORD, **extra}
    r = api.put(f"/v1/users/{user}", body, who=Role.ADMIN)
    assert r.status_code == 201, r.text


def login(api, user: str = "kim", password: str = PASSWORD):
    return api.client.post("/v1/auth/login", json={"user": user, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_password_login_gives_a_working_short_lived_token(app_client):
    api = app_client
    make_user(api)
    r = login(api)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["role"] == "operator" and session["expires_in"] == 900
    assert api.client.get("/v1/alerts", headers=bearer(session["access_token"])).status_code == 200
    # the refresh token is never a bearer token
    assert api.client.get("/v1/alerts", headers=bearer(session["refresh_token"])).status_code == 401


@pytest.mark.app_settings(access_token_s=1)
def test_the_access_token_expires(app_client):
    api = app_client
    make_user(api)
    token = login(api).json()["access_token"]
    assert api.client.get("/v1/alerts", headers=bearer(token)).status_code == 200
    api.clock.advance(2)
    assert api.client.get("/v1/alerts", headers=bearer(token)).status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(app_client):
    api = app_client
    make_user(api)
    first = login(api).json()
    second = api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second = second.json()
    assert api.client.get("/v1/alerts", headers=bearer(second["access_token"])).status_code == 200
    stolen = api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and "already used" in stolen.text
    assert api.client.get("/v1/alerts", headers=bearer(second["access_token"])).status_code == 401
    assert (
        api.client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code
        == 401
    )


def test_logout_and_revocation(app_client):
    api = app_client
    make_user(api)
    session = login(api).json()
    assert api.client.post("/v1/auth/logout", headers=bearer(session["access_token"])).status_code == 204
    assert api.client.get("/v1/alerts", headers=bearer(session["access_token"])).status_code == 401
    assert (
        api.client.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code
        == 401
    )
    again = login(api).json()
    assert api.post("/v1/users/kim/revoke", who=Role.ADMIN).json()["revoked"] == 2
    assert api.client.get("/v1/alerts", headers=bearer(again["access_token"])).status_code == 401


def test_wrong_passwords_lock_the_account_for_a_while(app_client):
    api = app_client
    make_user(api)
    unknown = login(api, user="nobody", password="whatever")
    wrong = login(api, password="wrong password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]  # no hint which one was wrong
    for _ in range(3):
        assert login(api, password="wrong password").status_code == 401
    locked = login(api, password="wrong password")
    assert locked.status_code == 423 and int(locked.headers["retry-after"]) > 0
    assert login(api).status_code == 423  # even the right password waits
    api.clock.advance(16 * 60)
    assert login(api).status_code == 200
    attempts = api.get("/v1/audit", who=Role.AUDITOR, params={"action": "auth.login"}).json()
    assert len(attempts) == 8 and {a["actor"] for a in attempts} == {"kim", "nobody"}


def test_a_protected_person_activates_her_account_with_a_one_time_code(app_client):
    api = app_client
    api.protected("P1", "W-1")
    r = api.post("/v1/protected-persons/P1/activation")
    assert r.status_code == 200, r.text
    code = r.json()["code"]
    assert login(api, user="pp-P1", password="anything at all").status_code == 401  # not yet active
    short = api.client.post("/v1/auth/activate", json={"code": code, "password": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["field"] == "password"
    session = api.client.post("/v1/auth/activate", json={"code": code, "password": PASSWORD})
    assert session.status_code == 200, session.text
    me = api.client.get("/v1/me", headers=bearer(session.json()["access_token"])).json()
    assert me == {
        "id": "pp-P1",
        "role": "protected_person",
        "person_id": "P1",
        "scope": {"kind": "self"},
        "notices": [],
    }
    assert api.client.post("/v1/auth/activate", json={"code": code, "password": PASSWORD}).status_code == 401
    assert api.post("/v1/protected-persons/NOPE/activation").status_code == 409
    assert api.post("/v1/protected-persons/P1/activation", who=Role.POLICE_DISPATCHER).status_code == 403


def test_an_activation_code_expires(app_client):
    api = app_client
    api.protected("P1", None)
    code = api.post("/v1/protected-persons/P1/activation").json()["code"]
    api.clock.advance(86_401)
    assert api.client.post("/v1/auth/activate", json={"code": code, "password": PASSWORD}).status_code == 401


def test_device_credentials_rotate(app_client):
    api = app_client
    api.subject("S1", "AM-1")
    api.subject("S2", "AM-2")
    why = {"reason": "the monitor was replaced"}
    first = api.post("/v1/devices/AM-1/credentials", why).json()["token"]
    second = api.post("/v1/devices/AM-1/credentials", why).json()["token"]
    fix = api.fix("AM-1", api.HOME_LAT)
    assert api.client.post("/v1/devices/messages", json=[fix], headers=bearer(first)).status_code == 401
    assert api.client.post("/v1/devices/messages", json=[fix], headers=bearer(second)).status_code == 200
    other = api.client.post(
        "/v1/devices/messages", json=[api.fix("AM-2", api.HOME_LAT)], headers=bearer(second)
    )
    assert other.status_code == 422  # a device's own credential posts for that device only
    assert api.post("/v1/devices/NOPE/credentials", why).status_code == 409


def test_user_bodies_are_checked(app_client):
    api = app_client
    r = api.put("/v1/users/x", {"name": "X", "role": "operator", "password": "short"}, who=Role.ADMIN)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "password"
    r = api.put("/v1/users/x", {"name": "X", "role": "protected_person"}, who=Role.ADMIN)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "person_id"
    assert api.put("/v1/users/x", {"name": "X", "role": "operator"}, who=Role.OPERATOR).status_code == 403
    r = api.put("/v1/users/x", {"name": "X", "role": "police_dispatcher", "areas": ["Seoul"]}, who=Role.ADMIN)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "areas.0", r.text


def test_a_new_role_or_jurisdiction_takes_effect_at_once(app_client):
    api = app_client
    make_user(api, "lee", "police_dispatcher", areas=["11"])
    token = login(api, "lee").json()["access_token"]
    assert api.client.get("/v1/alerts", headers=bearer(token)).status_code == 200
    body = {"name": "Lee", "role": "police_dispatcher", "areas": ["31", "41"]}
    assert api.put("/v1/users/lee", body, who=Role.ADMIN).json()["areas"] == ["31", "41"]
    assert api.client.app.state.services.tokens.principal(token).areas == ("31", "41")
    # A demotion revokes the tokens issued for the old role.
    assert api.put("/v1/users/lee", {"name": "Lee", "role": "auditor"}, who=Role.ADMIN).status_code == 200
    assert api.client.get("/v1/alerts", headers=bearer(token)).status_code == 401
    assert login(api, "lee").json()["role"] == "auditor"


@pytest.mark.app_settings(
    dispatch_secret="whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
    fallback_url="https://gw:pa55word@sms.example/send",
)
def test_admins_see_users_and_settings_but_no_secrets(app_client):
    api = app_client
    make_user(api, "lee", "police_dispatcher", areas=["11"])
    users = {u["id"]: u for u in api.get("/v1/users", who=Role.ADMIN).json()}
    assert users["lee"]["role"] == "police_dispatcher" and users["lee"]["areas"] == ["11"]
    assert not any("password" in key or "hash" in key for u in users.values() for key in u)
    settings = api.get("/v1/settings", who=Role.ADMIN).json()
    assert settings["dispatch_secret"] == "(set)"
    assert settings["fallback_url"] == "https://(set)@sms.example/send"
    assert "pa55word" not in json.dumps(settings) and "c2VjcmV0" not in json.dumps(settings)
