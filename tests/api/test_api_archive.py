"""`vigil export` and `vigil import` (issue 18, "nothing lost at a contractor change"): a record made by
the running application (registry, fixes, an alert pushed to 112 and answered, notes, a photo, the
audit chain with an anchor) goes to the other backend and back; every table's rows and hashes match,
the audit chain verifies under the key that travelled with it, and the new installation takes new
reports with the old tokens. What must be refused (a changed file, a non-empty target, another key,
no key) is refused with nothing loaded."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_kit import ENV_PATH
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accounts_kit import GATEWAY
from database_kit import MIGRATED, Templates
from vigil.app import create_app
from vigil.config import Settings
from vigil.order_reminders import remind_now
from vigil.store import audit, audit_key
from vigil.store import tables as t
from vigil.store.archive import ArchiveError, open_archive
from vigil.store.database import open_engine
from vigil.transfer import export_record, import_record

pytestmark = [pytest.mark.both_backends, pytest.mark.postgres]  # each goes to the other backend and back

WHY = {"purpose": "audit_review", "reason": "change of operating contractor"}


def other(backend: str) -> str:
    return "postgresql" if backend == "sqlite" else "sqlite"


@contextmanager
def installation(
    templates: Templates, backend: str, folder: Path, like: Settings | None = None
) -> Iterator[Settings]:
    """A new, empty installation: a migrated database with no rows, and no audit key yet; `like`:
    the old installation, whose 112 settings it takes over."""
    folder.mkdir()
    carried = ("dispatch_url", "dispatch_secret", "fallback_url", "public_url")
    settings = {name: getattr(like, name) for name in carried} if like is not None else {}
    with templates.copy(backend, MIGRATED, folder) as copy:
        yield Settings(database_url=copy.url, token_cache_s=0, audit_anchor_every_s=0, **settings)


def export(settings: Settings, folder: Path, *, with_key: bool = False) -> Any:
    engine = open_engine(settings.database_url)
    try:
        return export_record(engine, settings, folder, with_key=with_key, **WHY)
    finally:
        engine.dispose()


def load(settings: Settings, folder: Path, key_file: Path | None = None) -> Any:
    engine = open_engine(settings.database_url)
    try:
        return import_record(engine, settings, open_archive(folder), key_file)
    finally:
        engine.dispose()


def tables_of(folder: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {entry["name"]: entry for entry in manifest["tables"]}


def rows_in(settings: Settings) -> int:
    engine = open_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return sum(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables
            )
    finally:
        engine.dispose()


def record(api: Any, receiver: Any) -> None:
    """A day's record in small: an alert pushed to 112 and handled, a note, a photo, an anchor."""
    alert_id = api.violation()
    receiver.wait(ENV_PATH, 1)
    assert (
        api.post(f"/v1/alerts/{alert_id}/steps", {"state": "acknowledged", "note": "on it"}).status_code
        == 200
    )
    assert api.post("/v1/subjects/S1/notes", {"text": "새 직장: 수원, 월요일부터"}).status_code == 201
    photo = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
    )
    put = api.client.put(
        "/v1/subjects/S1/photo", content=photo, headers={**api.auth(), "Content-Type": "image/jpeg"}
    )
    assert put.status_code in (200, 201), put.text
    # the order ends in five days: both agencies are reminded (a row keyed by a time, too)
    assert api.order("O1", "S1", "P1", valid_until=api.at(5 * 86400)).status_code == 200
    assert remind_now(api.client.app.state.services)
    assert api.client.app.state.services.anchorer.anchor_now() is not None


def test_the_record_goes_to_the_other_backend_and_back_whole(
    dispatch_client: Any, receiver: Any, backend: str, database_templates: Templates, tmp_path: Path
) -> None:
    api = dispatch_client
    record(api, receiver)
    api.stop()  # the source installation is shut down for the change, as it would be
    first = tmp_path / "archive-1"
    written = export(api.settings, first)
    assert written.rows > 30
    source_key = audit_key.places(api.settings).key_file
    assert source_key is not None and not (first / "audit" / "audit.key").exists()
    assert (first / "audit" / "anchors.jsonl").stat().st_size > 0

    with installation(database_templates, other(backend), tmp_path / "b", like=api.settings) as there:
        done = load(there, first, key_file=source_key)
        assert done.rows == written.rows and done.key_installed is not None
        # the new installation takes reports with the tokens it inherited: new keys do not collide
        with TestClient(create_app(there)) as client:
            fix = {
                "device": "AM-1",
                "at": api.at(60),
                "fix": {"lat": api.HOME_LAT, "lon": api.HOME_LON, "accuracy_m": 5},
            }
            r = client.post(
                "/v1/devices/messages", json=[fix], headers={"Authorization": f"Bearer {api.tokens[GATEWAY]}"}
            )
            assert r.status_code == 200, r.text
        second = tmp_path / "archive-2"
        export(there, second, with_key=True)

    before, after = tables_of(first), tables_of(second)
    changed = {name for name in before if before[name]["sha256"] != after[name]["sha256"]}
    # the import, the new report and the second export: the trail, the fix and what it touched; and
    # the 112 target from the environment, which the app re-reads (updated_at) when it starts
    assert changed <= {
        "dispatch_targets",
        "audit_log",
        "fixes",
        "devices",
        "alerts",
        "alert_changes",
        "incidents",
        "incident_links",
    }
    for name in set(before) - changed:
        assert before[name]["rows"] == after[name]["rows"], name
    # the old trail is the new one's beginning, byte for byte
    old = (first / "tables" / "audit_log.ndjson").read_bytes()
    assert (second / "tables" / "audit_log.ndjson").read_bytes().startswith(old)
    actions = [
        json.loads(line)["action"]
        for line in (second / "tables" / "audit_log.ndjson").read_text().splitlines()
    ]
    assert actions[-2:] == ["archive.import", "archive.export"]

    # and back to the first backend, the key in the archive this time
    with installation(database_templates, backend, tmp_path / "c") as home:
        load(home, second)
        engine = open_engine(home.database_url)
        try:
            with engine.connect() as conn:
                key, _ = audit_key.load(home, create=False)
                verdict = audit.verify(conn, key, anchors=audit_key.places(home).anchor_file)
                photo = conn.execute(select(t.subject_photos.c.data)).scalar_one()
                note = conn.execute(select(t.person_notes.c.text)).scalar_one()
        finally:
            engine.dispose()
    assert verdict.intact, verdict.findings
    assert verdict.anchors >= 1
    assert photo.endswith(b"\xff\xd9") and note == "새 직장: 수원, 월요일부터"


def test_what_must_be_refused_is_refused_with_nothing_loaded(
    app_client: Any, backend: str, database_templates: Templates, tmp_path: Path
) -> None:
    api = app_client
    api.violation()
    api.stop()
    archive = tmp_path / "archive"
    export(api.settings, archive)
    key = audit_key.places(api.settings).key_file
    with installation(database_templates, other(backend), tmp_path / "b") as there:
        # no key: the chain could be neither checked nor continued
        with pytest.raises(ArchiveError, match="--audit-key-file"):
            load(there, archive)
        # another key
        wrong = tmp_path / "wrong.key"
        wrong.write_text("0" * 64)
        wrong.chmod(0o600)
        with pytest.raises(ArchiveError, match="does not verify"):
            load(there, archive, key_file=wrong)
        assert rows_in(there) == 0  # nothing loaded
        assert not audit_key.places(there).key_file.exists()  # type: ignore[union-attr]

        # a table changed after the export
        tampered = tmp_path / "tampered"
        shutil.copytree(archive, tampered)
        lines = (tampered / "tables" / "orders.ndjson").read_text().splitlines()
        lines[0] = lines[0].replace('"violation_distance_m":100.0', '"violation_distance_m":10000.0')
        (tampered / "tables" / "orders.ndjson").write_text("\n".join(lines) + "\n")
        with pytest.raises(ArchiveError, match=r"orders\.ndjson: its SHA-256"):
            open_archive(tampered)

        # a target that is not empty
        load(there, archive, key_file=key)
        with pytest.raises(ArchiveError, match="not empty"):
            load(there, archive, key_file=key)
