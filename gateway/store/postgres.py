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

Lock order is always: domain rows first, ``trace_head`` last (appends are the last statement of
every transaction), so these locks cannot deadlock each other.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gateway.store import _codec
from gateway.store._engine import Clock, Dialect, Row
from gateway.store._sql import SqlStore
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


class _Tx:
    def __init__(self, conn: PoolConnectionProxy[Any]) -> None:
        self._conn = conn

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
        return None  # each transaction locks and reads the head itself (FOR UPDATE)

    def keep_head(self, seq: int, hash_: str) -> None:
        return None


class _Database:
    dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self._pool = pool
        self._timeout = acquire_timeout
        self._closed = False

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Tx]:
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
            await self._pool.close()


class PostgresStore(SqlStore):
    """``Store`` on a PostgreSQL database; open it with :meth:`open`."""

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
