"""The admin console's queries: dead letters, the directory tree, statistics (reads only).

Days are Vietnam calendar days (UTC+7, no daylight saving time): a document received at
23:30 UTC counts for the next day in Hà Nội, where the people reading the statistics are.
Medians are not computed here: SQLite has no percentile function, so the service takes the
per-copy times (:meth:`processing_times`) and computes them in one place for both backends.
"""

# S608: queries are assembled only from this module's fixed fragments and the column lists of
# _exchange; values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from gateway.store import _codec
from gateway.store._directory import _AGENCY_COLS, _agency
from gateway.store._engine import SqlBase
from gateway.store._exchange import _DLV_COLS, _MSG_COLS, _cols, _delivery, _message, _outbox
from gateway.store.base import (
    AgencyNode,
    DailyCount,
    ElectronicCount,
    InboxItem,
    InboxPage,
    OutboxRow,
    OverdueItem,
    ProcessingTimes,
)
from gateway.store.errors import BadCursor
from gateway.store.lifecycle import DeliveryState

__all__ = ["ADMIN_READS", "AdminQueries"]

#: The methods below; all read, so the SQLite store runs them on its reader thread.
ADMIN_READS = frozenset(
    {
        "admin_deliveries",
        "agency_children",
        "count_deliveries",
        "daily_counts",
        "electronic_counts",
        "outbox_rows",
        "overdue",
        "processing_times",
        "trace_head_seq",
    }
)

_MAX_PAGE = 1000
_HANDED_OVER = ("delivered", "done")
_RECEIVED_CODES = ("03", "04", "05", "06")  # at or above "received" (progress.py)
_CLOSED_LEVELS = ("06", "02")  # completed, or refused: nothing left to do by a due date
_RECALL_ACCEPTED = "15"


def _quoted(values: Sequence[str]) -> str:
    # Literal lists of this module's own constants only, never caller input.
    return ", ".join(f"'{v}'" for v in values)


class AdminQueries(SqlBase):
    """What the console shows that the exchange queries do not."""

    def _day(self, column: str) -> str:
        """The Vietnam calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""
        if self._d.name == "sqlite":
            # Stored as fixed-width UTC text (_codec.to_text): date() takes its first 19 chars.
            return f"date(substr({column}, 1, 19), '+7 hours')"
        return f"to_char(({column} AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM-DD')"

    # -- dead letters and retries ----------------------------------------------------------
    async def admin_deliveries(
        self,
        states: Sequence[DeliveryState],
        *,
        recipient: str | None = None,
        doc_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        if not states:
            return InboxPage(items=[], next_cursor=None)
        limit = max(1, min(int(limit), _MAX_PAGE))
        args: list[object] = [sorted(s.value for s in states)]
        where = [f"d.state {self._d.in_list('$1')}"]
        for column, value in (("d.recipient", recipient), ("d.doc_id", doc_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if cursor is not None:
            at_text, after_id = _codec.unpack_cursor(cursor, 2)
            try:
                after_at = _codec.from_text(at_text)
            except ValueError as exc:
                raise BadCursor("the cursor is not one this store issued") from exc
            args += [after_at, after_id]
            a, b = len(args) - 1, len(args)
            where.append(f"(d.updated_at < ${a} OR (d.updated_at = ${a} AND d.delivery_id < ${b}))")
        args.append(limit + 1)
        sql = (
            f"SELECT {_cols(_DLV_COLS, 'd', 'd_')}, {_cols(_MSG_COLS, 'm', 'm_')}"
            " FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY d.updated_at DESC, d.delivery_id DESC LIMIT ${len(args)}"
        )
        async with self._db.read() as tx:
            rows = await tx.fetch(sql, *args)
        items = [
            InboxItem(delivery=_delivery(r, "d_"), message=_message(r, "m_")) for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1].delivery
            next_cursor = _codec.pack_cursor(_codec.to_text(last.updated_at), last.delivery_id)
        return InboxPage(items=items, next_cursor=next_cursor)

    async def count_deliveries(self) -> dict[DeliveryState, int]:
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
        return {DeliveryState(r["state"]): int(r["n"]) for r in rows}

    async def outbox_rows(self, delivery_id: str) -> list[OutboxRow]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT id, delivery_id, exchange, routing_key, headers, body, created_at,"
                " published_at, attempts, claimed_by, claimed_until FROM outbox"
                " WHERE delivery_id = $1 ORDER BY id",
                delivery_id,
            )
        return [_outbox(r) for r in rows]

    async def trace_head_seq(self) -> int:
        async with self._db.read() as tx:
            row = await tx.fetchrow("SELECT seq FROM trace_head WHERE id = 1")
        return 0 if row is None else int(row["seq"])

    # -- directory -------------------------------------------------------------------------
    async def agency_children(self, parent: str | None) -> list[AgencyNode]:
        cols = ", ".join(f"a.{c}" for c in _AGENCY_COLS)
        count = "(SELECT count(*) FROM agencies c WHERE c.parent_id = a.organ_id) AS children"
        if parent is None:
            where = (
                "a.parent_id IS NULL OR NOT EXISTS"
                " (SELECT 1 FROM agencies p WHERE p.organ_id = a.parent_id)"
            )
            args: tuple[object, ...] = ()
        else:
            where, args = "a.parent_id = $1", (parent,)
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {cols}, {count} FROM agencies a WHERE {where} ORDER BY a.organ_id", *args
            )
        return [AgencyNode(agency=_agency(r), children=int(r["children"])) for r in rows]

    # -- statistics ------------------------------------------------------------------------
    async def daily_counts(self, since: datetime, until: datetime) -> list[DailyCount]:
        window = (_codec.utc(since), _codec.utc(until))
        day = self._day("m.received_at")
        async with self._db.read() as tx:
            sent = await tx.fetch(
                f"SELECT {day} AS day, m.sender AS organ_id, count(*) AS n FROM messages m"
                " WHERE m.kind = 'edoc' AND m.received_at >= $1 AND m.received_at < $2"
                " GROUP BY 1, 2",
                *window,
            )
            received = await tx.fetch(
                f"SELECT {day} AS day, d.recipient AS organ_id, count(*) AS n"
                " FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id"
                " WHERE m.kind = 'edoc' AND m.received_at >= $1 AND m.received_at < $2"
                " GROUP BY 1, 2",
                *window,
            )
        counts: dict[tuple[str, str], list[int]] = {}
        for rows, i in ((sent, 0), (received, 1)):
            for r in rows:
                counts.setdefault((str(r["day"]), str(r["organ_id"])), [0, 0])[i] = int(r["n"])
        return [
            DailyCount(day=date.fromisoformat(d), organ_id=o, sent=s, received=n)
            for (d, o), (s, n) in sorted(counts.items())
        ]

    async def electronic_counts(self, since: datetime, until: datetime) -> list[ElectronicCount]:
        # A document is handed over when none of its copies is in any other state.
        handed = (
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.doc_id = m.doc_id"
            f" AND d.state NOT IN ({_quoted(_HANDED_OVER)}))"
        )
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT m.sender AS organ_id, count(*) AS documents,"
                " sum(CASE WHEN m.signature = 'verified' THEN 1 ELSE 0 END) AS signed,"
                f" sum(CASE WHEN {handed} THEN 1 ELSE 0 END) AS handed_over,"
                f" sum(CASE WHEN m.signature = 'verified' AND {handed} THEN 1 ELSE 0 END)"
                " AS fully,"
                " sum(CASE WHEN m.signature IS NULL THEN 1 ELSE 0 END) AS unknown"
                " FROM messages m"
                " WHERE m.kind = 'edoc' AND m.received_at >= $1 AND m.received_at < $2"
                " GROUP BY m.sender ORDER BY m.sender",
                _codec.utc(since),
                _codec.utc(until),
            )
        return [
            ElectronicCount(
                organ_id=r["organ_id"],
                documents=int(r["documents"]),
                signed=int(r["signed"]),
                handed_over=int(r["handed_over"]),
                fully=int(r["fully"]),
                unknown=int(r["unknown"]),
            )
            for r in rows
        ]

    async def processing_times(self, since: datetime, until: datetime) -> list[ProcessingTimes]:
        # Only the status events of documents in the window are grouped (not the whole table).
        firsts = (
            "SELECT e.doc_id, e.recipient,"
            f" min(CASE WHEN e.code IN ({_quoted(_RECEIVED_CODES)}) THEN e.recorded_at END)"
            " AS r03_at,"
            " min(CASE WHEN e.code = '06' THEN e.recorded_at END) AS r06_at"
            " FROM status_events e JOIN messages w ON w.doc_id = e.doc_id"
            " WHERE w.kind = 'edoc' AND w.received_at >= $1 AND w.received_at < $2"
            " GROUP BY e.doc_id, e.recipient"
        )
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT d.recipient, d.doc_id, m.received_at, s.r03_at, s.r06_at"
                " FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id"
                f" LEFT JOIN ({firsts}) s ON s.doc_id = d.doc_id AND s.recipient = d.recipient"
                " WHERE m.kind = 'edoc' AND m.received_at >= $1 AND m.received_at < $2"
                " ORDER BY d.recipient, m.received_at, d.doc_id",
                _codec.utc(since),
                _codec.utc(until),
            )
        return [
            ProcessingTimes(
                recipient=r["recipient"],
                doc_id=r["doc_id"],
                received_at=_codec.utc(r["received_at"]),
                received_03_at=None if r["r03_at"] is None else _codec.utc(r["r03_at"]),
                completed_06_at=None if r["r06_at"] is None else _codec.utc(r["r06_at"]),
            )
            for r in rows
        ]

    async def overdue(
        self, today: date, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[OverdueItem], int]:
        where = (
            " FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id"
            " LEFT JOIN progress p ON p.doc_id = d.doc_id AND p.recipient = d.recipient"
            " WHERE m.kind = 'edoc' AND m.due_date IS NOT NULL AND m.due_date < $1"
            f" AND (p.level IS NULL OR p.level NOT IN ({_quoted(_CLOSED_LEVELS)}))"
            f" AND (p.change_state IS NULL OR p.change_state <> '{_RECALL_ACCEPTED}')"
        )
        async with self._db.read() as tx:
            total = await tx.fetchrow(f"SELECT count(*) AS n{where}", today.isoformat())
            rows = await tx.fetch(
                f"SELECT {_cols(_DLV_COLS, 'd', 'd_')}, {_cols(_MSG_COLS, 'm', 'm_')},"
                f" p.level AS p_level{where}"
                " ORDER BY m.due_date, d.doc_id, d.recipient LIMIT $2 OFFSET $3",
                today.isoformat(),
                max(1, min(int(limit), _MAX_PAGE)),
                max(0, int(offset)),
            )
        items = [
            OverdueItem(delivery=_delivery(r, "d_"), message=_message(r, "m_"), level=r["p_level"])
            for r in rows
        ]
        return items, int(total["n"]) if total is not None else 0
