"""The embedded SQLite backend (the default): one writer connection, one reader, WAL, FULL sync.

Durability ("accepted means durable", architecture §3.1): WAL with ``synchronous=FULL`` syncs
the WAL on every commit; with NORMAL a power cut can lose the last commits, which would be
packages whose sender already holds a DocId. Writes are serialised by an ``asyncio.Lock``
around the one writer connection and open with ``BEGIN IMMEDIATE``, so a second process on the
same file (a CLI, a second gateway by mistake) waits up to ``busy_timeout`` at BEGIN instead of
failing mid-transaction. Reads use their own connection and see the last commit (WAL).

The database holds system secrets (``System.secret``): a new file is created with mode 0600,
and its directory should be private to the gateway's user too.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import aiosqlite

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

__all__ = ["SQLITE", "SqliteStore"]

SQLITE = Dialect(
    name="sqlite",
    for_update="",
    skip_locked="",
    migration_lock=None,
    schema_migrations_ddl=(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY,"
        " name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
    ),
)

_MIN_VERSION = (3, 37, 0)  # STRICT tables
_PARAM = re.compile(r"\$(\d+)")
_TS_SUFFIXES = ("_at", "_until")


@lru_cache(maxsize=256)
def _sql(sql: str) -> str:
    # The shared queries use PostgreSQL's $n; SQLite's ?n binds the same positional list.
    return _PARAM.sub(r"?\1", sql)


def _arg(value: Any) -> Any:
    if isinstance(value, datetime):
        return _codec.to_text(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return json.dumps(list(value))  # read back with json_each (Dialect.in_list)
    return value


def _decode(row: sqlite3.Row) -> Row:
    # Timestamps are stored as text; by schema convention their columns are named at, *_at or
    # *_until, so they are turned back into aware datetimes here and nowhere else.
    out: Row = {}
    for name, value in zip(row.keys(), tuple(row), strict=True):
        if isinstance(value, str) and (name == "at" or name.endswith(_TS_SUFFIXES)):
            value = _codec.from_text(value)
        out[name] = value
    return out


def _translate(exc: Exception) -> StoreError:
    """The one place where sqlite3/aiosqlite errors become store errors."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return StoreConflict(message)
        return StoreInvalid(message)  # check, not null, foreign key, datatype, trigger
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreBusy(message)
    if name.startswith(
        ("SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")
    ):
        return StoreUnavailable(message)
    if isinstance(exc, ValueError):  # aiosqlite: "Connection closed" / "no active connection"
        return StoreUnavailable(message)
    if isinstance(exc, sqlite3.DataError | OverflowError):
        return StoreInvalid(message)
    return StoreError(message)


_DRIVER_ERRORS = (sqlite3.Error, OverflowError)


class _Tx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._conn.execute(_sql(sql), [_arg(a) for a in args])
        return max(cursor.rowcount, 0)

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        rows = [[_arg(a) for a in row] for row in args]
        if rows:
            await self._conn.executemany(_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = await self._conn.execute_fetchall(_sql(sql), [_arg(a) for a in args])
        return [_decode(r) for r in rows]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


class _Database:
    dialect = SQLITE

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection | None) -> None:
        self._writer = writer
        self._reader = reader  # None for ":memory:", where only one connection sees the data
        self._lock = asyncio.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Tx]:
        async with self._lock:
            self._check_open()
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            try:
                yield _Tx(conn)
            except BaseException as exc:
                await _rollback(conn)
                if isinstance(exc, _DRIVER_ERRORS):
                    raise _translate(exc) from exc
                raise
            try:
                await conn.execute("COMMIT")
            except _DRIVER_ERRORS as exc:
                await _rollback(conn)
                raise _translate(exc) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Tx]:
        if self._reader is None:
            async with self.write() as tx:
                yield tx
            return
        self._check_open()
        try:
            yield _Tx(self._reader)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def ping(self) -> None:
        async with self.read() as tx:
            await tx.fetch("SELECT 1 AS ok")

    async def close(self) -> None:
        if self._closed:
            return
        async with self._lock:  # let a running write transaction finish first
            self._closed = True
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except (*_DRIVER_ERRORS, ValueError):
        pass  # SQLite already rolled back (e.g. SQLITE_FULL) or the connection is gone


class SqliteStore(SqlStore):
    """``Store`` on one SQLite file; open it with :meth:`open`."""

    @classmethod
    async def open(
        cls, path: str, *, clock: Clock | None = None, busy_timeout_ms: int = 5000
    ) -> SqliteStore:
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            raise StoreUnavailable(f"SQLite {sqlite3.sqlite_version} is too old; need 3.37+")
        memory = path == ":memory:"
        if not memory:
            _create_private(path)
        opened: list[aiosqlite.Connection] = []
        try:
            writer = await _connect(path, opened)
            mode = await _pragma(writer, "journal_mode=WAL")
            if not memory and str(mode).lower() != "wal":
                raise StoreUnavailable(f"{path}: WAL journal mode unavailable (got {mode})")
            for pragma in ("synchronous=FULL", f"busy_timeout={int(busy_timeout_ms)}",
                           "foreign_keys=ON"):  # fmt: skip
                await _pragma(writer, pragma)
            reader = None
            if not memory:
                reader = await _connect(path, opened)
                for pragma in (f"busy_timeout={int(busy_timeout_ms)}", "query_only=ON"):
                    await _pragma(reader, pragma)
        except BaseException as exc:
            for conn in opened:
                await conn.close()
            if isinstance(exc, _DRIVER_ERRORS):
                raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
            raise
        return cls(_Database(writer, reader), clock)


async def _connect(path: str, opened: list[aiosqlite.Connection]) -> aiosqlite.Connection:
    # isolation_level=None: no implicit transactions; _Database issues BEGIN/COMMIT itself.
    conn = await aiosqlite.connect(path, isolation_level=None)
    opened.append(conn)
    conn.row_factory = sqlite3.Row
    return conn


async def _pragma(conn: aiosqlite.Connection, pragma: str) -> Any:
    rows = list(await conn.execute_fetchall(f"PRAGMA {pragma}"))
    return rows[0][0] if rows else None


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only, if it does not exist yet."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot create {path}: {exc}") from exc
    os.close(fd)
