"""The token cache (api/auth.Tokens) against the revocation signal: a revocation forgets what it names
and nothing else (the hot path keeps its cache), a look-up that raced a revocation is not cached, and
nothing is served from the cache while the signal cannot be heard. Both backends."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from accounts_kit import GATEWAY, provision
from vigil.api import auth
from vigil.api.auth import Tokens
from vigil.domain.model import Role
from vigil.store.accounts import Found, issue_token, revoke_user, rotate_device_token
from vigil.store.database import open_engine
from vigil.store.revocations import Key, Watcher

pytestmark = pytest.mark.both_backends  # the revocation signal (NOTIFY, or the SQLite file)


class Counted:
    """An engine that counts token look-ups."""

    def __init__(self, url: str) -> None:
        self.db = open_engine(url)
        self.lookups = 0
        event.listen(self.db, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM tokens" in statement:
            self.lookups += 1


@pytest.fixture
def setup(database_url: str) -> Iterator[tuple[Counted, Engine, dict[str, str]]]:
    """A migrated database with a token per role and a device token for AM-1; a counted engine for
    the cache, and another engine to revoke through, as another server would."""
    tokens = provision(database_url, (Role.OPERATOR, Role.AUDITOR))
    counted = Counted(database_url)
    other = open_engine(database_url)
    with other.begin() as conn:
        tokens["AM-1"] = issue_token(conn, role=Role.DEVICE, now=datetime.now(UTC), device_id="AM-1")
    try:
        yield counted, other, tokens
    finally:
        counted.db.dispose()
        other.dispose()


def test_a_revocation_forgets_what_it_names_and_the_hot_path_stays_cached(setup):
    counted, other, tokens = setup
    cache = Tokens(counted.db, 300.0)
    for who in (GATEWAY, "AM-1", Role.OPERATOR, Role.AUDITOR):
        assert cache.principal(tokens[who]) is not None
    assert counted.lookups == 4
    with other.begin() as conn:
        revoke_user(conn, "u-operator", datetime.now(UTC))
    assert cache.principal(tokens[Role.OPERATOR]) is None
    assert counted.lookups == 5
    for who in (GATEWAY, "AM-1", Role.AUDITOR):  # untouched: still answered from the cache
        assert cache.principal(tokens[who]) is not None
    assert counted.lookups == 5
    with other.begin() as conn:
        rotate_device_token(conn, "AM-1", datetime.now(UTC))
    assert cache.principal(tokens["AM-1"]) is None
    assert cache.principal(tokens[GATEWAY]) is not None
    assert counted.lookups == 6


def test_a_look_up_that_raced_a_revocation_is_not_cached(setup, monkeypatch):
    counted, other, tokens = setup
    cache = Tokens(counted.db, 300.0)
    real_find = auth.find

    def find_then_revoked(db: Engine, token: str, now: datetime) -> Found:
        found = real_find(db, token, now)  # read just before the revocation committed
        with other.begin() as conn:  # another process revokes...
            revoke_user(conn, "u-operator", now)
        assert cache._revocations.check()  # ...and another request of this one hears it first
        return found

    monkeypatch.setattr(auth, "find", find_then_revoked)
    assert cache.principal(tokens[Role.OPERATOR]) is not None  # the answer of a call in flight
    monkeypatch.setattr(auth, "find", real_find)
    assert cache.principal(tokens[Role.OPERATOR]) is None


class Deaf(Watcher):
    """A watcher that cannot hear (PostgreSQL's listening connection lost)."""

    def check(self) -> bool:
        return False


def test_nothing_is_served_from_the_cache_while_revocations_cannot_be_heard(setup):
    counted, _, tokens = setup
    cache = Tokens(counted.db, 300.0, revocations=Deaf(counted.db))
    for _ in range(3):
        assert cache.principal(tokens[Role.OPERATOR]) is not None
    assert counted.lookups == 3


def test_everything_heard_empties_the_cache(setup):
    counted, _, tokens = setup
    watcher = Watcher(counted.db)
    heard: list[Collection[Key]] = []
    watcher.listen(heard.append)
    cache = Tokens(counted.db, 300.0, revocations=watcher)
    cache.principal(tokens[Role.OPERATOR])
    cache.clear()
    cache.principal(tokens[Role.OPERATOR])
    assert counted.lookups == 2
