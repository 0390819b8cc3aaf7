"""The CRC-16s device protocols check their frames with: both reflected, a byte at a time from a
256-entry table (GT06: CRC-16/X.25; Teltonika: CRC-16/IBM, also called ARC)."""

from __future__ import annotations


def table(reflected_poly: int) -> tuple[int, ...]:
    """The byte table of a reflected CRC-16 with polynomial `reflected_poly` (0x1021 is 0x8408)."""
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ reflected_poly if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


def crc16(data: bytes, rows: tuple[int, ...], init: int, xor_out: int) -> int:
    crc = init
    for byte in data:
        crc = (crc >> 8) ^ rows[(crc ^ byte) & 0xFF]
    return crc ^ xor_out
