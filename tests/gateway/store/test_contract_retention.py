"""The Store contract for retention, on SQLite and PostgreSQL: the lease, what is due, the purge."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import asyncpg
import pytest

from gateway.store import Store, StoreConflict
from gateway.store.base import ArchiveRecord, TraceRow
from gateway.store.chain import GENESIS

from .conftest import Backend
from .factories import S, accept, ev


async def _done(store: Store, delivery_id: str, recipient: str) -> None:
    await store.record_delivery(delivery_id)
    await store.acknowledge(delivery_id, recipient, ok=True)


async def _history(store: Store, backend: Backend) -> dict[str, list[str]]:
    """Four documents, each of whose three deliveries go as far as its name says, then an hour
    passes: ``done`` (all answered), ``open`` (one delivered, not answered), ``dead`` (one
    dead-lettered), ``late`` (all answered, the last one after the cutoff)."""
    docs: dict[str, list[str]] = {}
    for n, name in enumerate(("done", "open", "dead", "late"), start=1):
        # done's package is a blob file; the others' are kept in the store.
        sealed = None if name == "done" else f"<edXML>{name}</edXML>".encode()
        doc_id, ids = await accept(store, n, sealed=sealed)
        docs[name] = [doc_id, *ids]
        await store.append_trace([ev("admin.directory_import")])  # an entry with no document
    for name, (_doc, *ids) in docs.items():
        for i, delivery_id in enumerate(ids):
            recipient = f"R{i + 1}"
            if name == "open" and i == 0:
                await store.record_delivery(delivery_id)
            elif name == "dead" and i == 0:
                await store.set_delivery_state(delivery_id, S.DEAD, error="too many attempts")
            elif not (name == "late" and i == 0):
                await _done(store, delivery_id, recipient)
    backend.clock.advance(3600)
    # After the cutoff: the late document's last answer, and an entry about the done one.
    await _done(store, docs["late"][1], "R1")
    await store.append_trace([ev("status", docs["done"][0])])
    return docs


async def _entries(store: Store, after: int, until: int) -> list[TraceRow]:
    rows: list[TraceRow] = []
    while after < until:
        page = await store.trace_page(after, until, 2)  # small pages: the paging is tested too
        if not page:
            break
        rows += page
        after = page[-1].seq
    return rows


def _record(
    number: int, rows: list[TraceRow], first: int, messages: int, at: object
) -> ArchiveRecord:
    return ArchiveRecord(
        number=number,
        name=f"archive-{number}.tar.gz",
        sha256=f"{number:064x}",
        first_seq=first,
        last_seq=rows[-1].seq if rows else first - 1,
        last_hash=rows[-1].hash if rows else GENESIS,
        events=len(rows),
        messages=messages,
        node="gw-a",
        created_at=at,  # type: ignore[arg-type]
    )


class TestRetentionContract:
    async def test_the_lease_is_one_node_at_a_time_until_it_expires(
        self, store: Store, backend: Backend
    ) -> None:
        head = await store.retention_head()
        assert (head.archived_seq, head.archived_hash, head.last, head.run_by) == (
            0,
            GENESIS,
            None,
            None,
        )
        assert (await store.claim_retention("gw-a", 60)).run_by == "gw-a"
        taken = await store.claim_retention("gw-b", 60)
        assert taken.run_by == "gw-a" and taken.run_until is not None
        assert (await store.claim_retention("gw-a", 60)).run_by == "gw-a"  # renewal
        await store.release_retention("gw-b")  # not its lease: nothing happens
        assert (await store.retention_head()).run_by == "gw-a"
        backend.clock.advance(61)
        assert (await store.claim_retention("gw-b", 60)).run_by == "gw-b"  # expired: taken
        await store.release_retention("gw-b", completed=True)
        head = await store.retention_head()
        assert head.run_by is None and head.last_run_at is not None
        assert (await store.claim_retention("gw-a", 60)).run_by == "gw-a"
        await store.release_retention("gw-a")
        assert (await store.retention_head()).last_run_at == head.last_run_at

    async def test_trace_seq_before_finds_the_last_entry_before_the_cutoff(
        self, store: Store, backend: Backend
    ) -> None:
        assert await store.trace_seq_before(backend.clock.now) == 0
        for _ in range(7):
            await store.append_trace([ev("admin.x")])
        cutoff = backend.clock.now + timedelta(minutes=30)
        backend.clock.advance(3600)
        for _ in range(5):
            await store.append_trace([ev("admin.y")])
        assert await store.trace_seq_before(cutoff) == 7
        assert await store.trace_seq_before(backend.clock.now + timedelta(days=1)) == 12
        assert await store.trace_seq_before(cutoff - timedelta(days=1)) == 0

    async def test_candidates_are_finished_before_the_cutoff_and_nothing_in_flight(
        self, store: Store, backend: Backend
    ) -> None:
        docs = await _history(store, backend)
        cutoff = backend.clock.now - timedelta(minutes=30)
        candidates = await store.retention_candidates(cutoff, 100)
        assert [m.doc_id for m in candidates] == [docs["done"][0]]
        # Later, the late one is due as well; the open and the dead one never are.
        later = backend.clock.now + timedelta(minutes=1)
        assert [m.doc_id for m in await store.retention_candidates(later, 100)] == [
            docs["done"][0],
            docs["late"][0],
        ]
        # A message whose outbox row is unpublished has a pending delivery: in flight.
        doc5, _ = await accept(store, 5)
        assert doc5 not in {
            m.doc_id for m in await store.retention_candidates(later + timedelta(days=1), 100)
        }

    async def test_commit_archive_purges_only_what_is_finished_and_archived(
        self, store: Store, backend: Backend
    ) -> None:
        docs = await _history(store, backend)
        cutoff = backend.clock.now - timedelta(minutes=30)
        last = await store.trace_seq_before(cutoff)
        rows = await _entries(store, 0, last)
        assert [r.seq for r in rows] == list(range(1, last + 1))
        assert (await store.claim_retention("gw-a", 60)).run_by == "gw-a"
        record = _record(1, rows, 1, 1, backend.clock.now)
        everything = [docs[n][0] for n in ("done", "open", "dead", "late")]
        # Asked to purge all four: only the finished one goes (checked again in the commit).
        purge = await store.commit_archive(
            record, everything, node="gw-a", trace=[ev("retention", archive=record.name)]
        )
        assert purge.messages_purged == 2  # done, and late (finished, just not due yet)
        assert purge.blob_keys == ("blobs/1",)  # a file; late's package was in the store
        assert purge.inline_deleted == 1
        assert await store.get_blob("blobs/4") is None
        assert await store.get_blob("blobs/3") == b"<edXML>dead</edXML>"  # not purged
        head = await store.retention_head()
        assert (head.archived_seq, head.archived_hash) == (last, rows[-1].hash)
        assert head.last == record
        assert await store.list_archives() == [record]
        assert await store.archive_of(docs["done"][0]) == record
        assert await store.archive_of(docs["open"][0]) is None
        # Archived entries of the purged documents and of no document are gone; the open and
        # dead documents keep their whole timeline, entries after the cutoff stay.
        assert await store.trace_for(docs["done"][0]) != []  # its late status entry
        assert all(r.seq > last for r in await store.trace_for(docs["done"][0]))
        for name in ("open", "dead"):
            timeline = await store.trace_for(docs[name][0])
            assert [r.stage for r in timeline][:2] == ["receive", "accept"]
        kept = {r.seq for r in await _entries(store, 0, last)}
        in_flight = {r.seq for n in ("open", "dead") for r in await store.trace_for(docs[n][0])}
        assert kept == {s for s in in_flight if s <= last}
        assert purge.events_deleted == last - len(kept)
        # The chain still verifies: the live table continues the archived hash.
        result = await store.verify_trace()
        assert result.ok, result
        live = await _entries(store, last, 10**9)
        assert result.checked == len(live) == live[-1].seq - last
        assert [r.stage for r in live] == ["status", "retention"]

    async def test_archived_entries_may_be_deleted_newer_ones_never(
        self, store: Store, backend: Backend
    ) -> None:
        for _ in range(4):
            await store.append_trace([ev("admin.x")])
        await store.claim_retention("gw-a", 60)
        rows = await _entries(store, 0, 2)
        await store.commit_archive(_record(1, rows, 1, 0, backend.clock.now), [], node="gw-a")
        assert [r.seq for r in await _entries(store, 0, 10)] == [3, 4]
        with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):
            await backend.raw("DELETE FROM trace_events WHERE seq = 3")
        with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):
            await backend.raw("UPDATE trace_events SET outcome = 'x' WHERE seq = 4")
        assert (await store.verify_trace()).ok

    async def test_commit_archive_refuses_what_does_not_follow(
        self, store: Store, backend: Backend
    ) -> None:
        for _ in range(4):
            await store.append_trace([ev("admin.x")])
        rows = await _entries(store, 0, 4)
        now = backend.clock.now
        with pytest.raises(StoreConflict):  # no lease
            await store.commit_archive(_record(1, rows, 1, 0, now), [], node="gw-a")
        await store.claim_retention("gw-a", 60)
        with pytest.raises(StoreConflict):  # held by another node
            await store.commit_archive(_record(1, rows, 1, 0, now), [], node="gw-b")
        with pytest.raises(StoreConflict):  # not the next number
            await store.commit_archive(_record(2, rows, 1, 0, now), [], node="gw-a")
        with pytest.raises(StoreConflict):  # a gap after the archived head
            await store.commit_archive(_record(1, rows[1:], 2, 0, now), [], node="gw-a")
        head = await store.retention_head()
        assert (head.archived_seq, head.last) == (0, None)
        await store.commit_archive(_record(1, rows[:2], 1, 0, now), [], node="gw-a")
        with pytest.raises(StoreConflict):  # the same range again
            await store.commit_archive(_record(2, rows[:2], 1, 0, now), [], node="gw-a")
        second = _record(2, rows[2:], 3, 0, now)
        await store.commit_archive(second, [], node="gw-a")
        assert [a.number for a in await store.list_archives()] == [1, 2]
        assert (await store.retention_head()).archived_seq == 4

    async def test_verify_trace_checks_the_link_to_the_archived_head(
        self, store: Store, backend: Backend
    ) -> None:
        for _ in range(5):
            await store.append_trace([ev("admin.x")])
        await store.claim_retention("gw-a", 60)
        rows = await _entries(store, 0, 3)
        await store.commit_archive(_record(1, rows, 1, 0, backend.clock.now), [], node="gw-a")
        assert (await store.verify_trace()).ok
        await backend.raw(f"UPDATE retention_head SET archived_hash = '{'1' * 64}'")
        result = await store.verify_trace()
        assert (result.ok, result.first_broken_seq) == (False, 4)
        assert "prev_hash" in (result.reason or "")

    async def test_a_live_documents_trace_checks_out_around_archived_entries(
        self, store: Store, backend: Backend
    ) -> None:
        """The console's per-document check after retention: the document is still in flight,
        so its entries stay while their archived neighbours are deleted."""
        doc_id, _ = await accept(store, 1)  # receive, accept: seq 1, 2
        await store.append_trace([ev("admin.x")])  # 3
        await store.append_trace([ev("status", doc_id)])  # 4
        await store.append_trace([ev("admin.x")])  # 5
        await store.claim_retention("gw-a", 60)
        rows = await _entries(store, 0, 5)
        await store.commit_archive(_record(1, rows, 1, 0, backend.clock.now), [], node="gw-a")
        assert [r.seq for r in await _entries(store, 0, 10)] == [1, 2, 4]
        await store.append_trace([ev("status", doc_id)])  # 6: links to the archived hash
        result = await store.verify_document_trace(doc_id)
        assert (result.ok, result.checked) == (True, 4)
        # Still a check: a forged link after the archive is found.
        await backend.raw(f"UPDATE retention_head SET archived_hash = '{'1' * 64}'")
        broken = await store.verify_document_trace(doc_id)
        assert (broken.ok, broken.first_broken_seq) == (False, 6)
