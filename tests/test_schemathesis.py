"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on a fresh database: inputs
drawn from the schema (valid and invalid). No answer may be a 5xx.

Each operation is called with the credential allowed to call it, read from the app itself: the action
its route's `require` dependency checks, and the widest role the policy (`api.policy.ALLOWED`) gives
that action, an unscoped one where it may, so the handler sees every record and not only a refusal.
Who else is refused is the access matrix's business (tests/api/test_access_matrix.py). Routes that
take another credential (a login, a link, a signature) get a token of their own per case, since some
spend it (a logout); the OsmAnd routes, which read a device token themselves, get the gateway's.

Every operation runs on SQLite. The operations that write (POST, PUT, PATCH) run on PostgreSQL too
(tests/test_schemathesis_postgresql.py: a file of its own, so that pytest-xdist, which hands out
whole files, can run the two halves in two processes at once), where they store what they are given: PostgreSQL refuses what SQLite takes (NUL characters, strings
longer than their column), so a write that passes on one may fail on the other. Reads take the same
SQL on both; their scoped variants are the access matrix's, on both backends.

Bounded: a few examples per operation (six; VIGIL_SCHEMATHESIS_EXAMPLES to raise it), no per-example
deadline, derandomized so CI runs the same cases every time. Its duration is bounded by the number
of examples, not asserted: a busy machine must not fail a correctness test (speed has benchmarks).
The WebSocket stream is not in the OpenAPI schema (it has its own tests); nothing else is excluded.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi
from sqlalchemy import Connection, Engine, insert, update

from accounts_kit import GATEWAY, provision
from vigil.api import hardening
from vigil.api.policy import ALLOWED, UNSCOPED, Action
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.accounts import issue_token
from vigil.store.database import open_engine

# slow: every operation, fuzzed (the second assignment used to replace the first, and it ran in the
# quick loop). Both backends, text PostgreSQL refuses (NUL) and SQLite stores: SQLite here, PostgreSQL
# in tests/test_schemathesis_postgresql.py.
pytestmark = pytest.mark.slow

# Six valid and six invalid cases per operation: every operation's parser still gets both, at half
# the time 12 each took (about 14 s of the suite's CPU on two cores). More, for a deeper look:
# VIGIL_SCHEMATHESIS_EXAMPLES=50.
EXAMPLES = int(os.environ.get("VIGIL_SCHEMATHESIS_EXAMPLES", "6"))
# The OsmAnd protocol's routes read a device's token themselves (?token=, the path or a Bearer
# header) rather than through `require`.
DEVICE_PATHS = ("/osmand",)
WRITES = frozenset({"POST", "PUT", "PATCH"})
USERS = tuple(role for role in Role if role is not Role.DEVICE)
HERSELF = "P1"  # the protected person the victim's account speaks for, so her routes reach her data


@dataclass(frozen=True)
class Fuzzed:
    """The app under test, its schema, and the tokens of the accounts made for it."""

    app: FastAPI
    schema: Any
    tokens: dict[str, str]
    url: str
    db: Engine  # to issue tokens while the app runs


def _herself(conn: Connection, now: datetime, _: dict[str, str]) -> None:
    conn.execute(insert(t.protected_persons).values(id=HERSELF, name="her", created_at=now, updated_at=now))
    account = t.users.c.id == f"u-{Role.PROTECTED_PERSON.value}"
    conn.execute(update(t.users).where(account).values(person_id=HERSELF))


@pytest.fixture
def fuzzed(database_url: str) -> Iterator[Fuzzed]:
    tokens = provision(database_url, USERS, extra=_herself)
    config = Settings(database_url=database_url, token_cache_s=0)
    app = create_app(config)
    hardening.install(app, config)  # a no-op once create_app does it
    db = open_engine(database_url)
    try:
        yield Fuzzed(app, schemathesis.openapi.from_asgi("/openapi.json", app), tokens, database_url, db)
    finally:
        asgi.shutdown_lifespans()  # schemathesis started the app's lifespan: stop its threads
        db.dispose()


# --- who may call what: read from the app ----------------------------------------------------------


def action_of(route: APIRoute) -> Action | None:
    """The action the route's `require` dependency checks, or None where it has none. `require`
    returns a closure over its `action`; the dependency tree is walked, as FastAPI solves it."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        call = dependant.call
        if inspect.isfunction(call):
            found = inspect.getclosurevars(call).nonlocals.get("action")
            if isinstance(found, Action):
                return found
        pending.extend(dependant.dependencies)
    return None


def actions(app: FastAPI) -> dict[tuple[str, str], Action | None]:
    """(method, path) -> the action that route requires, for every route in the schema."""
    found: dict[tuple[str, str], Action | None] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path:
            for method in route.methods:
                found[(method, context.path)] = action_of(route)
    return found


def caller(action: Action) -> Role:
    """The widest role the policy lets take `action`: an unscoped one where it may (it reaches every
    record), else the first it allows in the order roles are declared."""
    order = list(Role)
    return min(ALLOWED[action], key=lambda role: (role not in UNSCOPED, order.index(role)))


def credential(fuzzed: Fuzzed, path: str, action: Action | None) -> Callable[[], str]:
    """The token a case of this operation is sent with."""
    if action is not None:
        role = caller(action)
        token = fuzzed.tokens[GATEWAY if role is Role.DEVICE else role.value]
        return lambda: token
    if path.startswith(DEVICE_PATHS):
        return lambda: fuzzed.tokens[GATEWAY]
    return lambda: _fresh(fuzzed.db)


def _fresh(db: Engine) -> str:
    """A new operator token, for a route that takes some other credential and may spend this one."""
    with db.begin() as conn:
        user = f"u-{Role.OPERATOR.value}"
        return issue_token(conn, role=Role.OPERATOR, now=datetime.now(UTC), user_id=user)


# --- the run ---------------------------------------------------------------------------------------


# Schema keys that do not constrain a value.
NOTES = frozenset({"title", "description", "default", "examples"})


def negatable(definition: dict[str, Any]) -> bool:
    """Whether the operation's schema gives an invalid input to draw: a body, or a parameter that is
    more than a plain string. Schemathesis cannot make a plain string invalid, and Hypothesis would
    spend its whole budget of attempts finding that out, to draw no case at all."""
    if "requestBody" in definition:
        return True
    schemas = [parameter.get("schema", {}) for parameter in definition.get("parameters", [])]
    return not all(schema.get("type") == "string" and set(schema) - NOTES == {"type"} for schema in schemas)


def _run(operation: Any, token: Callable[[], str], failures: list[str], *, invalid: bool) -> int:
    """Valid cases, and invalid ones where the schema allows any; returns how many were sent."""
    calls = 0
    bounded = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as found
        suppress_health_check=list(HealthCheck),
    )

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @bounded
    def positive(case: Any) -> None:
        check(case)

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @bounded
    def negative(case: Any) -> None:
        check(case)

    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        try:
            response = case.call(headers={"Authorization": f"Bearer {token()}"})
        except Exception as exc:  # the app raised through the test client: a 500 in production
            failures.append(f"{operation.label}: raised {exc!r}\n  {case.as_curl_command()}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{operation.label}: {response.status_code} {response.text[:300]}\n  {case.as_curl_command()}"
            )

    for run in (positive, negative) if invalid else (positive,):
        try:
            run()
        except Exception as exc:  # hypothesis could not generate (e.g. an unsatisfiable schema)
            if "Unsatisfiable" not in type(exc).__name__:
                raise
    return calls


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_no_server_errors(fuzzed: Fuzzed) -> None:
    no_server_errors(fuzzed)


def no_server_errors(fuzzed: Fuzzed) -> None:
    """Every operation (on PostgreSQL: every write) fuzzed with its credential; no 5xx."""
    postgres = fuzzed.url.startswith("postgresql")
    required = actions(fuzzed.app)
    paths = fuzzed.app.openapi()["paths"]
    operations = [result.ok() for result in fuzzed.schema.get_all_operations()]
    assert len(operations) > 30
    # Most routes name their action in a `require` dependency: if none is found, `action_of` no
    # longer reads the app's routes, and every case would be sent with the wrong token.
    assert sum(action is not None for action in required.values()) > 40, required
    failures: list[str] = []
    calls = 0
    for operation in operations:
        method = operation.method.upper()
        if postgres and method not in WRITES:
            continue
        action = required[(method, operation.path)]
        definition = paths[operation.path][operation.method.lower()]
        token = credential(fuzzed, operation.path, action)
        calls += _run(operation, token, failures, invalid=negatable(definition))
    assert not failures, f"{len(failures)} server errors in {calls} calls:\n" + "\n".join(failures[:20])
