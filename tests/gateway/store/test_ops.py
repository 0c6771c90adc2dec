"""Contract of ``Store.republish_in_flight`` on both backends (after a restore, a lost broker)."""

from __future__ import annotations

from gateway.store import DeliveryState, NewOutbox, Store

from .factories import accept, ev

S = DeliveryState


async def test_republish_in_flight_reopens_the_newest_row_of_unsettled_deliveries(
    store: Store,
) -> None:
    doc, ids = await accept(store, 1, ("R1", "R2", "R3", "R4"))
    rows = await store.claim_outbox(10, "relay-a", lease_seconds=30)
    assert len(rows) == 4
    assert await store.mark_published([r.id for r in rows]) == 4  # all queued
    r1, r2, r3, r4 = ids
    assert await store.record_delivery(r1)  # delivered: its message is spent
    assert await store.set_delivery_state(r2, S.RETRYING, error="x")  # in a delay queue
    assert await store.set_delivery_state(r3, S.DEAD, error="y")  # parked: an admin replays
    # r4 stays queued: its message may exist only in the lost broker.
    assert await store.claim_outbox(10, "relay-b", lease_seconds=30) == []
    before = (await store.outbox_lag()).unpublished

    changed = await store.republish_in_flight([ev("admin.republish", reason="restore")])

    assert (before, changed) == (0, 2)
    again = await store.claim_outbox(10, "relay-b", lease_seconds=30)
    assert sorted(r.delivery_id for r in again if r.delivery_id) == sorted([r2, r4])
    assert (await store.verify_trace()).ok
    # Nothing in flight any more: a no-op that writes nothing, trace included.
    assert await store.mark_published([r.id for r in again]) == 2
    assert await store.record_delivery(r4)
    assert await store.set_delivery_state(r2, S.QUEUED)
    assert await store.record_delivery(r2)
    head = (await store.verify_trace()).checked
    assert await store.republish_in_flight([ev("admin.republish")]) == 0
    assert (await store.verify_trace()).checked == head
    assert doc == "doc-1"


async def test_republish_in_flight_takes_only_the_newest_row_of_a_delivery(store: Store) -> None:
    _, [only] = await accept(store, 2, ("R1",))
    rows = await store.claim_outbox(10, "relay-a", lease_seconds=30)
    await store.mark_published([r.id for r in rows])
    # A dead delivery replayed by an admin gets a second outbox row (dead -> pending).
    await store.set_delivery_state(only, S.DEAD, error="x")
    [first] = rows
    await store.set_delivery_state(
        only,
        S.PENDING,
        outbox=[
            NewOutbox(
                delivery_id=only,
                exchange=first.exchange,
                routing_key=first.routing_key,
                headers=dict(first.headers),
                body=first.body,
            )
        ],
    )
    replay = await store.claim_outbox(10, "relay-a", lease_seconds=30)
    await store.mark_published([r.id for r in replay])
    assert await store.republish_in_flight() == 1
    [reopened] = await store.claim_outbox(10, "relay-b", lease_seconds=30)
    assert reopened.id == replay[0].id > first.id
