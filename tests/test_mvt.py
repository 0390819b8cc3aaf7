"""The vector tile reader the report's streets use (evidence/mvt.py): tags of every value type,
lines split at MoveTo, rings closed, other layers and points left out, and bytes that are not a
tile refused with NotMvt rather than misread."""

from __future__ import annotations

import struct

import pytest

from pmtiles_kit import _field, _geometry, _varint, mvt, mvt_grid
from vigil.evidence import mvt as reader

WANTED = frozenset({"roads", "water"})


def _layer(
    name: str, features: list[bytes], keys: list[str], values: list[bytes], extent: int = 4096
) -> bytes:
    body = _field(15, 2) + _field(1, name.encode())
    body += b"".join(_field(2, f) for f in features)
    body += b"".join(_field(3, k.encode()) for k in keys) + b"".join(_field(4, v) for v in values)
    return _field(3, body + _field(5, extent))


def _feature(kind: int, geometry: bytes, tags: list[int]) -> bytes:
    return _field(2, b"".join(_varint(t) for t in tags)) + _field(3, kind) + _field(4, geometry)


def test_the_kits_tiles_read_back() -> None:
    found = reader.layers(mvt(), frozenset({"roads", "earth"}))
    (road,) = found["roads"].features
    assert road.kind == reader.LINE and road.tags == {"kind": "major_road"}
    assert road.parts == (((0, 2048), (4096, 2048)),)
    (land,) = found["earth"].features
    assert land.kind == reader.POLYGON and land.parts[0][0] == land.parts[0][-1]  # closed
    grid = reader.layers(mvt_grid(), WANTED)
    assert len(grid["roads"].features) == 8 and len(grid["water"].features) == 1


def test_values_of_every_type_are_read() -> None:
    values = [
        _field(1, b"highway"),  # string
        b"\x15" + struct.pack("<f", 1.5),  # float (field 2, fixed 32)
        b"\x19" + struct.pack("<d", -2.25),  # double (field 3, fixed 64)
        _field(4, 7),  # int
        _field(5, 9),  # uint
        _field(6, 5),  # sint: zigzag 5 is -3
        _field(7, 1),  # bool
    ]
    keys = ["kind", "f", "d", "i", "u", "s", "b"]
    tags = [v for i in range(len(keys)) for v in (i, i)]
    line = _feature(2, _geometry(2, [(1, 1), (5, 5)]), tags)
    (feature,) = reader.layers(_layer("roads", [line], keys, values), WANTED)["roads"].features
    assert feature.tags == {
        "kind": "highway",
        "f": 1.5,
        "d": -2.25,
        "i": 7.0,
        "u": 9.0,
        "s": -3.0,
        "b": "true",
    }


def test_a_multiline_splits_at_move_to_and_points_and_other_layers_are_left_out() -> None:
    # MoveTo(10,10) LineTo(20,10) MoveTo(0,50) LineTo(0,60): two lines, relative moves
    commands = [1 | 1 << 3, 20, 20, 2 | 1 << 3, 20, 0, 1 | 1 << 3, 39, 80, 2 | 1 << 3, 0, 20]
    two = _feature(2, b"".join(_varint(c) for c in commands), [])
    point = _feature(1, _geometry(1, [(3, 3)]), [])
    tile = _layer("roads", [two, point], [], []) + _layer("buildings", [two], [], [])
    found = reader.layers(tile, WANTED)
    assert set(found) == {"roads"}
    (feature,) = found["roads"].features
    assert feature.parts == (((10, 10), (20, 10)), ((0, 50), (0, 60)))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff",  # a varint that never ends
        _field(3, b"")[:-1] + b"\x05abc",  # a layer longer than the tile
        b"\x1b",  # a wire type (3, start group) a vector tile never has
        _layer("roads", [_feature(2, b"".join(_varint(c) for c in [2 | 3 << 3, 2, 2]), [])], [], []),
    ],
)
def test_what_is_not_a_tile_is_refused(data: bytes) -> None:
    with pytest.raises(reader.NotMvt):
        reader.layers(data, WANTED)
