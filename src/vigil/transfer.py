"""`vigil export` and `vigil import`: the archive (store/archive.py) with what travels beside it, the
audit chain's key and anchors, and the audit entries that record both steps.

The key is the operator's choice (docs/export.md): in the archive (`export --with-audit-key`, then
the archive must be kept like the key), or carried apart and named on import (`--audit-key-file`).
An import checks the whole chain under that key against the archive's head and anchors before it
commits, and only then installs the key where this installation keeps it; a chain that does not
verify is refused, so the new installation never starts a second chain on top of one it cannot check.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text

from vigil.config import Settings
from vigil.store import audit, audit_key
from vigil.store import tables as t
from vigil.store.archive import Archive, ArchiveError, Written, export, load
from vigil.store.audit_key import AuditKey, AuditKeyError
from vigil.store.database import known_revisions, migrate


def export_record(
    engine: Engine, settings: Settings, folder: Path, *, purpose: str, reason: str, with_key: bool
) -> Written:
    """Record the export in the trail (so the archive holds its own export), then write it."""
    if folder.exists() and any(folder.iterdir()):  # before the trail says it was exported
        raise ArchiveError(f"{folder} is not empty: an archive goes into a new folder")
    key, _ = audit_key.load(settings, create=True)
    where = audit_key.places(settings)
    if with_key and where.key_file is None:
        raise ArchiveError("--with-audit-key: the key is given inline (VIGIL_AUDIT_KEY); carry it apart")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        audit.append(
            conn,
            key,
            [
                (
                    now,
                    audit.cli_entry(
                        "archive.export", f"archive:{folder.name}", purpose, reason, key=with_key
                    ),
                )
            ],
        )
    return export(
        engine,
        folder,
        anchors=where.anchor_file,
        key_file=where.key_file if with_key else None,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Imported:
    rows: int
    entries: int
    head: str | None
    key_installed: Path | None
    anchors_installed: Path | None


def import_record(engine: Engine, settings: Settings, archive: Archive, key_file: Path | None) -> Imported:
    """Load `archive` into the empty database `engine`: its schema brought to the archive's revision,
    the rows loaded and checked, the chain verified under the key, then the schema brought up to date
    and the import recorded."""
    revisions = known_revisions()
    if archive.revision not in revisions:
        raise ArchiveError(
            f"the archive's schema revision {archive.revision} is not one this Vigil knows "
            f"(newest {revisions[-1]}): import it with the version that wrote it or a newer one"
        )
    with engine.connect() as conn:
        current = None
        if inspect(conn).has_table("alembic_version"):
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current is not None and revisions.index(current) > revisions.index(archive.revision):
        raise ArchiveError(
            f"the target database's schema ({current}) is newer than the archive's ({archive.revision}): "
            "import into a new, empty database"
        )
    migrate(engine, archive.revision)
    head = archive.audit.get("head_hash")
    key = _key(settings, archive, key_file, needed=head is not None)
    where = audit_key.places(settings)
    anchors_in = archive.file(archive.audit.get("anchors"))
    anchors_to_install = _anchor_target(where.anchor_file, anchors_in)
    with engine.begin() as conn:
        rows = load(conn, archive)
        if head is not None:
            assert key is not None
            verdict = audit.verify(conn, key, expect_head=head, anchors=anchors_in)
            if not verdict.intact:
                first = verdict.findings[0]
                raise ArchiveError(
                    f"the archive's audit chain does not verify under this key: entry {first.seq}: {first.problem}"
                )
        entries = conn.execute(select(t.audit_log.c.seq)).all()
    installed_key = _install_key(settings, key) if key is not None else None
    if anchors_to_install is not None and anchors_in is not None:
        anchors_to_install.parent.mkdir(parents=True, exist_ok=True)
        anchors_to_install.write_bytes(anchors_in.read_bytes())
    migrate(engine)
    final_key, _ = audit_key.load(settings, create=True)
    with engine.begin() as conn:
        audit.append(
            conn,
            final_key,
            [
                (
                    datetime.now(UTC),
                    audit.cli_entry("archive.import", f"archive:{archive.manifest_sha256}", rows=rows),
                )
            ],
        )
    return Imported(rows, len(entries), head, installed_key, anchors_to_install)


def _key(settings: Settings, archive: Archive, key_file: Path | None, *, needed: bool) -> AuditKey | None:
    """The key the archive's chain is checked with: the file named on the command line, else the one
    in the archive, else the one this installation already has. Two that disagree are refused."""
    carried = key_file or archive.file(archive.audit.get("key"))
    given = AuditKey(_read_key(carried), str(carried)) if carried is not None else None
    try:
        own, _ = audit_key.load(settings, create=False)
    except AuditKeyError:
        own = None
    if given is not None and own is not None and not _same(given, own):
        raise ArchiveError(
            f"this installation already has an audit key ({own.source}) and it is not the archive's "
            f"({given.source}): unset it, or import into an installation without one"
        )
    key = given or own
    if needed and key is None:
        raise ArchiveError(
            "the archive's audit chain was written under a key that is not in the archive: "
            "name it with --audit-key-file (without it the chain cannot be checked or continued)"
        )
    return key


def _read_key(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ArchiveError(f"the audit key file {path} cannot be read: {exc.strerror}") from None
    if not secret:
        raise ArchiveError(f"the audit key file {path} is empty")
    return secret


def _same(a: AuditKey, b: AuditKey) -> bool:
    probe = b"vigil: is this the same key?"
    return hmac.compare_digest(a.mac(probe), b.mac(probe))


def _install_key(settings: Settings, key: AuditKey) -> Path | None:
    """Put the archive's key where this installation looks for it, when it has none yet: the
    development default file (mode 0600). A named key file or an inline key was checked to be the
    same key already; nothing to write then."""
    where = audit_key.places(settings)
    if not where.implicit or where.key_file is None or where.key_file.exists():
        return None
    if not audit_key.write_once(where.key_file, _read_key(Path(key.source)) + b"\n"):
        return None  # made by a server starting at the same moment: checked against on its start
    return where.key_file


def _anchor_target(place: Path, carried: Path | None) -> Path | None:
    """Where the archive's anchors go: this installation's anchor file, which must not hold another
    chain's anchors already."""
    if carried is None:
        return None
    if place.exists() and place.stat().st_size > 0 and place.read_bytes() != carried.read_bytes():
        raise ArchiveError(
            f"{place} already holds anchors of another audit chain: move it away, or set "
            "VIGIL_AUDIT_ANCHOR_FILE to a new file"
        )
    return place
