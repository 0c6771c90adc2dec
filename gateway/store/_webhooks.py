"""The webhook endpoint queries: where ``push`` agencies receive their deliveries (migration 8)."""

# S608: queries are assembled only from this module's column list; values travel as $n.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

from gateway.store import _codec
from gateway.store._engine import Row, SqlBase
from gateway.store.base import TraceEvent, WebhookEndpoint
from gateway.store.errors import StoreNotFound

__all__ = ["WebhookQueries"]

_COLS = (
    "organ_id", "url", "secret", "tls_client", "ca_file", "timeout_seconds", "concurrency",
    "created_at", "updated_at",
)  # fmt: skip
_SQL = ", ".join(_COLS)


class WebhookQueries(SqlBase):
    """Create, read, list and remove the push endpoint of a local agency."""

    async def upsert_webhook(
        self, endpoint: WebhookEndpoint, trace: Sequence[TraceEvent] = ()
    ) -> WebhookEndpoint:
        e = endpoint
        now = self._now()
        async with self._db.write() as tx:
            known = await tx.fetchrow("SELECT 1 AS x FROM agencies WHERE organ_id = $1", e.organ_id)
            if known is None:
                raise StoreNotFound(f"no agency {e.organ_id!r}")
            # created_at is not in the UPDATE list: it stays the first registration's.
            row = await tx.fetchrow(
                f"INSERT INTO webhook_endpoints ({_SQL})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
                " ON CONFLICT (organ_id) DO UPDATE SET url = excluded.url,"
                " secret = excluded.secret, tls_client = excluded.tls_client,"
                " ca_file = excluded.ca_file, timeout_seconds = excluded.timeout_seconds,"
                " concurrency = excluded.concurrency, updated_at = excluded.updated_at"
                f" RETURNING {_SQL}",
                e.organ_id, e.url, e.secret, e.tls_client, e.ca_file, e.timeout_seconds,
                e.concurrency, now,
            )  # fmt: skip
            await self._append(tx, trace)
        assert row is not None  # an upsert always returns its row
        return _endpoint(row)

    async def get_webhook(self, organ_id: str) -> WebhookEndpoint | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_SQL} FROM webhook_endpoints WHERE organ_id = $1", organ_id
            )
        return _endpoint(row) if row is not None else None

    async def list_webhooks(self) -> list[WebhookEndpoint]:
        async with self._db.read() as tx:
            rows = await tx.fetch(f"SELECT {_SQL} FROM webhook_endpoints ORDER BY organ_id")
        return [_endpoint(r) for r in rows]

    async def delete_webhook(self, organ_id: str, trace: Sequence[TraceEvent] = ()) -> bool:
        async with self._db.write() as tx:
            removed = await tx.execute(
                "DELETE FROM webhook_endpoints WHERE organ_id = $1", organ_id
            )
            if not removed:
                return False  # nothing written, trace included (base.py conventions)
            await self._append(tx, trace)
        return True


def _endpoint(r: Row) -> WebhookEndpoint:
    return WebhookEndpoint(
        organ_id=r["organ_id"],
        url=r["url"],
        secret=r["secret"],
        tls_client=bool(r["tls_client"]),
        ca_file=r["ca_file"],
        timeout_seconds=int(r["timeout_seconds"]),
        concurrency=int(r["concurrency"]),
        created_at=_codec.utc(r["created_at"]),
        updated_at=_codec.utc(r["updated_at"]),
    )
