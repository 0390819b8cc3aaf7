"""The VAPID key pair (RFC 8292) that signs every Web Push, kept like the audit key.

Pushes are accepted by a push service only under the public key her browser subscribed with
(`applicationServerKey`), so the key must outlive restarts: a new key silently orphans every
subscription. Two sources:

- `VIGIL_VAPID_PRIVATE_KEY`: the P-256 private key inline, PEM, or raw (32 bytes, base64url);
- `VIGIL_VAPID_KEY_FILE`: a PEM file readable by the server's user only; it must exist;
- neither: a PEM file made on first start (mode 0600) beside the audit key's development default
  (`vigil.db.vapid.pem` beside a SQLite file, else under `var/`), and reused after that.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from vigil.config import Settings
from vigil.store.audit_key import default_key_file, write_once

log = logging.getLogger(__name__)


class VapidKeyError(Exception):
    """No usable VAPID key: the message says what to set or fix (it never holds the key)."""


class VapidKey:
    """The server's VAPID key: signs claims; shows only its public half."""

    __slots__ = ("_vapid", "public_key", "source")

    def __init__(self, private: ec.EllipticCurvePrivateKey, source: str) -> None:
        if not isinstance(private.curve, ec.SECP256R1):
            raise VapidKeyError(f"the VAPID key from {source} is not a P-256 key")
        self._vapid = Vapid02(private)
        self.source = source
        raw = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # what the victim app hands PushManager.subscribe as its applicationServerKey
        self.public_key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def authorization(self, audience: str, subject: str, expires: int) -> str:
        """The `Authorization: vapid t=<JWT>, k=<public key>` header value for one push service."""
        signed = self._vapid.sign({"aud": audience, "sub": subject, "exp": expires})
        return str(signed["Authorization"])

    def __repr__(self) -> str:
        return f"VapidKey(from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a VAPID key is not to be pickled")


def default_file(database_url: str) -> Path:
    """Beside the audit key's development default: `<database>.vapid.pem`."""
    audit = default_key_file(database_url)  # <base>.audit.key
    return audit.with_name(audit.name.removesuffix(".audit.key") + ".vapid.pem")


def load(settings: Settings, *, create: bool) -> VapidKey:
    """The key the settings name; `create`: make the default file when it does not exist yet."""
    if settings.vapid_private_key is not None:
        return VapidKey(_parse(settings.vapid_private_key.get_secret_value(), "VIGIL_VAPID_PRIVATE_KEY"),
                        "VIGIL_VAPID_PRIVATE_KEY")  # fmt: skip
    path = settings.vapid_key_file or default_file(settings.database_url)
    if not path.exists():
        if settings.vapid_key_file is not None:
            raise VapidKeyError(
                f"VIGIL_VAPID_KEY_FILE {path} does not exist (a named key file is never made)"
            )
        if not create:
            raise VapidKeyError(f"no VAPID key: set VIGIL_VAPID_KEY_FILE or VIGIL_VAPID_PRIVATE_KEY ({path})")
        if _make(path):
            log.warning("made a new VAPID key at %s (mode 0600); pushes are signed with it", path)
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise VapidKeyError(f"the VAPID key file {path} cannot be read: {exc.strerror}") from None
    if mode & 0o077:
        log.warning("the VAPID key file %s may be read by others (mode %o): chmod 600 it", path, mode & 0o777)
    return VapidKey(_parse(text, str(path)), str(path))


def _parse(text: str, source: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if len(raw) != 32:
                raise ValueError("a raw key is 32 bytes")
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except (ValueError, TypeError) as exc:
        raise VapidKeyError(f"the VAPID key from {source} cannot be read: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise VapidKeyError(f"the VAPID key from {source} is not an elliptic-curve key")
    return key


def _make(path: Path) -> bool:
    """A new key in `path`, whole or not at all; False when another process made it first."""
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return write_once(path, pem)
