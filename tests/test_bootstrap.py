"""The one bootstrap: the settings hand out their parts' own settings, and `build` wires the parts
the server, the replay and the benchmarks share, starting nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from vigil import bootstrap
from vigil.config import Settings
from vigil.dispatch.deliverer import DeliverySettings
from vigil.dispatch.outbox import OutboxSettings
from vigil.rules.tuning import Tuning
from vigil.runner import utc_now
from vigil.store.database import migrate, open_engine


def test_the_rule_knobs_default_to_the_rules_own_figures() -> None:
    assert Settings.of().tuning() == Tuning()
    assert Settings.of().outbox() == OutboxSettings()
    assert Settings.of().delivery() == DeliverySettings()


def test_each_part_gets_the_settings_it_is_given() -> None:
    settings = Settings.of(
        stale_after_s=120,
        tier_hold_s=0,
        clock_future_limit_s=30,
        timezone="UTC",
        incident_link_s=600,
        dispatch_backoff_s=2,
        dispatch_ack_timeout_s=30,
    )
    tuning, outbox, delivery = settings.tuning(), settings.outbox(), settings.delivery()
    assert (tuning.stale_after_s, tuning.tier_hold_s, tuning.clock_future_s) == (120, 0, 30)
    assert (outbox.stale_after_s, outbox.timezone, outbox.link_lifetime_s) == (120, "UTC", 600)
    assert (delivery.backoff_s, delivery.ack_timeout_s) == (2, 30)


def test_settings_of_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A replay or a benchmark gives the same answer on every machine; the server reads VIGIL_*.
    monkeypatch.setenv("VIGIL_TIER_HOLD_S", "0")
    assert Settings().tier_hold_s == 0
    assert Settings.of().tier_hold_s == Tuning().tier_hold_s
    with pytest.raises(ValueError, match="tier_hold_s"):
        Settings.of(tier_hold_s=-1)  # still validated


def test_build_wires_every_part_and_starts_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    db = open_engine(url)
    try:
        migrate(db)
        services = bootstrap.build(db, Settings.of(database_url=url), utc_now, lambda: str(uuid.uuid4()))
        try:
            assert services.runner.processor is services.processor
            assert services.processor.outbox is services.outbox
            assert services.handoff.deliverer is services.deliverer
            assert services.processor.audit_key is None and services.anchorer is None
            assert not services.started
            assert services.link_base() is None  # no server runs: pushes carry no live-track link
            services.started = True
            assert services.link_base() == "http://127.0.0.1:8000"
            services.listening = "http://127.0.0.1:5123"
            assert services.link_base() == "http://127.0.0.1:5123"
        finally:
            services.close()
    finally:
        db.dispose()
