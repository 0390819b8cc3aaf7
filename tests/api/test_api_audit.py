"""The audit trail: every access to location data and every change is recorded before it is served
(who, role, when, what, purpose, from where), history and exports need a purpose, and the hash
chain shows any edited, removed or reordered entry (`vigil audit verify`)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from api_kit import WATCH, unguard
from sqlalchemy import select, update

from vigil.domain.model import Role
from vigil.store import tables as t

pytestmark = pytest.mark.both_backends  # the audit chain and its filters (LIKE) in SQL

WHY = {"purpose": "investigation", "reason": "case 2026-17, court request"}


def trail(api, **query) -> list[dict]:
    r = api.get("/v1/audit", who=Role.AUDITOR, params=query)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_location_read_is_recorded_with_who_what_and_where(app_client):
    api = app_client
    assert api.get("/v1/positions", params=WATCH).status_code == 200
    [entry] = trail(api, action="positions.read")
    assert (entry["actor"], entry["role"], entry["target"]) == ("u-operator", "operator", "/v1/positions")
    assert entry["source"] and entry["detail"] == {"method": "GET", "allowed": True}
    assert len(entry["hash"]) == 64


def test_a_refused_attempt_is_recorded_too(app_client):
    api = app_client
    assert api.get("/v1/positions", who=Role.ADMIN).status_code == 403
    [entry] = trail(api, action="positions.read")
    assert entry["actor"] == "u-admin" and entry["detail"]["allowed"] is False


def test_history_needs_a_purpose_and_records_it(app_client):
    api = app_client
    api.subject()
    since = (api.clock() - timedelta(days=2)).isoformat()
    r = api.get("/v1/people/S1/track", params={"since": since})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["detail"]} == {"purpose", "reason"}
    assert api.get("/v1/people/S1/track", params={"since": since, **WHY}).status_code == 200
    # The live 30 minutes of one's own caseload need none; an operator looking at someone who is in
    # no open alert is widening the view beyond live alerts, and needs one.
    assert api.get("/v1/people/S1/track", who=Role.PROBATION_OFFICER).status_code == 200
    assert api.get("/v1/people/S1/track").status_code == 422
    assert api.get("/v1/people/S1/track", params=WATCH).status_code == 200
    entries = trail(api, action="positions.read", target="/v1/people/S1/track")
    assert [(e["purpose"], e["reason"]) for e in entries] == [
        ("", ""),
        (WHY["purpose"], WHY["reason"]),
        ("", ""),
        ("", ""),
        (WATCH["purpose"], WATCH["reason"]),
    ]


def test_changes_streams_and_incident_links_are_recorded(app_client):
    api = app_client
    alert_id = api.violation()
    token = api.link(alert_id)
    assert api.client.get(f"/v1/incidents/{alert_id}", params={"token": token}).status_code == 200
    watch = "purpose=monitoring&reason=control-centre+watch"
    with api.client.websocket_connect(f"/v1/stream?token={api.tokens[Role.OPERATOR]}&{watch}") as ws:
        assert ws.receive_json()["type"] == "hello"
    writes = trail(api, action="registry.write")
    assert {e["detail"]["method"] for e in writes} == {"PUT"} and len(writes) >= 5
    [link] = trail(api, action="incident")
    assert link["actor"] == "u-field_officer" and token not in link["target"] and token not in str(link)
    [stream] = trail(api, action="stream")
    assert stream["detail"]["method"] == "WS" and "token" not in stream["target"]
    assert (stream["purpose"], stream["reason"]) == (WATCH["purpose"], WATCH["reason"])


def test_only_auditors_read_the_trail_and_exports_need_a_purpose(app_client):
    api = app_client
    api.get("/v1/positions", params=WATCH)
    assert api.get("/v1/audit").status_code == 403  # an operator
    r = api.get("/v1/audit/export", who=Role.AUDITOR)
    assert r.status_code == 422
    r = api.get("/v1/audit/export", who=Role.AUDITOR, params={"format": "csv", **WHY})
    assert r.status_code == 200 and r.text.startswith("seq,at,actor")
    exports = [e for e in trail(api, action="audit.read") if e["target"].startswith("/v1/audit/export")]
    assert [e["purpose"] for e in exports] == ["", "investigation"]  # the refused attempt, then the export


def test_the_database_refuses_to_rewrite_the_trail(app_client):
    api = app_client
    api.get("/v1/positions", params=WATCH)
    with pytest.raises(Exception, match="append-only"), api.db.begin() as conn:
        conn.execute(update(t.audit_log).values(actor="someone else"))
    with pytest.raises(Exception, match="append-only"), api.db.begin() as conn:
        conn.execute(t.audit_log.delete())


def cli_env(api) -> dict[str, str]:
    """What `vigil audit verify` in another process needs to find this app's database, key and
    anchors (the tests keep the last two in their own folder)."""
    from vigil.store import audit_key

    where = audit_key.places(api.settings)
    return {
        "VIGIL_DATABASE_URL": api.url,
        "VIGIL_AUDIT_KEY_FILE": str(where.key_file),
        "VIGIL_AUDIT_ANCHOR_FILE": str(where.anchor_file),
    }


def verify(api, **params) -> dict:
    r = api.get("/v1/audit/verify", who=Role.AUDITOR, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_verify_finds_an_edited_entry_and_says_where(app_client):
    api = app_client
    for _ in range(4):
        api.get("/v1/positions", params=WATCH)
    clean = verify(api)
    assert clean["intact"] and clean["entries"] >= 4
    with api.db.connect() as conn:
        seqs = [r.seq for r in conn.execute(select(t.audit_log.c.seq).order_by(t.audit_log.c.seq))]
    unguard(api)
    with api.db.begin() as conn:
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == seqs[1]).values(actor="nobody"))
    found = verify(api)
    assert not found["intact"]
    assert found["findings"] == [{"seq": seqs[1], "problem": "edited: its content does not match its hash"}]
    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "audit", "verify"],
        env={**os.environ, **cli_env(api)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"entry {seqs[1]}: edited" in done.stdout


def test_verify_finds_removed_reordered_and_cut_entries(app_client):
    api = app_client
    for _ in range(5):
        api.get("/v1/positions", params=WATCH)
    head = verify(api)["head"]
    with api.db.connect() as conn:
        rows = list(conn.execute(select(t.audit_log).order_by(t.audit_log.c.seq)))
    unguard(api)
    with api.db.begin() as conn:  # remove one in the middle
        conn.execute(t.audit_log.delete().where(t.audit_log.c.seq == rows[2].seq))
    assert [f["seq"] for f in verify(api)["findings"]] == [rows[3].seq]
    with api.db.begin() as conn:  # swap two entries' contents (a reordering)
        a, b = rows[0], rows[1]
        for row, other in ((a, b), (b, a)):
            values = {c: getattr(other, c) for c in ("at", "actor", "target", "detail", "prev_hash", "hash")}
            conn.execute(update(t.audit_log).where(t.audit_log.c.seq == row.seq).values(**values))
    assert rows[0].seq in [f["seq"] for f in verify(api)["findings"]]
    with api.db.begin() as conn:  # cut the tail: only the head recorded elsewhere shows it
        conn.execute(t.audit_log.delete().where(t.audit_log.c.seq >= rows[-1].seq))
    assert any("tail" in f["problem"] for f in verify(api, expect_head=head)["findings"])


def test_tokens_never_reach_the_trail(app_client):
    api = app_client
    token = api.tokens[Role.OPERATOR]
    assert api.client.get("/v1/positions", params={"token": token, **WATCH}).status_code == 200
    with api.db.connect() as conn:
        everything = " ".join(str(tuple(r)) for r in conn.execute(select(t.audit_log)))
    assert token not in everything


def test_command_line_entries_and_the_servers_share_one_chain(app_client):
    """`vigil report` and friends append to the trail while the server does: the chain takes one
    appender at a time, so it stays one line."""
    from concurrent.futures import ThreadPoolExecutor

    from vigil.cli import _record

    api = app_client
    with ThreadPoolExecutor(4) as pool:
        done = [
            pool.submit(
                _record, api.db, api.settings, "evidence.read", f"alert:x{i}", "court_order", "a test"
            )
            for i in range(20)
        ]
        for _ in range(20):
            assert api.get("/v1/subjects").status_code == 200
        for future in done:
            future.result()
    assert verify(api)["intact"] is True
    cli = trail(api, action="evidence.read", actor=f"cli:{getpass.getuser()}")
    assert sorted(e["target"] for e in cli) == sorted(f"alert:x{i}" for i in range(20))
    assert len(trail(api, action="registry.read", target="/v1/subjects")) == 20
