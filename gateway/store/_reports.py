"""Receiving systems' reports on unfinished inbox items (migration 4), and inbox counts.

A report is VDXP ``updateStatus`` ``processing`` or ``fail``: unlike ``done`` it does not move
the delivery along the lifecycle, so the item stays in the inbox (edxml.md §2.4, issue 4).
"""

# S608: queries are assembled only from this module's column list and Dialect fragments;
# values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from gateway.store import _codec
from gateway.store._engine import Row, SqlBase
from gateway.store.base import DeliveryReport, ReportStatus, TraceEvent
from gateway.store.errors import BadTransition, StoreNotFound
from gateway.store.lifecycle import DeliveryState

__all__ = ["REPORT_READS", "REPORT_WRITES", "ReportQueries"]

#: For the SQLite backend: which of these methods read (reader thread) and which write.
REPORT_READS = frozenset({"delivery_reports"})
REPORT_WRITES = frozenset({"report_delivery"})

_COLS = "delivery_id, status, description, system_id, reported_at"


class ReportQueries(SqlBase):
    """Record and read the latest report per delivery; count an inbox without listing it."""

    async def report_delivery(
        self, report: DeliveryReport, *, recipient: str, trace: Sequence[TraceEvent] = ()
    ) -> bool:
        r = report
        now = self._now()
        async with self._db.write() as tx:
            row = await tx.fetchrow(
                "SELECT recipient, state FROM deliveries WHERE delivery_id = $1"
                + self._d.for_update,
                r.delivery_id,
            )
            if row is None or row["recipient"] != recipient:
                # As acknowledge: the same answer for a missing id and someone else's item.
                raise StoreNotFound(f"no delivery {r.delivery_id!r} for {recipient!r}")
            if row["state"] != DeliveryState.DELIVERED.value:
                raise BadTransition(
                    f"delivery {r.delivery_id} is {row['state']}: only a delivered item"
                    " takes a processing or fail report"
                )
            old = await tx.fetchrow(
                "SELECT status, description FROM delivery_reports WHERE delivery_id = $1",
                r.delivery_id,
            )
            if old is not None and (old["status"], old["description"]) == (
                r.status,
                r.description,
            ):
                return False  # the same report again (a poller repeating itself)
            await tx.execute(
                f"INSERT INTO delivery_reports ({_COLS}) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (delivery_id) DO UPDATE SET status = excluded.status,"
                " description = excluded.description, system_id = excluded.system_id,"
                " reported_at = excluded.reported_at",
                r.delivery_id,
                r.status,
                r.description,
                r.system_id,
                now,
            )
            await self._append(tx, trace)
        return True

    async def delivery_reports(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryReport]:
        if not delivery_ids:
            return {}
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_COLS} FROM delivery_reports WHERE delivery_id {self._d.in_list('$1')}",
                list(delivery_ids),
            )
        return {r["delivery_id"]: _report(r) for r in rows}


def _report(r: Row) -> DeliveryReport:
    return DeliveryReport(
        delivery_id=r["delivery_id"],
        status=cast(ReportStatus, r["status"]),
        description=r["description"],
        system_id=r["system_id"],
        reported_at=_codec.utc(r["reported_at"]),
    )
