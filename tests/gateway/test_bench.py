"""``edxgw bench`` runs end to end (a short smoke run: its figures are not checked, only that
it measured what it says, on the real RabbitMQ and a fresh store of each kind)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from gateway import bench
from gateway.bench import main
from tests.gateway.store.conftest import throwaway_database


def _bench(*extra: str) -> str:
    out = io.StringIO()
    args = ["--seconds", "1", "--sizes", "10k", "--rate", "20", "--raw-seconds", "0.5", *extra]
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


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.split("|")[1:-1]]


def test_bench_repeated_reports_each_run_and_the_median_of_each_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stores: list[str] = []
    fresh_store = bench._fresh_store

    async def counted(store: str, workdir: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
        dsn, drop = await fresh_store(store, workdir)
        stores.append(dsn)
        return dsn, drop

    monkeypatch.setattr(bench, "_fresh_store", counted)
    text = _bench("--repeat", "3")
    # Each run had a store (and a gateway) of its own: no run measures what another left.
    assert len(set(stores)) == 3, stores
    assert "3 runs of each load" in text
    rows = {
        _cells(line)[1]: _cells(line) for line in text.splitlines() if line.startswith("| 10k |")
    }
    runs = [f"{load} #{i}" for i in (1, 2, 3) for load in ("closed 32 clients", "rate 20/s")]
    medians = ["closed 32 clients, median of 3", "rate 20/s, median of 3"]
    assert list(rows) == runs + medians, text
    for i in (1, 2, 3):  # each run's raw ceiling is that run's own, before and after it
        before = re.search(rf"raw ceiling 10k \(run {i} of 3\): (\d+)/s", text)
        after = re.search(rf"raw ceiling 10k after the loads \(run {i} of 3\): (\d+)/s", text)
        assert before and after, text
        mean = (int(before[1]) + int(after[1])) / 2
        for load in ("closed 32 clients", "rate 20/s"):
            assert abs(float(rows[f"{load} #{i}"][10]) - mean) <= 1, text
    for load, median in zip(("closed 32 clients", "rate 20/s"), medians, strict=True):
        for column in (4, 7, 10):  # e2e packages/s, p99, raw: the middle of the three runs
            values = sorted(float(rows[f"{load} #{i}"][column]) for i in (1, 2, 3))
            assert abs(float(rows[median][column]) - values[1]) <= 1, (load, column, text)
        assert int(rows[median][3]) == 0  # errors: summed over the runs


def test_bench_runs_only_the_loads_asked_for() -> None:
    text = _bench("--sizes", "10k", "1m", "--loads", "rate")
    rows = [_cells(line) for line in text.splitlines() if line.startswith("| ")]
    assert [(r[0], r[1]) for r in rows[1:]] == [("10k", "rate 20/s")], text  # 1 MiB has none
    sent, errors = int(rows[1][2]), int(rows[1][3])
    assert sent == 20 and errors == 0, text  # --rate 20 for --seconds 1
    assert "closed loop" not in text and "making 30 packages of 10k" in text, text


def test_bench_refuses_a_repeat_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--repeat", "0"])
    assert "--repeat must be 1 or more" in capsys.readouterr().err


@pytest.mark.postgres
def test_bench_names_a_missing_database_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    dsn = "postgresql://postgres@127.0.0.1:5432/edxgw_bench_missing_db"
    assert main(["--store", dsn, "--sizes", "10k", "--seconds", "1"], io.StringIO()) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "edxgw_bench_missing_db" in err and "createdb" in err, err
