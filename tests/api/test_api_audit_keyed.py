"""The audit trail cannot be rewritten by whoever holds the database: the chain is keyed (HMAC with a
key outside the database) and its head is anchored outside the database, so an attacker who drops
the triggers, erases entries and re-computes the chain (with SHA-256, or HMAC under a guessed key),
or cuts the tail, is found by `vigil audit verify` and `/v1/audit/verify`. The key reaches neither
the database, nor the settings an admin reads, nor the logs; anchors go to a witness, signed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_kit import WATCH, unguard
from pydantic import SecretStr
from sqlalchemy import Engine, select, text, update
from standardwebhooks.webhooks import Webhook

from vigil.anchoring import Anchorer, Witness
from vigil.dispatch import signing
from vigil.domain.model import Role
from vigil.store import anchors, audit, audit_key
from vigil.store import tables as t
from vigil.store.audit_key import AuditKey

pytestmark = pytest.mark.both_backends  # the audit chain; the append-only triggers differ

INLINE_KEY = "audit-key-" + secrets.token_hex(20)
seq_c = t.audit_log.c.seq


# --- an attacker with the database -----------------------------------------------------------------


def reads(api: Any, n: int) -> None:
    for _ in range(n):
        assert api.get("/v1/positions", params=WATCH).status_code == 200


def rechain(db: Engine, key: AuditKey | None, start: int) -> None:
    """Re-compute every entry from the `start`th on, as the attacker can: plain SHA-256 (key None),
    or HMAC under a key of their own."""
    with db.begin() as conn:
        rows = list(conn.execute(select(t.audit_log).order_by(seq_c)))
        previous = audit.GENESIS if start == 0 else rows[start - 1].hash
        for row in rows[start:]:
            digest = audit.link(previous, row.at, audit._entry(row), key)
            scheme = audit.PLAIN if key is None else audit.KEYED
            conn.execute(
                update(t.audit_log)
                .where(seq_c == row.seq)
                .values(prev_hash=previous, hash=digest, mac=scheme)
            )
            previous = digest


def verify(api: Any, **params: Any) -> dict[str, Any]:
    r = api.get("/v1/audit/verify", who=Role.AUDITOR, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def cli_verify(
    api: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    from vigil.cli import main

    where = audit_key.places(api.settings)
    monkeypatch.setenv("VIGIL_DATABASE_URL", api.url)
    monkeypatch.setenv("VIGIL_AUDIT_KEY_FILE", str(where.key_file))
    monkeypatch.setenv("VIGIL_AUDIT_ANCHOR_FILE", str(where.anchor_file))
    capsys.readouterr()
    code = main(["audit", "verify"])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("how", "start_at_genesis", "anchored_first"),
    [
        ("sha256", False, False),  # erase one, re-chain the rest with SHA-256 (the old code's scheme)
        ("sha256", True, True),  # re-chain everything with SHA-256: no keyed entry is left to compare
        ("guessed", False, False),  # re-chain the rest with HMAC under a guessed key
        ("guessed", True, False),
    ],
)
def test_erased_and_rechained_entries_are_found(
    app_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
    start_at_genesis: bool,
    anchored_first: bool,
) -> None:
    api = app_client
    reads(api, 6)
    if anchored_first:
        assert api.client.app.state.services.anchorer.anchor_now() is not None
    assert verify(api)["intact"]
    assert cli_verify(api, monkeypatch, capsys)[0] == 0
    with api.db.connect() as conn:
        rows = list(conn.execute(select(t.audit_log).order_by(seq_c)))
    unguard(api)
    with api.db.begin() as conn:
        conn.execute(t.audit_log.delete().where(seq_c == rows[3].seq))
    guess = None if how == "sha256" else AuditKey(b"vigil" * 8, "the attacker's guess")
    rechain(api.db, guess, 0 if start_at_genesis else 3)
    code, out = cli_verify(api, monkeypatch, capsys)
    assert code == 1, out
    assert "BROKEN" in out
    found = verify(api)
    assert not found["intact"]
    problems = " ".join(f["problem"] for f in found["findings"])
    if how == "sha256" and not start_at_genesis:
        assert "downgraded" in problems
    if anchored_first:
        assert "erased and re-chained" in problems
    if how == "guessed":
        assert "edited" in problems


def test_a_downgrade_of_keyed_entries_is_a_finding(app_client: Any) -> None:
    api = app_client
    reads(api, 4)
    with api.db.connect() as conn:
        last = list(conn.execute(select(t.audit_log).order_by(seq_c)))[-1]
    unguard(api)
    # The newest entry re-hashed with plain SHA-256 and labelled as from before the key.
    with api.db.begin() as conn:
        digest = audit.link(last.prev_hash, last.at, audit._entry(last), None)
        conn.execute(update(t.audit_log).where(seq_c == last.seq).values(hash=digest, mac="sha256"))
    found = verify(api)
    assert not found["intact"]
    assert [f["seq"] for f in found["findings"] if "downgraded" in f["problem"]] == [last.seq]


def test_a_cut_tail_shows_against_the_anchors(
    app_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = app_client
    reads(api, 5)
    anchor = api.client.app.state.services.anchorer.anchor_now()
    assert anchor is not None
    with api.db.connect() as conn:
        assert (anchor.seq, anchor.head) == audit.newest(conn)
    reads(api, 2)
    unguard(api)
    with api.db.begin() as conn:  # cut everything from the entry before the anchored one
        conn.execute(t.audit_log.delete().where(seq_c >= anchor.seq - 1))
    code, out = cli_verify(api, monkeypatch, capsys)
    assert code == 1
    assert f"tail cut: anchored at {anchor.at}, the chain reached seq {anchor.seq}" in out
    # The running server notices at its next anchor, and says so in its log.
    with caplog.at_level(logging.ERROR, logger="vigil.anchoring"):
        api.client.app.state.services.anchorer.anchor_now()
    assert f"the audit trail's head went back from seq {anchor.seq} to {anchor.seq - 2}" in caplog.text
    # The server goes on appending (SQLite even reuses the numbers): the anchor still shows the cut.
    # (A later time: the very same reads at the very same moment would rebuild the very same chain.)
    api.clock.advance(1)
    reads(api, 3)
    found = verify(api)
    assert not found["intact"]
    assert any(
        f["seq"] == anchor.seq and ("tail cut" in f["problem"] or "erased and re-chained" in f["problem"])
        for f in found["findings"]
    ), found


def test_the_anchor_file_is_tamper_evident(app_client: Any) -> None:
    api = app_client
    anchorer = api.client.app.state.services.anchorer
    for _ in range(3):
        reads(api, 2)
        assert anchorer.anchor_now() is not None
    assert verify(api)["anchors"] == 3
    lines = anchorer.path.read_bytes().splitlines(keepends=True)
    head = json.loads(lines[1])["head"]
    lines[1] = lines[1].replace(head.encode(), b"0" * 64)  # an anchor bent to match a rewritten chain
    anchorer.path.write_bytes(b"".join(lines))
    found = verify(api)
    assert not found["intact"]
    assert any(f["seq"] is None and "was edited or forged" in f["problem"] for f in found["findings"])


def test_anchors_are_taken_at_start_and_at_clean_shutdown(app_client: Any) -> None:
    api = app_client
    reads(api, 3)
    path = api.client.app.state.services.anchorer.path
    api.restart()  # stop: the final head is anchored; start: nothing new, so no new line
    with api.db.connect() as conn:
        newest = audit.newest(conn)
    last = anchors.last(path)
    assert last is not None and (last.seq, last.head) == newest
    assert len(anchors.read(path, api.client.app.state.services.audit_key).anchors) == 1


# --- the key stays out ---------------------------------------------------------------------------


def everything(db: Engine, url: str) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every table as text."""
    if url.startswith("sqlite"):
        base = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in (base, Path(f"{base}-wal")) if p.exists())
    with db.connect() as conn:
        tables = list(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
        return b"\n".join(
            str(row).encode()
            for name in tables
            for row in conn.execute(text(f'SELECT x::text FROM "{name}" x'))
        )


@pytest.mark.app_settings(audit_key=INLINE_KEY)
def test_an_inline_key_reaches_neither_the_database_nor_the_settings_nor_the_logs(
    app_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = app_client
    reads(api, 3)
    api.client.app.state.services.anchorer.anchor_now()
    assert verify(api)["intact"]
    shown = api.get("/v1/settings", who=Role.ADMIN)
    assert shown.status_code == 200
    assert shown.json()["audit_key"] == "(set)" and INLINE_KEY not in shown.text
    api.restart()
    assert INLINE_KEY.encode() not in everything(api.db, api.url)
    assert INLINE_KEY not in caplog.text
    assert INLINE_KEY not in repr(api.settings) and INLINE_KEY not in repr(
        api.client.app.state.services.audit_key
    )


def test_the_default_key_file_is_private_and_its_key_stays_out_of_the_database(app_client: Any) -> None:
    api = app_client
    where = audit_key.places(api.settings)
    assert where.implicit and where.key_file is not None
    assert os.stat(where.key_file).st_mode & 0o777 == 0o600
    key_text = where.key_file.read_text().strip()
    reads(api, 3)
    api.restart()  # and the same key is used again
    assert where.key_file.read_text().strip() == key_text
    assert verify(api)["intact"]
    assert key_text.encode() not in everything(api.db, api.url)
    assert key_text not in api.get("/v1/settings", who=Role.ADMIN).text


def test_a_server_started_with_another_key_says_so(app_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    api = app_client
    reads(api, 2)
    api.stop()
    api.settings = api.settings.model_copy(
        update={"audit_key": SecretStr(INLINE_KEY), "audit_key_file": None}
    )
    with caplog.at_level(logging.ERROR, logger="vigil.app"):
        api.start()
    assert "does not match its MAC under the audit key from VIGIL_AUDIT_KEY" in caplog.text


# --- the witness -------------------------------------------------------------------------------------


def test_anchors_reach_the_witness_signed_and_a_failure_is_retried(app_client: Any) -> None:
    api = app_client
    secret = signing.new_secret()
    answers = iter([503, 200, 200])
    received: list[httpx.Request] = []

    def witness(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    path = api.client.app.state.services.anchorer.path.with_name("witnessed.jsonl")
    anchorer = Anchorer(
        api.db,
        api.client.app.state.services.audit_key,
        path,
        api.clock,
        lambda: datetime.now(UTC),
        Witness("https://witness.example/anchors", secret),
    )

    async def step() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(witness)) as client:
            await anchorer.step(client)

    reads(api, 2)
    asyncio.run(step())  # the witness is down: the anchor waits for the next time
    assert len(anchorer.backlog) == 1
    reads(api, 2)
    asyncio.run(step())  # both go, oldest first
    assert not anchorer.backlog
    written = anchors.read(path, api.client.app.state.services.audit_key).anchors
    bodies = [json.loads(r.content) for r in received]
    assert [b["seq"] for b in bodies] == [written[0].seq, written[0].seq, written[1].seq]
    for request in received:
        # Checked by the reference library, as a witness would.
        Webhook(secret).verify(request.content.decode(), dict(request.headers))
    assert bodies[-1] == json.loads(written[1].line())


class WitnessServer:
    """A witness on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/anchors"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def witness() -> Iterator[WitnessServer]:
    found = WitnessServer()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def test_the_server_pushes_its_anchors_to_the_witness(app_client: Any, witness: WitnessServer) -> None:
    api = app_client
    secret = signing.new_secret()
    api.stop()
    api.settings = api.settings.model_copy(
        update={"audit_witness_url": witness.url, "audit_witness_secret": secret}
    )
    api.start()
    reads(api, 3)
    api.stop()  # the last head goes to the witness as the server shuts down
    with api.db.connect() as conn:
        newest = audit.newest(conn)
    assert witness.got, "nothing reached the witness"
    headers, body = witness.got[-1]
    Webhook(secret).verify(body.decode(), headers)
    sent = json.loads(body)
    assert (sent["seq"], sent["head"]) == newest
    assert set(sent) == {"at", "seq", "head", "entries", "prev", "mac"}
