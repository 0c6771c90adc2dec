"""``edxgw bench`` runs end to end (a short smoke run: its figures are not checked, only that
it measured what it says, on the real RabbitMQ and a fresh store of each kind)."""

from __future__ import annotations

import asyncio
import io
import re

import asyncpg
import pytest

from gateway.bench import main
from tests.gateway.store.conftest import throwaway_database


def _bench(*store: str) -> str:
    out = io.StringIO()
    args = ["--seconds", "1", "--sizes", "10k", "--rate", "20", "--raw-seconds", "0.5", *store]
    assert main(args, out) == 0
    return out.getvalue()


def _check(text: str) -> None:
    before = re.search(r"raw ceiling 10k: (\d+)/s", text)
    after = re.search(r"raw ceiling 10k after the loads: (\d+)/s", text)
    assert before and after and int(before[1]) > 0 and int(after[1]) > 0, text
    rows = [line for line in text.splitlines() if line.startswith("| 10k |")]
    assert [r.split("|")[2].strip() for r in rows] == ["closed 32 clients", "rate 20/s"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        sent, errors, per_s = int(cells[2]), int(cells[3]), float(cells[4])
        assert sent > 0 and errors == 0 and per_s > 0, row
        # The mean of the two printed (rounded) measurements, give or take their rounding.
        assert abs(float(cells[10]) - (int(before[1]) + int(after[1])) / 2) <= 1, row


def test_bench_on_sqlite_reports_every_row() -> None:
    _check(_bench())


@pytest.mark.postgres
def test_bench_on_postgresql_uses_a_fresh_schema_and_drops_it() -> None:
    with throwaway_database("edxgw_bench_test") as dsn:
        _check(_bench("--store", dsn))

        async def left() -> tuple[list[str], int]:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'edxgw_bench_%'"
                )
                public = await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                )
            finally:
                await conn.close()
            return [r["nspname"] for r in rows], int(public)

        # The run's schema is gone, and nothing was written beside it.
        assert asyncio.run(left()) == ([], 0)
