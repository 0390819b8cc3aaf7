"""Users and tokens. A token is shown once, when made; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import ColumnElement, Connection, Engine, and_, insert, select, update

from vigil.domain.model import Role
from vigil.store import notices, revocations
from vigil.store import tables as t
from vigil.store.database import hold_until_commit
from vigil.store.revocations import Key


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user with a role, or a device (optionally bound to one device id)."""

    id: str
    role: Role
    device_id: str | None = None
    person_id: str | None = None  # the protected person a victim's account speaks for
    areas: tuple[str, ...] = ()  # a dispatcher's jurisdictions: municipality code prefixes


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    conn: Connection,
    *,
    user_id: str,
    name: str,
    role: Role,
    now: datetime,
    person_id: str | None = None,
    areas: Sequence[str] = (),
) -> None:
    conn.execute(
        insert(t.users).values(
            id=user_id,
            name=name,
            role=role.value,
            person_id=person_id,
            areas=",".join(areas),
            disabled=False,
            created_at=now,
            updated_at=now,
        )
    )


def issue_token(
    conn: Connection, *, role: Role, now: datetime, user_id: str | None = None, device_id: str | None = None
) -> str:
    token = f"vgl_{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(t.tokens).values(
            hash=token_hash(token), user_id=user_id, device_id=device_id, role=role.value, created_at=now
        )
    )
    return token


@dataclass(frozen=True, slots=True)
class Found:
    """A look-up, with what a cache needs to keep it: the revocations that would make it stale, and
    when the token expires by itself."""

    principal: Principal | None
    stale_on: tuple[Key, ...]
    expires_at: datetime | None = None


def lookup(db: Engine, token: str, now: datetime) -> Principal | None:
    """The principal a token stands for, or None if unknown, revoked, expired or disabled."""
    return find(db, token, now).principal


def find(db: Engine, token: str, now: datetime) -> Found:
    """`lookup`, for a cache."""
    digest = token_hash(token)
    query = (
        select(t.tokens, t.users.c.disabled, t.users.c.person_id, t.users.c.areas)
        .select_from(t.tokens.outerjoin(t.users, t.users.c.id == t.tokens.c.user_id))
        .where(t.tokens.c.hash == digest)
    )
    with db.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return Found(None, (revocations.of_token(digest),))
    stale_on = (
        revocations.of_token(digest),
        *([revocations.of_user(row.user_id)] if row.user_id else []),
        *([revocations.of_family(row.family)] if row.family else []),
        *([revocations.of_device(row.device_id)] if row.device_id else []),
    )
    if row.revoked_at is not None or row.disabled or row.kind == "refresh":
        return Found(None, stale_on)  # a refresh token only exchanges for new tokens; never a bearer
    if row.expires_at is not None and row.expires_at <= now:
        return Found(None, stale_on)
    ident = row.user_id or (f"device:{row.device_id}" if row.device_id else "device:gateway")
    areas = tuple(a for a in (row.areas or "").split(",") if a)
    principal = Principal(
        id=ident, role=Role(row.role), device_id=row.device_id, person_id=row.person_id, areas=areas
    )
    return Found(principal, stale_on, row.expires_at)


# PostgreSQL's advisory lock for the first start: two edges of a cluster started at once on an empty
# database both found no user, and the second's first admin broke the first's key (it exited).
BOOTSTRAP_LOCK = 0x76_69_67_62_74  # "vigbt"


def bootstrap(conn: Connection, now: datetime) -> dict[str, str]:
    """On an empty system, make a first admin, a first operator and a device-gateway token, so the
    people installing it can log in. Returns {label: token}; empty when users already exist (made
    by another process of the cluster a moment before: the lock makes it wait for that one)."""
    hold_until_commit(conn, BOOTSTRAP_LOCK)
    if conn.execute(select(t.users.c.id).limit(1)).first() is not None:
        return {}
    tokens: dict[str, str] = {}
    for user_id, role in (("admin", Role.ADMIN), ("operator", Role.OPERATOR)):
        create_user(conn, user_id=user_id, name=user_id, role=role, now=now)
        tokens[user_id] = issue_token(conn, role=role, now=now, user_id=user_id)
    tokens["device gateway"] = issue_token(conn, role=Role.DEVICE, now=now)
    return tokens


def instance_secret(conn: Connection, name: str, now: datetime) -> bytes:
    """A secret this installation made for itself on first use (kept in the database, so every
    server of the installation and every restart share it)."""
    row = conn.execute(select(t.instance_secrets.c.value).where(t.instance_secrets.c.name == name)).first()
    if row is not None:
        return bytes.fromhex(row.value)
    value = secrets.token_bytes(32)
    conn.execute(insert(t.instance_secrets).values(name=name, value=value.hex(), created_at=now))
    return value


# --- logins and sessions ----------------------------------------------------------------------------

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_dummy: str | None = None


def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong
    password. Made at the first such login, not at import: every `vigil` process imports this
    module (a worker, a replay, the audit check), and a hash costs a good part of a second."""
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("not a password anyone has")
    return _dummy


MIN_PASSWORD = 12


@dataclass(frozen=True, slots=True)
class Limits:
    access_s: float = 900.0  # a login's bearer token lives 15 minutes
    refresh_s: float = 43_200.0  # a shift: the refresh token exchanges for new ones for 12 hours
    max_failures: int = 5  # wrong passwords in a row before the account locks
    lock_s: float = 900.0


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    role: Role
    access_token: str
    refresh_token: str
    expires_in: int


class Refused(Exception):
    """A login, refresh or activation that does not go through; `locked_until` when locked."""

    def __init__(self, reason: str, locked_until: datetime | None = None) -> None:
        super().__init__(reason)
        self.locked_until = locked_until


def set_password(
    conn: Connection, user_id: str, password: str, now: datetime, *, end_sessions: bool = True
) -> None:
    """A new password ends the sessions the old one opened (whoever knew it may hold one); tokens
    not made by a login (from the CLI, for integrations) stay. `end_sessions=False` is for an
    activation code: see `activate`."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"at least {MIN_PASSWORD} characters")
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None, updated_at=now)
    )
    if end_sessions:
        revoke(
            conn,
            now,
            and_(t.tokens.c.user_id == user_id, t.tokens.c.kind != "api"),
            revocations.of_user(user_id),
        )
    else:  # nothing revoked, but the cached look-ups of this user are stale all the same
        revocations.announce(conn, revocations.of_user(user_id))


def _issue(conn: Connection, kind: str, row: Any, family: str, now: datetime, ttl_s: float) -> str:
    token = f"vgl_{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(t.tokens).values(
            hash=token_hash(token),
            user_id=row.id,
            role=row.role,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            kind=kind,
            family=family,
        )
    )
    return token


def _session(conn: Connection, row: Any, now: datetime, limits: Limits, family: str | None = None) -> Session:
    family = family or secrets.token_hex(16)
    access = _issue(conn, "access", row, family, now, limits.access_s)
    refresh = _issue(conn, "refresh", row, family, now, limits.refresh_s)
    return Session(row.id, Role(row.role), access, refresh, int(limits.access_s))


def login(conn: Connection, user_id: str, password: str, now: datetime, limits: Limits) -> Session:
    """A session for the right password; Refused otherwise, with the same answer for an unknown user
    and a wrong password. Too many wrong passwords in a row lock the account for a while."""
    row = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
    if row is None or row.password_hash is None or row.disabled:
        _check(_dummy_hash(), password)
        raise Refused("wrong user or password")
    if row.locked_until is not None and row.locked_until > now:
        raise Refused("the account is locked after too many wrong passwords", row.locked_until)
    if not _check(row.password_hash, password):
        failures = row.failed_logins + 1
        locked = now + timedelta(seconds=limits.lock_s) if failures >= limits.max_failures else None
        conn.execute(
            update(t.users)
            .where(t.users.c.id == row.id)
            .values(failed_logins=0 if locked else failures, locked_until=locked)
        )
        raise Refused("wrong user or password", locked)
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    conn.execute(update(t.users).where(t.users.c.id == row.id).values(**values))
    return _session(conn, row, now, limits)


def _check(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def refresh(conn: Connection, token: str, now: datetime, limits: Limits) -> Session:
    """Exchange a refresh token for a new pair (once). A spent one coming back means it was stolen:
    the whole family is revoked, the thief's tokens and the owner's alike."""
    row = conn.execute(select(t.tokens).where(t.tokens.c.hash == token_hash(token))).first()
    if row is None or row.kind != "refresh":
        raise Refused("unknown refresh token")
    if row.revoked_at is not None:
        revoke_family(conn, row.family, now)
        raise Refused("this refresh token was already used: the session is revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Refused("the refresh token has expired: log in again")
    user = conn.execute(select(t.users).where(t.users.c.id == row.user_id)).first()
    if user is None or user.disabled:
        raise Refused("the account is disabled")
    revoke(conn, now, t.tokens.c.hash == row.hash, revocations.of_token(row.hash))  # spent
    return _session(conn, user, now, limits, row.family)


def revoke(conn: Connection, now: datetime, which: ColumnElement[bool], *stale: Key) -> int:
    """The one place tokens are revoked: the rows `which` selects stop working, and every process on
    the database is told, when this transaction commits, to forget what it cached under `stale`
    (`store.revocations`). A change that revokes nothing but alters what a token stands for (a role,
    a disabled account) announces its keys the same way."""
    result = conn.execute(
        update(t.tokens).where(which, t.tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    revocations.announce(conn, *stale)
    return int(result.rowcount or 0)


def revoke_family(conn: Connection, family: str | None, now: datetime) -> None:
    if family is not None:
        revoke(conn, now, t.tokens.c.family == family, revocations.of_family(family))


def logout(conn: Connection, token: str, now: datetime) -> None:
    """End the session the token belongs to (its access and refresh tokens alike)."""
    row = conn.execute(select(t.tokens).where(t.tokens.c.hash == token_hash(token))).first()
    if row is None:
        return
    revoke(conn, now, t.tokens.c.hash == row.hash, revocations.of_token(row.hash))
    revoke_family(conn, row.family, now)


def revoke_user(conn: Connection, user_id: str, now: datetime) -> int:
    """Revoke every token of a user (a lost phone, a leaver)."""
    return revoke(conn, now, t.tokens.c.user_id == user_id, revocations.of_user(user_id))


class AccountTaken(Exception):
    """The account id an activation code would make is held by another account."""


def issue_activation(
    conn: Connection, person_id: str, now: datetime, valid_s: float = 86_400.0
) -> tuple[str, str]:
    """A one-time code for a protected person's account `pp-<her id>` (made, disabled, if it does not
    exist yet). Returns (user id, code); the code is shown once. Whether she already has an account
    (and so whether this is a re-activation) is for the caller to decide first (`notices.accounts_of`).
    An account with that id that is not hers (another role, or speaking for someone else) is never
    given a code: AccountTaken."""
    user_id = f"pp-{person_id}"
    row = conn.execute(select(t.users.c.role, t.users.c.person_id).where(t.users.c.id == user_id)).first()
    if row is not None and (row.role != Role.PROTECTED_PERSON.value or row.person_id != person_id):
        raise AccountTaken(f"the account id {user_id!r} is held by another account")
    if row is None:
        create_user(
            conn, user_id=user_id, name=person_id, role=Role.PROTECTED_PERSON, now=now, person_id=person_id
        )
        conn.execute(update(t.users).where(t.users.c.id == user_id).values(disabled=True))
    code = "-".join(secrets.token_hex(3).upper() for _ in range(3))  # 72 bits, readable aloud
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(activation_hash=token_hash(code), activation_expires_at=now + timedelta(seconds=valid_s))
    )
    return user_id, code


def activate(conn: Connection, code: str, password: str, now: datetime, limits: Limits) -> Session:
    """Her first login: the code from the operator and a password of her own."""
    row = conn.execute(
        select(t.users).where(t.users.c.activation_hash == token_hash(code.strip().upper()))
    ).first()
    if row is None or row.activation_expires_at is None or row.activation_expires_at <= now:
        raise Refused("the code is unknown or has expired: ask for a new one")
    notices.code_used(conn, row, now)
    # Her sessions on her own phone stay: a code used by someone else must not lock her out of her
    # SOS, and her open app is where she learns of it (the notice above). An operator who means to
    # end them (a lost phone) revokes them as an admin action.
    set_password(conn, row.id, password, now, end_sessions=False)
    conn.execute(
        update(t.users)
        .where(t.users.c.id == row.id)
        .values(disabled=False, activation_hash=None, activation_expires_at=None)
    )
    return _session(conn, row, now, limits)


def rotate_device_token(conn: Connection, device_id: str, now: datetime) -> str:
    """A new credential for one device; the ones it had stop working."""
    revoke(conn, now, t.tokens.c.device_id == device_id, revocations.of_device(device_id))
    return issue_token(conn, role=Role.DEVICE, now=now, device_id=device_id)


def put_user(
    conn: Connection,
    user_id: str,
    name: str,
    role: Role,
    person_id: str | None,
    disabled: bool,
    now: datetime,
    areas: Sequence[str] = (),
) -> bool:
    """Create or update a user; True when created. Disabling one revokes nothing by itself, but a
    disabled user's tokens are refused at every call. A changed role revokes the user's tokens: each
    token carries the role it was issued for, and a demotion must take effect now. Any other change
    (disabled, jurisdictions, the person spoken for) changes what the tokens stand for: caches are
    told to look them up again."""
    before = conn.execute(select(t.users.c.role).where(t.users.c.id == user_id)).scalar()
    if before is not None and before != role.value:
        revoke_user(conn, user_id, now)
    elif before is not None:
        revocations.announce(conn, revocations.of_user(user_id))
    if before is None:
        create_user(conn, user_id=user_id, name=name, role=role, now=now, person_id=person_id, areas=areas)
        conn.execute(update(t.users).where(t.users.c.id == user_id).values(disabled=disabled))
        return True
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(
            name=name,
            role=role.value,
            person_id=person_id,
            disabled=disabled,
            areas=",".join(areas),
            updated_at=now,
        )
    )
    return False


def person_exists(conn: Connection, person_id: str) -> bool:
    return (
        conn.execute(select(t.protected_persons.c.id).where(t.protected_persons.c.id == person_id)).first()
        is not None
    )


def device_exists(conn: Connection, device_id: str) -> bool:
    return conn.execute(select(t.devices.c.id).where(t.devices.c.id == device_id)).first() is not None
