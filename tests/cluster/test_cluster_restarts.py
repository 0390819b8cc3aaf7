"""The log's server and the database restarted in the middle of a load, on private servers of the
test's own (private_kit.py; the shared ones are never touched). While one is away the edge tells
the devices to retry (503) and acknowledges nothing; once it is back the edge and the two `vigil
worker` processes carry on by themselves (no process is restarted), every acknowledged report is
stored once, every pair's violation is opened once, and the audit chain verifies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from private_kit import PrivateNats, PrivatePostgres
from restart_kit import (
    Devices,
    audit_verifies,
    cluster_env,
    count,
    register,
    settings_of,
    violations_per_subject,
    wait_for,
    worker_processes,
)

from accounts_kit import provision
from vigil.app import create_app
from vigil.cluster.log import APPEND_TIMEOUT_S
from vigil.domain.model import Role
from vigil.store import tables as t
from vigil.store.database import open_engine

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PAIRS = 8
NEAR_EVERY = 3  # pair i approaches at round 3 * i: the last at round 21
BEFORE = 8  # rounds acknowledged before the outage
AFTER = 6  # rounds acknowledged after the server is back, at least
# How long the server stays away: longer than an append may wait for the log (a post that waits
# longer is answered 503), so some devices are told to retry and some are answered once it is back.
DOWN_S = APPEND_TIMEOUT_S + 2.0
WAIT_S = 40.0


def restart_mid_load(
    env: dict[str, str], folder: Path, down: Callable[[], None], up: Callable[[], None], *, log_away: bool
) -> dict[str, Any]:
    """The load, the outage (`down`, then `up` DOWN_S later), and the checks; returns the figures.
    `log_away`: the log is what goes away, so nothing at all may be acknowledged meanwhile (with the
    database away, an edge may still append to the log, which is durable without it)."""
    url = env["VIGIL_DATABASE_URL"]
    tokens = provision(url, (Role.OPERATOR,))
    db = open_engine(url)
    try:
        with (
            worker_processes(env, folder, 2) as workers,
            TestClient(create_app(settings_of(env))) as client,
        ):
            register(client, tokens[Role.OPERATOR], PAIRS)
            devices = Devices(client, tokens, PAIRS, NEAR_EVERY)
            for _ in range(BEFORE):
                devices.send_round()
                time.sleep(0.05)
            wait_for(
                lambda: count(db, t.fixes) == devices.acked,
                WAIT_S,
                lambda: f"the cluster to store the first rounds ({count(db, t.fixes)} of {devices.acked})",
            )
            back: dict[str, float] = {}

            def bring_up() -> None:
                back["starting"] = time.monotonic()
                up()
                back["at"] = time.monotonic()

            down()
            down_at = time.monotonic()
            timer = threading.Timer(DOWN_S, bring_up)
            timer.start()
            try:
                last = NEAR_EVERY * (PAIRS - 1) + 1
                while (
                    "at" not in back or devices.rounds < last or devices.first_ack_after(back["at"]) is None
                ):
                    # each round sent until it is acknowledged; with the database away, every other
                    # try by units already connected to the edge, which the log acknowledges without it
                    devices.send_round(mixed=not log_away and "at" not in back)
                    time.sleep(0.05)
                for _ in range(AFTER):
                    devices.send_round()
                    time.sleep(0.05)
            finally:
                timer.join()
            up_at = back["starting"]  # figures count from the start command, the server's own start included
            acked = devices.acked
            wait_for(lambda: count(db, t.fixes) >= acked, WAIT_S, "every acknowledged fix to be stored")
            stored_at = time.monotonic()
            first_ack = devices.first_ack_after(up_at)
            assert first_ack is not None
            # told to retry while the server was away; with the log away, nothing acknowledged
            assert devices.refused_between(down_at, up_at) > 0
            if log_away:
                assert devices.first_ack_after(down_at) == first_ack
            else:  # the connected units were acknowledged meanwhile; the workers stored it all after
                assert devices.acks_between(down_at, up_at) > 0
            # nothing acknowledged is missing, nothing is stored twice
            assert count(db, t.fixes) == acked
            # the workers carried on by themselves: the same two processes, alive
            assert all(p.poll() is None for p in workers)
            wait_for(
                lambda: len(violations_per_subject(db)) == PAIRS, WAIT_S, "every pair's violation to open"
            )
            opened = violations_per_subject(db)
            assert opened == {f"S{i}": 1 for i in range(PAIRS)}, opened  # each opened once
        ok, out = audit_verifies(env)
        assert ok, out
        return {
            "refused while away (503)": devices.refused_between(down_at, up_at),
            "acknowledged while away": devices.acks_between(down_at, up_at),
            "first acknowledgement after the restart (s)": round(first_ack - up_at, 2),
            "all acknowledged stored after the restart (s)": round(stored_at - up_at, 2),
            "fixes acknowledged": acked,
        }
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_nats_restart_mid_load_loses_nothing_and_needs_no_hand(
    database_url: str, private_nats: PrivateNats, tmp_path: Path
) -> None:
    env = cluster_env(database_url, private_nats.url, "restart", tmp_path)
    figures = restart_mid_load(env, tmp_path, private_nats.kill, private_nats.start, log_away=True)
    print(f"NATS killed (SIGKILL) and started again after {DOWN_S} s: {figures}")


def test_a_postgresql_restart_mid_load_loses_nothing_and_opens_nothing_twice(
    private_postgres: PrivatePostgres, nats_url: str, cluster_name: str, tmp_path: Path
) -> None:
    url = private_postgres.create_database("vigil")
    env = cluster_env(url, nats_url, cluster_name, tmp_path)
    figures = restart_mid_load(env, tmp_path, private_postgres.stop, private_postgres.start, log_away=False)
    print(f"PostgreSQL stopped (immediate) and started again after {DOWN_S} s: {figures}")
