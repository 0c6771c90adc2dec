"""Store queries for operations: publish again what was in flight when a backup was taken.

A backup holds the store, not RabbitMQ. After a restore into a new broker (or after a broker
lost its queues) the messages of deliveries that were published but not yet delivered exist
nowhere; their outbox rows say "published". :meth:`OpsQueries.republish_in_flight` turns the
newest outbox row of every such delivery back into an unpublished one, and the relay sends it
again. Republishing something the broker still holds is harmless: the consumer finds the
delivery recorded and acks the copy (invariant §3.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store._engine import SqlBase
from gateway.store.base import TraceEvent
from gateway.store.lifecycle import DeliveryState

__all__ = ["IN_FLIGHT", "OPS_WRITES", "OpsQueries"]

#: Methods of this module that write (the SQLite backend runs them on its writer thread).
OPS_WRITES = frozenset({"republish_in_flight"})

#: Deliveries whose broker message may exist only in a lost broker.
IN_FLIGHT = (DeliveryState.PENDING, DeliveryState.QUEUED, DeliveryState.RETRYING)


class OpsQueries(SqlBase):
    async def republish_in_flight(self, trace: Sequence[TraceEvent] = ()) -> int:
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE outbox SET published_at = NULL, claimed_by = NULL, claimed_until = NULL"
                " WHERE id IN (SELECT max(o.id) FROM outbox o"
                " JOIN deliveries d ON d.delivery_id = o.delivery_id"
                " WHERE d.state IN ($1, $2, $3) GROUP BY o.delivery_id)",
                *(s.value for s in IN_FLIGHT),
            )
            if changed:
                await self._append(tx, trace)
        return changed
