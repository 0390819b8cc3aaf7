"""`vigil bench --http` end to end at a tiny size: a real server process, a real load generator
process and its WebSocket client. Checks the figures are there and sane; speed is not asserted (it is
measured by the benchmark, not by tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.cli import main as cli_main
from vigil_sim import httpbench
from vigil_sim.loadgen import delivery, server_cpu_s, server_memory_mb


def test_delivery_matches_the_latest_batch_of_the_pair() -> None:
    sends = {7: [1.0, 2.0, 3.0]}
    alerts = [(2.5, "opened", "proximity", "s-000007"), (9.0, "updated", "proximity", "x-000001")]
    assert delivery(alerts, sends, 0.0, 5.0) == [0.5]
    assert delivery(alerts, sends, 2.6, 5.0) == []  # before the window


def test_proc_readings_of_this_process() -> None:
    import os

    assert (server_cpu_s(os.getpid()) or 0.0) > 0.0
    assert (server_memory_mb(os.getpid())["peak_rss_mb"] or 0.0) > 10.0


@pytest.mark.slow  # server processes and load generators
@pytest.mark.timeout(120)
def test_tiny_http_bench_end_to_end(tmp_path: Path) -> None:
    result = httpbench.run(
        [200], fixes=2_000, latency_fixes=1_000, w1_pairs=[100], updates=2_000, quiet=True, viewers=2
    )
    json.dumps(result)  # JSON-ready
    (size,) = result["sizes"]
    assert size["devices"] == 200 and size["pairs"] == 100
    phases = size["phases"]
    assert list(phases) == ["warm-up", "throughput", "latency", "memory"]
    for name, fixes in (("warm-up", 200), ("throughput", 2_000), ("latency", 1_000), ("memory", 200)):
        ph = phases[name]
        assert ph["fixes"] == ph["stored"] == fixes, name
        assert ph["errors"] == ph["failed_batches"] == ph["duplicates"] == 0, name
        assert ph["fixes_per_s"] > 0
        assert 0 < ph["post_p50_ms"] <= ph["post_p95_ms"] <= ph["post_p99_ms"]
    f = size["figures"]
    assert f["fixes_per_s"] > 0 and f["errors"] == 0
    assert f["server_peak_rss_mb"] > 20 and f["server_cpu_s"] > 0
    assert size["alert_messages"] > 0  # the close pairs open alerts at warm-up
    assert size["alerts_opened"] >= 1
    # The whole map's positions come batched, the newest per person in each window: every one of
    # the 200 people at least once, at most one per fix.
    assert 200 <= size["positions_received"] <= 3_400
    viewers = size["viewers"]
    assert len(viewers["positions"]) == 2 and min(viewers["positions"]) >= 200
    assert min(viewers["messages"]) < size["positions_received"]  # batches, not one message per fix
    assert size["server_cpu_ms_per_1k_fixes"] > 0
    assert size["stream_closed"] is None
    # Which phase's window an alert's delivery falls in depends on the machine's load (a busy machine
    # delivered the warm-up's alerts after its window closed): that they arrive is alert_messages above.
    assert phases["latency"]["paced_at_fixes_per_s"] == httpbench.LATENCY_RATE
    (w1,) = result["w1"]
    assert w1["devices"] == 200 and list(w1["phases"]) == ["warm-up", "throughput"]
    assert w1["figures"]["updates_per_s"] > 0 and w1["figures"]["errors"] == 0
    assert w1["phases"]["throughput"]["stored"] == 2_000
    text = httpbench.report(result)
    assert "fixes/s" in text and "workload w1" in text
    pytest.importorskip("matplotlib")
    png = tmp_path / "chart.png"
    httpbench.chart(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_bad_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--http", "--devices", "1k"]) == 2
    assert "comma-separated" in capsys.readouterr().err
