"""The PostgreSQL backend: an asyncpg pool, READ COMMITTED, row locks where the SQL reads to write.

Several gateway processes may share one database. What keeps them correct:

- the outbox claim uses ``FOR UPDATE SKIP LOCKED`` plus a lease (``claimed_until``), so two
  relays never publish the same row at once and a crashed relay's rows come back after the
  lease;
- every trace append locks the single ``trace_head`` row, so the hash chain stays linear;
- lifecycle and progress updates lock the row they read (``SELECT ... FOR UPDATE``);
- accept relies on ``INSERT ... ON CONFLICT (dedup_key) DO NOTHING``, which waits for a
  concurrent insert of the same key and then reports the conflict;
- ``migrate()`` takes a transaction-scoped advisory lock.

A node that stalls inside a transaction (a paused VM, a SIGSTOP, a wedged event loop) would
hold its locks, ``trace_head`` among them, and stall every other node with it: the sessions
run with ``idle_in_transaction_session_timeout`` (10 s unless the DSN sets it), so PostgreSQL
ends such a session, rolls its transaction back and lets the others go on.

Group commit: the store's write methods (:data:`WRITES`) queue for the node's writer task,
which runs every write waiting at that moment in ONE transaction and answers them once its
COMMIT is durable. Every write appends to the trace, so every write transaction holds the
``trace_head`` row lock to its COMMIT and its WAL flush: one at a time per database, whatever
the number of connections. Batched, a node takes that lock and pays that flush once per batch
instead of once per write. Writes seldom fail, so a batch has no savepoints (two round trips
a write): when one write fails, the batch's transaction rolls back, that write gets its error
(it saw the writes before it, as it would have one by one), and the others run again in a new
transaction. A store write is only SQL and the clock, so running it again is safe.

Lock order: a batch takes ``trace_head`` FIRST (before any write of it runs), then the domain
rows its writes lock; a transaction outside a batch (``migrate``, a test's own) takes its
domain rows first and ``trace_head`` last (appends are the last statement of every write). A
batch therefore never waits for a domain row while a node's other batch waits for it on
``trace_head``: batches of all nodes queue on ``trace_head`` and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gateway.store import _codec
from gateway.store._engine import Clock, Dialect, Row, settle
from gateway.store._sql import WRITES, SqlStore
from gateway.store.errors import (
    StoreBusy,
    StoreConflict,
    StoreError,
    StoreInvalid,
    StoreUnavailable,
)

__all__ = ["POSTGRES", "PostgresStore"]

# pg_advisory_xact_lock key for migrations: "edxm" in ASCII.
_MIGRATION_LOCK_KEY = 0x6564786D

POSTGRES = Dialect(
    name="postgres",
    for_update=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    migration_lock=f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})",
    schema_migrations_ddl=(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at timestamptz NOT NULL)"
    ),
    writable_cte=True,
)

#: Server setting for every session (overridable in the DSN's query, like ``search_path``).
IDLE_IN_TRANSACTION = "idle_in_transaction_session_timeout"

_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

T = TypeVar("T")
_Pending = tuple[Callable[[], Coroutine[Any, Any, Any]], "asyncio.Future[Any]"]
_MAX_BATCH = 256  # writes per group commit


def _translate(exc: BaseException) -> StoreError:
    """The one place where asyncpg errors become store errors; most specific first."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, asyncpg.UniqueViolationError):
        return StoreConflict(message)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return StoreInvalid(message)  # check, not null, foreign key; bad values (class 22)
    if isinstance(exc, asyncpg.RaiseError):
        return StoreInvalid(message)  # our triggers (trace_events is append-only)
    if isinstance(
        exc,
        asyncpg.TransactionRollbackError  # serialization failure, deadlock
        | asyncpg.LockNotAvailableError
        | asyncpg.QueryCanceledError
        | TimeoutError,
    ):
        return StoreBusy(message)
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.IdleInTransactionSessionTimeoutError  # the session was ended (stalled)
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.InsufficientResourcesError  # disk full, too many connections
        | OSError,
    ):
        return StoreUnavailable(message)
    if isinstance(exc, asyncpg.InterfaceError):
        if isinstance(exc, ValueError):  # asyncpg's client-side DataError: a bad argument
            return StoreInvalid(message)
        if "closed" in message or "closing" in message:
            return StoreUnavailable(message)
    return StoreError(message)


def _arg(value: Any) -> Any:
    if isinstance(value, datetime):
        return _codec.utc(value)  # asyncpg would take a naive one as UTC without a word
    if isinstance(value, enum.Enum):
        return value.value
    return value


class _Batch:
    """One group commit: its connection, inside its transaction, and the trace head as the last
    of its writes left it (the batch holds trace_head's row lock from its start to COMMIT)."""

    __slots__ = ("conn", "head")

    def __init__(self, conn: PoolConnectionProxy[Any], head: tuple[int, str]) -> None:
        self.conn = conn
        self.head = head


#: The group commit the current task is running writes of (the writer task only).
_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("_batch", default=None)


class _Tx:
    def __init__(self, conn: PoolConnectionProxy[Any], batch: _Batch | None = None) -> None:
        self._conn = conn
        self._batch = batch

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(sql, *(_arg(a) for a in args))
        # The command tag: "UPDATE 3", "INSERT 0 1", "CREATE TABLE".
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(_arg(a) for a in row) for row in args]
        if rows:
            await self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *(_arg(a) for a in args))]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *(_arg(a) for a in args))
        return None if row is None else dict(row)

    def known_head(self) -> tuple[int, str] | None:
        # Outside a group commit each transaction locks and reads the head itself (FOR UPDATE).
        return None if self._batch is None else self._batch.head

    def keep_head(self, seq: int, hash_: str) -> None:
        if self._batch is not None:
            self._batch.head = (seq, hash_)


class _Database:
    dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self._pool = pool
        self._timeout = acquire_timeout
        self._closed = False
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    def in_batch(self) -> bool:
        return _batch.get() is not None

    # -- group commit ----------------------------------------------------------------------
    async def run(self, write: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a store write (``write()`` makes its coroutine; it may be called again, see the
        module's docstring) in the writer task's next group commit; its result once durable.

        A caller that goes away (cancelled) does not take its write with it: the write commits
        (or not) with its batch all the same, as on SQLite."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="postgres-writer")
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:_MAX_BATCH]
                del self._pending[:_MAX_BATCH]
                await self._commit_batch(batch)
        finally:
            self._writer = None
            # Cancelled (the loop is closing): nobody will run what still waits.
            for _, future in self._pending:
                settle(future, False, StoreUnavailable("the store is closed"))
            self._pending.clear()

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        """Every write of ``batch`` in ONE transaction; nobody hears "done" before the COMMIT.
        A write that fails gets its error and the others run again without it; if the
        transaction itself fails (the connection, the COMMIT), every write gets that error."""
        while batch:
            try:
                results = await self._attempt(batch)
            except _WriteFailed as failed:  # rolled back: that write's answer, then the others
                settle(batch[failed.index][1], False, failed.error)
                del batch[failed.index]
                continue
            except BaseException as exc:
                error: BaseException = exc
                if isinstance(exc, _DRIVER_ERRORS):
                    error = _translate(exc)
                elif isinstance(exc, asyncio.CancelledError):
                    error = StoreUnavailable("the store is closing: the write was rolled back")
                for _, future in batch:
                    settle(future, False, error)
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, future), result in zip(batch, results, strict=True):
                settle(future, True, result)
            return

    async def _attempt(self, batch: list[_Pending]) -> list[Any]:
        async with self._pool.acquire(timeout=self._timeout) as conn, conn.transaction():
            found = await conn.fetchrow("SELECT seq, hash FROM trace_head WHERE id = 1 FOR UPDATE")
            if found is None:
                raise StoreError("trace_head is missing: the schema is damaged")
            token = _batch.set(_Batch(conn, (int(found["seq"]), str(found["hash"]))))
            try:
                results = []
                for index, (write, _) in enumerate(batch):
                    try:
                        results.append(await write())
                    except Exception as exc:  # that write's own answer; the batch rolls back
                        raise _WriteFailed(index, exc) from exc
                return results
            finally:
                _batch.reset(token)

    # -- transactions ----------------------------------------------------------------------
    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Tx]:
        batch = _batch.get()
        if batch is not None:
            # A write of the writer task's group commit, inside its transaction (close() lets
            # it finish); if it fails, the writer rolls that transaction back (_commit_batch).
            try:
                yield _Tx(batch.conn, batch)
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            return
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                yield _Tx(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Tx]:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield _Tx(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def ping(self) -> None:
        async with self.read() as tx:
            await tx.fetch("SELECT 1 AS ok")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._writer is not None:  # what is queued already still commits
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writer)
            await self._pool.close()


class _WriteFailed(Exception):
    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def _batched(name: str) -> Callable[..., Any]:
    base = getattr(SqlStore, name)

    @functools.wraps(base)
    async def method(self: PostgresStore, *args: Any, **kwargs: Any) -> Any:
        if self._db.in_batch():  # called from another store write: already in the batch
            return await base(self, *args, **kwargs)
        return await self._db.run(functools.partial(base, self, *args, **kwargs))

    return method


class PostgresStore(SqlStore):
    """``Store`` on a PostgreSQL database; open it with :meth:`open`."""

    _db: _Database

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        clock: Clock | None = None,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = 10.0,
        idle_transaction_timeout: float = 10.0,
    ) -> PostgresStore:
        """``idle_transaction_timeout``: seconds a session may sit idle inside a transaction
        before PostgreSQL ends it (module docstring); the DSN's own setting wins."""
        settings = {}
        if IDLE_IN_TRANSACTION not in parse_qs(urlsplit(dsn).query):
            settings[IDLE_IN_TRANSACTION] = str(max(int(idle_transaction_timeout * 1000), 1))
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, server_settings=settings
            )
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(_Database(pool, acquire_timeout), clock)


# migrate() runs alone: it creates trace_head, which a batch locks first.
for _name in sorted(WRITES - {"migrate"}):
    setattr(PostgresStore, _name, _batched(_name))
