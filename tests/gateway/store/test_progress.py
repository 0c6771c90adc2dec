"""The status ordering rule (edxml.md §2.3): table-driven, and independent of arrival order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gateway.store.progress import Progress, advance, normalise_code

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fold(events: list[tuple[str, int]]) -> Progress:
    p = Progress()
    for code, minute in events:
        p = advance(p, code, t(minute))
    return p


# (events in arrival order as (code, minute)), expected (level, level minute, change, change minute)
CASES = [
    ([], (None, None, None, None)),
    ([("01", 0)], ("01", 0, None, None)),
    ([("01", 0), ("03", 1), ("04", 2), ("05", 3), ("06", 4)], ("06", 4, None, None)),
    ([("06", 4), ("03", 1)], ("06", 4, None, None)),  # late 03 does not regress
    ([("05", 3), ("05", 5)], ("05", 3, None, None)),  # 05 repeats: first time kept
    ([("05", 5), ("05", 3)], ("05", 3, None, None)),  # ... whichever arrives first
    ([("03", 1), ("05", 3)], ("05", 3, None, None)),  # 04 is optional
    ([("01", 0), ("02", 1)], ("02", 1, None, None)),
    ([("02", 1), ("03", 2)], ("02", 1, None, None)),  # 02 is terminal
    ([("02", 1), ("06", 9)], ("02", 1, None, None)),
    ([("03", 2), ("02", 1)], ("02", 1, None, None)),  # in any arrival order
    ([("13", 5)], (None, None, "13", 5)),
    ([("13", 5), ("15", 6)], (None, None, "15", 6)),
    ([("15", 6), ("13", 5)], (None, None, "15", 6)),  # the answer outran the request
    ([("13", 5), ("16", 6)], (None, None, "16", 6)),
    ([("13", 5), ("16", 6), ("15", 8)], (None, None, "15", 8)),  # refused, later agreed
    ([("15", 8), ("16", 6)], (None, None, "15", 8)),  # the later answer wins
    ([("16", 6), ("15", 6)], (None, None, "15", 6)),  # tie: 15 wins, deterministically
    ([("13", 5), ("13", 2)], (None, None, "13", 2)),  # the first request counts
    ([("03", 1), ("13", 5), ("05", 3)], ("05", 3, "13", 5)),  # two independent axes
    ([("07", 1), ("0", 2), ("-1", 3), ("14", 4)], (None, None, None, None)),  # unused codes
    ([("1", 0), (" 3", 1)], ("03", 1, None, None)),  # a dropped leading zero
]


@pytest.mark.parametrize(("events", "expected"), CASES)
def test_fold(
    events: list[tuple[str, int]],
    expected: tuple[str | None, int | None, str | None, int | None],
) -> None:
    level, level_min, change, change_min = expected
    assert fold(events) == Progress(
        level=level,
        level_at=None if level_min is None else t(level_min),
        change_state=change,
        change_at=None if change_min is None else t(change_min),
    )


@pytest.mark.parametrize(
    "events",
    [
        [("01", 0), ("03", 1), ("04", 2), ("05", 3), ("05", 4), ("06", 5)],
        [("01", 0), ("02", 1), ("03", 2), ("13", 3), ("16", 4)],
        [("03", 1), ("13", 2), ("16", 3), ("13", 4), ("15", 5), ("05", 6)],
    ],
)
def test_order_free(events: list[tuple[str, int]]) -> None:
    """Every arrival order of the same events gives the same progress (a join, §3.6)."""
    results = {fold(list(p)) for p in itertools.permutations(events)}
    assert len(results) == 1


def test_normalise_code() -> None:
    assert [normalise_code(c) for c in ("1", "01", " 6 ", "13", "x")] == [
        "01",
        "01",
        "06",
        "13",
        "x",
    ]
