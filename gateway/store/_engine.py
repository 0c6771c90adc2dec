"""The narrow seam the SQL code runs on, and the backend-neutral base: migrations and the trace.

Both backends share one implementation of the ``Store`` queries, written in PostgreSQL's
``$1`` parameter style; the SQLite ``Tx`` rewrites ``$n`` to ``?n``. What differs per dialect
is small and named in :class:`Dialect` (row locks, ``= ANY``, the migration lock), so a
reviewer reads one query per method, and the contract tests exercise it on both databases.
"""

# S608: queries are assembled only from this package's column lists and Dialect fragments;
# values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from gateway.store import _codec, chain
from gateway.store.base import TraceEvent, TraceRow, VerifyResult
from gateway.store.errors import SchemaTooNew, StoreError
from gateway.store.migrations import MIGRATIONS

__all__ = ["Clock", "Database", "Dialect", "Row", "SqlBase", "Tx", "settle"]

Row = dict[str, Any]
Clock = Callable[[], datetime]

# Rows per round trip when walking the whole trace (bounded memory, architecture §3.5).
_VERIFY_BATCH = 1000
# Columns bound per trace entry, and entries per INSERT (SQLite binds at most 32766
# parameters, PostgreSQL 65535).
_TRACE_WIDTH = 9
_TRACE_CHUNK = 500


@lru_cache(maxsize=64)
def _insert_trace_sql(count: int) -> str:
    """``INSERT INTO trace_events`` of ``count`` entries, in one statement."""
    values = ", ".join(
        "(" + ", ".join(f"${i * _TRACE_WIDTH + j}" for j in range(1, _TRACE_WIDTH + 1)) + ")"
        for i in range(count)
    )
    return (
        "INSERT INTO trace_events (seq, doc_id, node, stage, outcome, detail, at, prev_hash,"
        f" hash) VALUES {values}"
    )


class Tx(Protocol):
    """One connection inside one transaction (write) or in autocommit reads (read)."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    def known_head(self) -> tuple[int, str] | None:
        """The trace head (seq, hash) as this transaction last left it, if the backend keeps
        it (SQLite's group commit); None: read it from ``trace_head``."""
        ...

    def keep_head(self, seq: int, hash_: str) -> None:
        """Remember the head this transaction just wrote (see :meth:`known_head`)."""
        ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few SQL fragments that differ between SQLite and PostgreSQL."""

    name: Literal["sqlite", "postgres"]
    # Appended to a SELECT whose rows the transaction will update. SQLite needs none: its
    # single writer (BEGIN IMMEDIATE) already excludes every other writer.
    for_update: str
    # Appended to the outbox claim, so two relays on one PostgreSQL never wait for or take
    # each other's rows.
    skip_locked: str
    # Run first in the migration transaction so two processes never migrate at once.
    migration_lock: str | None
    schema_migrations_ddl: str
    # An INSERT may run inside WITH (PostgreSQL): the trace append then moves the head in the
    # same statement, one round trip less while it holds the head's row lock.
    writable_cte: bool = False

    def in_list(self, placeholder: str) -> str:
        """``col`` + this tests membership in the list passed as ``placeholder`` (``$n``)."""
        if self.name == "postgres":
            return f"= ANY({placeholder})"
        # The SQLite Tx passes a list parameter as JSON text.
        return f"IN (SELECT value FROM json_each({placeholder}))"


class Database(Protocol):
    """What a backend provides: transactions, reads, a ping and a close."""

    dialect: Dialect

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that commits on normal exit and rolls back on any exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[Tx]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Answer a group commit's caller: its result (``ok``) or its exception."""
    if future.done():
        return  # the caller went away; the write committed (or not) all the same
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _system_clock() -> datetime:
    return datetime.now(UTC)


class SqlBase:
    """The clock, the database seam, migrations and the hash-chained trace log."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._d = db.dialect
        self._clock = clock or _system_clock

    def _now(self) -> datetime:
        return _codec.utc(self._clock())

    # -- lifetime --------------------------------------------------------------------------
    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._db.write() as tx:
            if self._d.migration_lock:
                await tx.execute(self._d.migration_lock)
            await tx.execute(self._d.schema_migrations_ddl)
            done = {r["version"] for r in await tx.fetch("SELECT version FROM schema_migrations")}
            unknown = sorted(done - {m.version for m in MIGRATIONS})
            if unknown:
                raise SchemaTooNew(
                    f"the database has schema versions {unknown} that this release does not"
                    f" know (it knows up to {MIGRATIONS[-1].version}): upgrade this node, do"
                    " not run an older release on a newer database"
                    " / cơ sở dữ liệu đã được nâng cấp bởi phiên bản mới hơn: hãy nâng cấp"
                    " nút này"
                )
            for m in MIGRATIONS:
                if m.version in done:
                    continue
                for statement in m.sqlite if self._d.name == "sqlite" else m.postgres:
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    self._now(),
                )
                applied.append(m.version)
        return applied

    async def health(self) -> bool:
        try:
            await self._db.ping()
        except StoreError:
            return False
        return True

    async def close(self) -> None:
        await self._db.close()

    # -- trace -----------------------------------------------------------------------------
    async def _append(
        self, tx: Tx, events: Sequence[TraceEvent], rows: list[TraceRow] | None = None
    ) -> None:
        """Append to the chain inside ``tx``; callers do this LAST, to hold the head briefly.

        The head row is read with a row lock (PostgreSQL) or under the single writer (SQLite),
        so concurrent appenders queue up here and seq stays gapless and linear. A transaction
        that already moved the head (SQLite's group commit: one transaction, many writes)
        remembers where it left it instead of reading it again. ``rows``, if given, receives
        the appended entries (append_trace); other callers need none, and an event serialised
        ahead (TraceEvent.detail_json) is then written as it is.
        """
        if not events:
            return
        head = tx.known_head()
        if head is None:
            found = await tx.fetchrow(
                "SELECT seq, hash FROM trace_head WHERE id = 1" + self._d.for_update
            )
            if found is None:
                raise StoreError("trace_head is missing: the schema is damaged")
            head = int(found["seq"]), str(found["hash"])
        seq, prev = head
        now = self._now()
        values: list[Any] = []
        for ev in events:
            seq += 1
            at = _codec.utc(ev.at) if ev.at is not None else now
            text = ev.detail_json
            if text is None or rows is not None:
                detail = _codec.json_value(ev.detail)
                text = _codec.canonical(detail)
            digest = chain.text_hash(
                seq, ev.doc_id, ev.node, ev.stage, ev.outcome, text, _codec.to_text(at), prev
            )
            values += (seq, ev.doc_id, ev.node, ev.stage, ev.outcome, text, at, prev, digest)
            if rows is not None:
                rows.append(
                    TraceRow(
                        seq=seq,
                        doc_id=ev.doc_id,
                        node=ev.node,
                        stage=ev.stage,
                        outcome=ev.outcome,
                        detail=detail,
                        at=at,
                        prev_hash=prev,
                        hash=digest,
                    )
                )
            prev = digest
        # One statement for many entries (a package's stages come five at a time): on SQLite
        # each statement is a step the writer thread takes and a GIL hand-over.
        step = _TRACE_WIDTH * _TRACE_CHUNK
        chunks = [values[i : i + step] for i in range(0, len(values), step)]
        for chunk in chunks[:-1]:
            await tx.execute(_insert_trace_sql(len(chunk) // _TRACE_WIDTH), *chunk)
        last = chunks[-1]
        insert = _insert_trace_sql(len(last) // _TRACE_WIDTH)
        if self._d.writable_cte:
            # PostgreSQL holds trace_head's row lock from the SELECT above to COMMIT, and every
            # write of every node waits for it: a round trip less here is a higher ceiling for
            # the whole hub.
            n = len(last)
            await tx.execute(
                f"WITH entries AS ({insert})"
                f" UPDATE trace_head SET seq = ${n + 1}, hash = ${n + 2} WHERE id = 1",
                *last, seq, prev,
            )  # fmt: skip
        else:
            await tx.execute(insert, *last)
            await tx.execute("UPDATE trace_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev)
        tx.keep_head(seq, prev)

    async def append_trace(self, events: Sequence[TraceEvent]) -> list[TraceRow]:
        rows: list[TraceRow] = []
        async with self._db.write() as tx:
            await self._append(tx, events, rows)
        return rows

    async def trace_for(self, doc_id: str) -> list[TraceRow]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT * FROM trace_events WHERE doc_id = $1 ORDER BY seq", doc_id
            )
        return [_trace_row(r) for r in rows]

    async def verify_trace(
        self, start: int | None = None, *, limit: int | None = None
    ) -> VerifyResult:
        if limit is not None and limit < 1:
            raise ValueError("verify_trace: limit must be at least 1")
        async with self._db.read() as tx:
            # The head first: entries appended while we walk lie beyond it and are not judged.
            head = await tx.fetchrow("SELECT seq, hash FROM trace_head WHERE id = 1")
            if head is None:
                return VerifyResult(ok=False, checked=0, reason="trace_head is missing")
            head_seq, head_hash = int(head["seq"]), str(head["hash"])
            # Entries up to archived_seq may have left for signed archive files (retention,
            # migration 3): the live chain starts after them and continues the last archived
            # hash. The archives and that head are checked by gateway/ops/archives.py.
            archived = await tx.fetchrow(
                "SELECT archived_seq, archived_hash FROM retention_head WHERE id = 1"
            )
            archived_seq = int(archived["archived_seq"]) if archived else 0
            expected = max(start or 1, archived_seq + 1)
            if expected > head_seq:
                return VerifyResult(ok=True, checked=0)
            prev = chain.GENESIS
            if archived is not None and expected == archived_seq + 1:
                prev = str(archived["archived_hash"])
            elif expected > 1:
                before = await tx.fetchrow(
                    "SELECT hash FROM trace_events WHERE seq = $1", expected - 1
                )
                if before is None:
                    return _broken(0, expected - 1, "entry is missing")
                prev = str(before["hash"])
            checked = 0
            while expected <= head_seq:
                if limit is not None and checked >= limit:
                    # The caller continues from resume_at, in a read of its own.
                    return VerifyResult(
                        ok=True, checked=checked, resume_at=expected, last_seq=expected - 1
                    )
                batch = await tx.fetch(
                    "SELECT * FROM trace_events WHERE seq >= $1 AND seq <= $2"
                    " ORDER BY seq LIMIT $3",
                    expected,
                    head_seq,
                    _VERIFY_BATCH if limit is None else min(_VERIFY_BATCH, limit - checked),
                )
                if not batch:
                    return _broken(checked, expected, "entry is missing (deleted?)")
                for raw in batch:
                    row = _trace_row(raw)
                    if row.seq != expected:
                        return _broken(checked, expected, "entry is missing (deleted?)")
                    if row.prev_hash != prev:
                        return _broken(
                            checked, row.seq, "prev_hash does not match the entry before"
                        )
                    digest = chain.entry_hash(
                        row.seq,
                        row.doc_id,
                        row.node,
                        row.stage,
                        row.outcome,
                        row.detail,
                        row.at,
                        row.prev_hash,
                    )
                    checked += 1
                    if digest != row.hash:
                        return _broken(checked, row.seq, "hash mismatch: the entry was altered")
                    prev = row.hash
                    expected += 1
            if prev != head_hash:
                return _broken(checked, head_seq, "trace_head does not match the last entry")
        return VerifyResult(ok=True, checked=checked, last_seq=head_seq if checked else None)


def _broken(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_broken_seq=seq, reason=reason)


def _trace_row(r: Row) -> TraceRow:
    return TraceRow(
        seq=int(r["seq"]),
        doc_id=r["doc_id"],
        node=r["node"],
        stage=r["stage"],
        outcome=r["outcome"],
        detail=_codec.loads(r["detail"]),
        at=_codec.utc(r["at"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )
