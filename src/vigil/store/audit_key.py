"""The audit chain's key: where it comes from, and an object that uses it without ever showing it.

The key must live outside the database: whoever can write the database AND read the key can rewrite
the trail unnoticed, so the key goes where the database's users cannot read. Three sources:

- `VIGIL_AUDIT_KEY`: the key inline (its UTF-8 bytes, surrounding whitespace ignored);
- `VIGIL_AUDIT_KEY_FILE`: a file holding it (the same), readable by the server's user only. It must
  exist: a named file that is missing is a mistake, and making a new key would quietly start a chain
  no one can check against the old one;
- neither (development, tests): a file made on first start (32 random bytes in hex, mode 0600)
  beside a SQLite database file (`vigil.db` -> `vigil.db.audit.key`), else under `var/` named after
  the database (`var/vigil@db.internal-5432.audit.key`), and reused after that. Production refuses
  this (config.production_problems): next to the database, the key is only as safe as the
  database's directory.

The anchor file (store/anchors.py) lives beside the key file unless named:
`<key file without .key>.anchors.jsonl`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from vigil.config import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32  # of a key the server makes itself
MIN_PRODUCTION_BYTES = 32
VAR = Path("var")  # the development default's directory when the database is not a file


class AuditKeyError(Exception):
    """No usable key: the message says what to set or fix (it never holds the key)."""


class AuditKey:
    """The chain's HMAC key. Its bytes stay inside: no repr, str or attribute shows them, so a key
    that reaches a log line or an exception shows only where it came from."""

    __slots__ = ("_secret", "source")

    def __init__(self, secret: bytes, source: str) -> None:
        if not secret:
            raise AuditKeyError(f"the audit key from {source} is empty")
        self._secret = secret
        self.source = source  # "VIGIL_AUDIT_KEY" or the key file's path

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 of `data` under this key, in hex."""
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"AuditKey(from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("an audit key is not to be pickled")


@dataclass(frozen=True, slots=True)
class Places:
    key_file: Path | None  # None: the key is given inline
    anchor_file: Path
    implicit: bool  # the key file is the development default (made on first start)


def places(settings: Settings) -> Places:
    """Where this configuration's key and anchors live."""
    if settings.audit_key is not None:
        anchors = settings.audit_anchor_file or Path(f"{_default_base(settings.database_url)}.anchors.jsonl")
        return Places(None, anchors, implicit=False)
    key_file = settings.audit_key_file or default_key_file(settings.database_url)
    anchors = settings.audit_anchor_file or key_file.with_suffix(".anchors.jsonl")
    return Places(key_file, anchors, implicit=settings.audit_key_file is None)


def default_key_file(database_url: str) -> Path:
    return Path(f"{_default_base(database_url)}.key")


def _default_base(database_url: str) -> Path:
    """`<db file>.audit` beside a SQLite file, else `var/<database>@<host>[-<port>].audit`: one
    key and one anchor file per database, so two databases never mix their anchors."""
    url = make_url(database_url)
    name = url.database or ""
    if url.get_backend_name() == "sqlite" and name and name != ":memory:" and not name.startswith("file:"):
        return Path(f"{name}.audit")
    where = f"{name or 'vigil'}@{url.host or 'local'}" + (f"-{url.port}" if url.port else "")
    return VAR / (re.sub(r"[^A-Za-z0-9._@-]", "_", where) + ".audit")


def load(settings: Settings, *, create: bool) -> tuple[AuditKey, bool]:
    """The key this configuration names, and whether it was made just now. `create`: make the
    development default when it does not exist yet (the server and the commands that append; never
    `vigil audit verify`, which would then check the trail against a key it was not written with)."""
    production = settings.environment == "production"
    if settings.audit_key is not None:
        return AuditKey(settings.audit_key.get_secret_value().strip().encode(), "VIGIL_AUDIT_KEY"), False
    where = places(settings)
    assert where.key_file is not None
    path = where.key_file
    created = False
    if not path.exists():
        if not where.implicit:
            raise AuditKeyError(
                f"VIGIL_AUDIT_KEY_FILE {path} does not exist (a named key file is never created: "
                "make it with `openssl rand -hex 32 > FILE; chmod 600 FILE`)"
            )
        if production or not create:
            raise AuditKeyError(
                f"no audit key: set VIGIL_AUDIT_KEY_FILE or VIGIL_AUDIT_KEY (the server makes {path} "
                "on its first start in development)"
            )
        created = _make(path)
        if created:
            log.warning(
                "made a new audit key at %s (mode 0600); keep a copy off this machine: without it the "
                "trail cannot be verified",
                path,
            )
    secret = _read(path, production)
    if production and len(secret) < MIN_PRODUCTION_BYTES:
        raise AuditKeyError(f"the audit key in {path} is shorter than {MIN_PRODUCTION_BYTES} bytes")
    return AuditKey(secret, str(path)), created


def _read(path: Path, production: bool) -> bytes:
    try:
        mode = path.stat().st_mode
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise AuditKeyError(f"the audit key file {path} cannot be read: {exc.strerror}") from None
    if mode & 0o077:
        message = (
            f"the audit key file {path} may be read by others (mode {mode & 0o777:o}); "
            f"make it readable by the server's user only: chmod 600 {path}"
        )
        if production:
            raise AuditKeyError(message)
        log.warning("%s", message)
    if not secret:
        raise AuditKeyError(f"the audit key file {path} is empty")
    return secret


def _make(path: Path) -> bool:
    """Write a new random key to `path` (see `write_once`). Returns False when another process made
    it first."""
    return write_once(path, (secrets.token_hex(KEY_BYTES) + "\n").encode())


def write_once(path: Path, data: bytes) -> bool:
    """Write a secret to `path`, mode 0600, whole or not at all: written to a private temporary
    file, then linked into place, so a second process starting at the same moment either makes it or
    reads the first one's, never half a key. Returns False when the file exists already (nothing
    written). The VAPID key (notify/vapid.py) and an imported audit key (transfer.py) use it too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(scratch, path)
        except FileExistsError:
            return False
    finally:
        scratch.unlink(missing_ok=True)
    return True
