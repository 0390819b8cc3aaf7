"""Her evidence pack over REST (her own only, nothing of his whereabouts), a court's full version of
the same period, and checking either file against Vigil (endpoint and CLI): a changed byte is refused."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from api_kit import north
from pypdf import PdfReader
from test_api_me import scene

from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import create_user, issue_token

WHY = {"purpose": "court_order", "reason": "Seoul court request 2026-771"}


@pytest.fixture
def approach(app_client) -> tuple[Any, dict[str, str], dict[str, str]]:
    """He came 50 m from her (a violation), then left; her headers and the period."""
    api = app_client
    her = scene(api)
    api.clock.advance(30)
    assert api.send([api.fix("AM-1", north(50))]).status_code == 200
    api.clock.advance(120)
    assert api.send([api.fix("AM-1", north(3000))]).status_code == 200
    period = {"from": api.at(-3600), "until": api.at(60)}
    return api, her, period


def test_her_pack_holds_the_approach_and_nothing_of_his_place(approach) -> None:
    api, her, period = approach
    r = api.client.get("/v1/me/evidence", headers=her, params={**period, "format": "json"})
    assert r.status_code == 200, r.text
    body = json.loads(r.content)
    pack = body["evidence"]
    assert pack["scope"]["kind"] == "victim_pack" and pack["scope"]["person"] == "P1"
    (first, *_) = pack["approaches"]
    assert first["kind"] == "proximity_violation" and first["closest"]["m"] == 50
    assert first["steps"][0]["by"] == "vigil"
    text = r.content.decode()
    for his in (north(50), north(3000)):
        assert f"{his:.4f}" not in text
    assert "AM-1" not in text and "subject_position" not in text
    assert pack["own_track"] and all(f["lat"] == pytest.approx(api.HOME_LAT) for f in pack["own_track"])
    # recorded as issued: the file checks out against Vigil
    v = api.client.post("/v1/evidence/verify", content=r.content, headers=api.auth())
    assert v.status_code == 200, v.text
    assert v.json()["issued"] and v.json()["intact"]
    assert v.json()["issues"][0]["issued_to"] == "u-p1" and v.json()["issues"][0]["kind"] == "victim_pack"


def test_her_pack_as_pdf_checks_out_and_a_changed_byte_does_not(approach, tmp_path, monkeypatch) -> None:
    api, her, period = approach
    r = api.client.get("/v1/me/evidence", headers=her, params=period)  # PDF by default
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages]
    assert "KST" in pages[0] and "50 m" in pages[0]
    verify = api.client.post("/v1/evidence/verify", content=r.content, headers=api.auth())
    assert verify.status_code == 200 and verify.json()["issued"] is True, verify.text
    changed = bytearray(r.content)
    changed[len(changed) // 2] ^= 1
    verify = api.client.post("/v1/evidence/verify", content=bytes(changed), headers=api.auth())
    assert verify.status_code == 200 and verify.json()["issued"] is False
    by_hash = api.client.post(
        "/v1/evidence/verify", params={"sha256": r.headers["x-content-sha256"]}, headers=api.auth()
    )
    assert by_hash.json()["issued"] is True
    assert api.client.post("/v1/evidence/verify", headers=api.auth()).status_code == 422
    # the CLI says the same
    from vigil.cli import main

    monkeypatch.setenv("VIGIL_DATABASE_URL", api.url)
    good, bad = tmp_path / "pack.pdf", tmp_path / "changed.pdf"
    good.write_bytes(r.content)
    bad.write_bytes(bytes(changed))
    assert main(["evidence", "verify", str(good)]) == 0
    assert main(["evidence", "verify", str(bad)]) == 1
    assert main(["evidence", "verify", str(tmp_path / "missing.pdf")]) == 2


def test_a_changed_json_is_refused(approach) -> None:
    api, her, period = approach
    r = api.client.get("/v1/me/evidence", headers=her, params={**period, "format": "json"})
    changed = r.content.replace(b'"m":50', b'"m":90')
    assert changed != r.content
    verdict = api.client.post("/v1/evidence/verify", content=changed, headers=api.auth()).json()
    assert verdict["issued"] is False and verdict["intact"] is False


def test_a_courts_full_version_of_the_same_period(approach) -> None:
    api, her, period = approach
    path = "/v1/protected-persons/P1/evidence"
    r = api.get(path, who=Role.COURT, params={**period, "format": "json", **WHY})
    assert r.status_code == 200, r.text
    full = json.loads(r.content)["evidence"]
    assert full["scope"]["kind"] == "person" and full["tracks"]["subject"]  # his track too
    assert full["generated"]["by"] == "u-court"
    for who in (Role.OPERATOR, Role.AUDITOR):
        assert api.get(path, who=who, params={**period, **WHY}).status_code == 200, who
    # the court checks her pack and the full version against Vigil
    verdict = api.client.post("/v1/evidence/verify", content=r.content, headers=api.auth(Role.COURT)).json()
    assert verdict["issued"] and verdict["issues"][0]["issued_to"] == "u-court"
    pdf = api.get(path, params={**period, "format": "pdf", **WHY})
    assert pdf.headers["content-type"] == "application/pdf"
    assert api.get(path, params=period).status_code == 422  # an export needs a purpose
    assert api.get("/v1/protected-persons/nobody/evidence", params={**period, **WHY}).status_code == 404
    for who in (Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER, Role.PROTECTED_PERSON, Role.ADMIN):
        assert api.get(path, who=who, params={**period, **WHY}).status_code == 403, who
    assert api.client.get(path, headers=her, params={**period, **WHY}).status_code == 403


def test_her_pack_is_hers_alone(approach) -> None:
    api, _her, period = approach
    with api.db.begin() as conn:
        create_user(
            conn, user_id="u-p2", name="P2", role=Role.PROTECTED_PERSON, now=api.clock(), person_id="P2"
        )
        other = issue_token(conn, role=Role.PROTECTED_PERSON, now=api.clock(), user_id="u-p2")
    api.protected("P2", None)
    r = api.client.get(
        "/v1/me/evidence", headers={"Authorization": f"Bearer {other}"}, params={**period, "format": "json"}
    )
    assert r.status_code == 200, r.text
    pack = json.loads(r.content)["evidence"]
    assert pack["scope"]["person"] == "P2" and pack["approaches"] == [] and pack["orders"] == []
    for who in (Role.OPERATOR, Role.PROBATION_OFFICER, Role.FIELD_OFFICER, Role.AUDITOR):
        assert api.get("/v1/me/evidence", who=who, params=period).status_code == 403, who


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-02T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"}, "until"),
        ({"from": "2024-01-01T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"}, "until"),
        ({"from": "2026-01-01T00:00:00", "until": "2026-01-02T00:00:00+00:00"}, "from"),
        ({"until": "2026-01-02T00:00:00+00:00"}, "from"),
    ],
)
def test_a_bad_period_is_422_naming_the_field(approach, params, field) -> None:
    api, her, _ = approach
    r = api.client.get("/v1/me/evidence", headers=her, params=params)
    assert r.status_code == 422 and field in r.text, r.text


def test_every_pack_is_recorded_as_issued(approach) -> None:
    api, her, period = approach
    before = api.count(t.evidence_issued)
    api.clock.advance(timedelta(seconds=1).total_seconds())
    assert api.client.get("/v1/me/evidence", headers=her, params=period).status_code == 200
    assert api.count(t.evidence_issued) == before + 1


@pytest.mark.app_settings(rate_my_evidence_per_s=0.001, rate_my_evidence_burst=2)
def test_her_packs_have_a_rate_limit_of_their_own(app_client) -> None:
    api = app_client
    her = scene(api)
    period = {"from": api.at(-3600), "until": api.at(60), "format": "json"}
    got = [api.client.get("/v1/me/evidence", headers=her, params=period).status_code for _ in range(3)]
    assert got[:2] == [200, 200] and got[2] == 429
    assert api.client.get("/v1/me/status", headers=her).status_code == 200  # her status is not held back
