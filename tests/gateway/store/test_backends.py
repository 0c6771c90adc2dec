"""What only one backend can show: SQLite's file settings and busy writer, PostgreSQL's SKIP
LOCKED, and how ``open_store`` reads a DSN or fails to connect."""

from __future__ import annotations

import asyncio
import inspect
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.store import Store, StoreBusy, StoreUnavailable, open_store, sqlite_path
from gateway.store._sql import READS, STORE_METHODS, WRITES, SqlStore
from gateway.store.migrations import MIGRATIONS
from gateway.store.sqlite import _BULK_READS, SqliteStore

from .conftest import Backend, schema_dsn
from .factories import accept, ev


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("sqlite:///var/edxgw.db", "var/edxgw.db"),
        ("sqlite:////var/lib/edxgw/gateway.db", "/var/lib/edxgw/gateway.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:////tmp/th%C6%B0%20m%E1%BB%A5c.db", "/tmp/thư mục.db"),
    ],
)
def test_sqlite_dsn(dsn: str, path: str) -> None:
    assert sqlite_path(dsn) == path


@pytest.mark.parametrize(
    "dsn", ["sqlite://host/x.db", "sqlite:///", "sqlite:///x.db?mode=ro", "postgresql://x/y"]
)
def test_bad_sqlite_dsn(dsn: str) -> None:
    with pytest.raises(ValueError, match="DSN"):
        sqlite_path(dsn)


async def test_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="mysql"):
        await open_store("mysql://localhost/db")


async def test_sqlite_file_is_private_wal_and_migrates(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    store = await open_store(f"sqlite:///{db}")
    try:
        assert await store.migrate() == [m.version for m in MIGRATIONS]
    finally:
        await store.close()
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # it holds system secrets
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_sqlite_writer_runs_with_full_sync(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "gw.db"))
    try:
        assert await store._db.pragma("synchronous") == 2
    finally:  # the last commits on power loss, i.e. packages already acknowledged
        await store.close()


async def test_group_commit_write_that_fails_after_its_append_leaves_no_trace(
    backend: Backend,
) -> None:
    """A write of a group commit that appended to the trace and then failed gets its error;
    the writes around it commit, each once, and chain onto one another, not onto the entries
    it had appended (SQLite rolls back to its savepoint and puts back the head it found;
    PostgreSQL rolls the batch back and runs the other writes again)."""
    store = await backend.open()
    try:
        await store.migrate()
        db: Any = store._db  # type: ignore[attr-defined]

        async def append_then_fail() -> None:
            async with db.write() as tx:
                await store._append(tx, [ev("doomed")])  # type: ignore[attr-defined]
                raise RuntimeError("after the append")

        first = store.append_trace([ev("a")])  # the writer takes it alone, then the rest
        failing = (
            db.run(append_then_fail(), write=True)
            if backend.name == "sqlite"
            else db.run(append_then_fail)
        )
        results = await asyncio.gather(
            first,
            store.append_trace([ev("b")]),
            failing,
            store.append_trace([ev("c")]),
            return_exceptions=True,
        )
        assert isinstance(results[2], RuntimeError)
        stages = [r.stage for rows in results if isinstance(rows, list) for r in rows]
        assert stages == ["a", "b", "c"]
        result = await store.verify_trace()
        assert (result.ok, result.checked) == (True, 3)
    finally:
        await store.close()


async def test_sqlite_long_reads_do_not_hold_up_the_exchange_reads(tmp_path: Path) -> None:
    """A console report or the trace chain's check runs on the bulk reader: while it is busy,
    authentication and inbox reads still answer, and the other way round."""
    store = await SqliteStore.open(str(tmp_path / "gw.db"))
    try:
        await store.migrate()
        await accept(store, 1)
        for busy, quick, slow in (
            (store._db._bulk_thread, store.get_message("doc-1"), store.count_deliveries()),
            (store._db._reader_thread, store.verify_trace(), store.get_message("doc-1")),
        ):
            release = threading.Event()
            busy.submit(release.wait, 30)  # a long read holds that thread
            try:
                assert await asyncio.wait_for(quick, 5) is not None
                waiting = asyncio.ensure_future(slow)
                await asyncio.sleep(0.2)
                assert not waiting.done()  # it queued behind the long read
            finally:
                release.set()
            assert await asyncio.wait_for(waiting, 5) is not None
    finally:
        await store.close()


def test_every_store_method_is_routed_and_bulk_reads_are_reads() -> None:
    """A store method neither read nor write would run on the event loop's thread (SQLite)
    or outside the group commit (PostgreSQL)."""
    methods = {
        name
        for name, _ in inspect.getmembers(SqlStore, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert methods - {"health", "close"} == set(STORE_METHODS)
    assert not READS & WRITES
    assert _BULK_READS <= READS
    assert {"count_deliveries", "search_messages", "verify_trace"} <= _BULK_READS
    assert not {"find_system_by_token_hash", "list_inbox", "get_blob"} & _BULK_READS


async def test_sqlite_busy_database_is_retryable(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    store = await SqliteStore.open(str(db), busy_timeout_ms=50)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        await store.migrate()
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreBusy) as info:
            await accept(store, 1)
        assert info.value.retryable
        blocker.execute("ROLLBACK")
        await accept(store, 1)  # and it works once the lock is gone
        assert await store.get_message("doc-1") is not None
    finally:
        blocker.close()
        await store.close()


async def test_sqlite_memory_store(tmp_path: Path) -> None:
    store = await open_store("sqlite:///:memory:")
    try:
        await store.migrate()
        await accept(store, 1)
        assert (await store.outbox_lag()).unpublished == 3
    finally:
        await store.close()


async def test_sqlite_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot create"):
        await open_store(f"sqlite:///{tmp_path}/missing/gw.db")


@pytest.mark.postgres
async def test_postgres_unreachable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_store("postgresql://postgres@127.0.0.1:1/postgres")
    assert info.value.retryable


@pytest.fixture
def pg_backend(pg_database: str) -> Backend:
    return Backend("postgres", pg_database)


@pytest.mark.postgres
async def test_postgres_claim_skips_rows_locked_by_another_relay(pg_backend: Backend) -> None:
    store = await pg_backend.open()
    holder = await asyncpg.connect(pg_backend.dsn)
    try:
        await store.migrate()
        await accept(store, 1)
        oldest = await holder.fetchval("SELECT min(id) FROM outbox")
        # Another relay is mid-claim on the oldest row and holds its lock.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT id FROM outbox WHERE id = $1 FOR UPDATE", oldest)
        claimed = await asyncio.wait_for(store.claim_outbox(10, "relay-b", 30), timeout=5)
        assert [o.id for o in claimed] == [oldest + 1, oldest + 2]  # no wait, no overlap
        await tx.rollback()
        assert [o.id for o in await store.claim_outbox(10, "relay-b", 30)] == [oldest]
    finally:
        await holder.close()
        await store.close()


@pytest.mark.postgres
async def test_postgres_session_stalled_in_a_transaction_releases_its_locks(
    pg_backend: Backend,
) -> None:
    """A node frozen between its trace append and its COMMIT (a paused VM, SIGSTOP) holds the
    ``trace_head`` lock every other node's writes need: PostgreSQL ends that session after
    ``idle_in_transaction_session_timeout`` and the others go on."""
    store = await pg_backend.open()
    await store.migrate()
    await store.close()
    sep = "&" if "?" in pg_backend.dsn else "?"
    stalled = await open_store(f"{pg_backend.dsn}{sep}idle_in_transaction_session_timeout=500")
    other = await asyncpg.connect(pg_backend.dsn)

    async def stall() -> None:
        async with stalled._db.write() as tx:  # type: ignore[attr-defined]
            await tx.fetch("SELECT seq FROM trace_head FOR UPDATE")
            waiting = asyncio.create_task(other.fetchval("SELECT seq FROM trace_head FOR UPDATE"))
            # The lock comes free while its holder is still "frozen" (idle in its transaction).
            await asyncio.wait_for(waiting, timeout=5)
            await tx.fetch("SELECT 1 AS still_there")

    try:
        with pytest.raises(StoreUnavailable) as info:
            await stall()
        assert info.value.retryable
    finally:
        await other.close()
        await stalled.close()


@pytest.mark.postgres
async def test_postgres_sessions_default_to_a_ten_second_idle_transaction_limit(
    pg_backend: Backend,
) -> None:
    store = await pg_backend.open()
    try:
        async with store._db.read() as tx:  # type: ignore[attr-defined]
            rows = await tx.fetch("SHOW idle_in_transaction_session_timeout")
        assert list(rows[0].values()) == ["10s"]
    finally:
        await store.close()


@pytest.fixture
def pg_fresh(pg_database: str) -> Backend:
    """A fresh, empty schema: what these tests count is theirs alone."""
    return Backend("postgres", schema_dsn(pg_database, "t"))


@pytest.mark.postgres
async def test_postgres_writes_waiting_together_commit_in_one_transaction(
    pg_fresh: Backend,
) -> None:
    """Group commit: the writes queued while the writer task is busy share one transaction
    (one trace_head lock, one WAL flush); a write alone has one of its own."""
    store = await pg_fresh.open()
    try:
        await store.migrate()
        db: Any = store._db  # type: ignore[attr-defined]

        async def txid() -> int:
            async with db.write() as tx:
                row = await tx.fetchrow("SELECT txid_current() AS id")
                assert row is not None
                return int(row["id"])

        together = await asyncio.gather(*(db.run(txid) for _ in range(4)))
        alone = await db.run(txid)
        assert len(set(together)) == 1
        assert alone not in together
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_write_of_a_caller_that_went_away_still_commits(pg_fresh: Backend) -> None:
    store = await pg_fresh.open()
    try:
        await store.migrate()
        gone = asyncio.ensure_future(accept(store, 1))
        await asyncio.sleep(0)  # queued for the writer task
        gone.cancel()
        await store.append_trace([ev("after")])  # queued behind it: answered after it commits
        assert await store.get_message("doc-1") is not None
        assert gone.cancelled()
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_two_nodes_writing_the_same_rows_at_once(pg_fresh: Backend) -> None:
    """Two nodes (stores) on one database: batches of each take trace_head first, then the
    rows their writes lock, so concurrent accepts and deliveries of the same packages neither
    deadlock nor break the chain."""
    first = await pg_fresh.open()
    second = await pg_fresh.open()
    try:
        await first.migrate()
        docs = [await accept(first, n, recipients=("R1",)) for n in range(1, 21)]

        async def deliver(store: Store, delivery_id: str) -> bool:
            return bool(await store.record_delivery(delivery_id, [ev("deliver")]))

        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(deliver(first, ids[0]) for _, ids in docs),
                # The other node in the reverse order: were the rows locked before
                # trace_head, each node would hold a row the other waits for.
                *(deliver(second, ids[0]) for _, ids in reversed(docs)),
                *(accept(store, n) for n in range(21, 41) for store in [(first, second)[n % 2]]),
            ),
            timeout=30,
        )
        # Each delivery recorded once, by one node or the other; every accept created.
        assert outcomes[:40].count(True) == 20
        result = await first.verify_trace()
        assert result.ok, result
        assert result.checked == 20 * 2 + 20 + 20 * 2
    finally:
        await second.close()
        await first.close()


@pytest.mark.postgres
async def test_postgres_close_lets_the_queued_writes_commit(pg_fresh: Backend) -> None:
    store = await pg_fresh.open()
    await store.migrate()
    queued = [asyncio.ensure_future(accept(store, n)) for n in range(1, 6)]
    await asyncio.sleep(0)  # all five wait for the writer task
    await store.close()
    assert all(q.done() and q.exception() is None for q in queued)
    with pytest.raises(StoreUnavailable):
        await accept(store, 6)
    reopened = await pg_fresh.open()
    try:
        assert (await reopened.verify_trace()).checked == 10
    finally:
        await reopened.close()
