"""The edxgw command against a real SQLite store: migrate, directory, trace."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from gateway.cli import main


def run(tmp_path: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    env = {"EDXGW_STORE_DSN": f"sqlite:///{tmp_path}/var/edxgw.db", "EDXGW_NODE": "test-node"}
    return main(list(argv), env, out), out.getvalue()


def test_migrate_then_directory_lifecycle(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate")[0] == 0
    code, out = run(tmp_path, "directory", "import")
    assert code == 0 and "imported" in out
    code, out = run(tmp_path, "directory", "list", "--parent", "000.00.31.H53")
    assert code == 0
    assert "000.21.31.H53" in out and "000.20.31.H53" in out and "000.00.00.G22" not in out
    assert run(tmp_path, "directory", "lock", "000.21.31.H53", "--reason", "kiểm tra")[0] == 0
    code, out = run(tmp_path, "directory", "list", "--state", "locked")
    assert out.strip().startswith("000.21.31.H53")
    code, out = run(tmp_path, "directory", "merge", "000.21.31.H53", "--into", "000.99.31.H53")
    assert code == 1 and "unknown successor" in out
    code, out = run(tmp_path, "directory", "merge", "000.21.31.H53", "--into", "000.20.31.H53")
    assert code == 0 and "-> 000.20.31.H53" in out
    code, out = run(tmp_path, "directory", "alias", "H53.31.21", "000.21.31.H53")
    assert code == 0
    code, out = run(tmp_path, "directory", "list", "--state", "merged")
    assert "aliases=" in out and "H53.31.21" in out


def test_trace_verify_detects_tampering(tmp_path: Path) -> None:
    run(tmp_path, "directory", "import")
    run(tmp_path, "directory", "lock", "000.21.31.H53")
    code, out = run(tmp_path, "trace", "verify")
    assert code == 0 and "OK" in out
    db = sqlite3.connect(tmp_path / "var" / "edxgw.db")
    try:
        seqs = [r[0] for r in db.execute("SELECT seq FROM trace_events ORDER BY seq")]
        assert len(seqs) >= 2  # the import and the lock are both traced
        db.execute("DROP TRIGGER IF EXISTS trace_events_no_update")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        db.execute("UPDATE trace_events SET outcome = 'forged' WHERE seq = ?", (seqs[-1],))
        db.commit()
    finally:
        db.close()
    code, out = run(tmp_path, "trace", "verify")
    assert code == 1 and f"seq {seqs[-1]}" in out


def test_trace_of_unknown_document_and_bad_config(tmp_path: Path) -> None:
    code, out = run(tmp_path, "trace", "no-such-doc")
    assert code == 1 and "no trace" in out
    out_io = io.StringIO()
    assert main(["migrate"], {"EDXGW_STORE_DSN": "mysql://x"}, out_io) == 2
    assert "store_dsn" in out_io.getvalue()
