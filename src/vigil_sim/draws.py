"""Random draws keyed by a hash of their parts: stable across runs and platforms, and independent of
how many other draws were made (adding a device or a person never shifts anybody else's)."""

from __future__ import annotations

import hashlib


def unit_hash(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts: cheap, stable across runs and platforms."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def unit_hashes(*parts: object) -> tuple[float, float, float, float]:
    """Four independent uniforms in [0, 1) from one hash of the parts."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest()
    a, b, c, d = (int.from_bytes(digest[i : i + 4], "big") / 2.0**32 for i in range(0, 16, 4))
    return a, b, c, d
