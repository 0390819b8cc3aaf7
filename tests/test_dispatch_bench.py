"""`vigil bench --workload dispatch` end to end at a tiny size: a real server process, a real receiver
process, signed pushes. Checks the figures are there and sane; speed is not asserted (it is measured
by the benchmark, not by tests)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from vigil.cli import main as cli_main
from vigil.dispatch import signing
from vigil_sim import dispatchbench

PAIRS = 3
BURST = 5


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dispatchbench.run(
        PAIRS,
        100,
        rate=300.0,
        interval_s=0.03,
        bursting=BURST,
        quiet=True,
        workdir=tmp_path_factory.mktemp("dispatch"),
    )


@pytest.mark.slow  # the benchmark run (the module's `result`)
@pytest.mark.timeout(60)
def test_every_driven_step_is_pushed_once_and_timed(result: dict[str, Any]) -> None:
    json.dumps(result)  # JSON-ready
    pushes = result["pushes"]
    assert pushes["bad_signatures"] == 0
    assert pushes["undelivered"] == pushes["not_received"] == 0
    assert pushes["driven_received"] == pushes["driven_expected"] == 3 * PAIRS
    assert result["driven_fixes"]["stored"] == result["driven_fixes"]["sent"] == 3 * PAIRS
    driven = result["latency"]["driven"]
    assert driven["unmatched"] == 0
    for name in ("opened", "escalated", "cleared"):
        assert driven["by_push_type"][name]["count"] == PAIRS
    for key in ("judged_to_push", "fix_received_to_push", "post_sent_to_push"):
        s = driven[key]
        assert s["count"] == 3 * PAIRS
        assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"] < 10_000, key
    # the answer to the device comes after the commit, the judgement before it
    assert driven["answered_to_push"]["p50_ms"] <= driven["judged_to_push"]["p50_ms"]
    assert driven["judged_to_push"]["p99_ms"] <= driven["post_sent_to_push"]["max_ms"]
    f = result["figures"]
    assert f["count"] == 3 * PAIRS
    assert f["p99_ms"] == driven["judged_to_push"]["p99_ms"]
    assert f["verdict"] in {"PASS", "MISS"}
    assert f["target_p99_ms"] == 50.0
    assert result["phases"]["load"]["stored"] == result["phases"]["load"]["fixes"] > 0
    assert result["machine"]["cores"] >= 1
    # the burst: one POST, one violation and one push per burst pair, the writer's batch timed
    assert result["latency"]["burst_judged_to_push"]["count"] == BURST
    burst = result["latency"]["burst"]
    assert burst["post_stored"] == BURST
    assert 0 < burst["batch_judged_to_answered_ms"] <= burst["post_sent_to_answered_ms"] + 1
    assert burst["bystander_answers"]["count"] > 0


@pytest.mark.slow  # the benchmark run (the module's `result`)
def test_report_prints_the_figures_and_the_verdict(result: dict[str, Any]) -> None:
    text = dispatchbench.report(result)
    for needle in ("judged -> push", "answered -> push", "p99", "<= 50.0 ms"):
        assert needle in text
    assert "PASS" in text or "MISS" in text


def test_receiver_verifies_the_signature() -> None:
    secret = signing.new_secret()
    app = dispatchbench.ReceiverApp(secret)
    body = json.dumps({"id": "e-1", "subject": "a-1", "type": "org.vigil.alert.opened"}).encode()

    async def go() -> tuple[int, int, dict[str, Any]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
            good = await client.post(
                "/push", content=body, headers=signing.headers(secret, "e-1", datetime.now(UTC), body)
            )
            forged = signing.headers(signing.new_secret(), "e-2", datetime.now(UTC), body)
            bad = await client.post("/push", content=body, headers=forged)
            records = (await client.get("/records")).json()
        return good.status_code, bad.status_code, records

    good, bad, records = asyncio.run(go())
    assert (good, bad) == (200, 401)
    ((_, webhook_id, event_id, subject, kind),) = records["pushes"]
    assert (webhook_id, event_id, subject, kind) == ("e-1", "e-1", "a-1", "org.vigil.alert.opened")
    assert len(records["bad"]) == 1


def test_cli_takes_one_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--workload", "dispatch", "--pairs", "10,20"]) == 2
    assert "one --pairs" in capsys.readouterr().err
