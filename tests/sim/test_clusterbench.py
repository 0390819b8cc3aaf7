"""`vigil bench --workload w1 --workers N` end to end at a tiny size: the embedded server, then an
edge and a worker process on real NATS JetStream and PostgreSQL, driven by the HTTP bench's load
generator. Checks that every role's figures are there and sane; speed is not asserted (it is
measured by the benchmark, not by tests)."""

from __future__ import annotations

import json
import socket

import pytest

from services import service_unavailable
from vigil.cli import main as cli_main
from vigil_sim import clusterbench
from vigil_sim.clusterbench import Roles

NATS = ("127.0.0.1", 4222)
POSTGRES = ("127.0.0.1", 5432)
# Enough for every phase and figure to be there; its speed is the benchmark's to measure, not this test's
# (at 2,000 it was the suite's second-longest test).
UPDATES = 1_000


def _reachable(name: str, where: tuple[str, int]) -> None:
    try:
        with socket.create_connection(where, timeout=1):
            pass
    except OSError as exc:
        service_unavailable(name, f"{where[0]}:{where[1]}", exc)


def test_cpu_by_role_sums_the_database_backends() -> None:
    before = {"edge": 1.0, "pg:10": 2.0, "pg:11": 1.0}
    after = {"edge": 1.5, "pg:10": 2.25, "pg:11": 1.5, "pg:12": 0.25}  # 12 opened meanwhile
    assert Roles.spent(before, after) == {"edge": 0.5, "postgres": 1.0}


def test_the_command_refuses_what_it_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--workload", "w1", "--workers", "1", "--pairs", "10,20"]) == 2
    assert "one --pairs" in capsys.readouterr().err
    assert cli_main(["bench", "--workload", "w1", "--workers", "x"]) == 2


@pytest.mark.slow  # an embedded server, an edge, a worker and load generators, as processes
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_tiny_cluster_bench_end_to_end() -> None:
    _reachable("NATS (JetStream)", NATS)
    _reachable("PostgreSQL", POSTGRES)
    # the shared NATS server, under a cluster name of the run's own (removed afterwards)
    result = clusterbench.run(60, UPDATES, (0, 1), nats_url=f"nats://{NATS[0]}:{NATS[1]}", quiet=True)
    json.dumps(result)  # JSON-ready
    embedded, cluster = result["modes"]
    assert (embedded["workers"], cluster["workers"]) == (0, 1)
    for mode in (embedded, cluster):
        phases = mode["phases"]
        assert list(phases) == ["warm-up", "throughput", "latency"]
        assert phases["throughput"]["stored"] == UPDATES and phases["latency"]["stored"] == UPDATES // 2
        f = mode["figures"]
        assert f["errors"] == 0 and f["updates_per_s"] > 0
        assert f["cpu_ms_per_1k"] > 0
        assert 0 < f["latency_paced_at"] <= f["updates_per_s"]
        # the close pairs' alerts at warm-up were pushed, signed, to the bench's dispatch receiver
        # (in cluster mode by the worker that owns them), and timed from their pairs' posts. Which
        # phase's window a push lands in depends on the machine's load: only that they came is checked.
        assert sum(ph.get("pushes", 0) for ph in phases.values()) > 0
        assert sum(ph.get("push_timed", 0) for ph in phases.values()) > 0
    assert set(embedded["figures"]["cpu_ms_per_1k_by_role"]) == {"server"}
    roles = cluster["figures"]["cpu_ms_per_1k_by_role"]
    assert {"edge", "worker 1", "postgres"} <= set(roles)
    assert roles["worker 1"] > 0 and roles["edge"] > 0
    # in cluster mode the throughput phase lasts until the worker has committed all of it
    assert cluster["applied_wait_s"]["throughput"] >= 0
    # every alert change the worker committed reached the bus listener; the close pairs open some
    assert cluster["bus_alert_changes"] > 0
    assert cluster["figures"]["bus_timed"] is not None
    # and every report's commit, seen as its position on the bus
    assert cluster["figures"]["bus_commit_timed"] and cluster["figures"]["bus_commit_p99_ms"] is not None
    text = clusterbench.report(result)
    assert "cluster, 1 worker" in text and "embedded" in text
