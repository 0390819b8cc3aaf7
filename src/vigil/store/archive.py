"""The whole system of record as a vendor-neutral archive, and back: what a contractor change, a
migration between backends or a court's request for the raw record needs (docs/export.md).

An archive is a folder:

    manifest.json            what is inside: format, schema revision, every table's columns,
                             rows and SHA-256, the audit chain's head, what was left out and why
    tables/<table>.ndjson    one JSON object per row, keys sorted, rows in primary-key order
    audit/anchors.jsonl      the audit chain's anchor file, when the source had one
    audit/audit.key          the chain's key, only when the operator asked for it (--with-audit-key)

Values are plain JSON: times as ISO 8601 in UTC, bytes as base64, JSON columns as they are. Each
row is written in one canonical form (sorted keys, no spaces), so the same record gives the same
bytes, and the same hashes, from SQLite and from PostgreSQL: an import re-reads what it wrote and
must reproduce every table's hash in the manifest before it commits.

Left out: `cluster_offsets`, the applied positions in one installation's NATS log. In another
installation's log those numbers name other messages, and a worker would skip as many of the new
log's first reports as the old one had applied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Table,
    func,
    insert,
    select,
    text,
)

from vigil import __version__
from vigil.store import tables as t
from vigil.store.tables import UTCTime

FORMAT = "vigil-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ANCHORS = "audit/anchors.jsonl"
KEY = "audit/audit.key"
EXCLUDED = {
    "cluster_offsets": "positions in one installation's NATS log: in another log they would name other "
    "messages, and a worker would skip that many of its first reports",
}
CHUNK = 2_000  # rows per INSERT on import


class ArchiveError(Exception):
    """The archive cannot be written or loaded: the message says which file or table, and why."""


@dataclass(frozen=True, slots=True)
class Written:
    folder: Path
    manifest_sha256: str
    rows: int
    tables: int


def archived_tables() -> list[Table]:
    """Every table of the record, parents before children (foreign keys), minus those left out."""
    return [table for table in t.metadata.sorted_tables if table.name not in EXCLUDED]


# --- values ----------------------------------------------------------------------------------------


def _kind(column: Column[Any]) -> str:
    """The column's type as the manifest names it, for a reader outside Vigil."""
    kind = column.type
    if isinstance(kind, UTCTime):
        return "timestamp_utc"
    if isinstance(kind, LargeBinary):
        return "bytes_base64"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):  # BigInteger is an Integer
        return "integer"
    if isinstance(kind, Float):
        return "float"
    return "text"


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "timestamp_utc":
        return str(value.astimezone(UTC).isoformat())
    if kind == "bytes_base64":
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decode(kind: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    try:
        if kind == "timestamp_utc":
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("no time zone")
            return parsed
        if kind == "bytes_base64":
            return base64.b64decode(value, validate=True)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ArchiveError(f"{where}: not a {kind}: {exc}") from None
    return value


def _line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _ordered(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    """The table's rows in primary-key order, the same order on either backend: text keys compare
    byte by byte (PostgreSQL's "C" collation is SQLite's default)."""
    keys = []
    for column in table.primary_key.columns:
        text_key = _kind(column) == "text" and conn.dialect.name == "postgresql"
        keys.append(column.collate("C") if text_key else column)
    kinds = {c.name: _kind(c) for c in table.columns}
    query = select(table).order_by(*keys)
    for row in conn.execution_options(yield_per=CHUNK).execute(query):
        yield {name: _encode(kinds[name], value) for name, value in row._mapping.items()}


# --- export ----------------------------------------------------------------------------------------


def schema_revision(conn: Connection) -> str:
    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if not found:
        raise ArchiveError("the database has no schema revision (alembic_version is empty)")
    return str(found)


def export(
    engine: Engine,
    folder: Path,
    *,
    anchors: Path | None = None,
    key_file: Path | None = None,
    now: datetime,
) -> Written:
    """Write the whole record to `folder` (new or empty) from one consistent snapshot: rows written
    while it runs are either all in it or not at all. `anchors`: the chain's anchor file to copy in;
    `key_file`: the chain's key to copy in (the operator's choice: whoever holds the archive and the
    key can rewrite the trail)."""
    if folder.exists() and any(folder.iterdir()):
        raise ArchiveError(f"{folder} is not empty: an archive goes into a new folder")
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    described = []
    total = 0
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        else:  # SQLite: a read transaction sees one snapshot of the WAL until it ends
            conn.exec_driver_sql("BEGIN")
        revision = schema_revision(conn)
        head = conn.execute(
            select(t.audit_log.c.seq, t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1)
        ).first()
        for table in archived_tables():
            name = f"tables/{table.name}.ndjson"
            digest = hashlib.sha256()
            rows = 0
            with open(folder / name, "wb") as out:
                for row in _ordered(conn, table):
                    line = _line(row)
                    digest.update(line)
                    out.write(line)
                    rows += 1
                out.flush()
                os.fsync(out.fileno())
            total += rows
            described.append(
                {
                    "name": table.name,
                    "file": name,
                    "rows": rows,
                    "sha256": digest.hexdigest(),
                    "primary_key": [c.name for c in table.primary_key.columns],
                    "columns": [
                        {"name": c.name, "type": _kind(c), "nullable": bool(c.nullable)}
                        for c in table.columns
                    ],
                }
            )
        conn.rollback()
    audit: dict[str, Any] = {
        "head_seq": head.seq if head else 0,
        "head_hash": head.hash if head else None,
        "anchors": None,
        "key": None,
    }
    if anchors is not None and anchors.exists():
        audit["anchors"] = _copy(anchors, folder / ANCHORS, through=audit["head_seq"])
    if key_file is not None:
        audit["key"] = _copy(key_file, folder / KEY, private=True)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": now.astimezone(UTC).isoformat(),
        "vigil_version": __version__,
        "source_backend": engine.dialect.name,
        "schema_revision": revision,
        "encoding": "UTF-8 NDJSON, one object per row, keys sorted, no spaces; rows in primary-key order",
        "tables": described,
        "excluded": EXCLUDED,
        "audit": audit,
    }
    raw = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
    (folder / MANIFEST).write_bytes(raw)
    return Written(folder, hashlib.sha256(raw).hexdigest(), total, len(described))


def _copy(source: Path, target: Path, *, private: bool = False, through: int | None = None) -> dict[str, str]:
    """Copy a file into the archive. `through`: an anchor file, cut after the last anchor the
    snapshot holds (the server may anchor entries written after the snapshot was taken, which the
    archive does not hold and an import's check would report as erased)."""
    data = source.read_bytes()
    if through is not None:
        kept = []
        for line in data.splitlines(keepends=True):
            try:
                seq = json.loads(line)["seq"]
            except (ValueError, KeyError, TypeError):
                break  # a torn last line: the anchors before it stand
            if not isinstance(seq, int) or seq > through:
                break
            kept.append(line)
        data = b"".join(kept)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return {"file": str(target.relative_to(target.parent.parent)), "sha256": hashlib.sha256(data).hexdigest()}


# --- import ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive on disk whose manifest has been read and whose files match their hashes."""

    folder: Path
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def revision(self) -> str:
        return str(self.manifest["schema_revision"])

    @property
    def audit(self) -> dict[str, Any]:
        return dict(self.manifest["audit"])

    def file(self, entry: dict[str, str] | None) -> Path | None:
        return None if entry is None else self.folder / entry["file"]


def open_archive(folder: Path) -> Archive:
    """Read and check an archive: its manifest's format, every table named and its file's SHA-256
    (a file changed, cut or swapped since the export is refused before anything is loaded)."""
    try:
        raw = (folder / MANIFEST).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"{folder / MANIFEST}: {exc.strerror}") from None
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"{MANIFEST}: not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{MANIFEST}: format version {manifest.get('format_version')!r}; this Vigil reads {FORMAT_VERSION}"
        )
    _check_shape(manifest)
    known = {table.name: table for table in archived_tables()}
    named = [entry["name"] for entry in manifest["tables"]]
    if sorted(named) != sorted(known):
        missing = sorted(set(known) - set(named))
        extra = sorted(set(named) - set(known))
        raise ArchiveError(
            f"{MANIFEST}: tables do not match this schema (missing {missing}, unknown {extra})"
        )
    for entry in manifest["tables"]:
        path = folder / entry["file"]
        if entry["file"] != f"tables/{entry['name']}.ndjson":
            raise ArchiveError(f"{MANIFEST}: table {entry['name']} names another file: {entry['file']!r}")
        if _sha256(path) != entry["sha256"]:
            raise ArchiveError(f"{entry['file']}: its SHA-256 does not match the manifest (changed or cut)")
    for part, name in (("anchors", ANCHORS), ("key", KEY)):
        extra_file = manifest["audit"].get(part)
        if extra_file is None:
            continue
        if extra_file["file"] != name:
            raise ArchiveError(f"{MANIFEST}: audit {part} names another file: {extra_file['file']!r}")
        if _sha256(folder / name) != extra_file["sha256"]:
            raise ArchiveError(f"{name}: its SHA-256 does not match the manifest")
    return Archive(folder, manifest, hashlib.sha256(raw).hexdigest())


def _check_shape(manifest: dict[str, Any]) -> None:
    """The manifest's fields and their types, before anything is read by them."""

    def bad(what: str) -> ArchiveError:
        return ArchiveError(f"{MANIFEST}: {what}")

    if not isinstance(manifest.get("schema_revision"), str):
        raise bad("'schema_revision' must be a string")
    tables = manifest.get("tables")
    if not isinstance(tables, list):
        raise bad("'tables' must be a list")
    for entry in tables:
        if not (
            isinstance(entry, dict)
            and all(isinstance(entry.get(k), str) for k in ("name", "file", "sha256"))
            and type(entry.get("rows")) is int
            and isinstance(entry.get("columns"), list)
            and all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("type"), str)
                for c in entry["columns"]
            )
        ):
            raise bad("each entry of 'tables' needs name, file, sha256 (strings), rows and columns")
    audit = manifest.get("audit")
    if not (
        isinstance(audit, dict)
        and type(audit.get("head_seq")) is int
        and (audit.get("head_hash") is None or isinstance(audit.get("head_hash"), str))
    ):
        raise bad("'audit' needs head_seq (an integer) and head_hash (a string or null)")
    for part in ("anchors", "key"):
        found = audit.get(part)
        if found is not None and not (
            isinstance(found, dict)
            and isinstance(found.get("file"), str)
            and isinstance(found.get("sha256"), str)
        ):
            raise bad(f"audit '{part}' must be null or name a file and its sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ArchiveError(f"{path}: {exc.strerror}") from None
    return digest.hexdigest()


def occupied(conn: Connection) -> list[str]:
    """The tables of the record that already hold rows (an import goes only into an empty one)."""
    return [
        table.name
        for table in archived_tables()
        if conn.execute(select(func.count()).select_from(table)).scalar_one() > 0
    ]


def load(conn: Connection, archive: Archive) -> int:
    """Insert every row of the archive, in the caller's transaction, then re-read each table and
    check it reproduces the manifest's hash (a value the backend changed on the way, such as a time
    zone or a float, is caught here, before the commit). Returns the rows loaded."""
    busy = occupied(conn)
    if busy:
        raise ArchiveError(f"the target database is not empty ({', '.join(busy)}): import into a new one")
    by_name = {table.name: table for table in archived_tables()}
    total = 0
    for entry in archive.manifest["tables"]:
        table = by_name[entry["name"]]
        kinds = {c.name: _kind(c) for c in table.columns}
        stated = {c["name"]: c["type"] for c in entry["columns"]}
        if stated != kinds:
            raise ArchiveError(f"table {table.name}: the manifest's columns differ from this schema's")
        with open(archive.folder / entry["file"], "rb") as file:
            rows = 0
            for chunk in _chunks(_rows(file, table.name, kinds)):
                conn.execute(insert(table), chunk)
                rows += len(chunk)
        if rows != entry["rows"]:
            raise ArchiveError(f"table {table.name}: {rows} rows, the manifest says {entry['rows']}")
        total += rows
    _advance_sequences(conn)
    for entry in archive.manifest["tables"]:
        digest = hashlib.sha256()
        for row in _ordered(conn, by_name[entry["name"]]):
            digest.update(_line(row))
        if digest.hexdigest() != entry["sha256"]:
            raise ArchiveError(f"table {entry['name']}: loaded rows do not reproduce the archive's hash")
    return total


def _rows(file: IO[bytes], table: str, kinds: dict[str, str]) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(file, start=1):
        where = f"tables/{table}.ndjson line {number}"
        try:
            row = json.loads(raw)
        except ValueError as exc:
            raise ArchiveError(f"{where}: not JSON: {exc}") from None
        if not isinstance(row, dict) or set(row) != set(kinds):
            raise ArchiveError(f"{where}: not a row of {table} (its columns: {sorted(kinds)})")
        yield {name: _decode(kinds[name], value, f"{where}, {name}") for name, value in row.items()}


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _advance_sequences(conn: Connection) -> None:
    """PostgreSQL hands out integer keys from sequences that explicit inserts do not move: set each
    past the largest key loaded, or the first new row would collide with an imported one. (SQLite
    takes the next rowid from the table itself.)"""
    if conn.dialect.name != "postgresql":
        return
    for table in archived_tables():
        for column in table.primary_key.columns:
            if _kind(column) != "integer" or column.autoincrement is False:
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            conn.execute(
                text(
                    f"SELECT setval(:sequence, COALESCE((SELECT MAX({column.name}) FROM {table.name}), 1), "
                    f"(SELECT MAX({column.name}) FROM {table.name}) IS NOT NULL)"
                ),
                {"sequence": sequence},
            )
