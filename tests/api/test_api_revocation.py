"""Revocation takes effect at once, with the token cache on: a request made right after the revoking
call returns is refused, whether the revocation was made by this app, by another app instance on the
same database, or by the `vigil` command in another process. Each backend (SQLite file, PostgreSQL).

The cache is set to five minutes here, so an answer served from a stale cache cannot hide behind its
expiry; every test first makes the token's answer cached (a successful call) before revoking."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends  # the revocation signal (NOTIFY, or the SQLite file)

CACHED = pytest.mark.app_settings(token_cache_s=300)
PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reads(api: Any, token: str) -> int:
    """The status of an ordinary read with `token` (200: honoured)."""
    return int(api.client.get("/v1/alerts", headers=bearer(token)).status_code)


def make_user(api: Any, user: str = "kim", role: str = "operator", **extra: Any) -> None:
    body = {"name": "Kim", "role": role, "password": PASSWORD, **extra}
    r = api.put(f"/v1/users/{user}", body, who=Role.ADMIN)
    assert r.status_code in (200, 201), r.text


def login(api: Any, user: str = "kim") -> dict[str, str]:
    r = api.client.post("/v1/auth/login", json={"user": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session: dict[str, str] = r.json()
    return session


def refresh(api: Any, token: str) -> Any:
    return api.client.post("/v1/auth/refresh", json={"refresh_token": token})


@pytest.fixture
def another(app_client: Any) -> Iterator[Callable[[], Any]]:
    """Starts a second app instance on the same database, with the same settings and tokens: a second
    server process as far as the cache is concerned (its own engine, watcher and cache). Its writer
    loads the registry when it starts, so a test registers devices before starting it."""
    started: list[Any] = []

    def start() -> Any:
        second = type(app_client)(app_client.url, app_client.settings, app_client.clock, app_client.tokens)
        second.start()
        started.append(second)
        return second

    try:
        yield start
    finally:
        for second in started:
            second.stop()


@pytest.fixture
def other(another: Callable[[], Any]) -> Any:
    return another()


# --- in this app ------------------------------------------------------------------------------------


@CACHED
def test_a_reused_refresh_token_ends_the_session_s_access_token_at_once(app_client):
    api = app_client
    make_user(api)
    first = login(api)
    second = refresh(api, first["refresh_token"]).json()
    assert reads(api, second["access_token"]) == 200  # cached
    stolen = refresh(api, first["refresh_token"])
    assert stolen.status_code == 401 and "already used" in stolen.text
    assert reads(api, second["access_token"]) == 401
    assert reads(api, first["access_token"]) == 401


@CACHED
def test_logout_ends_every_token_of_the_session_at_once(app_client):
    api = app_client
    make_user(api)
    first = login(api)
    second = refresh(api, first["refresh_token"]).json()
    assert reads(api, first["access_token"]) == 200  # still valid after the refresh, and cached
    assert reads(api, second["access_token"]) == 200
    assert api.client.post("/v1/auth/logout", headers=bearer(second["access_token"])).status_code == 204
    assert reads(api, first["access_token"]) == 401
    assert reads(api, second["access_token"]) == 401
    assert refresh(api, second["refresh_token"]).status_code == 401


@CACHED
def test_logout_leaves_the_user_s_other_sessions_and_other_users_cached(app_client):
    api = app_client
    make_user(api)
    phone, desk = login(api), login(api)
    assert reads(api, phone["access_token"]) == 200
    assert reads(api, desk["access_token"]) == 200
    assert api.client.post("/v1/auth/logout", headers=bearer(phone["access_token"])).status_code == 204
    assert reads(api, phone["access_token"]) == 401
    assert reads(api, desk["access_token"]) == 200
    assert api.get("/v1/alerts").status_code == 200


@CACHED
def test_a_new_password_ends_the_sessions_the_old_one_opened(app_client):
    api = app_client
    make_user(api)
    session = login(api)
    assert reads(api, session["access_token"]) == 200
    body = {"name": "Kim", "role": "operator", "password": "another long passphrase"}
    assert api.put("/v1/users/kim", body, who=Role.ADMIN).status_code == 200
    assert reads(api, session["access_token"]) == 401
    assert refresh(api, session["refresh_token"]).status_code == 401
    # the new password opens a new session
    r = api.client.post("/v1/auth/login", json={"user": "kim", "password": "another long passphrase"})
    assert r.status_code == 200 and reads(api, r.json()["access_token"]) == 200


@pytest.mark.app_settings(token_cache_s=300, access_token_s=60)
def test_a_cached_access_token_is_not_honoured_past_its_expiry(app_client):
    api = app_client
    make_user(api)
    session = login(api)
    assert reads(api, session["access_token"]) == 200  # cached for five minutes
    api.clock.advance(61)
    assert reads(api, session["access_token"]) == 401


# --- from another app instance on the same database ----------------------------------------------------


@CACHED
def test_a_role_change_in_one_instance_is_refused_at_once_by_another(app_client, other):
    make_user(app_client)
    session = login(app_client)
    assert reads(other, session["access_token"]) == 200  # cached by the other instance
    r = app_client.put("/v1/users/kim", {"name": "Kim", "role": "auditor"}, who=Role.ADMIN)
    assert r.status_code == 200, r.text
    assert reads(other, session["access_token"]) == 401


@CACHED
def test_disabling_an_account_in_one_instance_is_refused_at_once_by_another(app_client, other):
    make_user(app_client)
    session = login(app_client)
    assert reads(other, session["access_token"]) == 200
    body = {"name": "Kim", "role": "operator", "disabled": True}
    assert app_client.put("/v1/users/kim", body, who=Role.ADMIN).status_code == 200
    assert reads(other, session["access_token"]) == 401
    # enabled again: honoured again, at once too
    body["disabled"] = False
    assert app_client.put("/v1/users/kim", body, who=Role.ADMIN).status_code == 200
    assert reads(other, session["access_token"]) == 200


@CACHED
def test_a_reused_refresh_token_in_one_instance_ends_the_session_in_another(app_client, other):
    make_user(app_client)
    first = login(app_client)
    second = refresh(app_client, first["refresh_token"]).json()
    assert reads(other, second["access_token"]) == 200
    assert refresh(app_client, first["refresh_token"]).status_code == 401
    assert reads(other, second["access_token"]) == 401


@CACHED
def test_logout_in_one_instance_is_refused_at_once_by_another(app_client, other):
    make_user(app_client)
    session = login(app_client)
    assert reads(other, session["access_token"]) == 200
    assert (
        app_client.client.post("/v1/auth/logout", headers=bearer(session["access_token"])).status_code == 204
    )
    assert reads(other, session["access_token"]) == 401


@CACHED
def test_revoking_a_user_in_one_instance_is_refused_at_once_by_another(app_client, other):
    token = app_client.tokens[Role.OPERATOR]
    assert reads(other, token) == 200
    assert app_client.post("/v1/users/u-operator/revoke", who=Role.ADMIN).json()["revoked"] == 1
    assert reads(other, token) == 401
    # the revocation touched the operator only: the others stay honoured
    assert reads(other, app_client.tokens[Role.PROBATION_OFFICER]) == 200


@CACHED
def test_a_rotated_device_credential_is_refused_at_once_by_another_instance(app_client, another):
    api = app_client
    api.subject("S1", "AM-1")
    other = another()
    old = api.post("/v1/devices/AM-1/credentials", {"reason": "replaced monitor"}).json()["token"]
    fix = [api.fix("AM-1", api.HOME_LAT)]
    posted = other.client.post("/v1/devices/messages", json=fix, headers=bearer(old))
    assert posted.status_code == 200, posted.text  # the hot path: cached by the other instance
    new = api.post("/v1/devices/AM-1/credentials", {"reason": "replaced monitor"}).json()["token"]
    fix = [api.fix("AM-1", api.HOME_LAT, seconds=1)]
    assert other.client.post("/v1/devices/messages", json=fix, headers=bearer(old)).status_code == 401
    assert other.client.post("/v1/devices/messages", json=fix, headers=bearer(new)).status_code == 200


# --- from the command line, in another process ---------------------------------------------------------


@CACHED
def test_a_role_changed_by_the_cli_is_refused_at_once_by_a_running_app(app_client):
    api = app_client
    token = api.tokens[Role.OPERATOR]
    assert reads(api, token) == 200  # cached
    env = {**os.environ, "VIGIL_DATABASE_URL": api.url}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "user", "Operator", "auditor", "--id", "u-operator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert reads(api, token) == 401
    new = done.stdout.split("token: ")[1].split()[0]
    assert api.client.get("/v1/audit", headers=bearer(new)).status_code == 200  # an auditor's token


# --- an open stream -------------------------------------------------------------------------------------


@CACHED
@pytest.mark.timeout(60)
def test_an_open_stream_sends_nothing_more_once_its_session_is_revoked(app_client, another):
    api = app_client
    api.subject("S1", "AM-1")
    make_user(api)
    session = login(api)
    other = another()  # the revocation is made by another server than the one streaming
    query = f"token={session['access_token']}&purpose=monitoring&reason=live+watch"
    with api.client.websocket_connect(f"/v1/stream?{query}") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert api.send([api.fix("AM-1", api.HOME_LAT, seconds=-2)]).status_code == 200
        assert ws.receive_json()["type"] in {"position", "positions"}  # watching (the whole map: batched)
        r = other.post("/v1/users/kim/revoke", who=Role.ADMIN)
        assert r.json()["revoked"] == 2
        assert api.send([api.fix("AM-1", api.HOME_LAT, seconds=-1)]).status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
