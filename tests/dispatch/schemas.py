"""Validators for what a push carries, against the pinned schemas in tests/data/standards.

`validate_cloudevent`, `validate_cap` and `validate_eido` raise AssertionError (or the schema library's
error) with a message that says what is wrong. The schemas are loaded once per process. Known upstream
typos in the EIDO OpenAPI file are patched in memory, never in the pinned copy.

Import from any test: `from dispatch.schemas import validate_cap, ...` (pytest puts `tests/` on the path
because `tests/conftest.py` has no package around it, the default `prepend` import mode).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import xmlschema
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

STANDARDS = Path(__file__).resolve().parents[1] / "data" / "standards"  # copies: tests/data/README.md
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_C = "{" + CAP_NS + "}"

# Upstream typos in the pinned EIDO schema (see the standards README): text -> replacement, each once.
EIDO_PATCHES = {
    "minItems: 1,\n": "minItems: 1\n",
    "NIEMComponents//j.yaml": "NIEMComponents/j.yaml",
}
EIDO_ROOT = "#/components/schemas/EmergencyIncidentDataObjectType"
# CloudEvents: extension names are lowercase letters and digits (the spec recommends at most 20).
CE_CONTEXT = {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"}
CE_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")

CAP_SENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
CAP_FORBIDDEN = re.compile(r"[\s,<&]")
_NUMBER = r"-?\d+(?:\.\d+)?"
CAP_PAIR = re.compile(rf"({_NUMBER}),({_NUMBER})")
CAP_CIRCLE = re.compile(rf"({_NUMBER}),({_NUMBER}) ({_NUMBER})")


# -- CloudEvents -----------------------------------------------------------------------------------


@cache
def _cloudevents_validator() -> Draft7Validator:
    schema = json.loads((STANDARDS / "cloudevents" / "cloudevents.json").read_text(encoding="utf-8"))
    checker = Draft7Validator.FORMAT_CHECKER
    # Without these, jsonschema silently skips the formats the CloudEvents schema relies on.
    missing = {"date-time", "uri-reference", "uri"} - set(checker.checkers)
    assert not missing, f"format checks unavailable (install the dev extra): {sorted(missing)}"
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=checker)


def validate_cloudevent(event: dict[str, Any]) -> None:
    """Schema, plus the spec's rules on extension attribute names and values."""
    error = best_match(_cloudevents_validator().iter_errors(event))
    if error is not None:
        raise AssertionError(f"CloudEvent invalid at {list(error.absolute_path)}: {error.message}")
    assert event["specversion"] == "1.0", event["specversion"]
    assert "data" not in event or "data_base64" not in event, "data and data_base64 are exclusive"
    for name, value in event.items():
        if name in CE_CONTEXT or name in {"data", "data_base64"}:
            continue
        assert CE_EXTENSION_NAME.fullmatch(name), (
            f"CloudEvent extension name {name!r} is not [a-z0-9]{{1,20}}"
        )
        assert isinstance(value, (str, int, bool)), f"CloudEvent extension {name} has a non-scalar value"
    if "sequence" in event:  # the sequence extension: a string ordered lexicographically
        assert isinstance(event["sequence"], str) and event["sequence"], "sequence must be a non-empty string"


# -- CAP 1.2 ---------------------------------------------------------------------------------------


@cache
def _cap_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(STANDARDS / "cap" / "CAP-v1.2.xsd"))


def _cap_time(field: str, value: str) -> None:
    assert CAP_SENT.fullmatch(value), f"CAP {field} {value!r}: needs a numeric offset and no fraction"
    datetime.fromisoformat(value)


def _cap_token(field: str, value: str) -> None:
    assert value and not CAP_FORBIDDEN.search(value), f"CAP {field} {value!r} has a space, comma, < or &"


def _lat_lon(field: str, lat: str, lon: str) -> None:
    assert -90.0 <= float(lat) <= 90.0, f"CAP {field}: latitude {lat} out of range"
    assert -180.0 <= float(lon) <= 180.0, f"CAP {field}: longitude {lon} out of range"


def validate_cap(xml: str) -> None:
    """The XSD, then CAP 1.2's prose rules the XSD cannot express."""
    assert xml.startswith("<?xml"), "CAP document should start with an XML declaration"
    errors = list(_cap_schema().iter_errors(xml))
    if errors:
        raise AssertionError(
            "CAP fails the XSD:\n" + "\n".join(f"- {e.reason} at {e.path}" for e in errors[:5])
        )
    # The XSD passed, so the document parses and every element sits where it should.
    root = ET.fromstring(xml)

    def one(parent: ET.Element, tag: str) -> str | None:
        found = parent.find(_C + tag)
        return None if found is None else (found.text or "")

    _cap_token("identifier", one(root, "identifier") or "")
    _cap_token("sender", one(root, "sender") or "")
    _cap_time("sent", one(root, "sent") or "")
    if one(root, "scope") == "Restricted":
        assert one(root, "restriction"), "CAP scope Restricted needs a restriction"
    msg_type = one(root, "msgType")
    references = one(root, "references")
    if msg_type in {"Update", "Cancel"}:
        assert references, f"CAP {msg_type} needs references"
    for entry in (references or "").split():
        parts = entry.split(",")
        assert len(parts) == 3, f"CAP reference {entry!r} is not sender,identifier,sent"
        _cap_token("reference sender", parts[0])
        _cap_token("reference identifier", parts[1])
        _cap_time("reference sent", parts[2])
    for info in root.iter(_C + "info"):
        for field in ("effective", "onset", "expires"):
            value = one(info, field)
            if value is not None:
                _cap_time(field, value)
        headline = one(info, "headline")
        assert headline is None or len(headline) < 160, f"CAP headline is {len(headline or '')} chars"
        for area in info.iter(_C + "area"):
            assert (one(area, "areaDesc") or "").strip(), "CAP areaDesc is empty"
            for polygon in area.iter(_C + "polygon"):
                pairs = (polygon.text or "").split()
                assert len(pairs) >= 4, f"CAP polygon has {len(pairs)} pairs (needs >= 4)"
                assert pairs[0] == pairs[-1], "CAP polygon is not closed"
                for pair in pairs:
                    match = CAP_PAIR.fullmatch(pair)
                    assert match, f"CAP polygon pair {pair!r} is not lat,lon"
                    _lat_lon("polygon", *match.groups())
            for circle in area.iter(_C + "circle"):
                match = CAP_CIRCLE.fullmatch((circle.text or "").strip())
                assert match, f"CAP circle {circle.text!r} is not 'lat,lon radius_km'"
                lat, lon, radius = match.groups()
                _lat_lon("circle", lat, lon)
                assert float(radius) >= 0, f"CAP circle radius {radius} is negative"


# -- EIDO ------------------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.name == "openapi.yaml":
        for typo, fix in EIDO_PATCHES.items():
            count = text.count(typo)
            assert count == 1, f"EIDO patch {typo!r} matched {count} times: has the pinned schema changed?"
            text = text.replace(typo, fix)
    return yaml.load(text, Loader=yaml.CSafeLoader)


@cache
def _eido_validator() -> OAS30Validator:
    root = (STANDARDS / "eido" / "openapi.yaml").resolve()

    # The registry forgets what it retrieved after each validation, so cache the parsed files here.
    @cache
    def retrieve(uri: str) -> Resource[Any]:
        # Files are fetched lazily: only the NIEM modules an instance reaches are parsed.
        assert uri.startswith("file://"), f"EIDO schema refers outside the pinned files: {uri}"
        return Resource.from_contents(
            _load_yaml(Path(uri.removeprefix("file://"))), default_specification=DRAFT4
        )

    registry: Registry[Any] = Registry(retrieve=retrieve)
    return OAS30Validator(
        {"$ref": root.as_uri() + EIDO_ROOT}, registry=registry, format_checker=oas30_format_checker
    )


def validate_eido(obj: dict[str, Any]) -> None:
    """The EmergencyIncidentDataObjectType schema, plus the cross-references the schema cannot check:
    every `{"$ref": id}` names a component of this EIDO (or the issuing agency), ids are unique."""
    error = best_match(_eido_validator().iter_errors(obj))
    if error is not None:
        raise AssertionError(f"EIDO invalid at {list(error.absolute_path)}: {error.message}")
    ids: list[str] = [obj["$id"]]
    refs: list[str] = []

    def walk(node: Any, top: bool) -> None:
        if isinstance(node, dict):
            if not top and isinstance(node.get("$id"), str):
                ids.append(node["$id"])
            if set(node) == {"$ref"}:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value, False)
        elif isinstance(node, list):
            for value in node:
                walk(value, False)

    walk(obj, True)
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"EIDO component ids are not unique: {sorted(duplicates)}"
    dangling = set(refs) - set(ids)
    assert not dangling, f"EIDO references name no component: {sorted(dangling)}"
