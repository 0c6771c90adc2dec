"""The embedded SQLite backend (the default): one writer connection, two readers, WAL, FULL sync.

Durability ("accepted means durable", architecture §3.1): WAL with ``synchronous=FULL`` syncs
the WAL on every commit; with NORMAL a power cut can lose the last commits, which would be
packages whose sender already holds a DocId. Writes are serialised by the one writer thread
that owns the writer connection, and open with ``BEGIN IMMEDIATE``, so a second process on the
same file (a CLI, a second gateway by mistake) waits up to ``busy_timeout`` at BEGIN instead of
failing mid-transaction. Reads use connections and threads of their own and see the last
commit: the exchange's reads (authentication, inbox, packages, progress) one, and the console's
and maintenance's long ones (statistics, search, trace verification, retention) another, so
that an administrator's report never holds up a request of a document-management system.

The database holds system secrets (``System.secret``): a new file is created with mode 0600,
and its directory should be private to the gateway's user too.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import os
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

from gateway.store import _codec
from gateway.store._admin import ADMIN_READS
from gateway.store._engine import Clock, Dialect, Row, settle
from gateway.store._retention import RETENTION_READS
from gateway.store._sql import READS, STORE_METHODS, SqlStore
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

T = TypeVar("T")
_Pending = tuple[Coroutine[Any, Any, Any], "asyncio.Future[Any]"]
_MAX_BATCH = 256  # writes per group commit
_MIN_VERSION = (3, 37, 0)  # STRICT tables
_PARAM = re.compile(r"\$(\d+)")
_TS_SUFFIXES = ("_at", "_until")


@lru_cache(maxsize=256)
def _sql(sql: str) -> str:
    # The shared queries use PostgreSQL's $n; SQLite's ?n binds the same positional list.
    return _PARAM.sub(r"?\1", sql)


#: Parameter types sqlite3 binds as they are (checked by exact type: the common case, fast).
_PLAIN = frozenset({str, int, float, bytes, bool, type(None)})


def _arg(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
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
    """The one place where sqlite3 errors become store errors."""
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
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in message:
        return StoreUnavailable(message)
    if isinstance(exc, sqlite3.DataError | OverflowError):
        return StoreInvalid(message)
    return StoreError(message)


_DRIVER_ERRORS = (sqlite3.Error, OverflowError)


class _Tx:
    """Statements on a plain ``sqlite3`` connection. The methods are coroutines only to fit the
    shared SQL code; they never suspend, because they run on the connection's own thread
    (see :class:`_Database`)."""

    def __init__(self, conn: sqlite3.Connection, batch: _Batch | None = None) -> None:
        self._conn = conn
        self._batch = batch

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = self._conn.execute(_sql(sql), [_arg(a) for a in args])
        return max(cursor.rowcount, 0)

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        rows = [[_arg(a) for a in row] for row in args]
        if rows:
            self._conn.executemany(_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = self._conn.execute(_sql(sql), [_arg(a) for a in args]).fetchall()
        return [_decode(r) for r in rows]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    def known_head(self) -> tuple[int, str] | None:
        return None if self._batch is None else self._batch.head

    def keep_head(self, seq: int, hash_: str) -> None:
        if self._batch is not None:
            self._batch.head = (seq, hash_)


class _Batch:
    """What the writes of one group commit share: the trace head as the last of them left
    it. It is valid inside that one transaction only (BEGIN IMMEDIATE keeps every other
    writer out meanwhile, the CLI's included); a write rolled back to its savepoint puts
    back the head it found."""

    __slots__ = ("head",)

    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a store coroutine that never suspends to its end, on the calling (database) thread."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coro.close()
    raise RuntimeError("a SQLite store coroutine suspended; it must run synchronously")


class _Database:
    """Three connections, each owned by one thread: the writer, the reader and the bulk reader.

    Every store method runs *whole* on one of these threads (:meth:`run`): its statements,
    BEGIN and COMMIT execute back to back without returning to the event loop in between. A
    write transaction therefore holds SQLite's lock for the time of its statements only, not
    for as many event-loop turns as it has statements (under load each turn can take
    milliseconds, and every writer would queue behind them). The writer thread also
    serialises writes, as the one SQLite writer must be.

    Reads go to the reader thread, one after another; the reads that may walk a whole table
    (:data:`_BULK_READS`) go to the bulk reader instead, so a request's authentication never
    waits behind a console report or the trace chain's check.
    """

    dialect = SQLITE

    def __init__(self, path: str, memory: bool) -> None:
        self._path = path
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        # ":memory:" has one connection: only it sees the data, so reads go to the writer.
        self._reader_thread = (
            self._writer_thread
            if memory
            else ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        )
        self._bulk_thread = (
            self._writer_thread
            if memory
            else ThreadPoolExecutor(1, thread_name_prefix="sqlite-bulk-reader")
        )
        self._local = threading.local()
        self._closed = False
        self._pending: list[_Pending] = []
        self._pending_lock = threading.Lock()
        self._draining = False

    # -- threads ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            raise StoreUnavailable("the store is closed")
        return conn

    def on_thread(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    async def run(self, coro: Coroutine[Any, Any, T], *, write: bool, bulk: bool = False) -> T:
        """Run a store coroutine in the writer's next batch, or on a reader's thread: the bulk
        reader's if ``bulk`` (a read that may take long), else the reader's."""
        if self._closed:
            coro.close()
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        if not write:
            try:
                reader = self._bulk_thread if bulk else self._reader_thread
                started = reader.submit(_drive, coro)
            except RuntimeError as exc:
                coro.close()
                if self._closed:  # the pool shut down under us
                    raise StoreUnavailable("the store is closed") from exc
                raise
            try:
                return await asyncio.wrap_future(started, loop=loop)
            except asyncio.CancelledError:
                # The caller went away (a client that hung up) before the read ran: close the
                # coroutine, or Python warns it was never awaited.
                if started.cancelled():
                    coro.close()
                raise
        future: asyncio.Future[T] = loop.create_future()
        with self._pending_lock:
            self._pending.append((coro, future))
            start = not self._draining
            self._draining = True
        if start:
            self._writer_thread.submit(self._drain, loop)
        return await future

    # -- group commit (on the writer thread) ---------------------------------------------------
    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._pending_lock:
                batch = self._pending[:_MAX_BATCH]
                del self._pending[:_MAX_BATCH]
                if not batch:
                    self._draining = False
                    return
            self._commit_batch(batch, loop)

    def _commit_batch(self, batch: list[_Pending], loop: asyncio.AbstractEventLoop) -> None:
        """Every write waiting now in ONE transaction, each in its own savepoint.

        Group commit: one WAL fsync for the whole batch instead of one per write, which is
        what lets a single SQLite file keep up with hundreds of packages a second (each costs
        an accept, a publish mark and a delivery record). A write that fails rolls back to its
        savepoint and gets its exception; the others commit. Nobody hears "done" before the
        COMMIT is durable; if the COMMIT fails, every write of the batch gets that error.
        """
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except _DRIVER_ERRORS as exc:
            error = _translate(exc)
            for coro, future in batch:
                coro.close()
                loop.call_soon_threadsafe(settle, future, False, error)
            return
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._local.batch = _Batch()
        try:
            for coro, future in batch:
                try:
                    outcomes.append((future, True, _drive(coro)))
                except BaseException as exc:
                    outcomes.append((future, False, exc))
        finally:
            self._local.batch = None
        try:
            conn.execute("COMMIT")
        except _DRIVER_ERRORS as exc:
            _rollback(conn)
            error = _translate(exc)
            outcomes = [(future, False, error) for future, _, _ in outcomes]
        for future, ok, value in outcomes:
            loop.call_soon_threadsafe(settle, future, ok, value)

    async def open(self, busy_timeout_ms: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            mode = await loop.run_in_executor(
                self._writer_thread, self._open_conn, busy_timeout_ms, True
            )
            if self._path != ":memory:" and str(mode).lower() != "wal":
                raise StoreUnavailable(f"{self._path}: WAL journal mode unavailable (got {mode})")
            for reader in (self._reader_thread, self._bulk_thread):
                if reader is not self._writer_thread:
                    await loop.run_in_executor(reader, self._open_conn, busy_timeout_ms, False)
        except BaseException:
            await self.close()
            raise

    def _open_conn(self, busy_timeout_ms: int, writer: bool) -> Any:
        # isolation_level=None: no implicit transactions; write() issues BEGIN/COMMIT itself.
        conn = sqlite3.connect(self._path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        self._local.conn = conn
        if not writer:
            for pragma in (f"busy_timeout={int(busy_timeout_ms)}", "query_only=ON"):
                conn.execute(f"PRAGMA {pragma}")
            return None
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        for pragma in ("synchronous=FULL", f"busy_timeout={int(busy_timeout_ms)}",
                       "foreign_keys=ON"):  # fmt: skip
            conn.execute(f"PRAGMA {pragma}")
        return mode

    # -- transactions (on the connection's thread) -------------------------------------------
    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Tx]:
        conn = self._conn()
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            # Inside a group commit (_commit_batch): this write is one savepoint of it.
            try:
                conn.execute("SAVEPOINT write")
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            head = batch.head
            try:
                yield _Tx(conn, batch)
            except BaseException as exc:
                batch.head = head
                with contextlib.suppress(*_DRIVER_ERRORS):
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                if isinstance(exc, _DRIVER_ERRORS):
                    raise _translate(exc) from exc
                raise
            try:
                conn.execute("RELEASE write")
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc
        try:
            yield _Tx(conn)
        except BaseException as exc:
            _rollback(conn)
            if isinstance(exc, _DRIVER_ERRORS):
                raise _translate(exc) from exc
            raise
        try:
            conn.execute("COMMIT")
        except _DRIVER_ERRORS as exc:
            _rollback(conn)
            raise _translate(exc) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Tx]:
        try:
            yield _Tx(self._conn())
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def ping(self) -> None:
        async with self.read() as tx:
            await tx.fetch("SELECT 1 AS ok")

    async def pragma(self, name: str) -> Any:
        """A PRAGMA value as the writer connection sees it (for tests and diagnostics)."""

        async def read() -> Any:
            return self._conn().execute(f"PRAGMA {name}").fetchone()[0]

        return await self.run(read(), write=True)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        threads = (self._writer_thread, self._reader_thread, self._bulk_thread)
        pools = {id(p): p for p in threads}.values()
        for pool in pools:  # a running transaction finishes first: the pool is FIFO
            await loop.run_in_executor(pool, self._close_conn)
            pool.shutdown(wait=True)

    def _close_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may have rolled back already (e.g. SQLITE_FULL), or the connection is gone.
    with contextlib.suppress(*_DRIVER_ERRORS):
        conn.execute("ROLLBACK")


#: Reads that may walk a whole table or a long stretch of the trace: the console's statistics
#: and search, the trace chain's check, retention. They run on the bulk reader's thread.
_BULK_READS = (
    ADMIN_READS | RETENTION_READS | {"search_messages", "verify_document_trace", "verify_trace"}
)


def _threaded(name: str) -> Callable[..., Any]:
    base = getattr(SqlStore, name)
    write = name not in READS
    bulk = name in _BULK_READS

    @functools.wraps(base)
    async def method(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        if self._db.on_thread():  # called from another store method: already on a thread
            return await base(self, *args, **kwargs)
        return await self._db.run(base(self, *args, **kwargs), write=write, bulk=bulk)

    return method


class SqliteStore(SqlStore):
    """``Store`` on one SQLite file; open it with :meth:`open`."""

    _db: _Database

    @classmethod
    async def open(
        cls, path: str, *, clock: Clock | None = None, busy_timeout_ms: int = 5000
    ) -> SqliteStore:
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            raise StoreUnavailable(f"SQLite {sqlite3.sqlite_version} is too old; need 3.37+")
        memory = path == ":memory:"
        if not memory:
            _create_private(path)
        db = _Database(path, memory)
        try:
            await db.open(busy_timeout_ms)
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
        return cls(db, clock)

    async def health(self) -> bool:
        if self._db._closed:
            return False
        return bool(await self._db.run(SqlStore.health(self), write=False))

    async def close(self) -> None:
        await self._db.close()


for _name in STORE_METHODS:
    setattr(SqliteStore, _name, _threaded(_name))


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only, if it does not exist yet."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot create {path}: {exc}") from exc
    os.close(fd)
