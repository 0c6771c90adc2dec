"""Test data for the store tests: messages, trace events, and an accept with its fan-out."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.store import DeliveryState, Message, NewDelivery, NewOutbox, Route, Store, TraceEvent
from gateway.store.lifecycle import TRANSITIONS

S = DeliveryState
SENDER = "000.00.01.H53"
T0 = datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


def message(n: int, **fields: Any) -> Message:
    kind = fields.pop("kind", "edoc")
    sender = fields.pop("sender", SENDER)
    values: dict[str, Any] = {
        "doc_id": f"doc-{n}",
        "kind": kind,
        "sender": sender,
        "document_id": f"{sender},2025/07/01,{n}",
        "business_type": 0 if kind == "edoc" else None,
        "received_at": T0 + timedelta(seconds=n),
        "sha256": f"{n:064x}",
        "size": 1000 + n,
        "blob_key": f"blobs/{n}",
        "dedup_key": f"{sender}|{n}|0|{kind}",
        "subject": f"Công văn số {n}",
        "code_notation": f"{n}/UBND-VP",
        "system_id": "qlvb-1",
    }
    values.update(fields)
    return Message(**values)


def ev(stage: str, doc_id: str | None = None, **detail: object) -> TraceEvent:
    return TraceEvent(node="gw-test", stage=stage, outcome="ok", doc_id=doc_id, detail=detail)


async def accept(
    store: Store,
    n: int,
    recipients: Sequence[str] = ("R1", "R2", "R3"),
    *,
    route: Route = "local",
    sealed: bytes | None = None,
    **fields: Any,
) -> tuple[str, list[str]]:
    """Accept message ``n`` with one delivery + one outbox row per recipient and 2 trace events
    (and, with ``sealed``, its package's bytes kept in the store)."""
    m = message(n, **fields)
    deliveries = [
        NewDelivery(delivery_id=f"{m.doc_id}:{r}", recipient=r, route=route) for r in recipients
    ]
    outbox = [
        NewOutbox(
            delivery_id=d.delivery_id,
            exchange="edxgw.route",
            routing_key=f"H53.{d.recipient}",
            headers={"doc_id": m.doc_id, "delivery_id": d.delivery_id},
            body=b'{"blob": "%s"}' % m.blob_key.encode(),
        )
        for d in deliveries
    ]
    trace = [
        ev("receive", m.doc_id, size=m.size),
        ev("accept", m.doc_id, recipients=len(recipients)),
    ]
    result = await store.accept(m, deliveries, outbox, trace, sealed=sealed)
    assert result.created
    return result.doc_id, [d.delivery_id for d in deliveries]


def paths_from_pending() -> dict[DeliveryState, list[DeliveryState]]:
    """The shortest sequence of targets that brings a new delivery to each state."""
    paths: dict[DeliveryState, list[DeliveryState]] = {S.PENDING: []}
    queue = deque([S.PENDING])
    while queue:
        frm = queue.popleft()
        for (a, b), _ in sorted(TRANSITIONS.items()):
            if a == frm and b not in paths:
                paths[b] = [*paths[frm], b]
                queue.append(b)
    return paths
