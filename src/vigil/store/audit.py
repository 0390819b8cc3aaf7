"""The audit trail: who read or changed what, when, for what purpose and from where, in a keyed chain
that no one without the key can rewrite unnoticed.

Each entry's `hash` is HMAC-SHA256, under a key that lives outside the database (store/audit_key.py),
over the previous entry's hash and the entry's own content in canonical JSON (`mac` says
"hmac-sha256"; entries written before the chain was keyed say "sha256", plain SHA-256 over the
same). Editing an entry breaks its own MAC; removing or reordering entries breaks the link from the
next entry to the one before it; and re-computing the chain after either needs the key: whoever
holds only the database can drop the triggers and re-chain with SHA-256 or a guessed key, and
`verify` says where. A plain entry after a keyed one is a downgrade, and a finding.

The tail is bounded by anchors (store/anchors.py): the head written down outside the database at
intervals; `verify` checks every anchored (seq, head) against the chain, so a tail cut or an
erased-and-re-chained stretch before the last anchor shows. What was appended after the last
anchor can still be cut; `--expect-head` checks against a head kept elsewhere.

What it does not prove: whoever holds the key AND the database can rewrite everything after the
last anchor (and the anchors in a file they can write); an anchor pushed to a witness outside the
operator's control (anchoring.py) is what bounds that.

Entries are appended by the server's single writer (the processor) and by CLI commands that read or
export data (`vigil report`, `vigil purge`, `vigil user`, `vigil device-token`), with the same key.
Each append first takes the chain's lock (PostgreSQL: an advisory lock; SQLite: its write lock),
then reads the head, so appenders queue up and the chain has one order; a unique `prev_hash` makes
a fork impossible even so. The database refuses UPDATE and DELETE on the table (triggers, migration
0005).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, text

from vigil.store import anchors as anchor_file
from vigil.store import tables as t
from vigil.store.audit_key import AuditKey
from vigil.store.database import hold_until_commit

GENESIS = "0" * 64  # the "previous hash" of the first entry
PLAIN = "sha256"  # entries written before the chain was keyed
KEYED = "hmac-sha256"


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


def cli_entry(action: str, target: str, purpose: str = "", reason: str = "", **detail: Any) -> Entry:
    """A command's own entry: the shell user who ran it on this host, and what it was asked to do."""
    return Entry(
        f"cli:{getpass.getuser()}",
        "cli",
        action,
        target,
        purpose,
        reason,
        "localhost",
        {"method": "CLI", **detail},
    )


def link(prev_hash: str, at: datetime, entry: Entry, key: AuditKey | None) -> str:
    """The hash of an entry that follows `prev_hash`: keyed (HMAC-SHA256 under `key`), or with None,
    the plain SHA-256 of the entries written before the chain was keyed (to check those only)."""
    canonical = json.dumps(_content(at, entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = f"{prev_hash}\n{canonical}".encode()
    return hashlib.sha256(data).hexdigest() if key is None else key.mac(data)


def head(conn: Connection) -> str:
    """The hash of the newest entry (the genesis value on an empty trail)."""
    row = conn.execute(select(t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1)).first()
    return GENESIS if row is None else str(row.hash)


CHAIN_LOCK = 0x76_69_67_69_6C  # "vigil": PostgreSQL's advisory lock for appending to the chain


def _take_the_pen(conn: Connection) -> None:
    """Hold the chain until this transaction ends, so the head read next stays the head."""
    if not hold_until_commit(conn, CHAIN_LOCK):
        # A write that touches no row still takes SQLite's write lock (and opens the transaction).
        conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


def append(conn: Connection, key: AuditKey, entries: Sequence[tuple[datetime, Entry]]) -> str:
    """Append entries after the current head, keyed, in the caller's transaction; returns the new
    head."""
    if not entries:
        return head(conn)
    _take_the_pen(conn)
    prev_hash = head(conn)
    rows = []
    for at, entry in entries:
        digest = link(prev_hash, at, entry, key)
        rows.append({**_content(at, entry), "at": at, "prev_hash": prev_hash, "hash": digest, "mac": KEYED})
        prev_hash = digest
    if rows:
        conn.execute(insert(t.audit_log), rows)
    return prev_hash


def newest(conn: Connection) -> tuple[int, str] | None:
    """The newest entry's (seq, hash), read without the chain's lock (for anchoring: a reader
    connection, never in the writer's way)."""
    row = conn.execute(
        select(t.audit_log.c.seq, t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else (int(row.seq), str(row.hash))


def count(conn: Connection, *, after: int = 0, through: int) -> int:
    """Entries with `after` < seq <= `through` (committed entries below a visible seq are final:
    appenders hold the chain's lock until they commit)."""
    c = t.audit_log.c.seq
    return int(conn.execute(select(func.count()).where(c > after, c <= through)).scalar_one())


def head_problem(conn: Connection, key: AuditKey) -> str | None:
    """Whether the newest entry checks out under `key` (the server asks at start-up: a key file
    replaced, or a tail re-chained, shows in the log at once, before any new entry is appended)."""
    row = conn.execute(select(t.audit_log).order_by(t.audit_log.c.seq.desc()).limit(1)).first()
    if row is None or row.mac != KEYED:
        return None
    if hmac.compare_digest(link(row.prev_hash, row.at, _entry(row), key), row.hash):
        return None
    return (
        f"the newest audit entry (seq {row.seq}) does not match its MAC under the audit key from "
        f"{key.source}: the key is not the one the trail was written with, or the trail was rewritten "
        "(run `vigil audit verify`)"
    )


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int | None  # the entry where the chain breaks; None: the anchor file itself
    problem: str


@dataclass(frozen=True, slots=True)
class Verdict:
    entries: int
    head: str
    findings: tuple[Finding, ...]
    legacy: int = 0  # entries chained with plain SHA-256, before the chain was keyed
    keyed: int = 0
    anchors: int = 0  # authentic anchors checked against the chain
    notes: tuple[str, ...] = ()  # what a reader should know that is not a break

    @property
    def intact(self) -> bool:
        return not self.findings


def verify(
    conn: Connection, key: AuditKey, expect_head: str | None = None, anchors: Path | None = None
) -> Verdict:
    """Walk the whole chain in order and say where it breaks, if it does: every entry against its
    predecessor and its MAC under `key`, and every anchor in the file `anchors` (when given)
    against the entry it names."""
    findings: list[Finding] = []
    notes: list[str] = []
    marks: list[anchor_file.Anchor] = []
    if anchors is not None:
        found = anchor_file.read(anchors, key)
        findings += [Finding(None, problem) for problem in found.problems]
        marks = sorted(found.anchors, key=lambda a: a.seq)
        if not found.exists:
            notes.append(f"no anchor file at {anchors}: the tail is checked only against --expect-head")
    previous = GENESIS
    entries = legacy = keyed = keyed_broken = 0
    last_seq = 0
    next_mark = 0
    for row in _rows(conn):
        # Anchored entries the chain skipped over: erased, with the chain re-computed around them.
        while next_mark < len(marks) and marks[next_mark].seq < row.seq:
            findings.append(_erased(marks[next_mark]))
            next_mark += 1
        entries += 1
        last_seq = row.seq
        if row.prev_hash != previous:
            findings.append(
                Finding(
                    row.seq, "the entry before it was removed, or entries were reordered (the link breaks)"
                )
            )
        if row.mac == KEYED:
            keyed += 1
            sound = hmac.compare_digest(link(row.prev_hash, row.at, _entry(row), key), row.hash)
            keyed_broken += not sound
        elif row.mac == PLAIN:
            legacy += 1
            sound = link(row.prev_hash, row.at, _entry(row), None) == row.hash
            if keyed:
                findings.append(
                    Finding(
                        row.seq,
                        "downgraded: a plain SHA-256 entry after keyed ones (re-chained without the key)",
                    )
                )
        else:
            sound = False
            findings.append(Finding(row.seq, f"unknown MAC scheme {row.mac!r}"))
        if not sound:
            findings.append(Finding(row.seq, "edited: its content does not match its hash"))
        while next_mark < len(marks) and marks[next_mark].seq == row.seq:
            mark = marks[next_mark]
            if not hmac.compare_digest(mark.head, row.hash):
                findings.append(
                    Finding(
                        row.seq,
                        f"anchored at {mark.at} with head {mark.head}, now {row.hash}: erased and "
                        "re-chained (or edited) since",
                    )
                )
            elif mark.entries != entries:
                findings.append(
                    Finding(
                        row.seq,
                        f"anchored at {mark.at} with {mark.entries} entries up to here, now {entries}: "
                        "entries were removed or inserted before it",
                    )
                )
            next_mark += 1
        previous = row.hash
    if next_mark < len(marks):
        latest = marks[-1]
        findings.append(
            Finding(
                latest.seq,
                f"tail cut: anchored at {latest.at}, the chain reached seq {latest.seq} (head {latest.head}), "
                f"but it now ends at seq {last_seq}",
            )
        )
    if expect_head is not None and previous != expect_head:
        findings.append(
            Finding(last_seq, f"the head is {previous}, not {expect_head}: the tail was cut or rewritten")
        )
    if legacy:
        notes.append(f"{legacy} entries from before the chain was keyed (plain SHA-256)")
    if legacy and not keyed:
        notes.append(
            "no entry is keyed: if a server has run since the chain was keyed, the whole trail was "
            "re-chained, and only anchors taken before that can show it"
        )
    if keyed and keyed_broken == keyed:
        notes.append(
            f"no keyed entry matches the key from {key.source}: either it is not the key the trail was "
            "written with, or every keyed entry was rewritten"
        )
    return Verdict(entries, previous, tuple(findings), legacy, keyed, len(marks), tuple(notes))


def _erased(mark: anchor_file.Anchor) -> Finding:
    return Finding(
        mark.seq,
        f"anchored at {mark.at} (head {mark.head}), but the chain has no entry {mark.seq}: erased and "
        "re-chained since",
    )


def _entry(row: Any) -> Entry:
    return Entry(row.actor, row.role, row.action, row.target, row.purpose, row.reason, row.source, row.detail)


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(
        select(t.audit_log).order_by(t.audit_log.c.seq)
    )
    yield from result
