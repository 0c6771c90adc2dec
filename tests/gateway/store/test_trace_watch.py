"""The health page's background chain check (``TraceWatch``) on SQLite and PostgreSQL: it walks
the chain in short reads, so that a busy hub's reads (every request's authentication) get
through between them, and still judges the whole chain."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.service.admin.health import ERROR, OK, TraceWatch
from gateway.store import Store
from gateway.store.base import VerifyResult

from .conftest import Backend
from .factories import ev


def _counting(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Record each read the watch makes (start, limit); the store still answers it."""
    reads: list[tuple[Any, Any]] = []
    real = store.verify_trace

    async def verify_trace(start: int | None = None, *, limit: int | None = None) -> VerifyResult:
        reads.append((start, limit))
        return await real(start, limit=limit)

    monkeypatch.setattr(store, "verify_trace", verify_trace)
    return reads


async def test_the_watch_walks_in_short_reads_and_judges_the_whole_chain(
    store: Store, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.append_trace([ev("s", "D", i=i) for i in range(10)])
    watch = TraceWatch(store)
    watch.chunk, watch.duty = 4, 0.5
    reads = _counting(store, monkeypatch)

    status = await watch.check()
    assert (status.level, status.checked_from, status.checked_to) == (OK, 1, 10)
    assert reads == [(1, 4), (5, 4), (9, 4)]  # never one read of the whole chain

    # New entries: the next check starts at the last good one and goes to the new head.
    await store.append_trace([ev("t", "D", i=i) for i in range(3)])
    reads.clear()
    status = await watch.check()
    assert (status.level, status.checked_from, status.checked_to) == (OK, 10, 13)
    assert reads == [(10, 4)]

    # An entry altered in the middle of a later read is named by the full check.
    await backend.raw(backend.drop_trace_guard)
    await backend.raw("UPDATE trace_events SET outcome = 'tampered' WHERE seq = 7")
    status = await watch.check(full=True)
    assert (status.level, status.first_broken_seq) == (ERROR, 7)
    assert status.reason is not None and "altered" in status.reason


async def test_a_tampered_head_is_caught_by_the_read_that_reaches_it(
    store: Store, backend: Backend
) -> None:
    await store.append_trace([ev("s", "D", i=i) for i in range(6)])
    await backend.raw("UPDATE trace_head SET hash = '0' || hash WHERE id = 1")
    watch = TraceWatch(store)
    watch.chunk, watch.duty = 4, 0.5
    status = await watch.check(full=True)
    assert (status.level, status.first_broken_seq) == (ERROR, 6)
