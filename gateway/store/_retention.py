"""The retention queries: the archive register, the archived head of the trace, and the purge.

What may leave the hub (``gateway/ops/retention.py`` decides when, this module makes it safe):

- a *message* is purged (its package leaves the blob folder for an archive file) only when
  every delivery of it is final — done or failed, i.e. answered by the receiving system — and
  has been since before the cutoff; ``commit_archive`` checks that again under its own lock,
  so a message is never purged in flight whatever the caller selected;
- a *trace entry* may be deleted only once it is archived (``seq <= archived_seq``; the guard
  trigger of migration 3 refuses anything else) and only when it concerns no message still on
  the hub: the timeline of a document in flight stays whole in the live table.

The archived head moves in the same transaction that registers the archive, so the live chain
always continues from the hash of the last archived entry (``SqlBase.verify_trace``).
"""

# S608: queries are assembled only from this module's column lists and Dialect fragments;
# values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway.store import _codec
from gateway.store._engine import Row, SqlBase, Tx, _trace_row
from gateway.store._exchange import _MSG_COLS, _cols, _message
from gateway.store.base import (
    ArchiveRecord,
    Message,
    Purge,
    RetentionHead,
    TraceEvent,
    TraceRow,
)
from gateway.store.errors import StoreConflict, StoreError

__all__ = ["RETENTION_READS", "RETENTION_WRITES", "RetentionQueries"]

#: The methods below, for the SQLite store's threads (reads beside the writer).
RETENTION_READS = frozenset(
    {"retention_head", "trace_seq_before", "trace_page", "retention_candidates",
     "list_archives", "archive_of"}
)  # fmt: skip
RETENTION_WRITES = frozenset({"claim_retention", "release_retention", "commit_archive"})

_ARCHIVE_COLS = (
    "number", "name", "sha256", "first_seq", "last_seq", "last_hash", "events", "messages",
    "node", "created_at",
)  # fmt: skip
_ARCHIVE_SQL = ", ".join(_ARCHIVE_COLS)
_MAX_PAGE = 10_000


def _in_flight(message: str, cutoff: str | None = None) -> str:
    """SQL true when the message (table or alias ``message``) has a delivery still in flight:
    not answered by the receiving system (done and failed are the final states,
    ``lifecycle.FINAL_STATES``) or, with ``cutoff``, answered at or after it. A downlink
    delivery in the ``delivered`` state is in flight too: the peer hub has not fetched and
    acknowledged it yet."""
    recent = f" OR d.updated_at >= {cutoff}" if cutoff else ""
    return (
        f"EXISTS (SELECT 1 FROM deliveries d WHERE d.doc_id = {message}.doc_id"
        f" AND (d.state NOT IN ('done', 'failed'){recent}))"
    )


class RetentionQueries(SqlBase):
    """The archive register and the purge (module docstring)."""

    async def retention_head(self) -> RetentionHead:
        async with self._db.read() as tx:
            return await self._retention_head(tx)

    async def _retention_head(self, tx: Tx, *, lock: bool = False) -> RetentionHead:
        row = await tx.fetchrow(
            "SELECT archived_seq, archived_hash, run_by, run_until, last_run_at FROM retention_head"
            " WHERE id = 1" + (self._d.for_update if lock else "")
        )
        if row is None:
            raise StoreError("retention_head is missing: the schema is damaged")
        last = await tx.fetchrow(
            f"SELECT {_ARCHIVE_SQL} FROM trace_archives ORDER BY number DESC LIMIT 1"
        )
        until, ran = row["run_until"], row["last_run_at"]
        return RetentionHead(
            archived_seq=int(row["archived_seq"]),
            archived_hash=str(row["archived_hash"]),
            last=None if last is None else _archive(last),
            run_by=row["run_by"],
            run_until=None if until is None else _codec.utc(until),
            last_run_at=None if ran is None else _codec.utc(ran),
        )

    async def claim_retention(self, node: str, lease_seconds: float) -> RetentionHead:
        now = self._now()
        async with self._db.write() as tx:
            head = await self._retention_head(tx, lock=True)
            free = head.run_by in (None, node) or head.run_until is None or head.run_until <= now
            if not free:
                return head
            until = now + timedelta(seconds=lease_seconds)
            await tx.execute(
                "UPDATE retention_head SET run_by = $1, run_until = $2 WHERE id = 1", node, until
            )
        return dataclasses.replace(head, run_by=node, run_until=until)

    async def release_retention(self, node: str, *, completed: bool = False) -> None:
        now = self._now()
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE retention_head SET run_by = NULL, run_until = NULL,"
                " last_run_at = CASE WHEN $2 THEN $3 ELSE last_run_at END"
                " WHERE id = 1 AND run_by = $1",
                node,
                completed,
                now,
            )

    async def trace_seq_before(self, cutoff: datetime) -> int:
        cutoff = _codec.utc(cutoff)
        async with self._db.read() as tx:
            head = await self._retention_head(tx)
            top = await tx.fetchrow("SELECT seq FROM trace_head WHERE id = 1")
            lo, hi = head.archived_seq, int(top["seq"]) if top else 0

            async def before(seq: int) -> bool:
                row = await tx.fetchrow("SELECT at FROM trace_events WHERE seq = $1", seq)
                return row is not None and _codec.utc(row["at"]) < cutoff

            # A binary search on the primary key instead of a scan of ``at`` (not indexed:
            # the hot path appends). Entries are appended in commit order and ``at`` is the
            # commit time or the core's clock a moment before, so it is ordered closely
            # enough: an entry a few seconds out of place is archived a run early or late,
            # which never matters, because what is purged is decided per message.
            if hi <= lo or await before(hi):
                return max(hi, lo)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if await before(mid):
                    lo = mid
                else:
                    hi = mid - 1
            return lo

    async def trace_page(self, after_seq: int, until_seq: int, limit: int) -> list[TraceRow]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT * FROM trace_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                int(after_seq),
                int(until_seq),
                max(1, min(int(limit), _MAX_PAGE)),
            )
        return [_trace_row(r) for r in rows]

    async def retention_candidates(self, cutoff: datetime, limit: int) -> list[Message]:
        cutoff = _codec.utc(cutoff)
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_cols(_MSG_COLS, 'm')} FROM messages m"
                " WHERE m.purged_at IS NULL AND m.received_at < $1"
                f" AND NOT {_in_flight('m', '$1')}"
                " ORDER BY m.received_at, m.doc_id LIMIT $2",
                cutoff,
                max(1, min(int(limit), _MAX_PAGE)),
            )
        return [_message(r) for r in rows]

    async def commit_archive(
        self,
        record: ArchiveRecord,
        doc_ids: Sequence[str],
        *,
        node: str,
        trace: Sequence[TraceEvent] = (),
    ) -> Purge:
        now = self._now()
        r = record
        async with self._db.write() as tx:
            head = await self._retention_head(tx, lock=True)
            if head.run_by != node:
                # Another node took the lease (ours expired): its archive of the same number
                # is the one that counts; the caller drops its own file.
                raise StoreConflict(f"the retention lease is held by {head.run_by!r}, not {node!r}")
            expected = (head.last.number if head.last else 0) + 1
            if r.number != expected or r.first_seq != head.archived_seq + 1:
                raise StoreConflict(
                    f"archive {r.number} (entries {r.first_seq}..{r.last_seq}) does not follow"
                    f" archive {expected - 1} (entries up to {head.archived_seq})"
                )
            if r.events != r.last_seq - r.first_seq + 1:
                raise StoreConflict(f"archive {r.number} has an inconsistent range")
            await tx.execute(
                f"INSERT INTO trace_archives ({_ARCHIVE_SQL})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                r.number, r.name, r.sha256, r.first_seq, r.last_seq, r.last_hash, r.events,
                r.messages, r.node, _codec.utc(r.created_at),
            )  # fmt: skip
            await tx.execute(
                "UPDATE retention_head SET archived_seq = $1, archived_hash = $2 WHERE id = 1",
                r.last_seq,
                r.last_hash,
            )
            purged: list[Row] = []
            if doc_ids:
                # The in-flight test again, under this transaction: a delivery replayed or
                # re-sent since the caller looked keeps its message on the hub.
                purged = await tx.fetch(
                    "UPDATE messages SET purged_at = $2, archive = $3"
                    f" WHERE doc_id {self._d.in_list('$1')} AND purged_at IS NULL"
                    f" AND NOT {_in_flight('messages')} RETURNING doc_id, blob_key",
                    sorted(set(doc_ids)),
                    now,
                    r.name,
                )
            keys = sorted({str(p["blob_key"]) for p in purged})
            if keys:
                shared = await tx.fetch(
                    "SELECT DISTINCT blob_key FROM messages"
                    f" WHERE blob_key {self._d.in_list('$1')} AND purged_at IS NULL",
                    keys,
                )
                keys = sorted(set(keys) - {str(s["blob_key"]) for s in shared})
            inline: set[str] = set()
            if keys:
                gone = await tx.fetch(
                    f"DELETE FROM inline_blobs WHERE blob_key {self._d.in_list('$1')}"
                    " RETURNING blob_key",
                    keys,
                )
                inline = {str(g["blob_key"]) for g in gone}
            deleted = await tx.execute(
                "DELETE FROM trace_events WHERE seq <= $1 AND (doc_id IS NULL OR NOT EXISTS"
                " (SELECT 1 FROM messages m WHERE m.doc_id = trace_events.doc_id"
                " AND m.purged_at IS NULL))",
                r.last_seq,
            )
            await self._append(tx, trace)
        return Purge(
            events_deleted=deleted,
            messages_purged=len(purged),
            blob_keys=tuple(k for k in keys if k not in inline),
            inline_deleted=len(inline),
        )

    async def list_archives(self) -> list[ArchiveRecord]:
        async with self._db.read() as tx:
            rows = await tx.fetch(f"SELECT {_ARCHIVE_SQL} FROM trace_archives ORDER BY number")
        return [_archive(r) for r in rows]

    async def archive_of(self, doc_id: str) -> ArchiveRecord | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {', '.join('a.' + c for c in _ARCHIVE_COLS)} FROM messages m"
                " JOIN trace_archives a ON a.name = m.archive"
                " WHERE m.doc_id = $1 AND m.purged_at IS NOT NULL",
                doc_id,
            )
        return None if row is None else _archive(row)


def _archive(r: Row) -> ArchiveRecord:
    return ArchiveRecord(
        number=int(r["number"]),
        name=r["name"],
        sha256=r["sha256"],
        first_seq=int(r["first_seq"]),
        last_seq=int(r["last_seq"]),
        last_hash=r["last_hash"],
        events=int(r["events"]),
        messages=int(r["messages"]),
        node=r["node"],
        created_at=_codec.utc(r["created_at"]),
    )
