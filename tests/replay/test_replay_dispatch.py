"""`vigil replay` with a dispatch target configured: every alert it raises is pushed (signed, valid
against the schemas) and the replay waits for the outbox to drain, reporting anything undelivered."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.receiver import Receiver
from dispatch.schemas import validate_cap, validate_cloudevent, validate_eido
from vigil.dispatch.signing import new_secret
from vigil.replay import EXIT_OK, EXIT_UNDELIVERED, Dispatch, main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PATH = "/112"


def _validate(event: dict) -> None:
    validate_cloudevent(event)
    validate_cap(event["data"]["cap"])
    validate_eido(event["data"]["eido"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver({PATH: new_secret()}, _validate)
    found.up()
    try:
        yield found
    finally:
        found.down()


def run(name: str, dispatch: Dispatch | None) -> tuple[int, list[dict], list[dict]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(SCENARIOS / name, out, err, dispatch)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, lines, [json.loads(line) for line in err.getvalue().splitlines()]


def test_replay_pushes_every_alert_and_drains(receiver: Receiver) -> None:
    code, pushed_lines, err = run("namyangju.json", Dispatch(receiver.url + PATH, receiver.secrets[PATH], 10))
    assert code == EXIT_OK, err
    _, plain_lines, _ = run("namyangju.json", None)
    assert pushed_lines == plain_lines  # pushing changes nothing in the replay's own output
    summary = err[-1]["dispatch"]
    events = receiver.events(PATH)
    assert summary["undelivered"] == 0 and summary["pushed"] == len(events) > 0
    assert receiver.problems == []
    opened = {line["alert"] for line in plain_lines if line["change"] == "opened"}
    assert {e["subject"] for e in events} <= opened
    assert all(e["time"].startswith("2026-") for e in events)  # the scenario's own (virtual) time


def test_replay_reports_what_it_could_not_deliver(receiver: Receiver) -> None:
    receiver.down()
    code, _, err = run("namyangju.json", Dispatch(receiver.url + PATH, receiver.secrets[PATH], 1.0))
    assert code == EXIT_UNDELIVERED
    left = [line for line in err if "undelivered" in line and "error" in line]
    assert left and all(line["error"] for line in left)
    assert any("ConnectError" in line["error"] for line in left)
    assert err[-1]["dispatch"]["undelivered"] == len(left)


def test_the_command_pushes_when_the_environment_names_a_target(receiver: Receiver) -> None:
    env = {
        **os.environ,
        "VIGIL_DISPATCH_URL": receiver.url + PATH,
        "VIGIL_DISPATCH_SECRET": receiver.secrets[PATH],
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "replay",
            str(SCENARIOS / "tamper_no_fix.json"),
            "--timeout",
            "10",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1])["dispatch"]["undelivered"] == 0
    assert len(receiver.events(PATH)) >= 1 and receiver.problems == []
