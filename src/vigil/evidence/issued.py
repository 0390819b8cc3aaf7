"""Which evidence files Vigil issued, and checking a file against them.

Every file handed out (JSON or PDF, by the API or `vigil report`) is recorded with the SHA-256 of
its content (the canonical JSON evidence, `report.seal`) and of its exact bytes. A court holding a
file can then ask Vigil (`POST /v1/evidence/verify`, `vigil evidence verify FILE`):

- a JSON envelope: its evidence is re-serialised canonically and hashed; it must equal the hash the
  envelope states, and Vigil must have issued that content;
- a PDF: its bytes must be those of a PDF Vigil issued (the PDF is rendered deterministically from
  the JSON, and names the JSON's hash on every page);
- a bare hash: whether Vigil issued a file with that content or those bytes.

A changed byte changes a hash, so the answer is then "not issued by Vigil".
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from vigil.evidence.report import Sealed, canonical_json
from vigil.store import tables as t
from vigil.store.codec import iso

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PDF_HASH = re.compile(rb"SHA-256 of the JSON evidence: ([0-9a-f]{64})")


def issue(
    conn: Connection, sealed: Sealed, data: bytes, fmt: str, *, issued_to: str, at: datetime
) -> dict[str, Any]:
    """Record a file about to be handed out (the row as values)."""
    row = {
        "id": f"ev-{uuid.uuid4().hex[:20]}",
        "content_sha256": sealed.sha256,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "format": fmt,
        "kind": str(sealed.evidence["scope"]["kind"]),
        "scope": sealed.evidence["scope"],
        "issued_to": issued_to,
        "issued_at": at,
    }
    conn.execute(insert(t.evidence_issued).values(**row))
    return row


@dataclass(frozen=True, slots=True)
class Verdict:
    """What Vigil says of a file: whether it issued it, and whether its content matches its hash."""

    issued: bool
    intact: bool  # the content hashes to what the file states (a PDF or a bare hash: as issued)
    format: str  # json | pdf | sha256
    content_sha256: str | None
    reason: str
    issues: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "intact": self.intact,
            "format": self.format,
            "content_sha256": self.content_sha256,
            "reason": self.reason,
            "issues": self.issues,
        }


def _issues(conn: Connection, *hashes: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(t.evidence_issued)
        .where(
            or_(t.evidence_issued.c.content_sha256.in_(hashes), t.evidence_issued.c.file_sha256.in_(hashes))
        )
        .order_by(t.evidence_issued.c.issued_at, t.evidence_issued.c.id)
    )
    return [
        {"issued_at": iso(r.issued_at), "issued_to": r.issued_to, "kind": r.kind, "scope": r.scope,
         "format": r.format, "content_sha256": r.content_sha256, "file_sha256": r.file_sha256}
        for r in rows
    ]  # fmt: skip


def verify_hash(conn: Connection, sha256: str) -> Verdict:
    digest = sha256.strip().lower()
    if not HEX64.match(digest):
        return Verdict(False, False, "sha256", None, "not a SHA-256 (64 hexadecimal digits)")
    issues = _issues(conn, digest)
    if not issues:
        return Verdict(False, False, "sha256", None, "Vigil issued no file with this hash")
    return Verdict(True, True, "sha256", issues[0]["content_sha256"], "issued by Vigil", issues)


def verify_file(conn: Connection, data: bytes) -> Verdict:
    """Check a file's bytes (a JSON envelope or a PDF) against what Vigil issued."""
    if data.startswith(b"%PDF-"):
        return _verify_pdf(conn, data)
    try:
        envelope = json.loads(data)
        evidence, stated = envelope["evidence"], envelope["sha256"]
        content = hashlib.sha256(canonical_json(evidence)).hexdigest()
    except (ValueError, KeyError, TypeError, RecursionError):
        return Verdict(False, False, "json", None, "neither a PDF nor a Vigil evidence envelope")
    if content != stated:
        return Verdict(False, False, "json", content, "the content does not match the hash the file states")
    issues = [i for i in _issues(conn, content) if i["content_sha256"] == content]
    if not issues:
        return Verdict(False, True, "json", content, "Vigil issued no evidence with this content")
    return Verdict(True, True, "json", content, "issued by Vigil; the content matches its hash", issues)


def _verify_pdf(conn: Connection, data: bytes) -> Verdict:
    digest = hashlib.sha256(data).hexdigest()
    stated = _PDF_HASH.search(data)
    content = stated.group(1).decode() if stated else None
    issues = [i for i in _issues(conn, digest) if i["file_sha256"] == digest]
    if issues:
        return Verdict(
            True, True, "pdf", issues[0]["content_sha256"], "issued by Vigil, byte for byte", issues
        )
    return Verdict(
        False, False, "pdf", content, "Vigil issued no PDF with these bytes (changed, or not Vigil's)"
    )
