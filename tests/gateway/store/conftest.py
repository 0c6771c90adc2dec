"""Backends for the store contract tests: a SQLite file per test, a PostgreSQL schema per test.

PostgreSQL gets one fresh database per test module (dropped afterwards) and, inside it, one
fresh schema per test selected with ``search_path`` in the DSN, so every test starts from an
empty, unmigrated store without paying for CREATE DATABASE each time.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest

from gateway.store import Store, open_store

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_DSN = f"{PG_SERVER}/postgres"

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in another thread (for sync fixtures)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class FakeClock:
    """A UTC clock that advances 1 ms per reading (distinct, ordered times) and on demand."""

    def __init__(self, start: datetime = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Backend:
    name: str
    dsn: str
    clock: FakeClock = field(default_factory=FakeClock)
    sqlite_file: str | None = None
    applied: list[int] = field(default_factory=list)  # what the first migrate() applied

    async def open(self) -> Store:
        return await open_store(self.dsn, clock=self.clock)

    async def raw(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL behind the store's back (inspection, tampering) and commit."""
        if self.sqlite_file is not None:
            conn = sqlite3.connect(self.sqlite_file)
            try:
                rows = [tuple(r) for r in conn.execute(sql).fetchall()]
                conn.commit()
                return rows
            finally:
                conn.close()
        pg = await asyncpg.connect(self.dsn)
        try:
            return [tuple(r) for r in await pg.fetch(sql)]
        finally:
            await pg.close()

    @property
    def drop_trace_guard(self) -> str:
        if self.name == "sqlite":
            return "DROP TRIGGER trace_events_no_update"
        return "ALTER TABLE trace_events DISABLE TRIGGER trace_events_append_only"


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database (its DSN), dropped afterwards even if connections remain."""
    name = f"{prefix}_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        run_sync(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def schema_dsn(database: str, prefix: str) -> str:
    """A fresh, empty schema in ``database``; the DSN that selects it (``search_path``)."""
    schema = f"{prefix}_{secrets.token_hex(6)}"

    async def create() -> None:
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()

    run_sync(create())
    return f"{database}?search_path={schema}"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    with throwaway_database("edxgw_test") as dsn:
        yield dsn


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    if request.param == "sqlite":
        path = str(tmp_path / "gateway.db")
        return Backend("sqlite", f"sqlite:///{path}", sqlite_file=path)
    database: str = request.getfixturevalue("pg_database")
    return Backend("postgres", schema_dsn(database, "t"))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    try:
        backend.applied = await opened.migrate()
        yield opened
    finally:
        await opened.close()
