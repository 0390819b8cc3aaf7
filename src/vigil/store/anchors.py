"""The audit chain's head, written down outside the database: an append-only file of JSON lines.

Each line says: at `at`, the chain's newest entry was `seq` with hash `head`, and the chain held
`entries` entries up to it. Whoever rewrites the database after that cannot make the chain match
the line again without the key: entries erased and the chain re-computed, or the tail cut, show
against every anchor taken since (`audit.verify`). Only what was appended after the last anchor can
be cut without a trace, hence anchors at short intervals and a copy at a witness (anchoring.py).

The lines are themselves chained: `mac` is the audit key's HMAC over the other fields, `prev` is the
`mac` of the line before (GENESIS for the first), so a line edited, forged, removed from the middle
or moved shows as well. Cutting the file's own last lines leaves no trace in the file: the witness's
copy is what bounds that.

Appends take an exclusive `flock` on the file, so two server processes on one host keep one chain.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from vigil.store.audit_key import AuditKey

GENESIS = "0" * 64
# Keeps an anchor's MAC from ever being mistaken for a chain entry's (those start with a hash).
DOMAIN = b"vigil-audit-anchor\n"
TAIL_BLOCK = 8192
TAIL_LIMIT = 1 << 20  # how far back from the end a readable line is looked for before giving up


@dataclass(frozen=True, slots=True)
class Anchor:
    at: str  # ISO time, UTC
    seq: int
    head: str
    entries: int
    prev: str
    mac: str

    def line(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n").encode()


def _mac(key: AuditKey, at: str, seq: int, head: str, entries: int, prev: str) -> str:
    body = {"at": at, "seq": seq, "head": head, "entries": entries, "prev": prev}
    return key.mac(DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def seal(key: AuditKey, at: datetime, seq: int, head: str, entries: int, prev: str) -> Anchor:
    when = at.astimezone(UTC).isoformat(timespec="microseconds")
    return Anchor(when, seq, head, entries, prev, _mac(key, when, seq, head, entries, prev))


def authentic(key: AuditKey, anchor: Anchor) -> bool:
    expected = _mac(key, anchor.at, anchor.seq, anchor.head, anchor.entries, anchor.prev)
    return hmac.compare_digest(expected, anchor.mac)


def append(path: Path, key: AuditKey, at: datetime, seq: int, head: str, entries: int) -> Anchor | None:
    """Write an anchor after the file's last one; None when that one already says the same (an idle
    trail adds no lines). Durable (fsync) before it returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
        last, whole = _last(file)
        if last is not None and (last.seq, last.head) == (seq, head):
            return None
        anchor = seal(key, at, seq, head, entries, GENESIS if last is None else last.mac)
        # After a torn line (a crash mid-write), start on a fresh line: the torn one stays, reported.
        file.write((b"" if whole else b"\n") + anchor.line())
        file.flush()
        os.fsync(file.fileno())
    return anchor


def last(path: Path) -> Anchor | None:
    """The file's last readable anchor (None: no file, or none yet)."""
    try:
        with path.open("rb") as file:
            return _last(file)[0]
    except FileNotFoundError:
        return None


def _last(file: IO[bytes]) -> tuple[Anchor | None, bool]:
    """The last readable line, and whether the file ends with a whole line. Reads back from the end
    a block at a time: the file grows by a line a minute, for years."""
    end = file.seek(0, os.SEEK_END)
    if end == 0:
        return None, True
    file.seek(end - 1)
    whole = file.read(1) == b"\n"
    tail = b""
    pos = end
    while pos > 0 and end - pos < TAIL_LIMIT:
        start = max(0, pos - TAIL_BLOCK)
        file.seek(start)
        tail = file.read(pos - start) + tail
        pos = start
        lines = tail.split(b"\n")
        # The first piece may be the end of a line cut at the block's start: skip it unless the
        # block starts at the beginning of the file.
        for raw in reversed(lines if pos == 0 else lines[1:]):
            found = _parse(raw)
            if found is not None:
                return found, whole
    return None, whole


def _parse(raw: bytes) -> Anchor | None:
    try:
        data: Any = json.loads(raw)
        anchor = Anchor(
            str(data["at"]),
            data["seq"],
            str(data["head"]),
            data["entries"],
            str(data["prev"]),
            str(data["mac"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if any(not isinstance(n, int) or isinstance(n, bool) for n in (anchor.seq, anchor.entries)):
        return None
    return anchor


@dataclass(frozen=True, slots=True)
class Read:
    anchors: list[Anchor]  # the authentic ones, in file order
    problems: list[str]  # lines edited, forged, unreadable, removed or moved
    exists: bool


def read(path: Path, key: AuditKey) -> Read:
    """Every anchor of the file, checked: its MAC under the key, and its link to the line before."""
    anchors: list[Anchor] = []
    problems: list[str] = []
    previous = GENESIS
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return Read([], [], exists=False)
    with file:
        for number, raw in enumerate(file, 1):
            if not raw.strip():
                continue
            anchor = _parse(raw)
            if anchor is None:
                problems.append(f"anchor line {number} is not a readable anchor (edited, or torn by a crash)")
                continue
            if not authentic(key, anchor):
                problems.append(
                    f"anchor line {number} (seq {anchor.seq}) was edited or forged: its MAC does not match"
                )
                previous = anchor.mac
                continue
            if anchor.prev != previous:
                problems.append(
                    f"anchor line {number} (seq {anchor.seq}): the anchor before it was removed, or lines "
                    "were moved (its link to the previous line breaks)"
                )
            previous = anchor.mac
            anchors.append(anchor)
    return Read(anchors, problems, exists=True)
