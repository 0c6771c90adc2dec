"""The Store contract: one test class, run against SQLite (a file) and PostgreSQL (a schema)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import asyncpg
import pytest

from gateway.store import (
    Agency,
    BadCursor,
    BadTransition,
    Message,
    NewDelivery,
    NewOutbox,
    OutboxClaim,
    StatusEvent,
    Store,
    StoreConflict,
    StoreError,
    StoreInvalid,
    StoreNotFound,
    StoreUnavailable,
    System,
)
from gateway.store.chain import GENESIS, entry_hash
from gateway.store.errors import SchemaTooNew
from gateway.store.migrations import MIGRATIONS

from .conftest import Backend
from .factories import SENDER, T0, S, accept, ev, message, paths_from_pending
from .test_lifecycle import CELLS


class TestStoreContract:
    # -- schema ----------------------------------------------------------------------------
    async def test_migrate_applies_all_once_then_is_a_noop(
        self, store: Store, backend: Backend
    ) -> None:
        assert backend.applied == [m.version for m in MIGRATIONS]
        assert await store.migrate() == []
        assert await store.migrate() == []
        rows = await backend.raw("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]

    async def test_migrate_refuses_a_schema_newer_than_this_release(
        self, store: Store, backend: Backend
    ) -> None:
        newer = MIGRATIONS[-1].version + 1
        await backend.raw(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            f" VALUES ({newer}, 'from_a_newer_release', '2026-11-21T00:00:00.000000Z')"
        )
        with pytest.raises(SchemaTooNew, match=str(newer)) as caught:
            await store.migrate()
        assert caught.value.code == "store.schema_too_new"

    # -- accept ----------------------------------------------------------------------------
    async def test_accept_writes_everything_and_reaccept_writes_nothing(self, store: Store) -> None:
        doc_id, ids = await accept(store, 1)
        original = message(1)
        assert await store.get_message(doc_id) == original
        deliveries = await store.list_deliveries(doc_id=doc_id)
        assert [d.delivery_id for d in deliveries] == ids
        assert {d.state for d in deliveries} == {S.PENDING}
        assert (await store.outbox_lag()).unpublished == 3
        assert [t.stage for t in await store.trace_for(doc_id)] == ["receive", "accept"]

        # The same package again under a new doc_id: the original id comes back, no writes.
        again = message(1, doc_id="doc-1-resent", received_at=T0 + timedelta(hours=1))
        result = await store.accept(
            again,
            [NewDelivery(delivery_id="other", recipient="R9", route="local")],
            [NewOutbox(delivery_id="other", exchange="x", routing_key="k")],
            [ev("accept", "doc-1-resent")],
        )
        assert (result.doc_id, result.created) == (doc_id, False)
        assert await store.get_message("doc-1-resent") is None
        assert await store.get_delivery("other") is None
        assert (await store.outbox_lag()).unpublished == 3
        assert await store.trace_for("doc-1-resent") == []
        assert (await store.verify_trace()).checked == 2

    async def test_accept_is_all_or_nothing(self, store: Store) -> None:
        await accept(store, 1)
        m = message(2)
        with pytest.raises(StoreConflict) as info:
            await store.accept(
                m,
                [NewDelivery(delivery_id="doc-1:R1", recipient="R1", route="local")],  # taken
                [NewOutbox(delivery_id=None, exchange="x", routing_key="k")],
                [ev("accept", m.doc_id)],
            )
        assert info.value.code == "store.conflict"
        assert await store.get_message(m.doc_id) is None
        assert (await store.outbox_lag()).unpublished == 3
        assert (await store.verify_trace()).checked == 2

    async def test_accept_keeps_a_small_package_with_the_message(self, store: Store) -> None:
        sealed = bytes(range(256)) * 48  # 12 KiB, every byte value (binary-safe)
        doc_id, _ = await accept(store, 1, sealed=sealed)
        stored = await store.get_message(doc_id)
        assert stored is not None
        assert await store.get_blob(stored.blob_key) == sealed
        assert await store.get_blob("blobs/2") is None  # never written
        # A duplicate writes nothing, its bytes included.
        again = await store.accept(
            message(1, doc_id="doc-1-resent", blob_key="blobs/resent"), [], [], [], sealed=b"x"
        )
        assert not again.created
        assert await store.get_blob("blobs/resent") is None
        # A failed accept leaves no bytes behind (one transaction).
        m = message(2)
        with pytest.raises(StoreConflict):
            await store.accept(
                m,
                [NewDelivery(delivery_id="doc-1:R1", recipient="R1", route="local")],  # taken
                [],
                [],
                sealed=b"<edXML/>",
            )
        assert await store.get_blob(m.blob_key) is None
        # Content-addressed: a second message with the same key keeps the first bytes.
        await accept(store, 3, blob_key=stored.blob_key, sealed=sealed)
        assert await store.get_blob(stored.blob_key) == sealed

    async def test_concurrent_duplicates_create_one_message(self, store: Store) -> None:
        attempts = [message(1, doc_id=f"race-{i}") for i in range(6)]
        results = await asyncio.gather(*(store.accept(m, [], [], []) for m in attempts))
        assert sum(r.created for r in results) == 1
        winner = next(r.doc_id for r in results if r.created)
        assert {r.doc_id for r in results} == {winner}

    async def test_accept_refuses_naive_timestamps(self, store: Store) -> None:
        with pytest.raises(StoreInvalid):
            await store.accept(message(1, received_at=datetime(2025, 7, 1, 8, 0)), [], [], [])
        assert await store.get_message("doc-1") is None

    # -- outbox ----------------------------------------------------------------------------
    async def test_outbox_claim_lease_publish_cycle(self, store: Store, backend: Backend) -> None:
        doc1, ids1 = await accept(store, 1)
        doc2, ids2 = await accept(store, 2)
        first = await store.claim_outbox(4, "relay-a", lease_seconds=30)
        assert [o.delivery_id for o in first] == ids1 + ids2[:1]  # oldest first
        assert [o.id for o in first] == sorted(o.id for o in first)
        assert {(o.claimed_by, o.attempts) for o in first} == {("relay-a", 1)}
        assert first[0].headers == {"doc_id": doc1, "delivery_id": ids1[0]}
        assert first[0].body == b'{"blob": "blobs/1"}'
        second = await store.claim_outbox(10, "relay-b", lease_seconds=30)
        assert [o.delivery_id for o in second] == ids2[1:]
        assert await store.claim_outbox(10, "relay-c", lease_seconds=30) == []

        assert await store.mark_published([o.id for o in second], [ev("publish", doc2)]) == 2
        assert [d.state for d in await store.list_deliveries(doc_id=doc2)] == [
            S.PENDING,
            S.QUEUED,
            S.QUEUED,
        ]
        # relay-a died: after its lease, its rows go to whoever claims next.
        backend.clock.advance(31)
        again = await store.claim_outbox(10, "relay-b", lease_seconds=30)
        assert [o.id for o in again] == [o.id for o in first]
        assert {(o.claimed_by, o.attempts) for o in again} == {("relay-b", 2)}
        assert await store.mark_published([o.id for o in again]) == 4
        assert await store.mark_published([o.id for o in again]) == 0  # confirms repeat
        assert {d.state for d in await store.list_deliveries(doc_id=doc1)} == {S.QUEUED}
        assert tuple(await store.outbox_lag()) == (0, 0.0)
        assert await store.claim_outbox(10, "relay-a", lease_seconds=30) == []

    async def test_accept_with_a_claim_writes_leased_rows_and_returns_them(
        self, store: Store, backend: Backend
    ) -> None:
        m = message(1)
        deliveries, outbox = _leased_rows(m, 3)
        result = await store.accept(
            m, deliveries, outbox, [ev("accept", m.doc_id)], claim=OutboxClaim("node-a", 30)
        )
        assert result.created
        claimed = result.claimed
        assert [o.delivery_id for o in claimed] == [d.delivery_id for d in deliveries]
        assert [o.id for o in claimed] == sorted(o.id for o in claimed)
        assert {(o.claimed_by, o.attempts, o.published_at) for o in claimed} == {
            ("node-a", 1, None)
        }
        assert [o.headers["n"] for o in claimed] == [0, 1, 2]
        assert {o.body for o in claimed} == {b'{"blob": "b"}'}
        # One lease from the commit's clock, as claim_outbox would have given.
        assert {o.claimed_until - o.created_at for o in claimed if o.claimed_until} == {
            timedelta(seconds=30)
        }
        # Leased: no other relay takes them until the lease runs out...
        assert await store.claim_outbox(10, "relay-b", lease_seconds=30) == []
        assert (await store.outbox_lag()).unpublished == 3
        # ...the owner publishes them as claimed rows...
        assert await store.mark_published([claimed[0].id]) == 1
        # ...and if it never does, the rest go to the next relay, as after claim_outbox.
        backend.clock.advance(31)
        again = await store.claim_outbox(10, "relay-b", lease_seconds=30)
        assert [o.id for o in again] == [o.id for o in claimed[1:]]
        assert {o.attempts for o in again} == {2}
        # A duplicate writes nothing and claims nothing.
        dup = await store.accept(
            message(1, doc_id="doc-1-again"), [], [], [], claim=OutboxClaim("node-a", 30)
        )
        assert (dup.created, dup.claimed) == (False, ())

    async def test_accept_claims_more_rows_than_one_statement_binds(self, store: Store) -> None:
        m = message(1)
        deliveries, outbox = _leased_rows(m, 1203)
        result = await store.accept(m, deliveries, outbox, [], claim=OutboxClaim("node-a", 30))
        assert [o.delivery_id for o in result.claimed] == [d.delivery_id for d in deliveries]
        assert len({o.id for o in result.claimed}) == 1203

    async def test_outbox_lag_and_purge(self, store: Store, backend: Backend) -> None:
        await accept(store, 1)
        backend.clock.advance(12)
        count, age = await store.outbox_lag()
        assert count == 3
        assert 12 <= age < 13
        rows = await store.claim_outbox(10, "relay", 30)
        await store.mark_published([rows[0].id])
        assert await store.purge_outbox(backend.clock.now - timedelta(seconds=5)) == 0
        backend.clock.advance(10)
        assert await store.purge_outbox(backend.clock.now) == 1
        assert (await store.outbox_lag()).unpublished == 2

    async def test_two_concurrent_claimers_never_share_a_row(
        self, store: Store, backend: Backend
    ) -> None:
        for n in range(20):
            await accept(store, n)
        other = await backend.open()  # a second relay process: its own connections
        try:

            async def relay(s: Store, node: str) -> list[int]:
                got: list[int] = []
                while batch := await s.claim_outbox(4, node, lease_seconds=300):
                    got += [o.id for o in batch]
                    await asyncio.sleep(0)
                return got

            a, b, c = await asyncio.gather(relay(store, "a"), relay(other, "b"), relay(other, "c"))
        finally:
            await other.close()
        assert not set(a) & set(b)
        assert not set(a) & set(c)
        assert not set(b) & set(c)
        assert sorted(a + b + c) == sorted(set(a + b + c))
        assert len(a + b + c) == 60

    # -- delivery lifecycle ----------------------------------------------------------------
    async def test_delivery_lifecycle_every_cell(self, store: Store) -> None:
        recipients = [f"R{i:02d}" for i in range(len(CELLS))]
        doc_id, ids = await accept(store, 1, recipients)
        paths = paths_from_pending()
        failures = []
        for (frm, to, mark), delivery_id in zip(CELLS, ids, strict=True):
            for step in paths[frm]:
                assert await store.set_delivery_state(delivery_id, step) is True
            traced = len(await store.trace_for(doc_id))
            try:
                changed = await store.set_delivery_state(
                    delivery_id, to, trace=[ev("lifecycle", doc_id, cell=f"{frm}->{to}")]
                )
                got = "+" if changed else "="
            except BadTransition:
                got = "x"
            after = await store.get_delivery(delivery_id)
            assert after is not None
            state_ok = after.state == (to if mark == "+" else frm)
            traced_ok = len(await store.trace_for(doc_id)) - traced == (mark == "+")
            if (got, state_ok, traced_ok) != (mark, True, True):
                failures.append((frm.value, to.value, mark, got, after.state.value, traced_ok))
        assert failures == []
        assert (await store.verify_trace()).ok

    async def test_lifecycle_bookkeeping(self, store: Store) -> None:
        _, (d1, d2, d3) = await accept(store, 1)
        await store.set_delivery_state(d1, S.QUEUED)
        await store.set_delivery_state(d1, S.RETRYING, error="peer timeout")
        await store.set_delivery_state(d1, S.QUEUED)
        await store.set_delivery_state(d1, S.RETRYING, error="peer refused")
        got = await store.get_delivery(d1)
        assert got is not None
        assert (got.attempts, got.last_error) == (2, "peer refused")
        await store.set_delivery_state(d1, S.DEAD, error="too many attempts")
        # Replay keeps the delivery_id, resets the budget and enqueues a new publish with it.
        replay = NewOutbox(delivery_id=d1, exchange="edxgw.route", routing_key="H53.R1")
        before = (await store.outbox_lag()).unpublished
        assert await store.set_delivery_state(d1, S.PENDING, outbox=[replay]) is True
        got = await store.get_delivery(d1)
        assert got is not None
        assert (got.state, got.attempts, got.last_error, got.delivered_at) == (
            S.PENDING,
            0,
            None,
            None,
        )
        assert (await store.outbox_lag()).unpublished == before + 1

        await store.record_delivery(d2)
        await store.acknowledge(d2, "R2", ok=True)
        got = await store.get_delivery(d2)
        assert got is not None
        assert got.delivered_at
        assert got.acked_at
        assert got.delivered_at < got.acked_at
        with pytest.raises(StoreNotFound):
            await store.set_delivery_state("nope", S.QUEUED)
        with pytest.raises(BadTransition):
            await store.set_delivery_state(d3, S.DONE)

    async def test_record_delivery_dedupes_redelivery(self, store: Store) -> None:
        doc_id, (d1, d2, d3) = await accept(store, 1)
        # The consumer commits before the relay marks the row published (a normal race).
        assert await store.record_delivery(d1, [ev("deliver", doc_id, n=1)]) is True
        assert await store.record_delivery(d1, [ev("deliver", doc_id, n=2)]) is False
        assert [t.detail for t in await store.trace_for(doc_id)][-1] == {"n": 1}
        rows = await store.claim_outbox(10, "relay", 30)
        await store.mark_published([o.id for o in rows])
        states = {d.delivery_id: d.state for d in await store.list_deliveries(doc_id=doc_id)}
        assert states == {d1: S.DELIVERED, d2: S.QUEUED, d3: S.QUEUED}  # no regression
        await store.set_delivery_state(d2, S.RETRYING)
        assert await store.record_delivery(d2) is True
        await store.acknowledge(d2, "R2", ok=True)
        assert await store.record_delivery(d2) is False  # even once acknowledged
        await store.set_delivery_state(d3, S.DEAD)
        with pytest.raises(BadTransition):
            await store.record_delivery(d3)
        with pytest.raises(StoreNotFound):
            await store.record_delivery("nope")

    # -- inbox -----------------------------------------------------------------------------
    async def test_inbox_filters(self, store: Store, backend: Backend) -> None:
        d1, _ = await accept(store, 1, ("R1", "R2"))
        await accept(store, 2, ("P1",), route="downlink")
        d3, _ = await accept(store, 3, ("R1",), kind="status", status_code="03")
        d4, _ = await accept(store, 4, ("R1",))
        await accept(store, 5, ("R1",))  # never delivered: not in any inbox
        for did in (f"{d1}:R1", f"{d1}:R2", "doc-2:P1", f"{d3}:R1", f"{d4}:R1"):
            await store.record_delivery(did)

        async def inbox(ids: Sequence[str], **kw: object) -> list[str]:
            page = await store.list_inbox(ids, **kw)  # type: ignore[arg-type]
            return [i.delivery.delivery_id for i in page.items]

        assert await inbox(["R1"]) == [f"{d1}:R1", f"{d3}:R1", f"{d4}:R1"]
        assert await inbox(["R1", "R2"]) == [f"{d1}:R1", f"{d1}:R2", f"{d3}:R1", f"{d4}:R1"]
        assert await inbox(["P1"]) == []  # handed to a peer hub, not a local inbox
        assert await inbox([]) == []
        assert await inbox(["R1"], kind="status") == [f"{d3}:R1"]
        await store.acknowledge(f"{d1}:R1", "R1", ok=True)
        await store.acknowledge(f"{d4}:R1", "R1", ok=False, reason="unreadable")
        assert await inbox(["R1"], state=S.DONE) == [f"{d1}:R1"]
        assert await inbox(["R1"], state=S.FAILED) == [f"{d4}:R1"]
        assert await inbox(["R1"], state=S.DELIVERED) == [f"{d3}:R1"]
        assert await inbox(["R1"], state=S.PENDING) == []
        item = (await store.list_inbox(["R1"], state=S.DELIVERED)).items[0]
        assert item.message == message(3, kind="status", status_code="03")
        assert item.delivery.delivered_at is not None
        assert await inbox(["R1"], since=item.delivery.delivered_at) == [f"{d3}:R1", f"{d4}:R1"]

    async def test_inbox_keyset_pagination(self, store: Store) -> None:
        for n in range(7):
            _, (did,) = await accept(store, n, ("R9",))
            await store.record_delivery(did)
        seen: list[str] = []
        cursor = None
        pages = []
        while True:
            page = await store.list_inbox(["R9"], limit=3, cursor=cursor)
            pages.append(len(page.items))
            seen += [i.delivery.delivery_id for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            if len(pages) == 1:  # a delivery arriving mid-walk shows up once, at the end
                _, (late,) = await accept(store, 99, ("R9",))
                await store.record_delivery(late)
        assert pages == [3, 3, 2]
        assert seen == [f"doc-{n}:R9" for n in range(7)] + ["doc-99:R9"]
        for bad in ("garbage!", "WyJ2MSJd", "eyJhIjogMX0"):
            with pytest.raises(BadCursor) as info:
                await store.list_inbox(["R9"], cursor=bad)
            assert info.value.http_status == 400

    async def test_acknowledge(self, store: Store) -> None:
        _, (d1, d2, d3) = await accept(store, 1)
        for did in (d1, d2):
            await store.record_delivery(did)
        assert await store.acknowledge(d1, "R1", ok=True, trace=[ev("ack", "doc-1")]) is True
        assert await store.acknowledge(d1, "R1", ok=True) is False  # a repeated updateStatus
        with pytest.raises(BadTransition):
            await store.acknowledge(d1, "R1", ok=False)
        assert await store.acknowledge(d2, "R2", ok=False, reason="cannot open") is True
        got = await store.get_delivery(d2)
        assert got is not None
        assert (got.state, got.last_error) == (S.FAILED, "cannot open")
        with pytest.raises(StoreNotFound):
            await store.acknowledge(d2, "R1", ok=True)  # not R1's delivery
        with pytest.raises(BadTransition):
            await store.acknowledge(d3, "R3", ok=True)  # never delivered

    # -- statuses --------------------------------------------------------------------------
    async def test_status_progress_is_monotonic_and_order_free(self, store: Store) -> None:
        doc_id, _ = await accept(store, 1, ("R1", "R2"))
        original = await store.get_message(doc_id)
        assert original is not None
        found = await store.find_message_by_document_id(SENDER, original.document_id)
        assert found is not None
        assert found.doc_id == doc_id
        assert await store.find_message_by_document_id("someone-else", original.document_id) is None

        def status(sid: str, recipient: str, code: str, minute: int) -> StatusEvent:
            return StatusEvent(
                status_doc_id=sid,
                doc_id=doc_id,
                recipient=recipient,
                from_organ=recipient,
                code=code,
                at=T0 + timedelta(minutes=minute),
            )

        # R1 reports 01 03 04 05; they arrive as 05, 03, 01, 05 (again), 04.
        arrivals = [
            status("s5", "R1", "05", 5),
            status("s3", "R1", "03", 3),
            status("s1", "R1", "01", 1),
            status("s5", "R1", "05", 5),
            status("s4", "R1", "04", 4),
        ]
        recorded = [await store.record_status(e, [ev("status", doc_id)]) for e in arrivals]
        assert recorded == [True, True, True, False, True]
        # R2 rejects, then (a protocol error) accepts: stored, but 02 is terminal.
        assert await store.record_status(status("r2", "R2", "02", 2))
        # A status package accepted with its event in the same transaction.
        late = message(50, kind="status", sender="R2", status_code="03")
        result = await store.accept(late, [], [], [], status=status(late.doc_id, "R2", "03", 7))
        assert result.created
        # The recall sub-protocol: the sender's 13 arrives after R1's 15.
        assert await store.record_status(status("c15", "R1", "15", 11))
        assert await store.record_status(
            StatusEvent(
                status_doc_id="c13",
                doc_id=doc_id,
                recipient="R1",
                from_organ=SENDER,  # 13 comes from the original sender (edxml.md §2.2)
                code="13",
                at=T0 + timedelta(minutes=10),
                description="gửi nhầm",
            )
        )
        r1, r2 = await store.get_progress(doc_id)
        assert (r1.recipient, r1.level, r1.level_at) == ("R1", "05", T0 + timedelta(minutes=5))
        assert (r1.change_state, r1.change_at) == ("15", T0 + timedelta(minutes=11))
        assert (r1.events, r1.last_code) == (6, "13")
        assert (r2.recipient, r2.level, r2.events, r2.last_code) == ("R2", "02", 2, "03")
        events = await store.list_status_events(doc_id)
        assert [e.status_doc_id for e in events] == [
            "s1", "r2", "s3", "s4", "s5", late.doc_id, "c13", "c15",
        ]  # fmt: skip
        assert events[6].description == "gửi nhầm"
        assert all(e.recorded_at is not None for e in events)
        assert len(await store.trace_for(doc_id)) == 2 + 4  # duplicates leave no trace

    async def test_status_without_a_known_original(self, store: Store) -> None:
        orphan = StatusEvent(
            status_doc_id="st-x", doc_id=None, recipient="R1", from_organ="R1", code="01", at=T0
        )
        assert await store.record_status(orphan) is True
        assert await store.record_status(orphan) is False
        with pytest.raises(StoreInvalid):  # a doc_id must name a stored message
            await store.record_status(
                StatusEvent(
                    status_doc_id="st-y",
                    doc_id="missing",
                    recipient="R1",
                    from_organ="R1",
                    code="01",
                    at=T0,
                )
            )

    # -- trace -----------------------------------------------------------------------------
    async def test_trace_chain_verifies_and_detects_tampering(
        self, store: Store, backend: Backend
    ) -> None:
        awkward = {"vi": "Ủy ban nhân dân", "big": 1e20, "zero": -0.0, "f": 0.1, "n": [1, None]}
        rows = await store.append_trace([ev(f"s{i}", "D", i=i, **awkward) for i in range(5)])
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
        assert await store.trace_for("D") == rows
        result = await store.verify_trace()
        assert (result.ok, result.checked, result.first_broken_seq) == (True, 5, None)

        with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):  # append-only guard
            await backend.raw("UPDATE trace_events SET outcome = 'x' WHERE seq = 3")
        await backend.raw(backend.drop_trace_guard)
        await backend.raw("UPDATE trace_events SET outcome = 'tampered' WHERE seq = 3")
        result = await store.verify_trace()
        assert (result.ok, result.first_broken_seq) == (False, 3)
        assert result.reason is not None
        assert "altered" in result.reason
        assert (await store.verify_trace(start=4)).ok  # the part after it is intact

        # A careful forger also fixes row 3's hash: then row 4's link gives it away.
        t3 = (await store.trace_for("D"))[2]
        forged = entry_hash(
            t3.seq, t3.doc_id, t3.node, t3.stage, "tampered", t3.detail, t3.at, t3.prev_hash
        )
        await backend.raw(f"UPDATE trace_events SET hash = '{forged}' WHERE seq = 3")
        result = await store.verify_trace()
        assert (result.ok, result.first_broken_seq) == (False, 4)

    async def test_trace_is_verified_in_limited_reads_that_resume(
        self, store: Store, backend: Backend
    ) -> None:
        await store.append_trace([ev("s", "D", i=i) for i in range(7)])
        parts, start = [], 1
        while True:
            part = await store.verify_trace(start, limit=3)
            parts.append((part.ok, part.checked, part.resume_at, part.last_seq))
            if part.resume_at is None:
                break
            start = part.resume_at
        assert parts == [(True, 3, 4, 3), (True, 3, 7, 6), (True, 1, None, 7)]
        with pytest.raises(ValueError, match="limit"):
            await store.verify_trace(1, limit=0)
        # A limited read finds an altered entry in its part and names it.
        await backend.raw(backend.drop_trace_guard)
        await backend.raw("UPDATE trace_events SET outcome = 'tampered' WHERE seq = 5")
        assert (await store.verify_trace(1, limit=3)).ok  # entries 1-3 are intact
        broken = await store.verify_trace(4, limit=3)
        assert (broken.ok, broken.first_broken_seq, broken.resume_at) == (False, 5, None)

    async def test_trace_tail_deletion_is_detected(self, store: Store, backend: Backend) -> None:
        await store.append_trace([ev("a"), ev("b"), ev("c")])
        if backend.name == "sqlite":
            await backend.raw("DROP TRIGGER trace_events_no_delete")
        else:
            await backend.raw(backend.drop_trace_guard)
        await backend.raw("DELETE FROM trace_events WHERE seq = 3")
        result = await store.verify_trace()
        assert (result.ok, result.first_broken_seq) == (False, 3)

    async def test_concurrent_appenders_keep_one_linear_chain(
        self, store: Store, backend: Backend
    ) -> None:
        other = await backend.open()
        try:
            await asyncio.gather(
                *(
                    s.append_trace([ev("x", i=i), ev("y", i=i)])
                    for i, s in enumerate((store, other) * 10)
                )
            )
        finally:
            await other.close()
        result = await store.verify_trace()
        assert (result.ok, result.checked) == (True, 40)

    async def test_appends_queued_together_stay_linear_around_refused_ones(
        self, store: Store
    ) -> None:
        # Queued at once, these commit together on SQLite (one transaction, a savepoint
        # each, the head remembered between them); the refused ones must leave no gap.
        good = [store.append_trace([ev("a", i=i), ev("b", i=i)]) for i in range(6)]
        bad = [store.append_trace([ev("bad", i=i, text="nul\x00")]) for i in range(2)]
        results = await asyncio.gather(*good[:3], bad[0], *good[3:], bad[1], return_exceptions=True)
        refused = [r for r in results if isinstance(r, BaseException)]
        assert [type(r) for r in refused] == [StoreInvalid, StoreInvalid]
        seqs = sorted(r.seq for rows in results if isinstance(rows, list) for r in rows)
        assert seqs == list(range(1, 13))
        result = await store.verify_trace()
        assert (result.ok, result.checked) == (True, 12)

    async def test_an_event_serialised_ahead_is_stored_as_the_store_would_serialise_it(
        self, store: Store
    ) -> None:
        detail = {"vi": "Ủy ban nhân dân", "big": 1e20, "zero": -0.0, "n": [1, None]}
        ahead = ev("accept", "doc-1", **detail).serialised()
        assert ahead.detail_json is not None
        assert ahead == ev("accept", "doc-1", **detail)  # the same event, compared
        m = message(1)
        await store.accept(m, [], [], [ahead, ev("accept", "doc-1", **detail)])
        first, second = await store.trace_for("doc-1")
        assert first.detail == second.detail == {
            "vi": "Ủy ban nhân dân", "big": 10**20, "zero": 0.0, "n": [1, None]
        }  # fmt: skip
        assert (await store.verify_trace()).ok
        # A detail the store refuses is left for the store to refuse.
        bad = ev("accept", "doc-2", text="nul\x00").serialised()
        assert bad.detail_json is None
        with pytest.raises(StoreInvalid):
            await store.accept(message(2), [], [], [bad])
        assert await store.get_message("doc-2") is None

    async def test_a_large_append_spans_several_statements(self, store: Store) -> None:
        rows = await store.append_trace([ev("bulk", i=i) for i in range(1203)])
        assert [r.seq for r in rows] == list(range(1, 1204))
        result = await store.verify_trace()
        assert (result.ok, result.checked) == (True, 1203)

    # -- directory -------------------------------------------------------------------------
    async def test_directory_aliases_resolve_lock_merge(self, store: Store) -> None:
        province = Agency(organ_id="000.00.00.H53", name="UBND tỉnh", level=1, host="local")
        xa_a = Agency(
            organ_id="000.01.31.H53",
            name="UBND xã A",
            level=4,
            parent_id="000.00.00.H53",
            host="local",
            delivery_mode="pull",
        )
        xa_b = Agency(
            organ_id="000.02.31.H53", name="UBND xã B", level=4, parent_id="000.00.00.H53"
        )
        for a in (province, xa_a, xa_b):
            stored = await store.upsert_agency(a, [ev("directory.upsert", organ_id=a.organ_id)])
            assert stored.updated_at is not None
            assert stored.organ_id == a.organ_id
        await store.add_alias("H53.31.01", "000.01.31.H53")
        await store.add_alias("G12.31.01", "000.01.31.H53")
        assert await store.list_aliases("000.01.31.H53") == ["G12.31.01", "H53.31.01"]
        assert await store.alias_map() == {
            "G12.31.01": "000.01.31.H53",
            "H53.31.01": "000.01.31.H53",
        }
        got = await store.resolve("H53.31.01")
        assert got is not None
        assert got.name == "UBND xã A"
        assert got.delivery_mode == "pull"
        by_id = await store.resolve("000.00.00.H53")
        assert by_id is not None
        assert replace(by_id, updated_at=None) == province
        assert await store.resolve("unknown") is None
        with pytest.raises(StoreNotFound):
            await store.add_alias("X", "999.99.99.H99")
        with pytest.raises(StoreInvalid):
            await store.add_alias("000.02.31.H53", "000.01.31.H53")

        locked = await store.set_agency_state("000.02.31.H53", "locked")
        assert locked.state == "locked"
        # 2025 mergers: xã A joins xã B; aliases still resolve to A, the router follows.
        await store.set_agency_state("000.02.31.H53", "active")
        merged = await store.set_agency_state(
            "000.01.31.H53", "merged", successor_id="000.02.31.H53"
        )
        assert (merged.state, merged.successor_id) == ("merged", "000.02.31.H53")
        via_alias = await store.resolve("G12.31.01")
        assert via_alias is not None
        assert (via_alias.organ_id, via_alias.successor_id) == ("000.01.31.H53", "000.02.31.H53")
        with pytest.raises(StoreInvalid):
            await store.set_agency_state("000.02.31.H53", "merged")
        with pytest.raises(StoreNotFound):
            await store.set_agency_state("000.01.31.H53", "merged", successor_id="nope")
        with pytest.raises(StoreNotFound):
            await store.set_agency_state("nope", "locked")

        children = await store.list_agencies(parent="000.00.00.H53")
        assert [a.organ_id for a in children] == ["000.01.31.H53", "000.02.31.H53"]
        assert [a.organ_id for a in await store.list_agencies(host="uplink")] == ["000.02.31.H53"]
        assert [a.organ_id for a in await store.list_agencies(state="merged")] == ["000.01.31.H53"]
        page = await store.list_agencies(after="000.00.00.H53", limit=1)
        assert [a.organ_id for a in page] == ["000.01.31.H53"]
        renamed = await store.upsert_agency(
            Agency(organ_id="000.02.31.H53", name="UBND xã B mới", level=4, host="local")
        )
        assert renamed.name == "UBND xã B mới"
        assert await store.list_aliases("000.01.31.H53") == ["G12.31.01", "H53.31.01"]

    async def test_systems(self, store: Store) -> None:
        qlvb = System(
            system_id="qlvb-1",
            name="QLVB Sở Nội vụ",
            token_sha256="a" * 64,
            cert_sha256="c" * 64,
            secret="hmac-secret",
            signature_policy="lenient",
            agencies=("000.01.31.H53", "000.00.00.H53"),
        )
        stored = await store.upsert_system(qlvb, [ev("system.upsert", system_id="qlvb-1")])
        assert stored.agencies == ("000.00.00.H53", "000.01.31.H53")
        assert stored.created_at is not None
        assert "hmac-secret" not in repr(stored)
        assert "a" * 64 not in repr(stored)
        assert await store.find_system_by_token_hash("a" * 64) == stored
        assert await store.find_system_by_cert("c" * 64) == stored
        assert await store.find_system_by_token_hash("b" * 64) is None
        assert await store.get_system("nope") is None

        await store.set_system_agencies("qlvb-1", ["000.02.31.H53"])
        got = await store.get_system("qlvb-1")
        assert got is not None
        assert got.agencies == ("000.02.31.H53",)
        revoked = await store.upsert_system(
            System(system_id="qlvb-1", name="QLVB", token_sha256="a" * 64, revoked=True)
        )
        assert revoked.revoked
        assert revoked.created_at == stored.created_at
        assert revoked.cert_sha256 is None
        assert revoked.agencies == ()
        found = await store.find_system_by_token_hash("a" * 64)
        assert found is not None
        assert found.revoked
        await store.upsert_system(System(system_id="qlvb-2", name="Other"))
        assert [s.system_id for s in await store.list_systems()] == ["qlvb-1", "qlvb-2"]
        with pytest.raises(StoreConflict):
            await store.upsert_system(System(system_id="qlvb-3", name="X", token_sha256="a" * 64))
        with pytest.raises(StoreNotFound):
            await store.set_system_agencies("nope", ["x"])
        with pytest.raises(StoreInvalid):
            await store.upsert_system(
                System(system_id="qlvb-4", name="X", signature_policy="maybe")
            )

    # -- lifetime --------------------------------------------------------------------------
    async def test_accepted_data_survives_close_and_reopen(
        self, store: Store, backend: Backend
    ) -> None:
        doc_id, ids = await accept(store, 1, sealed=b"<edXML>sealed</edXML>")
        await store.record_status(
            StatusEvent(
                status_doc_id="s1", doc_id=doc_id, recipient="R1", from_organ="R1", code="03", at=T0
            )
        )
        await store.close()
        reopened = await backend.open()
        try:
            assert await reopened.migrate() == []
            assert await reopened.get_message(doc_id) == message(1)
            assert await reopened.get_blob(message(1).blob_key) == b"<edXML>sealed</edXML>"
            assert [d.delivery_id for d in await reopened.list_deliveries(doc_id=doc_id)] == ids
            assert (await reopened.outbox_lag()).unpublished == 3
            assert [p.level for p in await reopened.get_progress(doc_id)] == ["03"]
            result = await reopened.verify_trace()
            assert (result.ok, result.checked) == (True, 2)
        finally:
            await reopened.close()

    async def test_closed_store_is_unavailable(self, store: Store) -> None:
        assert await store.health() is True
        await store.close()
        await store.close()  # idempotent
        assert await store.health() is False
        with pytest.raises(StoreUnavailable) as info:
            await store.get_message("doc-1")
        assert info.value.retryable
        assert info.value.code == "store.unavailable"
        assert isinstance(info.value, StoreError)


def _leased_rows(m: Message, n: int) -> tuple[list[NewDelivery], list[NewOutbox]]:
    """``n`` local deliveries of ``m`` and their outbox rows (header ``n`` numbers them)."""
    deliveries = [
        NewDelivery(delivery_id=f"{m.doc_id}:R{i}", recipient=f"R{i}", route="local")
        for i in range(n)
    ]
    outbox = [
        NewOutbox(
            delivery_id=d.delivery_id,
            exchange="edxgw.route",
            routing_key=f"H53.{d.recipient}",
            headers={"doc_id": m.doc_id, "delivery_id": d.delivery_id, "n": i},
            body=b'{"blob": "b"}',
        )
        for i, d in enumerate(deliveries)
    ]
    return deliveries, outbox
