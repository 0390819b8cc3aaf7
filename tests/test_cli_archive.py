"""`vigil export` and `vigil import` as an operator types them: the purpose asked for, the figures
printed, the key and anchors placed, and a refusal said in one line with exit code 1."""

from __future__ import annotations

import os

from vigil.cli import main


def test_export_then_import_from_the_command_line(tmp_path, monkeypatch, capsys):
    source = f"sqlite:///{tmp_path / 'old' / 'vigil.db'}"
    monkeypatch.setenv("VIGIL_DATABASE_URL", source)
    assert main(["user", "Kim", "operator", "--id", "kim"]) == 0
    assert main(["export", str(tmp_path / "archive")]) == 2
    assert "--purpose" in capsys.readouterr().err
    assert (
        main(["export", str(tmp_path / "archive"), "--purpose", "audit_review", "--reason", "new contractor"])
        == 0
    )
    assert "SHA-256 of manifest.json" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "archive"), "--purpose", "audit_review", "--reason", "again"]) == 1
    assert "not empty" in capsys.readouterr().err

    monkeypatch.setenv("VIGIL_DATABASE_URL", f"sqlite:///{tmp_path / 'new' / 'vigil.db'}")
    assert main(["import", str(tmp_path / "archive")]) == 1
    assert "--audit-key-file" in capsys.readouterr().err
    key = tmp_path / "old" / "vigil.db.audit.key"
    assert main(["import", str(tmp_path / "archive"), "--audit-key-file", str(key)]) == 0
    said = capsys.readouterr().out
    assert "audit chain verified: 2 entries" in said and "vigil.db.audit.key (mode 0600)" in said
    installed = tmp_path / "new" / "vigil.db.audit.key"
    assert installed.read_bytes().strip() == key.read_bytes().strip()
    assert os.stat(installed).st_mode & 0o077 == 0
    assert main(["audit", "verify"]) == 0
    # the account and the export carried over (not the refused export), and the import
    assert "intact: 3 entries" in capsys.readouterr().out
