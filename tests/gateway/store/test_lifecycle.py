"""The delivery lifecycle table, cell by cell, against an independent literal matrix."""

from __future__ import annotations

import pytest

from gateway.store.errors import BadTransition
from gateway.store.lifecycle import (
    FINAL_STATES,
    INBOX_STATES,
    TRANSITIONS,
    DeliveryState,
    allowed_targets,
    transition,
)

S = DeliveryState
ORDER = [S.PENDING, S.QUEUED, S.RETRYING, S.DELIVERED, S.DONE, S.FAILED, S.DEAD]

# Rows: from; columns: to, in ORDER. "+" legal change, "=" harmless repeat, "x" illegal.
# Written out by hand from the brief and architecture §3, so the table is checked against a
# second statement of the rule and not against itself.
MATRIX = """
             pend  queu  retr  deli  done  fail  dead
pending       =     +     x     +     x     x     +
queued        x     =     +     +     x     x     +
retrying      x     +     =     +     x     x     +
delivered     x     x     x     =     +     +     +
done          x     x     x     x     =     x     x
failed        x     x     x     x     x     =     x
dead          +     x     x     x     x     x     =
"""


def expected_cells() -> list[tuple[DeliveryState, DeliveryState, str]]:
    rows = [line.split() for line in MATRIX.strip().splitlines()[1:]]
    cells = []
    for frm, row in zip(ORDER, rows, strict=True):
        assert row[0] == frm.value
        cells += [(frm, to, mark) for to, mark in zip(ORDER, row[1:], strict=True)]
    return cells


CELLS = expected_cells()


@pytest.mark.parametrize(("frm", "to", "mark"), CELLS, ids=[f"{f}->{t}" for f, t, _ in CELLS])
def test_every_cell(frm: DeliveryState, to: DeliveryState, mark: str) -> None:
    if mark == "x":
        with pytest.raises(BadTransition) as info:
            transition(frm, to)
        assert info.value.code == "store.bad_transition"
        assert not info.value.retryable
        assert (frm, to) not in TRANSITIONS
    else:
        assert transition(frm, to) is (mark == "+")
        assert ((frm, to) in TRANSITIONS) is (mark == "+")


def test_the_matrix_covers_every_state_pair() -> None:
    assert len(CELLS) == len(DeliveryState) ** 2
    assert set(ORDER) == set(DeliveryState)


def test_every_edge_has_an_event_name() -> None:
    assert all(name.isidentifier() for name in TRANSITIONS.values())
    assert TRANSITIONS[S.DEAD, S.PENDING] == "replay"


def test_derived_sets() -> None:
    assert {S.DONE, S.FAILED} == FINAL_STATES
    assert {S.DELIVERED, S.DONE, S.FAILED} == INBOX_STATES
    assert allowed_targets(S.DELIVERED) == {S.DONE, S.FAILED, S.DEAD}
    assert allowed_targets(S.DONE) == frozenset()


def test_every_state_is_reachable_from_pending() -> None:
    seen, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        for nxt in allowed_targets(frontier.pop()) - seen:
            seen.add(nxt)
            frontier.append(nxt)
    assert seen == set(DeliveryState)
