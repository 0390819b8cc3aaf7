"""The audit trail: who read or changed what, when, for what purpose and from where, in a chain of
hashes that no one can rewrite unnoticed.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own content in canonical
JSON. Editing an entry breaks its own hash; removing or reordering entries breaks the link from the
next entry to the one before it. Only the tail can be cut without a trace inside the table, so
`verify` reports the head hash, to be kept outside (a printed report, another system) and checked
against later with `--expect-head`.

Entries are appended by the server's single writer (the processor) and by CLI commands that read or
export data (`vigil report`, `vigil purge`, `vigil user`). Each append first takes the chain's lock
(PostgreSQL: an advisory lock; SQLite: its write lock), then reads the head, so appenders queue up
and the chain has one order; a unique `prev_hash` makes a fork impossible even so. The database
refuses UPDATE and DELETE on the table (triggers, migration 0005).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from vigil.store import tables as t

GENESIS = "0" * 64  # the "previous hash" of the first entry


@dataclass(frozen=True, slots=True)
class Entry:
    """One access or change, as the API saw it."""

    actor: str
    role: str
    action: str  # e.g. positions.read, track.read, registry.write, alert.step, audit.export
    target: str  # e.g. person:S1, alert:<id>, subjects/S1
    purpose: str = ""  # a reason code, when the access needed one
    reason: str = ""  # the reason in words
    source: str = ""  # the client's address
    detail: dict[str, Any] = field(default_factory=dict)


def _content(at: datetime, entry: Entry) -> dict[str, Any]:
    return {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "target": entry.target,
        "purpose": entry.purpose,
        "reason": entry.reason,
        "source": entry.source,
        "detail": entry.detail,
    }


def link(prev_hash: str, at: datetime, entry: Entry) -> str:
    """The hash of an entry that follows `prev_hash`."""
    canonical = json.dumps(_content(at, entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def head(conn: Connection) -> str:
    """The hash of the newest entry (the genesis value on an empty trail)."""
    row = conn.execute(select(t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1)).first()
    return GENESIS if row is None else str(row.hash)


CHAIN_LOCK = 0x76_69_67_69_6C  # "vigil": PostgreSQL's advisory lock for appending to the chain


def _take_the_pen(conn: Connection) -> None:
    """Hold the chain until this transaction ends, so the head read next stays the head."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    else:
        # A write that touches no row still takes SQLite's write lock (and opens the transaction).
        conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


def append(conn: Connection, entries: Sequence[tuple[datetime, Entry]]) -> str:
    """Append entries after the current head, in the caller's transaction; returns the new head."""
    if not entries:
        return head(conn)
    _take_the_pen(conn)
    prev_hash = head(conn)
    rows = []
    for at, entry in entries:
        digest = link(prev_hash, at, entry)
        rows.append({**_content(at, entry), "at": at, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    if rows:
        conn.execute(insert(t.audit_log), rows)
    return prev_hash


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class Verdict:
    entries: int
    head: str
    findings: tuple[Finding, ...]

    @property
    def intact(self) -> bool:
        return not self.findings


def verify(conn: Connection, expect_head: str | None = None) -> Verdict:
    """Walk the whole chain in order and say where it breaks, if it does."""
    findings: list[Finding] = []
    previous = GENESIS
    count = 0
    last_seq = 0
    for row in _rows(conn):
        count += 1
        last_seq = row.seq
        entry = Entry(
            row.actor, row.role, row.action, row.target, row.purpose, row.reason, row.source, row.detail
        )
        if row.prev_hash != previous:
            findings.append(
                Finding(
                    row.seq, "the entry before it was removed, or entries were reordered (the link breaks)"
                )
            )
        if link(row.prev_hash, row.at, entry) != row.hash:
            findings.append(Finding(row.seq, "edited: its content does not match its hash"))
        previous = row.hash
    if expect_head is not None and previous != expect_head:
        findings.append(
            Finding(last_seq, f"the head is {previous}, not {expect_head}: the tail was cut or rewritten")
        )
    return Verdict(count, previous, tuple(findings))


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(
        select(t.audit_log).order_by(t.audit_log.c.seq)
    )
    yield from result
