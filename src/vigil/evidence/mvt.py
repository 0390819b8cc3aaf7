"""A reader of Mapbox Vector Tiles (spec 2.1), enough to draw streets and water in the printed
report from a vector PMTiles archive (the Protomaps basemap's layers): each layer's features with
their string and number tags and their geometry as lines or rings in tile coordinates.

Protobuf is read by hand (varints, length-delimited fields, fixed 32 and 64 bits skipped): a tile
has three message types and a handful of fields, and no protobuf library is a dependency. A tile
that is not well formed raises `NotMvt`; the report then leaves the streets out.

Spec: https://github.com/mapbox/vector-tile-spec/blob/master/2.1/README.md
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

Point = tuple[int, int]
LINE, POLYGON = 2, 3  # geometry types; points (1) are not drawn and not decoded
_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


class NotMvt(ValueError):
    """The bytes are not a vector tile this reader understands (why, in a sentence)."""


@dataclass(frozen=True, slots=True)
class Feature:
    kind: int  # LINE or POLYGON
    tags: dict[str, str | float]
    parts: tuple[tuple[Point, ...], ...]  # lines, or rings (a polygon's outer ring, then its holes)


@dataclass(slots=True)
class Layer:
    name: str
    extent: int = 4096
    features: list[Feature] = field(default_factory=list)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise NotMvt("a varint runs past the end")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise NotMvt("a varint longer than 64 bits")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one message: varints as int, length-delimited as bytes;
    fixed 32 and 64 bit values as their raw bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise NotMvt("a field runs past the end")
            yield number, wire, data[at : at + length]
            at += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if at + size > len(data):
                raise NotMvt("a field runs past the end")
            yield number, wire, data[at : at + size]
            at += size
        else:
            raise NotMvt(f"wire type {wire} is not in a vector tile")


def _packed(data: bytes) -> list[int]:
    out, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        out.append(value)
    return out


def _value(data: bytes) -> str | float:
    for number, wire, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if number == 2 and isinstance(value, bytes) and wire == 5:
            return float(struct.unpack("<f", value)[0])
        if number == 3 and isinstance(value, bytes) and wire == 1:
            return float(struct.unpack("<d", value)[0])
        if number in (4, 5) and isinstance(value, int):
            return float(value if number == 5 or value < 1 << 63 else value - (1 << 64))
        if number == 6 and isinstance(value, int):
            return float((value >> 1) ^ -(value & 1))
        if number == 7 and isinstance(value, int):
            return "true" if value else "false"
    return ""


def _geometry(commands: list[int], kind: int) -> tuple[tuple[Point, ...], ...]:
    """The command stream as parts: MoveTo starts one, LineTo extends it, ClosePath ends a ring."""
    parts: list[tuple[Point, ...]] = []
    current: list[Point] = []
    x = y = 0
    i = 0
    while i < len(commands):
        command, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if command == _CLOSE:
            if current:
                parts.append((*current, current[0]))
                current = []
            continue
        if command not in (_MOVE_TO, _LINE_TO) or i + 2 * count > len(commands):
            raise NotMvt("a geometry command that is not in the spec, or runs past the end")
        for _ in range(count):
            dx, dy = commands[i], commands[i + 1]
            i += 2
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            if command == _MOVE_TO:
                if current and kind == LINE:
                    parts.append(tuple(current))
                current = [(x, y)]
            else:
                current.append((x, y))
    if current and kind == LINE:
        parts.append(tuple(current))
    return tuple(p for p in parts if len(p) >= 2)


def _feature(data: bytes, keys: list[str], values: list[str | float]) -> Feature | None:
    tags: list[int] = []
    kind = 0
    commands: list[int] = []
    for number, _, value in _fields(data):
        if number == 2 and isinstance(value, bytes):
            tags = _packed(value)
        elif number == 3 and isinstance(value, int):
            kind = value
        elif number == 4 and isinstance(value, bytes):
            commands = _packed(value)
    if kind not in (LINE, POLYGON):
        return None
    named: dict[str, str | float] = {}
    for k, v in zip(tags[::2], tags[1::2], strict=False):
        if k < len(keys) and v < len(values):
            named[keys[k]] = values[v]
    return Feature(kind, named, _geometry(commands, kind))


def layers(data: bytes, wanted: frozenset[str]) -> dict[str, Layer]:
    """The tile's layers named in `wanted`, their lines and polygons decoded."""
    found: dict[str, Layer] = {}
    for number, _, body in _fields(data):
        if number != 3 or not isinstance(body, bytes):
            continue
        name, extent = "", 4096
        keys: list[str] = []
        values: list[str | float] = []
        raw: list[bytes] = []
        for n, _, value in _fields(body):
            if n == 1 and isinstance(value, bytes):
                name = value.decode("utf-8", "replace")
            elif n == 2 and isinstance(value, bytes):
                raw.append(value)
            elif n == 3 and isinstance(value, bytes):
                keys.append(value.decode("utf-8", "replace"))
            elif n == 4 and isinstance(value, bytes):
                values.append(_value(value))
            elif n == 5 and isinstance(value, int):
                extent = value
        if name not in wanted or extent <= 0:
            continue
        layer = found.setdefault(name, Layer(name, extent))
        for feature in raw:
            decoded = _feature(feature, keys, values)
            if decoded is not None and decoded.parts:
                layer.features.append(decoded)
    return found
