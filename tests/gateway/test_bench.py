"""``edxgw bench`` runs end to end (a short smoke run: its figures are not checked, only that
it measured what it says, on the real RabbitMQ and a fresh SQLite store)."""

from __future__ import annotations

import io
import re

from gateway.bench import main


def test_bench_runs_and_reports_every_row() -> None:
    out = io.StringIO()
    args = ["--seconds", "1", "--sizes", "10k", "--rate", "20", "--raw-seconds", "0.5"]
    assert main(args, out) == 0
    text = out.getvalue()
    before = re.search(r"raw ceiling 10k: (\d+)/s", text)
    after = re.search(r"raw ceiling 10k after the loads: (\d+)/s", text)
    assert before and after and int(before[1]) > 0 and int(after[1]) > 0
    rows = [line for line in text.splitlines() if line.startswith("| 10k |")]
    assert [r.split("|")[2].strip() for r in rows] == ["closed 32 clients", "rate 20/s"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        sent, errors, per_s = int(cells[2]), int(cells[3]), float(cells[4])
        assert sent > 0 and errors == 0 and per_s > 0, row
        # The mean of the two printed (rounded) measurements, give or take their rounding.
        assert abs(float(cells[10]) - (int(before[1]) + int(after[1])) / 2) <= 1, row
