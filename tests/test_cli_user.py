"""`vigil user`: an account and its token from the command line, with a dispatcher's jurisdictions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.cli import main
from vigil.domain.model import Role
from vigil.store.accounts import lookup
from vigil.store.database import open_engine


def test_a_dispatcher_is_made_with_the_areas_given(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    monkeypatch.setenv("VIGIL_DATABASE_URL", url)
    assert main(["user", "Kim", "police_dispatcher", "--id", "d1", "--areas", "11,41135"]) == 0
    token = capsys.readouterr().out.split("token: ")[1].strip()
    db = open_engine(url)
    principal = lookup(db, token, datetime.now(UTC))
    db.dispose()
    assert principal is not None
    assert (principal.id, principal.role, principal.areas) == ("d1", Role.POLICE_DISPATCHER, ("11", "41135"))


@pytest.mark.parametrize("areas", ["seoul", "1", "11,x", "12345678901"])
def test_areas_that_are_not_code_prefixes_are_refused(tmp_path, monkeypatch, capsys, areas):
    monkeypatch.setenv("VIGIL_DATABASE_URL", f"sqlite:///{tmp_path / 'vigil.db'}")
    assert main(["user", "Kim", "police_dispatcher", "--areas", areas]) == 2
    assert "--areas" in capsys.readouterr().out


def test_an_existing_user_gets_the_new_role_and_the_old_tokens_stop_working(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    monkeypatch.setenv("VIGIL_DATABASE_URL", url)
    assert main(["user", "Kim", "operator", "--id", "kim"]) == 0
    old = capsys.readouterr().out.split("token: ")[1].strip()
    assert main(["user", "Kim", "auditor", "--id", "kim"]) == 0
    new = capsys.readouterr().out.split("token: ")[1].strip()
    db = open_engine(url)
    now = datetime.now(UTC)
    assert lookup(db, old, now) is None
    principal = lookup(db, new, now)
    db.dispose()
    assert principal is not None and principal.role is Role.AUDITOR
