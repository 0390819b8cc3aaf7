"""Stand-ins for what wakes her, each a real HTTP server on loopback.

`PushService` is a Web Push service (RFC 8030) as a browser vendor runs one: it checks each
request's VAPID authorisation (RFC 8292: the JWT's ES256 signature under the key in `k`, which must
be the server's served public key, its `aud`, `exp` and `sub`) and DECRYPTS the body (RFC 8291,
aes128gcm per RFC 8188) with the subscriber's private key and auth secret, which the test made as
her browser would. The decryption is written here from the RFCs with `cryptography` alone, not
with the library Vigil encrypts with, so the two are checked against each other.

`SmsGateway` is the SMS gateway of docs/notifications.md: a bearer token, JSON {id, to, text}.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Browser:
    """Her browser's side of a subscription: its ECDH key pair and auth secret (RFC 8291 section 2)."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def keys(self) -> dict[str, str]:
        return {"p256dh": b64(self.public), "auth": b64(self.auth)}

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3.4 with the RFC 8188 header: salt, record size, the sender's key."""
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender = body[21 : 21 + idlen]
        records = body[21 + idlen :]
        assert idlen == 65 and rs >= 18 and len(records) <= rs, (idlen, rs, len(records))
        secret = self.key.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender)
        )
        ikm = _hkdf(self.auth, secret, b"WebPush: info\x00" + self.public + sender, 32)
        cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        padded = AESGCM(cek).decrypt(nonce, records, None)
        plain = padded.rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
        return plain[:-1]


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass
class Received:
    path: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


class _Loopback:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.problems: list[str] = []
        self.answers: dict[str, list[int]] = {}  # path -> statuses to answer, in turn (then 201/200)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status = outer.handle(self.path, headers, body)
                except Exception as exc:  # what a real service would refuse: kept for the test
                    with outer._lock:
                        outer.problems.append(f"{self.path}: {type(exc).__name__}: {exc}")
                    status = 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def scripted(self, path: str, default: int) -> int:
        with self._lock:
            queue = self.answers.get(path)
            return queue.pop(0) if queue else default

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        raise NotImplementedError


class PushService(_Loopback):
    def __init__(self, server_key: str = "") -> None:
        super().__init__()
        self.server_key = server_key  # the VAPID public key Vigil serves to the app
        self.browsers: dict[str, Browser] = {}  # path -> the subscriber
        self.received: list[Received] = []

    def subscribe(self, name: str) -> tuple[dict[str, Any], Browser]:
        """A new subscription as PushManager.subscribe() gives it: (its JSON, the browser's keys)."""
        browser = Browser()
        path = f"/push/{name}"
        self.browsers[path] = browser
        return {"endpoint": self.url + path, "expirationTime": None, "keys": browser.keys()}, browser

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        browser = self.browsers.get(path)
        if browser is None:
            return 404
        claims = self._authorised(headers.get("authorization", ""))
        assert headers.get("content-encoding") == "aes128gcm", headers
        assert int(headers["ttl"]) >= 0 and headers.get("urgency") in {"very-low", "low", "normal", "high"}
        payload = json.loads(browser.decrypt(body))
        status = self.scripted(path, 201)
        if status < 300:
            with self._lock:
                self.received.append(Received(path, payload, headers, claims))
        return status

    def _authorised(self, header: str) -> dict[str, Any]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; the JWT signed ES256 by that key."""
        scheme, _, params = header.partition(" ")
        assert scheme.lower() == "vapid", header
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts["k"] == self.server_key, "signed with a key other than the one served to the app"
        head, claims, signature = parts["t"].split(".")
        assert json.loads(unb64(head))["alg"] == "ES256"
        raw = unb64(signature)
        assert len(raw) == 64, "a JOSE ES256 signature is r||s, 64 bytes"
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(parts["k"]))
        try:
            key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AssertionError("the VAPID signature does not verify") from None
        told = json.loads(unb64(claims))
        assert told["aud"] == self.url, told
        assert time.time() < told["exp"] <= time.time() + 24 * 3600, told
        assert told["sub"].startswith(("mailto:", "https://")), told
        return dict(told)

    def wait(self, count: int, timeout_s: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count or self.problems:
                    break
            time.sleep(0.02)
        with self._lock:
            assert not self.problems, self.problems
            assert len(self.received) >= count, f"{len(self.received)} pushes, wanted {count}"
            return list(self.received)


class SmsGateway(_Loopback):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.texts: list[dict[str, Any]] = []
        self.attempts = 0

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.attempts += 1
        assert headers.get("authorization") == f"Bearer {self.token}", "wrong or missing bearer token"
        message = json.loads(body)
        assert set(message) == {"id", "to", "text"} and headers.get("idempotency-key") == message["id"]
        status = self.scripted(path, 200)
        if status < 300:
            with self._lock:
                if all(m["id"] != message["id"] for m in self.texts):  # once per id, as gateways do
                    self.texts.append(message)
        return status

    def wait(self, count: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.texts) >= count or self.problems:
                    break
            time.sleep(0.02)
        with self._lock:
            assert not self.problems, self.problems
            assert len(self.texts) >= count, f"{len(self.texts)} texts, wanted {count}: {self.texts}"
            return list(self.texts)
