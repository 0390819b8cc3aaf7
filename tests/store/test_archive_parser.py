"""The archive's readers take files that may have been edited, cut or forged: whatever bytes a table
file or the manifest holds, reading it ends in rows of the right columns or in an ArchiveError that
names the file and line, never in another exception (which a CLI would print as a traceback)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.store.archive import ArchiveError, _rows, open_archive

KINDS = {"id": "integer", "at": "timestamp_utc", "data": "bytes_base64", "x": "float", "facts": "json"}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def read(raw: bytes) -> list[dict[str, object]]:
    return list(_rows(io.BytesIO(raw), "t", KINDS))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_rows_or_a_named_refusal(raw: bytes) -> None:
    try:
        read(raw)
    except ArchiveError as exc:
        assert "tables/t.ndjson line" in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*sorted(KINDS), "other"]), JSON_VALUES, max_size=6))
def test_any_json_object_is_a_row_or_a_named_refusal(row: dict[str, object]) -> None:
    try:
        [decoded] = read(json.dumps(row).encode() + b"\n")
    except ArchiveError as exc:
        assert "tables/t.ndjson line 1" in str(exc)
    else:
        assert set(decoded) == set(KINDS)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_any_manifest_is_read_or_refused_by_name(tmp_path_factory: object, manifest: object) -> None:
    folder = Path(str(tmp_path_factory.mktemp("a")))  # type: ignore[attr-defined]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    try:
        open_archive(folder)
    except ArchiveError as exc:
        assert "manifest.json" in str(exc)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, JSON_VALUES)
def test_a_manifest_of_the_right_format_with_any_contents_is_refused_by_name(
    tmp_path_factory: object, tables: object, audit: object
) -> None:
    folder = Path(str(tmp_path_factory.mktemp("a")))  # type: ignore[attr-defined]
    manifest = {"format": "vigil-archive", "format_version": 1, "tables": tables, "audit": audit}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    try:
        open_archive(folder)
    except ArchiveError as exc:
        assert "manifest.json" in str(exc) or "tables/" in str(exc)
