"""Handing someone an account or a device's voice: a new activation code for a protected person who
already has an account, and a new device credential, need an operator and a reason, are recorded
under their own action, and the person is told (an account notice her current session shows)."""

from __future__ import annotations

import pytest
from api_kit import HOME_LAT

from vigil.domain.model import Role
from vigil.store import tables as t

PASSWORD = "correct horse battery"
WHY = {"reason": "she lost her phone; identity checked at the desk"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def her(app_client) -> dict[str, str]:
    """P1 (with her watch W-1) with an activated account of her own, signed in: her session."""
    api = app_client
    api.protected("P1", "W-1")
    first = api.post("/v1/protected-persons/P1/activation")
    assert first.status_code == 200 and first.json()["reactivation"] is False, first.text
    session = api.client.post("/v1/auth/activate", json={"code": first.json()["code"], "password": PASSWORD})
    assert session.status_code == 200, session.text
    return bearer(session.json()["access_token"])


def trail(api, action: str) -> list[dict]:
    return api.get("/v1/audit", who=Role.AUDITOR, params={"action": action}).json()


def test_a_first_code_is_as_before_and_audited(app_client):
    api = app_client
    api.protected("P1", None)
    r = api.post("/v1/protected-persons/P1/activation")  # no account yet: no reason needed
    assert r.status_code == 200 and r.json()["user"] == "pp-P1" and r.json()["reactivation"] is False
    entries = [
        e for e in trail(api, "registry.write") if e["target"] == "/v1/protected-persons/P1/activation"
    ]
    assert entries and entries[-1]["detail"]["allowed"] is True
    assert trail(api, "account.reactivate") == []


def test_a_new_code_for_her_account_needs_an_operator_and_a_reason_and_she_is_told(app_client, her):
    api = app_client
    before = api.get("/v1/audit", who=Role.AUDITOR).json()
    for body in (None, {}, {"reason": "   "}):
        r = api.post("/v1/protected-persons/P1/activation", body)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason", r.text
    r = api.post("/v1/protected-persons/P1/activation", WHY, who=Role.PROBATION_OFFICER)
    assert r.status_code == 403
    assert api.client.get("/v1/me/notices", headers=her).json() == []  # nothing was done
    assert len(api.get("/v1/audit", who=Role.AUDITOR).json()) > len(before)

    r = api.post("/v1/protected-persons/P1/activation", WHY)
    assert r.status_code == 200 and r.json()["reactivation"] is True and r.json()["user"] == "pp-P1"
    [entry] = trail(api, "account.reactivate")
    assert entry["actor"] == "u-operator" and entry["detail"]["reason"] == WHY["reason"]
    assert entry["detail"]["person"] == "P1" and entry["detail"]["allowed"] is True

    # Her session keeps working, and learns of it: in her notices, her status and /v1/me.
    [notice] = api.client.get("/v1/me/notices", headers=her).json()
    assert notice["kind"] == "account_reactivated" and notice["by"] == "operator"
    assert notice["reason"] == WHY["reason"] and notice["detail"]["user"] == "pp-P1"
    assert "u-operator" not in str(notice)  # she is told a role, not who
    assert api.client.get("/v1/me/status", headers=her).json()["notices"] == [notice]
    assert api.client.get("/v1/me", headers=her).json()["notices"] == [notice]


def test_when_the_new_code_is_used_her_old_session_learns_that_too(app_client, her):
    api = app_client
    code = api.post("/v1/protected-persons/P1/activation", WHY).json()["code"]
    r = api.client.post("/v1/auth/activate", json={"code": code, "password": "someone else's password"})
    assert r.status_code == 200
    kinds = [n["kind"] for n in api.client.get("/v1/me/notices", headers=her).json()]
    assert kinds == ["activation_code_used", "account_reactivated"]  # newest first


def test_a_device_credential_needs_an_operator_and_a_reason_and_her_device_tells_her(app_client, her):
    api = app_client
    api.subject("S1", "AM-1")  # in the probation officer's caseload
    r = api.post("/v1/devices/AM-1/credentials", WHY, who=Role.PROBATION_OFFICER)
    assert r.status_code == 403
    [refused] = trail(api, "device.rotate")
    assert refused["detail"]["allowed"] is False and refused["detail"]["device"] == "AM-1"
    for body in (None, {"reason": ""}):
        r = api.post("/v1/devices/W-1/credentials", body)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason"
    assert api.count(t.tokens, t.tokens.c.device_id == "W-1") == 0

    r = api.post("/v1/devices/W-1/credentials", WHY)
    assert r.status_code == 200
    token = r.json()["token"]
    done = [e for e in trail(api, "device.rotate") if e["detail"]["allowed"]]
    assert [e["detail"]["reason"] for e in done] == [WHY["reason"]]
    [notice] = api.client.get("/v1/me/notices", headers=her).json()
    assert notice["kind"] == "device_credential_rotated" and notice["detail"] == {"device": "W-1"}
    fix = api.fix("W-1", HOME_LAT)
    assert api.client.post("/v1/devices/messages", json=[fix], headers=bearer(token)).status_code == 200
    # A subject's device tells no one (there is no account to tell).
    assert api.post("/v1/devices/AM-1/credentials", WHY).status_code == 200
    assert len(api.client.get("/v1/me/notices", headers=her).json()) == 1


def test_notices_are_her_own(app_client, her):
    api = app_client
    api.protected("P2", "W-2")
    assert api.post("/v1/protected-persons/P2/activation").status_code == 200
    assert api.post("/v1/protected-persons/P1/activation", WHY).status_code == 200
    code = api.post("/v1/protected-persons/P2/activation", WHY).json()["code"]
    other = api.client.post("/v1/auth/activate", json={"code": code, "password": PASSWORD}).json()
    theirs = api.client.get("/v1/me/notices", headers=bearer(other["access_token"])).json()
    mine = api.client.get("/v1/me/notices", headers=her).json()
    assert [n["detail"]["user"] for n in mine] == ["pp-P1"]
    assert all(n["detail"]["user"] == "pp-P2" for n in theirs)
    assert api.get("/v1/me/notices").status_code == 403  # an operator's account has no victim notices


def test_an_account_speaks_for_one_protected_person(app_client, her):
    api = app_client
    api.subject("S1", "AM-1")
    body = {"name": "X", "role": "protected_person", "password": PASSWORD}
    r = api.put("/v1/users/x", {**body, "person_id": "S1"}, who=Role.ADMIN)  # a subject, not a victim
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "person_id"
    r = api.put("/v1/users/x", {**body, "person_id": "P1"}, who=Role.ADMIN)  # she has one: pp-P1
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"


def test_a_code_is_never_put_on_an_account_that_is_not_hers(app_client):
    api = app_client
    api.protected("P3", None)
    r = api.put(
        "/v1/users/pp-P3", {"name": "staff", "role": "operator", "password": PASSWORD}, who=Role.ADMIN
    )
    assert r.status_code == 201
    r = api.post("/v1/protected-persons/P3/activation")
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "person_id"
    assert api.client.post("/v1/auth/login", json={"user": "pp-P3", "password": PASSWORD}).status_code == 200


def test_a_device_token_from_the_shell_tells_her_too(app_client, her, monkeypatch, capsys):
    from vigil.cli import main

    api = app_client
    monkeypatch.setenv("VIGIL_DATABASE_URL", api.url)
    assert main(["device-token", "--device", "W-1"]) == 0
    assert "device token for device W-1" in capsys.readouterr().out
    [notice] = api.client.get("/v1/me/notices", headers=her).json()
    assert notice["kind"] == "device_credential_rotated" and notice["by"] == "shell"
