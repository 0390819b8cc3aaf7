"""The national identifier (resident registration number) as Vigil keeps it: a keyed hash only.

HMAC-SHA256 under a key derived from the audit key, which lives outside the database: equal numbers
give equal hashes within one installation (so a police case can be matched to a monitored subject),
while the database alone can neither show a number nor be searched for a known one. The number is
never stored, logged or shown back; an export carries the hashes, and the key travels as the
operator chooses (docs/export.md), so an imported installation still matches.
"""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection

from vigil.api import deps
from vigil.commands import Unavailable

PATTERN = r"^\d{6}-?\d{7}$"  # 13 digits, a hyphen after the sixth allowed


def keyed_hash(request: HTTPConnection, national_id: str) -> str:
    key = deps.services(request).audit_key
    if key is None:
        raise Unavailable("no audit key here: a national identifier cannot be hashed, so it cannot be stored")
    return key.mac(b"vigil national-id v1:" + re.sub(r"\D", "", national_id).encode())
