"""What only one backend can show: SQLite's file settings and busy writer, PostgreSQL's SKIP
LOCKED, and how ``open_store`` reads a DSN or fails to connect."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import asyncpg
import pytest

from gateway.store import StoreBusy, StoreUnavailable, open_store, sqlite_path
from gateway.store.migrations import MIGRATIONS
from gateway.store.sqlite import SqliteStore

from .conftest import Backend
from .factories import accept


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
