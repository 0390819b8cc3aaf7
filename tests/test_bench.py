"""The benchmark runs end to end on a small workload and reports sane figures. Speed itself is not
asserted here: it is measured by `vigil bench`, not by timed tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.domain import geo
from vigil_sim import bench

QUICK = {"pairs": 200, "fixes": 5000, "devices": 2000, "batch": 100}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return bench.run(
        QUICK["pairs"],
        QUICK["fixes"],
        QUICK["devices"],
        QUICK["batch"],
        workdir=tmp_path_factory.mktemp("bench"),
    )


@pytest.mark.slow  # the benchmark run (the module's `result`)
def test_every_phase_stores_every_fix_once(result: dict[str, Any]) -> None:
    phases = result["phases"]
    assert list(phases) == ["warm-up", "throughput", "latency", "memory"]
    assert phases["warm-up"]["stored"] == 2 * QUICK["pairs"]
    assert phases["throughput"]["stored"] == QUICK["fixes"]
    assert phases["latency"]["stored"] == QUICK["fixes"] // bench.LATENCY_SHARE
    assert phases["memory"]["stored"] == QUICK["devices"]
    for phase in phases.values():
        assert phase["duplicates"] == 0
        assert phase["errors"] == 0
        assert phase["stored"] == phase["fixes"]
        assert phase["batches"] >= phase["commits"] > 0  # group commit: never more commits than batches


@pytest.mark.slow  # the benchmark run (the module's `result`)
def test_figures_are_present_and_sane(result: dict[str, Any]) -> None:
    f = result["figures"]
    assert f["fixes_per_s"] > 0
    assert f["alerts_raised"] > 0  # the close pairs raise alerts
    assert f["alerts_published"] == f["alerts_raised"]
    for key in ("alert_p50_ms", "alert_p95_ms", "alert_p99_ms", "all_p50_ms", "all_p99_ms"):
        assert f[key] is not None
        assert f[key] > 0
    assert f["alert_p50_ms"] <= f["alert_p95_ms"] <= f["alert_p99_ms"]
    assert f["all_p50_ms"] <= f["all_p99_ms"]
    assert f["registered_devices"] == QUICK["devices"]
    assert f["tracked_people"] == QUICK["devices"]  # one device per person, each reported once at least
    assert f["peak_rss_mb"] is not None
    assert f["peak_rss_mb"] >= f["rss_mb"] > 0
    assert result["phases"]["latency"]["paced_at_fixes_per_s"] > 0


@pytest.mark.slow  # the benchmark run (the module's `result`)
def test_targets_are_judged(result: dict[str, Any]) -> None:
    verdicts = {v["figure"]: v for v in result["targets"]}
    assert set(verdicts) == {"fixes_per_s", "alert_p99_ms", "peak_rss_mb"}
    assert all(v["verdict"] in {"PASS", "MISS"} for v in verdicts.values())
    m = result["machine"]
    assert m["cores"] >= 1
    assert m["python"]
    assert m["sqlite"]


@pytest.mark.slow  # the benchmark run (the module's `result`)
def test_report_shows_each_figure_with_its_target(result: dict[str, Any]) -> None:
    text = bench.report(result)
    for needle in (
        "fixes/s sustained",
        "receipt -> alert p99",
        "peak RSS",
        ">= 10,000",
        "<= 20 ms",
        "<= 1,024",
    ):
        assert needle in text
    assert "PASS" in text or "MISS" in text


def test_workload_places_pairs_as_specified() -> None:
    work = bench.plan(pairs=500, devices=1500)
    assert len(work.close) == 10  # 2 %
    assert work.extra == 500
    close = set(work.close)
    for i in range(500):
        s = work.where[f"ds-{i:06d}"]
        p = work.where[f"dp-{i:06d}"]
        apart = geo.distance_m(s[0], s[1], p[0], p[1])
        low, high = bench.CLOSE_M if i in close else bench.FAR_M
        assert low - 1 <= apart <= high + 1
        assert bench.LAT_RANGE[0] <= s[0] <= bench.LAT_RANGE[1]
        assert bench.LON_RANGE[0] <= s[1] <= bench.LON_RANGE[1]
    # the same seed gives the same moves
    again = bench.plan(pairs=500, devices=1500)
    assert work.moves(50) == again.moves(50)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 99) == 99.0
    assert bench.percentile(values, 100) == 100.0
    assert bench.percentile([], 50) is None


def test_main_prints_the_table_and_saves_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench" / "latest.json"
    assert bench.main(pairs=50, fixes=1000, devices=200, batch=50, out=str(out)) == 0
    printed = capsys.readouterr().out
    assert "fixes/s sustained" in printed
    saved = json.loads(out.read_text())
    assert saved["parameters"]["pairs"] == 50
    assert saved["figures"]["fixes_per_s"] > 0
