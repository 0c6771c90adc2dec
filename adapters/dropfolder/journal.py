"""The drop folder's journal: what it has claimed, submitted, placed and acknowledged (SQLite).

The journal and the directories together are the daemon's state; each step changes the
journal *before or after* a file system step in an order that makes every crash point
recoverable (``source.py`` and ``sink.py`` spell out the orders). WAL with
``synchronous=FULL``: a commit is on disk when ``commit`` returns, so a kill -9 or a power cut
loses nothing that was committed.

Tables::

    outgoing   one row per file taken from outbox/ or status/ (and per automatic status 01):
               claim (its work directory), name, origin, state, package sha256, DocumentId,
               DocId, target name in sent/ or failed/, attempts and the next attempt's time
               states: claimed → built → submitted → sent
                                      ↘ refused  → failed          (and claimed → refused)
    incoming   one row per inbox delivery being placed in inbox/:
               states: placing (its tmp folder exists) → placed → acked
    packages   every document sent or received, kept for the statuses about it
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["InRow", "Journal", "OutRow", "PackageRow"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outgoing (
        claim TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        sha256 TEXT,
        kind TEXT,
        document_id TEXT,
        doc_id TEXT,
        duplicate INTEGER,
        target TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        claimed_at REAL NOT NULL,
        finished_at REAL)""",
    "CREATE INDEX IF NOT EXISTS outgoing_open ON outgoing (state) WHERE finished_at IS NULL",
    """CREATE TABLE IF NOT EXISTS incoming (
        delivery_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        folder TEXT NOT NULL,
        tmp TEXT NOT NULL,
        state TEXT NOT NULL,
        ready INTEGER NOT NULL DEFAULT 0,
        ack_ok INTEGER NOT NULL DEFAULT 1,
        ack_reason TEXT,
        document_id TEXT,
        package_path TEXT,
        auto_claim TEXT,
        started_at REAL NOT NULL,
        acked_at REAL)""",
    "CREATE INDEX IF NOT EXISTS incoming_doc ON incoming (doc_id)",
    """CREATE TABLE IF NOT EXISTS packages (
        doc_id TEXT NOT NULL,
        organ TEXT NOT NULL,
        role TEXT NOT NULL,
        document_id TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (doc_id, organ, role))""",
    "CREATE INDEX IF NOT EXISTS packages_document ON packages (document_id, role)",
)


@dataclass(frozen=True, slots=True)
class OutRow:
    claim: str
    name: str
    origin: str  # "outbox", "status", or "auto" (a status the daemon itself sends)
    state: str
    sha256: str | None
    kind: str | None
    document_id: str | None
    doc_id: str | None
    duplicate: bool | None
    target: str | None
    attempts: int
    next_attempt: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class InRow:
    delivery_id: str
    doc_id: str
    kind: str
    recipient: str
    folder: str
    tmp: str
    state: str
    ready: bool
    ack_ok: bool
    ack_reason: str | None
    document_id: str | None
    package_path: str | None
    auto_claim: str | None


@dataclass(frozen=True, slots=True)
class PackageRow:
    doc_id: str
    organ: str
    role: str  # "sent" or "received"
    document_id: str
    path: str


class Journal:
    """One SQLite file; every method is one transaction."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
            self._db.execute(f"PRAGMA {pragma}")
        with self._tx():
            for statement in _SCHEMA:
                self._db.execute(statement)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- outgoing -----------------------------------------------------------------------------
    def add_outgoing(
        self, claim: str, name: str, origin: str, state: str = "claimed", **fields: Any
    ) -> None:
        """Record a claim (a new work directory) before any file is moved into it."""
        row = {"claim": claim, "name": name, "origin": origin, "state": state, **fields}
        row["claimed_at"] = time.time()
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._tx() as db:
            db.execute(f"INSERT INTO outgoing ({names}) VALUES ({marks})", list(row.values()))  # noqa: S608

    def update_outgoing(self, claim: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE outgoing SET {sets} WHERE claim = ?", [*fields.values(), claim])  # noqa: S608

    def open_outgoing(self) -> list[OutRow]:
        """Every claim not finished yet, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM outgoing WHERE finished_at IS NULL ORDER BY claimed_at, claim"
        ).fetchall()
        return [_out(r) for r in rows]

    def get_outgoing(self, claim: str) -> OutRow | None:
        row = self._db.execute("SELECT * FROM outgoing WHERE claim = ?", (claim,)).fetchone()
        return _out(row) if row else None

    def reserved_targets(self) -> set[str]:
        """Names in sent/ and failed/ chosen by unfinished claims (not on disk yet)."""
        rows = self._db.execute(
            "SELECT target FROM outgoing WHERE finished_at IS NULL AND target IS NOT NULL"
        )
        return {r["target"] for r in rows}

    def finish_outgoing(self, claim: str, state: str) -> None:
        self.update_outgoing(claim, state=state, finished_at=time.time())

    def submitted(
        self, claim: str, doc_id: str, duplicate: bool, package: PackageRow | None
    ) -> None:
        """The gateway accepted the claim's package (and keep it for later statuses)."""
        with self._tx() as db:
            db.execute(
                "UPDATE outgoing SET state = 'submitted', doc_id = ?, duplicate = ?,"
                " last_error = NULL WHERE claim = ?",
                (doc_id, int(duplicate), claim),
            )
            if package is not None:
                _add_package(db, package)

    # -- incoming -----------------------------------------------------------------------------
    def get_incoming(self, delivery_id: str) -> InRow | None:
        row = self._db.execute(
            "SELECT * FROM incoming WHERE delivery_id = ?", (delivery_id,)
        ).fetchone()
        return _in(row) if row else None

    def folders_of(self, doc_id: str) -> set[str]:
        return {
            r["folder"]
            for r in self._db.execute("SELECT folder FROM incoming WHERE doc_id = ?", (doc_id,))
        }

    def start_placing(
        self, delivery_id: str, doc_id: str, kind: str, recipient: str, folder: str, tmp: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO incoming (delivery_id, doc_id, kind, recipient, folder, tmp, state,"
                " started_at) VALUES (?, ?, ?, ?, ?, ?, 'placing', ?)",
                (delivery_id, doc_id, kind, recipient, folder, tmp, time.time()),
            )

    def forget_incoming(self, delivery_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM incoming WHERE delivery_id = ?", (delivery_id,))

    def ready(
        self,
        delivery_id: str,
        *,
        ok: bool,
        reason: str | None,
        document_id: str | None,
        package_path: str | None,
        auto_claim: str | None,
    ) -> None:
        """Everything is written in the tmp folder: what to do once it is renamed into inbox/
        (acknowledge done or fail, keep the package, send the automatic status 01)."""
        with self._tx() as db:
            db.execute(
                "UPDATE incoming SET ready = 1, ack_ok = ?, ack_reason = ?, document_id = ?,"
                " package_path = ?, auto_claim = ? WHERE delivery_id = ?",
                (int(ok), reason, document_id, package_path, auto_claim, delivery_id),
            )

    def placed(self, row: InRow) -> None:
        """The folder is in inbox/ (the tmp folder is gone): in one transaction, mark it, keep
        the package for later statuses, and queue the automatic status (a claim already
        built)."""
        with self._tx() as db:
            db.execute(
                "UPDATE incoming SET state = 'placed' WHERE delivery_id = ?", (row.delivery_id,)
            )
            if row.package_path and row.kind == "edoc":
                package = PackageRow(
                    row.doc_id, row.recipient, "received", row.document_id or "", row.package_path
                )
                _add_package(db, package)
            if row.auto_claim:
                db.execute(
                    "INSERT OR IGNORE INTO outgoing (claim, name, origin, state, kind, claimed_at)"
                    " VALUES (?, ?, 'auto', 'built', 'status', ?)",
                    (row.auto_claim, f"01 {row.doc_id}", time.time()),
                )

    def acked(self, delivery_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE incoming SET state = 'acked', acked_at = ? WHERE delivery_id = ?",
                (time.time(), delivery_id),
            )

    def unfinished_incoming(self) -> list[InRow]:
        rows = self._db.execute(
            "SELECT * FROM incoming WHERE state IN ('placing', 'placed') ORDER BY started_at"
        ).fetchall()
        return [_in(r) for r in rows]

    def placing(self) -> list[InRow]:
        rows = self._db.execute("SELECT * FROM incoming WHERE state = 'placing'").fetchall()
        return [_in(r) for r in rows]

    # -- packages -------------------------------------------------------------------------------
    def packages(self, doc_id: str) -> list[PackageRow]:
        rows = self._db.execute(
            "SELECT * FROM packages WHERE doc_id = ? ORDER BY role, organ", (doc_id,)
        ).fetchall()
        return [PackageRow(**dict(r)) for r in rows]

    def doc_id_of(self, document_id: str, role: str) -> str | None:
        """The DocId of a document this drop folder sent or received, by its DocumentId."""
        row = self._db.execute(
            "SELECT doc_id FROM packages WHERE document_id = ? AND role = ?", (document_id, role)
        ).fetchone()
        return str(row["doc_id"]) if row else None


def _add_package(db: sqlite3.Connection, p: PackageRow) -> None:
    db.execute(
        "INSERT OR REPLACE INTO packages (doc_id, organ, role, document_id, path)"
        " VALUES (?, ?, ?, ?, ?)",
        (p.doc_id, p.organ, p.role, p.document_id, p.path),
    )


def _out(r: sqlite3.Row) -> OutRow:
    return OutRow(
        claim=r["claim"],
        name=r["name"],
        origin=r["origin"],
        state=r["state"],
        sha256=r["sha256"],
        kind=r["kind"],
        document_id=r["document_id"],
        doc_id=r["doc_id"],
        duplicate=None if r["duplicate"] is None else bool(r["duplicate"]),
        target=r["target"],
        attempts=int(r["attempts"]),
        next_attempt=float(r["next_attempt"]),
        last_error=r["last_error"],
    )


def _in(r: sqlite3.Row) -> InRow:
    return InRow(
        delivery_id=r["delivery_id"],
        doc_id=r["doc_id"],
        kind=r["kind"],
        recipient=r["recipient"],
        folder=r["folder"],
        tmp=r["tmp"],
        state=r["state"],
        ready=bool(r["ready"]),
        ack_ok=bool(r["ack_ok"]),
        ack_reason=r["ack_reason"],
        document_id=r["document_id"],
        package_path=r["package_path"],
        auto_claim=r["auto_claim"],
    )
