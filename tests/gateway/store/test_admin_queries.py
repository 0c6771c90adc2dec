"""The admin console's store queries, on SQLite and PostgreSQL alike (``store/_admin.py``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from gateway.store import Agency, BadCursor, DeliveryState, NewOutbox, StatusEvent, Store
from gateway.store.base import DailyCount, ElectronicCount

from .conftest import Backend
from .factories import SENDER, T0, S, accept, message, paths_from_pending

UTC7 = timedelta(hours=7)


async def _move(store: Store, delivery_id: str, target: DeliveryState) -> None:
    for state in paths_from_pending()[target]:
        await store.set_delivery_state(delivery_id, state, error=f"test.{state.value}")


async def _status(store: Store, doc_id: str, recipient: str, code: str, n: int) -> None:
    await store.record_status(
        StatusEvent(
            status_doc_id=f"st-{doc_id}-{recipient}-{code}-{n}",
            doc_id=doc_id,
            recipient=recipient,
            from_organ=recipient,
            code=code,
            at=T0,
        )
    )


async def test_message_keeps_due_date_and_signature_verdict(store: Store) -> None:
    await accept(store, 1, due_date=date(2025, 7, 15), signature="verified")
    await accept(store, 2)
    first, second = await store.get_message("doc-1"), await store.get_message("doc-2")
    assert first == message(1, due_date=date(2025, 7, 15), signature="verified")
    assert second is not None
    assert (second.due_date, second.signature) == (None, None)


async def test_admin_deliveries_lists_states_newest_change_first_with_keyset_pages(
    store: Store,
) -> None:
    _, ids = await accept(store, 1, ("R1", "R2", "R3"))
    _, more = await accept(store, 2, ("R1", "R2"))
    for delivery_id in (ids[2], ids[0], more[1]):  # dead in this order
        await _move(store, delivery_id, S.DEAD)
    await _move(store, more[0], S.RETRYING)

    dead = await store.admin_deliveries([S.DEAD])
    assert [i.delivery.delivery_id for i in dead.items] == [more[1], ids[0], ids[2]]
    assert dead.next_cursor is None
    assert dead.items[0].message.doc_id == "doc-2"
    assert dead.items[0].delivery.last_error == "test.dead"

    both = await store.admin_deliveries([S.DEAD, S.RETRYING])
    assert [i.delivery.delivery_id for i in both.items] == [more[0], more[1], ids[0], ids[2]]

    seen: list[str] = []
    cursor = None
    while True:
        page = await store.admin_deliveries([S.DEAD, S.RETRYING], limit=1, cursor=cursor)
        seen += [i.delivery.delivery_id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [i.delivery.delivery_id for i in both.items]

    assert [i.delivery.delivery_id for i in (await store.admin_deliveries([S.DEAD], recipient="R1")).items] == [ids[0]]  # fmt: skip  # noqa: E501
    by_doc = await store.admin_deliveries([S.DEAD], doc_id="doc-1")
    assert {i.delivery.delivery_id for i in by_doc.items} == {ids[0], ids[2]}
    assert (await store.admin_deliveries([])).items == []
    with pytest.raises(BadCursor):
        await store.admin_deliveries([S.DEAD], cursor="not-a-cursor")


async def test_count_deliveries_by_state(store: Store) -> None:
    _, ids = await accept(store, 1, ("R1", "R2", "R3"))
    await _move(store, ids[0], S.DEAD)
    await _move(store, ids[1], S.DONE)
    assert await store.count_deliveries() == {S.DEAD: 1, S.DONE: 1, S.PENDING: 1}


async def test_outbox_rows_of_a_delivery_include_a_replay(store: Store) -> None:
    _, ids = await accept(store, 1, ("R1", "R2"))
    [original] = await store.outbox_rows(ids[0])
    assert original.routing_key == "H53.R1"
    assert original.headers["delivery_id"] == ids[0]
    await _move(store, ids[0], S.DEAD)
    copy = NewOutbox(
        delivery_id=ids[0],
        exchange=original.exchange,
        routing_key=original.routing_key,
        headers=original.headers,
        body=original.body,
    )
    assert await store.set_delivery_state(ids[0], S.PENDING, outbox=[copy])
    rows = await store.outbox_rows(ids[0])
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert len(rows) == 2
    assert (rows[1].body, rows[1].published_at) == (original.body, None)
    assert await store.outbox_rows("nobody") == []


async def test_agency_children_builds_the_tree_with_orphans_at_the_top(store: Store) -> None:
    for organ_id, parent in (
        ("000.00.00.H53", None),  # the province
        ("000.00.31.H53", "000.00.00.H53"),  # a district
        ("000.01.31.H53", "000.00.31.H53"),  # communes
        ("000.02.31.H53", "000.00.31.H53"),
        ("000.00.00.G01", "000.00.00.G00"),  # its parent is not in the directory
    ):
        await store.upsert_agency(Agency(organ_id=organ_id, name=organ_id, parent_id=parent))
    tops = await store.agency_children(None)
    assert [(n.agency.organ_id, n.children) for n in tops] == [
        ("000.00.00.G01", 0),
        ("000.00.00.H53", 1),
    ]
    district = await store.agency_children("000.00.00.H53")
    assert [(n.agency.organ_id, n.children) for n in district] == [("000.00.31.H53", 2)]
    communes = await store.agency_children("000.00.31.H53")
    assert [n.agency.organ_id for n in communes] == ["000.01.31.H53", "000.02.31.H53"]
    assert await store.agency_children("000.01.31.H53") == []


async def test_daily_counts_use_vietnam_days(store: Store) -> None:
    # 16:59:59 UTC is 23:59:59 in Hà Nội (1 July); 17:00 UTC is already 2 July there.
    late = datetime(2025, 7, 1, 16, 59, 59, tzinfo=T0.tzinfo)
    await accept(store, 1, ("R1", "R2"), received_at=late)
    await accept(store, 2, ("R1",), received_at=late + timedelta(seconds=1))
    await accept(store, 3, ("R2",), received_at=late + timedelta(seconds=2), sender="R1")
    await accept(store, 4, ("R2",), received_at=late + timedelta(days=9))  # outside the window
    await accept(
        store, 5, ("R2",), received_at=late, kind="status", status_code="03"
    )  # statuses are not documents
    counts = await store.daily_counts(late - timedelta(days=1), late + timedelta(days=1))
    d1, d2 = date(2025, 7, 1), date(2025, 7, 2)
    assert counts == [  # by day, then organ id (SENDER is 000.00.01.H53)
        DailyCount(day=d1, organ_id=SENDER, sent=1, received=0),
        DailyCount(day=d1, organ_id="R1", sent=0, received=1),
        DailyCount(day=d1, organ_id="R2", sent=0, received=1),
        DailyCount(day=d2, organ_id=SENDER, sent=1, received=0),
        DailyCount(day=d2, organ_id="R1", sent=1, received=1),
        DailyCount(day=d2, organ_id="R2", sent=0, received=1),
    ]


async def test_electronic_counts_need_a_verified_signature_and_every_copy_handed_over(
    store: Store,
) -> None:
    _, a = await accept(store, 1, ("R1", "R2"), signature="verified")
    _, b = await accept(store, 2, ("R1", "R2"), signature="verified")
    _, c = await accept(store, 3, ("R1",), signature="placeholder")
    await accept(store, 4, ("R1",))  # before migration 5: unknown
    for delivery_id in (*a, b[0], *c):
        await _move(store, delivery_id, S.DELIVERED)
    await _move(store, a[1], S.DONE)
    await _move(store, b[1], S.DEAD)
    [row] = await store.electronic_counts(T0, T0 + timedelta(days=1))
    assert row == ElectronicCount(
        organ_id=SENDER, documents=4, signed=2, handed_over=2, fully=1, unknown=1
    )
    assert await store.electronic_counts(T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


async def test_processing_times_take_the_first_received_and_completed_status(
    store: Store, backend: Backend
) -> None:
    await accept(store, 1, ("R1", "R2", "R3"))
    await accept(store, 2, ("R1",), received_at=T0 + timedelta(days=3))  # outside
    backend.clock.now = T0 + timedelta(hours=1)
    await _status(store, "doc-1", "R1", "01", 1)
    backend.clock.now = T0 + timedelta(hours=2)
    await _status(store, "doc-1", "R1", "03", 1)
    backend.clock.now = T0 + timedelta(hours=5)
    await _status(store, "doc-1", "R1", "06", 1)
    await _status(store, "doc-1", "R2", "05", 1)  # 03 skipped: received by then
    backend.clock.now = T0 + timedelta(hours=6)
    await _status(store, "doc-1", "R1", "06", 2)  # a second 06 changes nothing
    await _status(store, "doc-2", "R1", "03", 1)
    rows = await store.processing_times(T0, T0 + timedelta(days=1))
    got = {
        r.recipient: (
            r.received_03_at and r.received_03_at - r.received_at,
            r.completed_06_at and r.completed_06_at - r.received_at,
        )
        for r in rows
    }
    to = T0 + timedelta(seconds=1)  # message 1 was received at T0 + 1 s
    assert got == {
        "R1": (T0 + timedelta(hours=2, milliseconds=1) - to, T0 + timedelta(hours=5, milliseconds=1) - to),  # noqa: E501
        "R2": (T0 + timedelta(hours=5, milliseconds=2) - to, None),
        "R3": (None, None),
    }  # fmt: skip
    assert {r.doc_id for r in rows} == {"doc-1"}


async def test_overdue_copies_without_06_02_or_accepted_recall(store: Store) -> None:
    due = date(2025, 7, 10)
    await accept(store, 1, ("R1", "R2", "R3", "R4", "R5"), due_date=due)
    await accept(store, 2, ("R1",), due_date=due + timedelta(days=5))  # not due yet
    await accept(store, 3, ("R1",))  # no DueDate
    await _status(store, "doc-1", "R1", "06", 1)  # completed
    await _status(store, "doc-1", "R2", "02", 1)  # refused
    await _status(store, "doc-1", "R3", "05", 1)  # still in progress: overdue
    await _status(store, "doc-1", "R4", "13", 1)  # recall asked ...
    await _status(store, "doc-1", "R4", "15", 2)  # ... and accepted: nothing is due any more
    items, total = await store.overdue(due + timedelta(days=1))
    assert total == 2
    assert [(i.delivery.recipient, i.level) for i in items] == [("R3", "05"), ("R5", None)]
    assert items[0].message.due_date == due
    assert (await store.overdue(due))[1] == 0  # due today is not overdue yet
    page, total = await store.overdue(due + timedelta(days=30), limit=2, offset=2)
    assert total == 3
    assert [(i.message.doc_id, i.delivery.recipient) for i in page] == [("doc-2", "R1")]
