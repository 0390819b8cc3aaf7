"""`vigil simulate`: offline runs written as replay files, the quality table, and the live mode."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_driver import Server, server  # noqa: F401  (the live server fixture)

from vigil import cli, replay
from vigil_sim.incidents import IncidentKind
from vigil_sim.simulate import (
    Forced,
    Options,
    RunSpec,
    UsageError,
    main,
    parse_noise,
    parse_rates,
    parse_seeds,
    quality_runs,
)

TINY = ["simulate", "--subjects", "5", "--hours", "1.5", "--seed", "3", "--force", "namyangju@20"]


@pytest.mark.slow  # two simulated runs and their replay
def test_an_offline_run_is_a_scenario_that_vigil_replay_accepts(tmp_path: Path) -> None:
    first, second = tmp_path / "run.json", tmp_path / "again.json"
    assert cli.main([*TINY, "--scenario-out", str(first)]) == 0
    assert cli.main([*TINY, "--scenario-out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()  # the same arguments, the same run

    doc = json.loads(first.read_text(encoding="utf-8"))
    assert len(doc["subjects"]) == 5 and len(doc["messages"]) > 300
    out, err = io.StringIO(), io.StringIO()
    assert replay.main(first, stdout=out, stderr=err) == 0
    stderr = [json.loads(line) for line in err.getvalue().splitlines()]
    assert [line for line in stderr if "pursuit" not in line] == []  # nothing refused
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == replay.run(doc)
    assert {"tamper", "proximity_violation"} <= {line["kind"] for line in lines}


@pytest.mark.slow  # simulated runs scored against their truth
def test_quality_scores_a_tiny_run_against_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures_path = tmp_path / "quality" / "q.json"
    argv = ["simulate", "--subjects", "10", "--hours", "2", "--force", "namyangju@10", "--quality"]
    assert cli.main([*argv, "--json", str(figures_path)]) == 0
    table = capsys.readouterr().out
    for row in (
        "true violations",
        "  proximity: detected / true",
        "detected",
        "missed",
        "false alerts",
        "false violation alerts / 100 subject-days",
        "delay after the true crossing, median",
        "delay after the true crossing, p95",
        "  tamper",
        "  sos",
        "  battery low",
        "  battery dead (power off)",
        "  silence (signal loss)",
    ):
        assert any(line.startswith(row) for line in table.splitlines()), row
    missed = next(line for line in table.splitlines() if line.startswith("missed"))
    assert missed.split() == ["missed", "0", "0", "PASS"]
    assert "<= 30 s" in table and "<= 120 s" in table and "<= 0.5" in table
    for row in ("alert raises / subject-day", "alert lines / subject-day", "worst pair: raises in a day"):
        assert any(line.startswith(row) for line in table.splitlines()), row

    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    assert figures["subjects"] == 10 and figures["subject_days"] == pytest.approx(10 * 2 / 24, abs=1e-3)
    assert figures["violations_by_kind"]["proximity_violation"]["detected"] >= 1
    assert figures["missed"] == 0 and figures["targets"]["missed"]["pass"] is True
    assert figures["events"]["tamper"] == {"true": 1, "detected": 1}  # the strap cut at her door
    assert figures["incidents"]["namyangju"] == 1
    assert figures["refused_messages"] == 0
    assert len(figures["false_alert_lines"]) == figures["false_alerts"]


def test_a_plain_offline_run_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(Options(subjects=3, hours=0.5, seed=2)) == 0
    assert "3 subjects x 0.5 h" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "http://127.0.0.1:9"],
        ["--url", "http://127.0.0.1:9", "--device-token", "d", "--registry-token", "a", "--quality"],
        ["--device-token", "d"],
        ["--hours", "0"],
        ["--subjects", "0"],
        ["--incident-rate", "2"],
        ["--force", "nonsense@5"],
        ["--force", "tamper@-1"],
        ["--force", "tamper@5:S-999999", "--subjects", "2"],
        ["--quality", "--seeds", "6-1"],
        ["--quality", "--seeds", "a-b"],
        ["--quality", "--seeds", ""],
        ["--quality", "--seeds", "1-"],
        ["--quality", "--seeds", "-3"],
        ["--quality", "--seeds", "1-3,2"],
        ["--quality", "--seeds", "0-100000"],
        ["--quality", "--noise", "loud"],
        ["--quality", "--noise", "default,"],
        ["--quality", "--incident-rate", "0.05,x"],
        ["--quality", "--incident-rate", "0.05,1.5"],
        ["--quality", "--seeds", "1-2", "--workers", "0"],
        ["--seeds", "1-2"],  # several runs need --quality
        ["--quality", "--seeds", "1-2", "--scenario-out", "x.json"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["simulate", *argv]) == 2
    assert capsys.readouterr().err.startswith("vigil simulate: ")


def test_seeds_rates_and_noise_parse() -> None:
    assert parse_seeds("1-6") == (1, 2, 3, 4, 5, 6)
    assert parse_seeds("4") == (4,)
    assert parse_seeds("1,3,7-9") == (1, 3, 7, 8, 9)
    assert parse_rates("0.05,0.5") == (0.05, 0.5)
    assert parse_noise("default,noisy") == ("default", "noisy")
    runs = Options(quality=True, seeds=(1, 2), incident_rates=(0.05, 0.5), noise=("default", "noisy")).runs()
    assert len(runs) == 8 and runs[0] == RunSpec(1, 0.05, "default") and runs[-1] == RunSpec(2, 0.5, "noisy")


@pytest.mark.slow  # worker processes, and the same runs again one after the other
def test_several_runs_in_workers_give_what_one_after_the_other_gives(tmp_path: Path) -> None:
    options = Options(
        subjects=2,
        hours=0.5,
        quality=True,
        seeds=(1, 2),
        noise=("clean", "noisy"),
        force=(Forced.parse("tamper@5"),),
    )
    serial = quality_runs(replace(options, workers=1))
    parallel = quality_runs(replace(options, workers=2))

    def stable(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs]  # not the timings

    assert stable(serial) == stable(parallel)
    assert [(r["seed"], r["noise"]) for r in serial] == [
        (1, "clean"),
        (2, "clean"),
        (1, "noisy"),
        (2, "noisy"),
    ]

    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / "runs.json"
    assert main(replace(options, json_out=str(path)), stdout=out, stderr=err) == 0
    table = out.getvalue()
    assert table.startswith("| run | subject-days |")
    assert "| **total clean (2 runs)** |" in table and "| **total (4 runs)** |" in table
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert len(saved["runs"]) == 4 and [t["label"] for t in saved["totals"]][-1] == "total (4 runs)"
    total = saved["totals"][-1]
    assert total["subject_days"] == pytest.approx(4 * 2 * 0.5 / 24, abs=1e-3)
    assert total["load"]["raises"] == sum(r["load"]["raises"] for r in saved["runs"])
    assert total["events"]["tamper"]["true"] == 4  # one forced per run


def test_the_plain_world_has_no_slow_devices_and_no_second_phones() -> None:
    settings = Options(plain_world=True).caseload_settings()
    assert (settings.slow_device_fraction, settings.second_device_fraction) == (0.0, 0.0)
    assert Options().caseload_settings().second_device_fraction > 0


def test_forced_incidents_parse() -> None:
    assert Forced.parse("namyangju@10") == Forced(IncidentKind.NAMYANGJU, 10.0)
    assert Forced.parse("tamper@2.5:S-000003") == Forced(IncidentKind.TAMPER, 2.5, "S-000003")
    assert Forced.parse("sos") == Forced(IncidentKind.SOS, 0.0)
    with pytest.raises(UsageError):
        Forced.parse("sos@soon")


@pytest.mark.slow  # a live run against a real server, for its simulated hours
def test_live_mode_registers_and_drives_the_server_until_the_hours_are_up(server: Server) -> None:  # noqa: F811
    server.clock.wall()  # live runs start at "now": the server must be on the wall clock
    options = Options(
        subjects=20,
        hours=3.0 / 3600,
        seed=4,
        url=server.url,
        device_token=server.tokens["device"],
        registry_token=server.tokens["operator"],
        # A tamper at once: how soon a device's first routine report falls due depends on the time
        # of day (people sleep), so without it a 3-second run may send nothing.
        force=(Forced.parse("tamper@0"),),
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(options, stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "registered in" in text and text.rstrip().endswith("stopped")
    summary = [line for line in text.splitlines() if "fixes" in line and "requests" in line]
    assert summary and "refused 0  failed 0" in summary[-1], text
    words = summary[-1].split()
    assert int(words[words.index("requests") + 1]) >= 1, text
    assert len(server.get("/v1/subjects", who="operator")) == 20


def test_live_mode_says_why_registration_failed(server: Server) -> None:  # noqa: F811
    options = Options(
        subjects=2,
        url=server.url,
        device_token=server.tokens["device"],
        registry_token=server.tokens["device"],  # a device may not write the registry
    )
    err = io.StringIO()
    assert main(options, stdout=io.StringIO(), stderr=err) == 1
    assert "registration failed: PUT /v1/subjects/S-000001 -> 403" in err.getvalue()
