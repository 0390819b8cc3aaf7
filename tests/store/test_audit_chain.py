"""The keyed audit chain in the store, on both backends: a trail begun before the chain was keyed
(plain SHA-256 entries, then keyed ones) verifies intact; the anchor file is itself tamper-evident;
the key comes from settings, a named file, or one made on first start, never from the database."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from pydantic import SecretStr
from sqlalchemy import Column, Engine, MetaData, Table, insert, select, text

from vigil.config import Settings
from vigil.store import anchors, audit, audit_key
from vigil.store import tables as t
from vigil.store.audit import Entry
from vigil.store.audit_key import AuditKey, AuditKeyError
from vigil.store.database import MIGRATIONS, migrate, open_engine

pytestmark = pytest.mark.both_backends  # the audit chain and its migration

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
KEY = AuditKey(b"k" * 16 + b"0123456789abcdef", "test")


def entry(n: int) -> Entry:
    return Entry(f"u-{n}", "operator", "positions.read", f"/v1/people/S{n}/track", detail={"n": n})


def migrate_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def keyed(db: Engine, count: int, first: int = 0) -> None:
    with db.begin() as conn:
        audit.append(conn, KEY, [(T0 + timedelta(seconds=first + i), entry(first + i)) for i in range(count)])


# --- a trail from before the key ------------------------------------------------------------------


def test_entries_from_before_the_key_then_keyed_ones_verify_intact(empty_database_url: str) -> None:
    """A trail written by the old code (plain SHA-256, before migration 0008 added `mac`) goes on
    keyed after the upgrade, and `verify` says how many entries are legacy."""
    engine = open_engine(empty_database_url)
    try:
        migrate_to(engine, "0007")
        legacy = t.audit_log.c
        previous = audit.GENESIS
        rows = []
        for i in range(3):
            at = T0 + timedelta(seconds=i)
            digest = audit.link(previous, at, entry(i), None)
            rows.append({**_content(at, entry(i)), "prev_hash": previous, "hash": digest})
            previous = digest
        with engine.begin() as conn:
            conn.execute(insert(BEFORE_0008), rows)
        migrate(engine)
        with engine.connect() as conn:
            assert [r.mac for r in conn.execute(select(legacy.mac).order_by(legacy.seq))] == ["sha256"] * 3
        keyed(engine, 4, first=3)
        with engine.connect() as conn:
            verdict = audit.verify(conn, KEY)
            macs = [r.mac for r in conn.execute(select(legacy.mac).order_by(legacy.seq))]
        assert verdict.intact, verdict.findings
        assert (verdict.entries, verdict.legacy, verdict.keyed) == (7, 3, 4)
        assert macs == ["sha256"] * 3 + ["hmac-sha256"] * 4
        assert any("3 entries from before the chain was keyed" in note for note in verdict.notes)
    finally:
        engine.dispose()


# The table as revision 0007 left it: no `mac` yet.
BEFORE_0008 = Table(
    "audit_log", MetaData(), *(Column(c.name, c.type) for c in t.audit_log.columns if c.name != "mac")
)


def _content(at: datetime, item: Entry) -> dict[str, object]:
    return {
        "at": at, "actor": item.actor, "role": item.role, "action": item.action, "target": item.target,
        "purpose": item.purpose, "reason": item.reason, "source": item.source, "detail": item.detail,
    }  # fmt: skip


def test_a_wrong_key_finds_every_keyed_entry_and_says_why(db: Engine) -> None:
    keyed(db, 3)
    with db.connect() as conn:
        verdict = audit.verify(conn, AuditKey(b"not the key", "a guess"))
    assert [f.seq for f in verdict.findings] == [1, 2, 3]
    assert any("no keyed entry matches the key from a guess" in note for note in verdict.notes)


def test_a_new_entry_is_keyed_not_plain(db: Engine) -> None:
    """What the old code wrote: plain SHA-256, which anyone with the database can re-compute."""
    keyed(db, 1)
    with db.connect() as conn:
        row = conn.execute(select(t.audit_log)).one()
    assert row.mac == "hmac-sha256"
    assert row.hash != audit.link(row.prev_hash, row.at, audit._entry(row), None)
    assert row.hash == audit.link(row.prev_hash, row.at, audit._entry(row), KEY)


# --- the anchor file -------------------------------------------------------------------------------


def anchored(db: Engine, path: Path, rounds: int) -> list[anchors.Anchor]:
    made = []
    for i in range(rounds):
        keyed(db, 2, first=2 * i)
        with db.connect() as conn:
            seq, head = audit.newest(conn) or (0, "")
            entries = audit.count(conn, through=seq)
        anchor = anchors.append(path, KEY, T0 + timedelta(minutes=i), seq, head, entries)
        assert anchor is not None
        made.append(anchor)
    return made


def test_anchors_chain_and_verify(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "a.anchors.jsonl"
    made = anchored(db, path, 3)
    assert [a.prev for a in made[1:]] == [a.mac for a in made[:-1]]
    with db.connect() as conn:
        seq, head = audit.newest(conn) or (0, "")
        # the same head again adds no line
        assert anchors.append(path, KEY, T0 + timedelta(hours=1), seq, head, 6) is None
        verdict = audit.verify(conn, KEY, anchors=path)
    assert verdict.intact and verdict.anchors == 3
    assert os.stat(path).st_mode & 0o077 == 0


@pytest.mark.parametrize("tamper", ["edit", "remove_middle", "forge", "swap"])
def test_the_anchor_file_shows_its_own_tampering(db: Engine, tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "a.anchors.jsonl"
    anchored(db, path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    if tamper == "edit":  # claim fewer entries at the second anchor
        lines[1] = lines[1].replace(b'"entries":4', b'"entries":3')
    elif tamper == "remove_middle":
        del lines[1]
    elif tamper == "forge":  # a line made with a guessed key
        lines.append(anchors.seal(AuditKey(b"guess", "guess"), T0, 99, "f" * 64, 99, "0" * 64).line())
    else:
        lines[0], lines[1] = lines[1], lines[0]
    path.write_bytes(b"".join(lines))
    with db.connect() as conn:
        verdict = audit.verify(conn, KEY, anchors=path)
    assert not verdict.intact
    assert any(f.seq is None and "anchor line" in f.problem for f in verdict.findings), verdict.findings


def test_a_torn_last_line_is_reported_and_the_next_anchor_starts_a_new_line(
    db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "a.anchors.jsonl"
    anchored(db, path, 1)
    with path.open("ab") as file:
        file.write(b'{"at":"2026-11-01T09:0')  # a crash in the middle of a write
    keyed(db, 1, first=10)
    with db.connect() as conn:
        seq, head = audit.newest(conn) or (0, "")
        anchor = anchors.append(path, KEY, T0, seq, head, audit.count(conn, through=seq))
        assert anchor is not None and anchor.prev == anchors.read(path, KEY).anchors[0].mac
        verdict = audit.verify(conn, KEY, anchors=path)
    assert [f.problem for f in verdict.findings] == [
        "anchor line 2 is not a readable anchor (edited, or torn by a crash)"
    ]
    assert verdict.anchors == 2


def test_the_last_anchor_is_found_in_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    for seq in range(1, 400):  # well past one block read from the end
        anchors.append(path, KEY, T0, seq, f"{seq:064x}", seq)
    found = anchors.last(path)
    assert found is not None and found.seq == 399
    assert len(anchors.read(path, KEY).anchors) == 399


# --- where the key comes from --------------------------------------------------------------------


def test_the_default_key_is_made_once_private_and_beside_a_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'vigil.db'}")
    with pytest.raises(AuditKeyError, match="no audit key"):
        audit_key.load(settings, create=False)  # verify never makes one
    key, created = audit_key.load(settings, create=True)
    path = tmp_path / "vigil.db.audit.key"
    assert created and key.source == str(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again, created_again = audit_key.load(settings, create=True)
    assert not created_again and again.mac(b"x") == key.mac(b"x")
    assert audit_key.places(settings).anchor_file == tmp_path / "vigil.db.audit.anchors.jsonl"
    assert path.read_text().strip() not in repr(key) + str(key)


def test_the_default_for_postgresql_is_named_after_the_database() -> None:
    found = audit_key.default_key_file("postgresql+psycopg://vigil@db.internal:5432/vigil")
    assert found == audit_key.VAR / "vigil@db.internal-5432.audit.key"


def test_a_named_key_file_is_never_made(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", audit_key_file=tmp_path / "missing.key")
    with pytest.raises(AuditKeyError, match="does not exist"):
        audit_key.load(settings, create=True)
    assert not (tmp_path / "missing.key").exists()


def test_production_refuses_a_key_file_others_may_read(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_text("a" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz\n")
    path.chmod(0o644)
    settings = Settings(
        environment="production",
        public_url="https://vigil.example",
        database_url="postgresql+psycopg://vigil@db/vigil",
        audit_key_file=path,
    )
    with pytest.raises(AuditKeyError, match="may be read by others"):
        audit_key.load(settings, create=True)
    path.chmod(0o600)
    key, created = audit_key.load(settings, create=True)
    assert not created and key.source == str(path)
    assert audit_key.places(settings).anchor_file == tmp_path / "audit.anchors.jsonl"


def test_production_wants_a_key_that_was_given() -> None:
    base = {
        "environment": "production",
        "public_url": "https://vigil.example",
        "database_url": "postgresql+psycopg://vigil@db/vigil",
    }
    with pytest.raises(ValueError, match="VIGIL_AUDIT_KEY_FILE"):
        Settings(**base)
    with pytest.raises(ValueError, match="VIGIL_AUDIT_KEY is too short"):
        Settings(**base, audit_key=SecretStr("short"), audit_anchor_file=Path("/srv/a.jsonl"))
    with pytest.raises(ValueError, match="VIGIL_AUDIT_ANCHOR_FILE must be set"):
        Settings(**base, audit_key=SecretStr("0123456789abcdef" * 4))
    strong = Settings(
        **base, audit_key=SecretStr("0123456789abcdef" * 4), audit_anchor_file=Path("/srv/a.jsonl")
    )
    assert strong.production_problems() == []
    with pytest.raises(ValueError, match="not both"):
        Settings(audit_key=SecretStr("0123456789abcdef" * 4), audit_key_file=Path("/srv/k"))
    with pytest.raises(ValueError, match="VIGIL_AUDIT_WITNESS_SECRET"):
        Settings(audit_witness_url="https://witness.example/anchors")


def test_the_key_is_not_in_the_database(db: Engine, database_url: str) -> None:
    secret = b"the-audit-key-" + os.urandom(8).hex().encode()
    key = AuditKey(secret, "test")
    with db.begin() as conn:
        audit.append(conn, key, [(T0, entry(1)), (T0, entry(2))])
    assert secret not in _everything(db, database_url)


def _everything(db: Engine, database_url: str) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every table as text."""
    if database_url.startswith("sqlite"):
        db.dispose()  # let the WAL be folded in; read both anyway
        base = Path(database_url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in (base, Path(f"{base}-wal")) if p.exists())
    with db.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        return b"\n".join(
            str(row).encode()
            for name in tables
            for row in conn.execute(text(f'SELECT t::text FROM "{name}" t'))
        )


def test_a_processor_without_a_key_refuses_to_audit_and_only_that(db: Engine) -> None:
    """Replays and benchmarks run a processor without the key: an access recorded there would be
    unverifiable, so it is refused (the API answers 503 to such a refusal), and nothing else fails."""
    from vigil.commands import Audit, Refusal, Tick
    from vigil.processor import Processor

    processor = Processor(db)
    processor.load(T0)
    results, _ = processor.run([Audit((entry(1),)), Tick()], T0)
    assert isinstance(results[0], Refusal) and results[1] == 0
    with db.connect() as conn:
        assert audit.newest(conn) is None
