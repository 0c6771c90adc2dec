"""Time ``Store.accept`` on both backends: ``python -m tests.gateway.store.bench_accept [N]``.

Each call commits 1 message + 3 deliveries + 3 outbox rows + 2 trace events, as the ingress
does for a package to three recipients. SQLite runs on a temporary file (WAL, synchronous=FULL,
so every commit is an fsync); PostgreSQL on a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from gateway.store import Store, open_store
from tests.gateway.store.conftest import PG_ADMIN_DSN, PG_SERVER
from tests.gateway.store.factories import accept


async def bench(store: Store, n: int) -> list[float]:
    await store.migrate()
    for warm in range(10):
        await accept(store, 1_000_000 + warm)
    times = []
    for i in range(n):
        start = time.perf_counter()
        await accept(store, i)
        times.append((time.perf_counter() - start) * 1000)
    assert (await store.verify_trace()).ok
    return times


def report(name: str, times: list[float]) -> None:
    q = statistics.quantiles(times, n=20)
    print(f"{name:10} n={len(times)} median={statistics.median(times):.2f} ms  p95={q[18]:.2f} ms")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            report("sqlite", await bench(store, n))
        finally:
            await store.close()
    name = f"edxgw_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        store = await open_store(f"{PG_SERVER}/{name}")
        try:
            report("postgres", await bench(store, n))
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
