"""Evidence and retention over REST, on both backends: the breach report of an alert as JSON (with its
hash) and PDF, legal holds, who may do what, and the purge through the running server's writer."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from conftest import _api
from pmtiles_kit import TILE_RGB, build_raster
from vigil.domain.model import Role
from vigil.evidence.report import canonical_json
from vigil.retention import purge, purge_periodically, through_writer

pytestmark = pytest.mark.both_backends  # evidence and retention

AUDITOR = "auditor"
WHY = {"purpose": "court_order", "reason": "Seoul court request 2026-771"}


@pytest.fixture
def api(app_client: Any) -> Any:
    """The app, and an auditor's token (made by app_client)."""
    app_client.tokens[AUDITOR] = app_client.tokens[Role.AUDITOR]
    return app_client


def korean_violation(api: Any) -> str:
    alert_id = api.violation()
    r = api.put("/v1/subjects/S1", {"legal_basis": "parole", "name": "김철수", "case_reference": "2026고단1"})
    assert r.status_code == 200, r.text
    r = api.put("/v1/protected-persons/P1", {"name": "이영희"})
    assert r.status_code == 200, r.text
    return alert_id


# --- the breach report ----------------------------------------------------------------------------


def test_the_json_evidence_carries_its_hash(api: Any) -> None:
    alert_id = korean_violation(api)
    r = api.get(f"/v1/alerts/{alert_id}/evidence", params=WHY)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = json.loads(r.content)
    assert set(body) == {"evidence", "sha256"}
    digest = hashlib.sha256(canonical_json(body["evidence"])).hexdigest()
    assert body["sha256"] == digest == r.headers["x-content-sha256"]
    assert canonical_json(body["evidence"]) in r.content  # the hashed bytes, verbatim
    ev = body["evidence"]
    assert [a["id"] for a in ev["alerts"]] == [alert_id]
    assert [c["change"] for c in ev["alerts"][0]["timeline"]] == ["opened"]
    assert ev["subject"]["name"] == "김철수" and ev["protected_person"]["name"] == "이영희"
    assert [f["device"] for f in ev["tracks"]["subject"]] == ["AM-1"]
    assert [f["device"] for f in ev["tracks"]["protected_person"]] == ["W-1"]
    assert ev["generated"]["by"] == "u-operator"
    # the same evidence, asked for again at the same (hand-moved) time: the same bytes
    again = api.get(f"/v1/alerts/{alert_id}/evidence", params={"format": "json", **WHY})
    assert again.content == r.content


def test_the_pdf_evidence_names_the_json_hash_on_every_page(api: Any) -> None:
    alert_id = korean_violation(api)
    digest = api.get(f"/v1/alerts/{alert_id}/evidence", params=WHY).headers["x-content-sha256"]
    r = api.get(f"/v1/alerts/{alert_id}/evidence", params={"format": "pdf", **WHY})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-sha256"] == digest
    assert r.content.startswith(b"%PDF-")
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages]
    assert len(pages) >= 2
    assert all(digest in text for text in pages)
    assert "김철수" in pages[0] and "이영희" in pages[0]


def test_the_pdfs_map_shows_the_servers_street_map_and_still_verifies(
    request: pytest.FixtureRequest, provisioned: Any, tmp_path: Path
) -> None:
    """With VIGIL_PMTILES (raster), the report's map has the streets under it, credited; the PDF
    issued is what verifies, byte for byte."""
    home = (127.19, 37.59, 127.21, 37.61)  # around api_kit's HOME_LAT, HOME_LON
    mapped = _api(request, provisioned, pmtiles=build_raster(tmp_path / "home.pmtiles", bounds=home))
    mapped.start()
    try:
        alert_id = korean_violation(mapped)
        r = mapped.get(f"/v1/alerts/{alert_id}/evidence", params={"format": "pdf", **WHY})
        assert r.status_code == 200, r.text
        page = next(p for p in PdfReader(io.BytesIO(r.content)).pages if "지도 / Map" in p.extract_text())
        (streets,) = page.images
        assert streets.image.convert("RGB").getpixel((5, 5))[:2] == TILE_RGB[:2]
        assert "Streets: test tiles" in page.extract_text()
        verdict = mapped.client.post("/v1/evidence/verify", content=r.content, headers=mapped.auth())
        assert verdict.status_code == 200 and verdict.json()["issued"] is True, verdict.text
    finally:
        mapped.stop()


def test_who_may_read_evidence(api: Any) -> None:
    alert_id = api.violation()
    path = f"/v1/alerts/{alert_id}/evidence"
    for who in (Role.OPERATOR, Role.PROBATION_OFFICER, AUDITOR):
        assert api.get(path, who=who, params=WHY).status_code == 200, who
    assert api.get(path).status_code == 422  # an export needs a purpose
    for who in (Role.ADMIN, Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.PROTECTED_PERSON, "gateway"):
        assert api.get(path, who=who).status_code == 403, who
    assert api.client.get(path).status_code == 401


def test_evidence_of_an_unknown_alert_and_an_unknown_format(api: Any) -> None:
    r = api.get("/v1/alerts/no-such-alert/evidence", params=WHY)
    assert r.status_code == 404, r.text
    alert_id = api.violation()
    r = api.get(f"/v1/alerts/{alert_id}/evidence", params={"format": "docx", **WHY})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == ["query.format"]


# --- legal holds ----------------------------------------------------------------------------------


def hold(api: Any, who: str = Role.OPERATOR, **body: Any) -> Any:
    return api.post(
        "/v1/legal-holds", {"held_from": api.at(-3600), "reason": "court order 2026-17", **body}, who
    )


def test_a_legal_hold_is_placed_listed_and_released(api: Any) -> None:
    api.subject("S1", None)
    r = hold(api, person_id="S1", held_until=api.at(3600))
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["person_id"] == "S1" and placed["created_by"] == "u-operator"
    assert placed["released_at"] is None and placed["reason"] == "court order 2026-17"
    everyone = hold(api, who=AUDITOR)  # no person: everyone's history, open-ended
    assert everyone.status_code == 201, everyone.text
    assert everyone.json()["person_id"] is None and everyone.json()["held_until"] is None
    listed = api.get("/v1/legal-holds", who=Role.ADMIN)
    assert listed.status_code == 200
    assert {h["id"] for h in listed.json()} == {placed["id"], everyone.json()["id"]}
    r = api.post(f"/v1/legal-holds/{placed['id']}/release", who=AUDITOR)
    assert r.status_code == 200, r.text
    assert r.json()["released_by"] == "u-auditor" and r.json()["released_at"]
    assert api.post(f"/v1/legal-holds/{placed['id']}/release").status_code == 409
    assert api.post("/v1/legal-holds/lh-nope/release").status_code == 404
    active = api.get("/v1/legal-holds", params={"active": True}).json()
    assert [h["id"] for h in active] == [everyone.json()["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "held_from"),
        ({"held_from": "2026-01-01T00:00:00", "reason": "x"}, "held_from"),  # no time zone
        (
            {"held_from": "2026-01-02T00:00:00Z", "held_until": "2026-01-01T00:00:00Z", "reason": "x"},
            "held_until",
        ),
        ({"held_from": "2026-01-01T00:00:00Z", "reason": "   "}, "reason"),
        ({"held_from": "2026-01-01T00:00:00Z"}, "reason"),
        ({"held_from": "2026-01-01T00:00:00Z", "reason": "x", "person_id": "../etc"}, "person_id"),
        ({"held_from": "2026-01-01T00:00:00Z", "reason": "x", "person_id": "nobody"}, "person_id"),
    ],
)
def test_a_bad_hold_is_422_per_field(api: Any, body: dict[str, Any], field: str) -> None:
    r = api.post("/v1/legal-holds", body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field], r.json()
    assert all(e["reason"] for e in r.json()["detail"])


def test_who_may_manage_holds(api: Any) -> None:
    for who in (Role.PROBATION_OFFICER, Role.POLICE_DISPATCHER, Role.FIELD_OFFICER, Role.PROTECTED_PERSON):
        assert hold(api, who=who).status_code == 403, who
        assert api.get("/v1/legal-holds", who=who).status_code == 403, who
        assert api.post("/v1/legal-holds/x/release", who=who).status_code == 403, who


# --- the purge on the running server --------------------------------------------------------------


def test_the_purge_through_the_writer_keeps_evidence(api: Any) -> None:
    alert_id = api.violation()  # S1 (AM-1) 50 m from P1 (W-1)
    r = api.post(f"/v1/alerts/{alert_id}/steps", {"state": "resolved", "note": "left"})
    assert r.status_code == 200, r.text
    api.subject("S2", "AM-2")  # no order, no alert
    assert api.send([api.fix("AM-2", api.north(5000), seconds=-s) for s in (30, 20, 10)]).status_code == 200
    held = hold(api, person_id="S2", held_until=api.at(60)).json()

    runner = api.client.app.state.services.runner
    later = api.clock() + timedelta(days=200)

    def run() -> Any:
        return purge(api.db, through_writer(runner), now=later, retention=timedelta(days=180), chunk=1)

    report = run()
    assert (report.fixes_deleted, report.fixes_kept) == (0, 5)  # the alert's two, the hold's three
    assert len(api.fixes_of("AM-2")) == 3
    assert api.post(f"/v1/legal-holds/{held['id']}/release").status_code == 200
    report = run()
    assert (report.fixes_deleted, report.fixes_kept, report.transactions) == (3, 2, 4)  # one row each
    assert api.fixes_of("AM-2") == []
    assert len(api.fixes_of("AM-1")) == len(api.fixes_of("W-1")) == 1
    # the server still takes reports after the purge
    assert api.send([api.fix("AM-2", api.north(5000))]).status_code == 200


@pytest.mark.app_settings(retention_days=30)
def test_the_periodic_purge_runs_and_logs(api: Any, caplog: pytest.LogCaptureFixture) -> None:
    state = api.client.app.state.services

    async def briefly() -> None:
        task = asyncio.ensure_future(purge_periodically(state, 0.05))
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="vigil.retention"):
        asyncio.run(briefly())
    runs = [r for r in caplog.records if r.getMessage().startswith("retention purge: ")]
    assert runs and all(r.levelno == logging.INFO for r in runs)
