"""The exchange queries: accepting packages, the delivery lifecycle, outbox, inbox, statuses."""

# S608: queries are assembled only from this package's column lists and Dialect fragments;
# values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from gateway.store import _codec, lifecycle, progress
from gateway.store._engine import Row, SqlBase, Tx
from gateway.store.base import (
    AcceptResult,
    Delivery,
    InboxItem,
    InboxPage,
    Kind,
    Message,
    NewDelivery,
    NewOutbox,
    OutboxClaim,
    OutboxLag,
    OutboxRow,
    ProgressRow,
    Route,
    StatusEvent,
    TraceEvent,
)
from gateway.store.errors import BadCursor, StoreBusy, StoreNotFound
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import SEARCH_COLUMNS, search_columns

__all__ = ["ExchangeQueries"]

_S = DeliveryState
_MAX_PAGE = 1000

_MSG_COLS = (
    "doc_id", "kind", "sender", "document_id", "business_type", "status_code",
    "response_for_document_id", "response_for_organ_id", "subject", "code_notation",
    "system_id", "received_at", "sha256", "size", "blob_key", "dedup_key", "due_date",
    "signature",
)  # fmt: skip
_DLV_COLS = (
    "delivery_id", "doc_id", "recipient", "route", "peer", "state", "attempts", "last_error",
    "created_at", "updated_at", "delivered_at", "acked_at",
)  # fmt: skip
_OUTBOX_COLS = (
    "id", "delivery_id", "exchange", "routing_key", "headers", "body", "created_at",
    "published_at", "attempts", "claimed_by", "claimed_until",
)  # fmt: skip
#: Columns bound per row by ``_insert_outbox``, and rows per statement (SQLite allows 32766
#: parameters; PostgreSQL 65535).
_OUTBOX_WIDTH = 9
_OUTBOX_CHUNK = 500
_STATUS_COLS = (
    "status_doc_id", "doc_id", "recipient", "from_organ", "code", "description", "at",
    "recorded_at",
)  # fmt: skip


def _cols(names: Sequence[str], table: str = "", prefix: str = "") -> str:
    dot = f"{table}." if table else ""
    return ", ".join(f"{dot}{n} AS {prefix}{n}" if prefix else f"{dot}{n}" for n in names)


def _params(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


class _Where:
    """A WHERE clause built from fixed fragments; values only ever travel as parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str, *values: Any) -> None:
        self.parts.append(fragment.format(*(self.param(v) for v in values)))

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""


class ExchangeQueries(SqlBase):
    """Messages, deliveries, the outbox, the inbox and status progress."""

    # -- accepting -------------------------------------------------------------------------
    async def accept(
        self,
        message: Message,
        deliveries: Sequence[NewDelivery],
        outbox: Sequence[NewOutbox],
        trace: Sequence[TraceEvent],
        *,
        status: StatusEvent | None = None,
        claim: OutboxClaim | None = None,
        sealed: bytes | None = None,
    ) -> AcceptResult:
        now = self._now()
        m = message
        async with self._db.write() as tx:
            # ON CONFLICT on the dedup key only: a clash on doc_id or a delivery_id is a real
            # conflict (store.conflict), not a re-sent package.
            inserted = await tx.fetchrow(
                f"INSERT INTO messages ({_cols(_MSG_COLS + SEARCH_COLUMNS)})"
                f" VALUES ({_params(len(_MSG_COLS + SEARCH_COLUMNS))})"
                " ON CONFLICT (dedup_key) DO NOTHING RETURNING doc_id",
                m.doc_id, m.kind, m.sender, m.document_id, m.business_type, m.status_code,
                m.response_for_document_id, m.response_for_organ_id, m.subject,
                m.code_notation, m.system_id, _codec.utc(m.received_at), m.sha256, m.size,
                m.blob_key, m.dedup_key, _iso_date(m.due_date), m.signature,
                *search_columns(m),  # the admin console's folded search columns (migration 2)
            )  # fmt: skip
            if inserted is None:
                # PostgreSQL: ON CONFLICT waited for the other transaction to commit, and this
                # statement's fresh snapshot sees its row (READ COMMITTED).
                original = await tx.fetchrow(
                    "SELECT doc_id FROM messages WHERE dedup_key = $1", m.dedup_key
                )
                if original is None:
                    raise StoreBusy("a concurrent duplicate vanished; accept again")
                return AcceptResult(doc_id=str(original["doc_id"]), created=False)
            if sealed is not None:
                # Content-addressed: the same key always holds the same bytes.
                await tx.execute(
                    "INSERT INTO inline_blobs (blob_key, data) VALUES ($1, $2)"
                    " ON CONFLICT (blob_key) DO NOTHING",
                    m.blob_key,
                    sealed,
                )
            await tx.executemany(
                "INSERT INTO deliveries (delivery_id, doc_id, recipient, route, peer, state,"
                " attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                [
                    (d.delivery_id, m.doc_id, d.recipient, d.route, d.peer, _S.PENDING.value, now)
                    for d in deliveries
                ],
            )
            claimed = await self._insert_outbox(tx, outbox, now, claim)
            if status is not None:
                await self._record_status(tx, status, now)
            await self._append(tx, trace)
        return AcceptResult(doc_id=m.doc_id, created=True, claimed=claimed)

    async def get_message(self, doc_id: str) -> Message | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_cols(_MSG_COLS)} FROM messages WHERE doc_id = $1", doc_id
            )
        return None if row is None else _message(row)

    async def get_blob(self, blob_key: str) -> bytes | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow("SELECT data FROM inline_blobs WHERE blob_key = $1", blob_key)
        return None if row is None else bytes(row["data"])

    async def find_message_by_document_id(self, sender: str, document_id: str) -> Message | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_cols(_MSG_COLS)} FROM messages"
                " WHERE sender = $1 AND document_id = $2 AND kind = 'edoc'"
                " ORDER BY received_at, doc_id LIMIT 1",
                sender,
                document_id,
            )
        return None if row is None else _message(row)

    # -- deliveries ------------------------------------------------------------------------
    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_cols(_DLV_COLS)} FROM deliveries WHERE delivery_id = $1", delivery_id
            )
        return None if row is None else _delivery(row)

    async def list_deliveries(
        self, *, doc_id: str | None = None, state: DeliveryState | None = None, limit: int = 100
    ) -> list[Delivery]:
        w = _Where()
        if doc_id is not None:
            w.add("doc_id = {}", doc_id)
        if state is not None:
            w.add("state = {}", state.value)
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_cols(_DLV_COLS)} FROM deliveries{w.sql()}"
                f" ORDER BY created_at, delivery_id LIMIT {w.param(_clamp(limit))}",
                *w.args,
            )
        return [_delivery(r) for r in rows]

    async def set_delivery_state(
        self,
        delivery_id: str,
        new_state: DeliveryState,
        *,
        error: str | None = None,
        outbox: Sequence[NewOutbox] = (),
        trace: Sequence[TraceEvent] = (),
    ) -> bool:
        now = self._now()
        async with self._db.write() as tx:
            row = await self._lock_delivery(tx, delivery_id)
            if not await self._move(tx, row, new_state, now, error):
                return False
            await self._insert_outbox(tx, outbox, now)
            await self._append(tx, trace)
        return True

    async def record_delivery(self, delivery_id: str, trace: Sequence[TraceEvent] = ()) -> bool:
        now = self._now()
        async with self._db.write() as tx:
            row = await self._lock_delivery(tx, delivery_id)
            # Already handed over (or even acknowledged): a redelivery, the effect exists.
            if _S(row["state"]) in lifecycle.INBOX_STATES:
                return False
            await self._move(tx, row, _S.DELIVERED, now, None)
            await self._append(tx, trace)
        return True

    async def acknowledge(
        self,
        delivery_id: str,
        recipient: str,
        ok: bool,
        reason: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> bool:
        now = self._now()
        async with self._db.write() as tx:
            row = await self._lock_delivery(tx, delivery_id)
            if row["recipient"] != recipient:
                # The same answer as for a missing id: do not tell a system what others have.
                raise StoreNotFound(f"no delivery {delivery_id!r} for {recipient!r}")
            target = _S.DONE if ok else _S.FAILED
            if not await self._move(tx, row, target, now, None if ok else reason):
                return False
            await self._append(tx, trace)
        return True

    async def _lock_delivery(self, tx: Tx, delivery_id: str) -> Row:
        row = await tx.fetchrow(
            f"SELECT {_cols(_DLV_COLS)} FROM deliveries WHERE delivery_id = $1"
            + self._d.for_update,
            delivery_id,
        )
        if row is None:
            raise StoreNotFound(f"no delivery {delivery_id!r}")
        return row

    async def _move(
        self, tx: Tx, row: Row, target: DeliveryState, now: datetime, error: str | None
    ) -> bool:
        """Apply one lifecycle edge to a locked row; False for the no-op repeat."""
        current = _S(row["state"])
        if not lifecycle.transition(current, target):
            return False
        attempts: int = row["attempts"]
        last_error: str | None = row["last_error"] if error is None else error
        delivered_at: datetime | None = row["delivered_at"]
        acked_at: datetime | None = row["acked_at"]
        if target is _S.RETRYING:
            attempts += 1
        elif target is _S.DELIVERED:
            delivered_at = now
        elif target in (_S.DONE, _S.FAILED):
            acked_at = now
        elif current is _S.DEAD:
            # Replay: the same delivery_id starts over with a fresh attempt budget; the trace
            # keeps the history.
            attempts, last_error, delivered_at, acked_at = 0, error, None, None
        await tx.execute(
            "UPDATE deliveries SET state = $2, attempts = $3, last_error = $4, updated_at = $5,"
            " delivered_at = $6, acked_at = $7 WHERE delivery_id = $1",
            row["delivery_id"], target.value, attempts, last_error, now, delivered_at, acked_at,
        )  # fmt: skip
        return True

    # -- outbox ----------------------------------------------------------------------------
    async def _insert_outbox(
        self, tx: Tx, rows: Sequence[NewOutbox], now: datetime, claim: OutboxClaim | None = None
    ) -> tuple[OutboxRow, ...]:
        """Write outbox rows; with ``claim`` leased to its node (one attempt counted), as
        ``claim_outbox`` would leave them, and returned in id order (without: nothing is read
        back, and the result is empty)."""
        node, until, attempts = None, None, 0
        if claim is not None:
            node, until, attempts = claim.node_id, now + timedelta(seconds=claim.lease_seconds), 1
        out: list[OutboxRow] = []
        for start in range(0, len(rows), _OUTBOX_CHUNK):
            chunk = rows[start : start + _OUTBOX_CHUNK]
            values = ", ".join(
                f"({_params(_OUTBOX_WIDTH, 1 + i * _OUTBOX_WIDTH)})" for i in range(len(chunk))
            )
            args: list[Any] = []
            for o in chunk:
                args += [o.delivery_id, o.exchange, o.routing_key, _codec.dumps(o.headers),
                         bytes(o.body), now, node, until, attempts]  # fmt: skip
            sql = (
                "INSERT INTO outbox (delivery_id, exchange, routing_key, headers, body,"
                f" created_at, claimed_by, claimed_until, attempts) VALUES {values}"
            )
            if claim is None:
                await tx.execute(sql, *args)
            else:
                fetched = await tx.fetch(f"{sql} RETURNING {_cols(_OUTBOX_COLS)}", *args)
                out += (_outbox(r) for r in fetched)
        # RETURNING has no defined order.
        return tuple(sorted(out, key=lambda o: o.id))

    async def claim_outbox(self, limit: int, node_id: str, lease_seconds: float) -> list[OutboxRow]:
        now = self._now()
        until = now + timedelta(seconds=lease_seconds)
        async with self._db.write() as tx:
            rows = await tx.fetch(
                "WITH c AS (SELECT id FROM outbox WHERE published_at IS NULL"
                " AND (claimed_until IS NULL OR claimed_until <= $1)"
                " ORDER BY id LIMIT $2" + self._d.skip_locked + ")"
                " UPDATE outbox SET claimed_by = $3, claimed_until = $4,"
                " attempts = attempts + 1 WHERE id IN (SELECT id FROM c)"
                f" RETURNING {_cols(_OUTBOX_COLS)}",
                now,
                _clamp(limit),
                node_id,
                until,
            )
        # RETURNING has no defined order.
        return sorted((_outbox(r) for r in rows), key=lambda o: o.id)

    async def mark_published(self, ids: Sequence[int], trace: Sequence[TraceEvent] = ()) -> int:
        now = self._now()
        async with self._db.write() as tx:
            rows = await tx.fetch(
                "UPDATE outbox SET published_at = $2, claimed_by = NULL, claimed_until = NULL"
                f" WHERE id {self._d.in_list('$1')} AND published_at IS NULL RETURNING delivery_id",
                [int(i) for i in ids],
                now,
            )
            delivery_ids = sorted({r["delivery_id"] for r in rows if r["delivery_id"]})
            if delivery_ids:
                # Only pending ones: a fast consumer may already have made it delivered.
                await tx.execute(
                    "UPDATE deliveries SET state = $2, updated_at = $3"
                    f" WHERE delivery_id {self._d.in_list('$1')} AND state = $4",
                    delivery_ids,
                    _S.QUEUED.value,
                    now,
                    _S.PENDING.value,
                )
            if rows:
                await self._append(tx, trace)
        return len(rows)

    async def outbox_lag(self) -> OutboxLag:
        now = self._now()
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                "SELECT count(*) AS n, min(created_at) AS oldest_at FROM outbox"
                " WHERE published_at IS NULL"
            )
        if row is None or not row["n"]:
            return OutboxLag(0, 0.0)
        age = (now - _codec.utc(row["oldest_at"])).total_seconds()
        return OutboxLag(int(row["n"]), max(age, 0.0))

    async def purge_outbox(self, published_before: datetime) -> int:
        async with self._db.write() as tx:
            return await tx.execute(
                "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1",
                _codec.utc(published_before),
            )

    # -- inbox -----------------------------------------------------------------------------
    def _inbox_where(
        self,
        recipient_ids: Sequence[str],
        peers: Sequence[str],
        state: DeliveryState | None,
        kind: Kind | None,
    ) -> _Where:
        """What makes an inbox (``list_inbox`` lists it, ``count_inbox`` counts it: one rule
        for both): a recipient's local copies and every copy routed to one of ``peers``
        (downlink), in an inbox state, of ``kind``. Needs recipients or peers."""
        w = _Where()
        mine: list[str] = []
        values: list[list[str]] = []
        if recipient_ids:
            mine.append("(d.route = 'local' AND d.recipient " + self._d.in_list("{}") + ")")
            values.append(list(recipient_ids))
        if peers:
            mine.append("(d.route = 'downlink' AND d.peer " + self._d.in_list("{}") + ")")
            values.append(list(peers))
        w.add("(" + " OR ".join(mine) + ")", *values)
        if state is None:
            w.add(
                "d.state " + self._d.in_list("{}"), sorted(s.value for s in lifecycle.INBOX_STATES)
            )
        else:
            w.add("d.state = {}", state.value)
        if kind is not None:
            w.add("m.kind = {}", kind)
        return w

    async def count_inbox(
        self,
        recipient_ids: Sequence[str],
        *,
        state: DeliveryState | None = None,
        kind: Kind | None = None,
        peers: Sequence[str] = (),
    ) -> int:
        if not (recipient_ids or peers) or (
            state is not None and state not in lifecycle.INBOX_STATES
        ):
            return 0
        # ``list_inbox``'s own filter: the count never disagrees with the list it announces.
        w = self._inbox_where(recipient_ids, peers, state, kind)
        sql = "SELECT count(*) AS n FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id"
        sql += w.sql()
        async with self._db.read() as tx:
            row = await tx.fetchrow(sql, *w.args)
        return int(row["n"]) if row is not None else 0

    async def list_inbox(
        self,
        recipient_ids: Sequence[str],
        *,
        state: DeliveryState | None = None,
        since: datetime | None = None,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        peers: Sequence[str] = (),
    ) -> InboxPage:
        if not (recipient_ids or peers) or (
            state is not None and state not in lifecycle.INBOX_STATES
        ):
            return InboxPage(items=[], next_cursor=None)
        limit = _clamp(limit)
        w = self._inbox_where(recipient_ids, peers, state, kind)
        if since is not None:
            w.add("d.delivered_at >= {}", _codec.utc(since))
        if cursor is not None:
            at_text, after_id = _codec.unpack_cursor(cursor, 2)
            try:
                after_at = _codec.from_text(at_text)
            except ValueError as exc:
                raise BadCursor("the cursor is not one this store issued") from exc
            w.add(
                "(d.delivered_at > {0} OR (d.delivered_at = {0} AND d.delivery_id > {1}))",
                after_at,
                after_id,
            )
        sql = (
            f"SELECT {_cols(_DLV_COLS, 'd', 'd_')}, {_cols(_MSG_COLS, 'm', 'm_')}"
            f" FROM deliveries d JOIN messages m ON m.doc_id = d.doc_id{w.sql()}"
            f" ORDER BY d.delivered_at, d.delivery_id LIMIT {w.param(limit + 1)}"
        )
        async with self._db.read() as tx:
            rows = await tx.fetch(sql, *w.args)
        items = [
            InboxItem(delivery=_delivery(r, "d_"), message=_message(r, "m_")) for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1].delivery
            assert last.delivered_at is not None  # inbox states always have it
            next_cursor = _codec.pack_cursor(_codec.to_text(last.delivered_at), last.delivery_id)
        return InboxPage(items=items, next_cursor=next_cursor)

    # -- statuses --------------------------------------------------------------------------
    async def record_status(self, event: StatusEvent, trace: Sequence[TraceEvent] = ()) -> bool:
        now = self._now()
        async with self._db.write() as tx:
            if not await self._record_status(tx, event, now):
                return False
            await self._append(tx, trace)
        return True

    async def _record_status(self, tx: Tx, ev: StatusEvent, now: datetime) -> bool:
        inserted = await tx.fetchrow(
            f"INSERT INTO status_events ({_cols(_STATUS_COLS)}) VALUES ({_params(8)})"
            " ON CONFLICT (status_doc_id) DO NOTHING RETURNING status_doc_id",
            ev.status_doc_id, ev.doc_id, ev.recipient, ev.from_organ, ev.code, ev.description,
            _codec.utc(ev.at), now,
        )  # fmt: skip
        if inserted is None:
            return False  # the same status package again
        if ev.doc_id is None:
            return True  # stored, but there is no original here to track progress for
        # Make sure the row exists, then lock it: concurrent statuses for the same pair
        # must not both read the old progress (PostgreSQL; SQLite has one writer anyway).
        await tx.execute(
            "INSERT INTO progress (doc_id, recipient, events, updated_at) VALUES ($1, $2, 0, $3)"
            " ON CONFLICT (doc_id, recipient) DO NOTHING",
            ev.doc_id,
            ev.recipient,
            now,
        )
        row = await tx.fetchrow(
            "SELECT level, level_at, change_state, change_at FROM progress"
            " WHERE doc_id = $1 AND recipient = $2" + self._d.for_update,
            ev.doc_id,
            ev.recipient,
        )
        assert row is not None  # inserted just above
        old = progress.Progress(
            level=row["level"],
            level_at=row["level_at"],
            change_state=row["change_state"],
            change_at=row["change_at"],
        )
        new = progress.advance(old, ev.code, _codec.utc(ev.at))
        await tx.execute(
            "UPDATE progress SET level = $3, level_at = $4, change_state = $5, change_at = $6,"
            " last_code = $7, events = events + 1, updated_at = $8"
            " WHERE doc_id = $1 AND recipient = $2",
            ev.doc_id, ev.recipient, new.level, new.level_at, new.change_state, new.change_at,
            ev.code, now,
        )  # fmt: skip
        return True

    async def get_progress(self, doc_id: str) -> list[ProgressRow]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT * FROM progress WHERE doc_id = $1 ORDER BY recipient", doc_id
            )
        return [
            ProgressRow(
                doc_id=r["doc_id"],
                recipient=r["recipient"],
                level=r["level"],
                level_at=_opt_utc(r["level_at"]),
                change_state=r["change_state"],
                change_at=_opt_utc(r["change_at"]),
                last_code=r["last_code"],
                events=int(r["events"]),
                updated_at=_codec.utc(r["updated_at"]),
            )
            for r in rows
        ]

    async def list_status_events(self, doc_id: str) -> list[StatusEvent]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_cols(_STATUS_COLS)} FROM status_events WHERE doc_id = $1"
                " ORDER BY at, recorded_at, status_doc_id",
                doc_id,
            )
        return [
            StatusEvent(
                status_doc_id=r["status_doc_id"],
                doc_id=r["doc_id"],
                recipient=r["recipient"],
                from_organ=r["from_organ"],
                code=r["code"],
                description=r["description"],
                at=_codec.utc(r["at"]),
                recorded_at=_opt_utc(r["recorded_at"]),
            )
            for r in rows
        ]


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), _MAX_PAGE))


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _codec.utc(value)


def _message(r: Row, p: str = "") -> Message:
    return Message(
        doc_id=r[p + "doc_id"],
        kind=r[p + "kind"],
        sender=r[p + "sender"],
        document_id=r[p + "document_id"],
        business_type=r[p + "business_type"],
        status_code=r[p + "status_code"],
        response_for_document_id=r[p + "response_for_document_id"],
        response_for_organ_id=r[p + "response_for_organ_id"],
        subject=r[p + "subject"],
        code_notation=r[p + "code_notation"],
        system_id=r[p + "system_id"],
        received_at=_codec.utc(r[p + "received_at"]),
        sha256=r[p + "sha256"],
        size=int(r[p + "size"]),
        blob_key=r[p + "blob_key"],
        dedup_key=r[p + "dedup_key"],
        due_date=None if r[p + "due_date"] is None else date.fromisoformat(r[p + "due_date"]),
        signature=r[p + "signature"],
    )


def _iso_date(value: date | None) -> str | None:
    # ISO text in both dialects (migration 5), so shared queries compare it alike.
    return None if value is None else value.isoformat()


def _delivery(r: Row, p: str = "") -> Delivery:
    return Delivery(
        delivery_id=r[p + "delivery_id"],
        doc_id=r[p + "doc_id"],
        recipient=r[p + "recipient"],
        route=cast(Route, r[p + "route"]),
        peer=r[p + "peer"],
        state=_S(r[p + "state"]),
        attempts=int(r[p + "attempts"]),
        last_error=r[p + "last_error"],
        created_at=_codec.utc(r[p + "created_at"]),
        updated_at=_codec.utc(r[p + "updated_at"]),
        delivered_at=_opt_utc(r[p + "delivered_at"]),
        acked_at=_opt_utc(r[p + "acked_at"]),
    )


def _outbox(r: Row) -> OutboxRow:
    return OutboxRow(
        id=int(r["id"]),
        delivery_id=r["delivery_id"],
        exchange=r["exchange"],
        routing_key=r["routing_key"],
        headers=_codec.loads(r["headers"]),
        body=bytes(r["body"]),
        created_at=_codec.utc(r["created_at"]),
        published_at=_opt_utc(r["published_at"]),
        attempts=int(r["attempts"]),
        claimed_by=r["claimed_by"],
        claimed_until=_opt_utc(r["claimed_until"]),
    )
