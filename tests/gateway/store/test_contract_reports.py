"""The Store contract for receiving systems' reports and inbox counts (migration 4), on SQLite
and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.store import BadTransition, DeliveryState, Store, StoreNotFound
from gateway.store.base import DeliveryReport

from .factories import accept, ev

S = DeliveryState


def _report(delivery_id: str, status: str = "processing", description: str | None = None) -> Any:
    return DeliveryReport(
        delivery_id=delivery_id,
        status=status,  # type: ignore[arg-type]
        system_id="qlvb-r1",
        description=description,
    )


class TestReportContract:
    async def test_latest_report_per_delivery_and_repeats(self, store: Store) -> None:
        _, (d1, d2, _d3) = await accept(store, 1)
        await store.record_delivery(d1)
        await store.record_delivery(d2)
        assert await store.delivery_reports([d1, d2]) == {}

        before = (await store.verify_trace()).checked
        assert await store.report_delivery(
            _report(d1), recipient="R1", trace=[ev("acknowledge", "doc-1", delivery_id=d1)]
        )
        assert (await store.verify_trace()).checked == before + 1
        # The same report again writes nothing, trace included.
        assert not await store.report_delivery(
            _report(d1), recipient="R1", trace=[ev("acknowledge", "doc-1", delivery_id=d1)]
        )
        assert (await store.verify_trace()).checked == before + 1

        assert await store.report_delivery(_report(d1, "fail", "disk full"), recipient="R1")
        assert await store.report_delivery(_report(d2, "processing"), recipient="R2")
        reports = await store.delivery_reports([d1, d2, "nothing"])
        assert set(reports) == {d1, d2}
        first = reports[d1]
        assert (first.status, first.description, first.system_id) == (
            "fail",
            "disk full",
            "qlvb-r1",
        )
        assert first.reported_at is not None and first.reported_at.tzinfo is not None
        assert reports[d2].status == "processing" and reports[d2].description is None
        # The item stays delivered: a report is not a lifecycle step.
        delivery = await store.get_delivery(d1)
        assert delivery is not None and delivery.state is S.DELIVERED

        # Once done, the item takes no more reports; the last one stays readable.
        assert await store.acknowledge(d1, "R1", True)
        with pytest.raises(BadTransition):
            await store.report_delivery(_report(d1, "processing"), recipient="R1")
        assert (await store.delivery_reports([d1]))[d1].status == "fail"

    async def test_refusals(self, store: Store) -> None:
        _, (d1, _d2, d3) = await accept(store, 2)
        await store.record_delivery(d1)
        with pytest.raises(StoreNotFound):
            await store.report_delivery(_report("missing"), recipient="R1")
        with pytest.raises(StoreNotFound):  # someone else's item: answered as missing
            await store.report_delivery(_report(d1), recipient="R2")
        with pytest.raises(BadTransition):  # not in the inbox yet
            await store.report_delivery(_report(d3), recipient="R3")
        assert await store.delivery_reports([d1, d3]) == {}

    async def test_count_inbox(self, store: Store) -> None:
        _, (a1, a2, _a3) = await accept(store, 3)
        _, (b1, _b2, _b3) = await accept(store, 4, kind="status")
        _, (c1,) = await accept(store, 5, ["R1"], route="uplink")
        for delivery_id in (a1, a2, b1, c1):
            await store.record_delivery(delivery_id)
        assert await store.count_inbox(["R1"]) == 2  # the uplink copy is no inbox item
        assert await store.count_inbox(["R1"], kind="edoc") == 1
        assert await store.count_inbox(["R1"], kind="status") == 1
        assert await store.count_inbox(["R1", "R2"], state=S.DELIVERED) == 3
        assert await store.count_inbox(["R3"]) == 0  # pending: not handed over yet
        assert await store.count_inbox([]) == 0
        assert await store.count_inbox(["R1"], state=S.PENDING) == 0
        await store.acknowledge(a1, "R1", True)
        assert await store.count_inbox(["R1"], state=S.DELIVERED, kind="edoc") == 0
        assert await store.count_inbox(["R1"], state=S.DONE) == 1
        page = await store.list_inbox(["R1", "R2"], state=S.DELIVERED)
        assert len(page.items) == await store.count_inbox(["R1", "R2"], state=S.DELIVERED)
