"""`vigil bench --workload tcp` at a tiny size: a real server process, its GT06 listener, and the
simulated devices over real sockets. Checks the figures are there and sane; speed is not asserted
(the benchmark measures it, tests do not)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vigil.adapters import gt06
from vigil.adapters.wire import Protocol, identifier_problem
from vigil.domain.model import Fix
from vigil_sim import tcpbench


def test_imeis_are_valid_distinct_and_pass_the_registry() -> None:
    made = [tcpbench.imei(i) for i in range(1000)]
    assert len(set(made)) == 1000
    assert tcpbench.imei(0) == "350000000000006"  # Luhn: 3 5 0... -> check digit 6
    assert all(identifier_problem(Protocol.GT06, value) is None for value in made)


def test_the_frames_decode_as_the_codec_reads_them() -> None:
    identifier = tcpbench.imei(7)
    at = datetime(2026, 12, 6, 8, 30, 15, tzinfo=UTC)
    session = gt06.Gt06Session()
    (login,) = session.feed(tcpbench.login_frame(identifier, 1), at)
    assert login.identifier == identifier and login.ack == gt06.ack(gt06.LOGIN, 1)
    frame = tcpbench.position_frame(at, 37.5665, 126.978, 5.4, 123.0, 2)
    (position,) = session.feed(frame, at)
    assert position.error is None and position.ack == gt06.ack(tcpbench.POSITION, 2)
    assert len(position.ack) == tcpbench.ACK_BYTES
    (fix,) = position.reports
    assert isinstance(fix, Fix)
    assert fix.time == at
    assert fix.lat == pytest.approx(37.5665, abs=1e-6) and fix.lon == pytest.approx(126.978, abs=1e-6)
    assert fix.heading_deg == 123.0 and fix.speed_mps == pytest.approx(5 / 3.6)


@pytest.mark.slow  # a server process and 50 connections
@pytest.mark.timeout(180)
def test_tiny_tcp_bench_end_to_end() -> None:
    result = tcpbench.run(50, seconds=3.0, interval=1.0)
    json.dumps(result)  # JSON-ready
    f = result["figures"]
    assert f["connected"] == 50 and not f["connect_failures"]
    assert f["server_connections_open"] == 50
    # about 3 rounds of 50 (phase-spread over 1 s); a device that was late sends one fewer
    assert 100 <= f["frames_sent"] <= 200
    assert f["frames_acked"] == f["frames_sent"]
    assert f["frames_lost"] == f["bad_acks"] == 0
    assert 0 < f["fixes_stored"] <= f["frames_acked"]
    assert f["fixes_stored_in_phase"] == f["fixes_stored"]
    assert f["fixes_per_s_stored"] > 0
    assert f["fixes_doubted"] == f["fixes_clock_suspect"] == 0  # plausible walks, honest clocks
    ack = f["ack"]
    assert ack["count"] == f["frames_acked"]
    assert 0 < ack["p50_ms"] <= ack["p95_ms"] <= ack["p99_ms"] <= ack["max_ms"]
    assert f["rss_before_mb"] > 20 and f["rss_all_open_mb"] > 20
    assert f["rss_peak_open_mb"] >= f["rss_all_open_mb"]
    assert f["kib_per_connection"] is not None
    assert f["server_cpu_share"] is not None and f["server_cpu_share"] > 0
    verdicts = {v["figure"]: v["verdict"] for v in result["targets"]}
    assert set(verdicts.values()) == {"n/a"}  # far below the targets' scale
    text = tcpbench.report(result)
    assert "frame -> ack p99" in text and "memory per connection" in text


def test_the_cli_refuses_what_it_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli import main as cli_main

    assert cli_main(["bench", "--workload", "tcp", "--devices", "1"]) == 2
    assert cli_main(["bench", "--workload", "tcp", "--devices", "10,20"]) == 2
    assert cli_main(["bench", "--workload", "tcp", "--interval", "0"]) == 2
    assert "--workload tcp" in capsys.readouterr().err
