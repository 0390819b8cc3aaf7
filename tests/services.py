"""The skip-or-fail rule for external services, shared by every conftest."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_unavailable(service: str, where: str, error: object) -> NoReturn:
    """A service the test needs is not there: skip locally, but fail loudly in CI (CI=true), where a
    missing service is a broken pipeline, not a reason to pass with fewer tests."""
    reason = f"{service} not reachable at {where}: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the service is required)", pytrace=False)
    pytest.skip(reason)
