"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on a fresh database (SQLite,
and PostgreSQL where it runs: it refuses NUL characters that SQLite stores):
every operation, with an operator's token, an administrator's, and a gateway device token for the
device endpoints, inputs drawn from the schema (valid and invalid). No answer may be a 5xx.

Bounded: a few examples per operation (VIGIL_SCHEMATHESIS_EXAMPLES to raise it), no per-example
deadline, derandomized so CI runs the same cases every time. Its duration is bounded by the number
of examples, not asserted: a busy machine must not fail a correctness test (speed has benchmarks).
The WebSocket stream is not in the OpenAPI schema (it has its own tests); nothing else is excluded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi

from accounts_kit import provision
from vigil.api import hardening
from vigil.app import create_app
from vigil.config import Settings
from vigil.domain.model import Role

pytestmark = pytest.mark.both_backends  # text PostgreSQL refuses (NUL) and SQLite stores

EXAMPLES = int(os.environ.get("VIGIL_SCHEMATHESIS_EXAMPLES", "12"))
DEVICE_PATHS = ("/v1/devices/messages", "/osmand")


def _provision(url: str) -> dict[str, str]:
    return provision(url, (Role.OPERATOR, Role.ADMIN))


@pytest.fixture
def schema_and_tokens(database_url: str) -> Iterator[tuple[Any, dict[str, str]]]:
    url = database_url
    tokens = _provision(url)
    config = Settings(database_url=url, token_cache_s=0)
    app = create_app(config)
    hardening.install(app, config)  # a no-op once create_app does it
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app), tokens
    finally:
        asgi.shutdown_lifespans()  # schemathesis started the app's lifespan: stop its threads


def _run(operation: Any, token: str, failures: list[str]) -> int:
    calls = 0

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as found
        suppress_health_check=list(HealthCheck),
    )
    def positive(case: Any) -> None:
        check(case)

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def negative(case: Any) -> None:
        check(case)

    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        try:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
        except Exception as exc:  # the app raised through the test client: a 500 in production
            failures.append(f"{operation.label}: raised {exc!r}\n  {case.as_curl_command()}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{operation.label}: {response.status_code} {response.text[:300]}\n  {case.as_curl_command()}"
            )

    for run in (positive, negative):
        try:
            run()
        except Exception as exc:  # hypothesis could not generate (e.g. an unsatisfiable schema)
            if "Unsatisfiable" not in type(exc).__name__:
                raise
    return calls


@pytest.mark.slow
def test_no_server_errors(schema_and_tokens: tuple[Any, dict[str, str]]) -> None:
    schema, tokens = schema_and_tokens
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for who in ("operator", "admin", "gateway"):
        for operation in operations:
            device = operation.path.startswith(DEVICE_PATHS)
            if (who == "gateway") != device and not (who == "admin" and device):
                continue
            calls += _run(operation, tokens[who], failures)
    assert not failures, f"{len(failures)} server errors in {calls} calls:\n" + "\n".join(failures[:20])
