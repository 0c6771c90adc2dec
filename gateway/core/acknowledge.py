"""Turn an agency system's done/fail for one inbox item into a store command and its trace event.

This is the VDXP ``updateStatus`` done/fail (edxml.md §2.4): it tells the hub the receiving
system has the document, not how the business is going (that travels as status packages). A
system reads and acknowledges only its own inbox: the deliveries addressed to the agencies it
is registered for (architecture.md §5). Repeating the same answer is harmless (the store
returns False); changing it afterwards is a conflict.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from gateway.core.directory import canonical_id
from gateway.core.errors import Conflict, GatewayError, NotFound, define
from gateway.core.trace import ACKNOWLEDGE, DONE, FAILED, REJECTED, event, rejection_detail
from gateway.core.values import Rejected
from gateway.store.base import Delivery, TraceEvent
from gateway.store.lifecycle import DeliveryState

__all__ = [
    "ALREADY_ANSWERED",
    "NOT_DELIVERED",
    "NOT_FOUND",
    "Acknowledgement",
    "acknowledge",
    "owned",
]

NOT_FOUND = define(
    "acknowledge.not_found",
    "Không có văn bản {delivery_id} trong hộp thư",
    "There is no item {delivery_id} in the inbox",
)
NOT_DELIVERED = define(
    "acknowledge.not_delivered",
    "Văn bản {delivery_id} chưa được giao tới hộp thư (trạng thái {state}), chưa thể xác nhận",
    "Item {delivery_id} has not reached the inbox yet (state {state}) and cannot be acknowledged",
)
ALREADY_ANSWERED = define(
    "acknowledge.already_answered",
    "Văn bản {delivery_id} đã được xác nhận trước đó là {state}",
    "Item {delivery_id} was already acknowledged as {state}",
)
_MAX_REASON = 200  # a system's free-text reason, cut for the trace


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    """The command: ``store.acknowledge(delivery_id, recipient, ok, reason, trace)``."""

    delivery_id: str
    recipient: str
    ok: bool
    reason: str | None
    state: DeliveryState  # done or failed, where the delivery ends up
    trace: tuple[TraceEvent, ...]


def acknowledge(
    delivery: Delivery | None,
    *,
    delivery_id: str,
    system_id: str,
    agencies: Collection[str],
    ok: bool,
    reason: str | None = None,
    node: str,
    now: datetime,
    peers: Collection[str] = (),
) -> Acknowledgement | Rejected:
    """Check that ``system_id`` (registered for ``agencies``) may answer, and how.

    ``peers`` are the downlink hubs the system stands for (``Hub.peers_of``): their copies
    (route ``downlink``) are acknowledged by that hub when it has taken them.
    """
    target = DeliveryState.DONE if ok else DeliveryState.FAILED
    try:
        delivery = _check(delivery, delivery_id, system_id, agencies, target, peers)
    except GatewayError as error:
        doc_id = delivery.doc_id if delivery is not None else None
        detail = {**rejection_detail(error), "delivery_id": delivery_id, "system_id": system_id}
        refusal = event(node, ACKNOWLEDGE, REJECTED, doc_id, now, **detail)
        return Rejected(error=error.problem(), trace=(refusal,), doc_id=doc_id)
    answer = event(
        node,
        ACKNOWLEDGE,
        DONE if ok else FAILED,
        delivery.doc_id,
        now,
        delivery_id=delivery_id,
        recipient=delivery.recipient,
        system_id=system_id,
        reason=None if ok or not reason else reason[:_MAX_REASON],
    )
    return Acknowledgement(
        delivery_id=delivery_id,
        recipient=delivery.recipient,
        ok=ok,
        reason=reason,
        state=target,
        trace=(answer,),
    )


def _check(
    delivery: Delivery | None,
    delivery_id: str,
    system_id: str,
    agencies: Collection[str],
    target: DeliveryState,
    peers: Collection[str] = (),
) -> Delivery:
    delivery = owned(delivery, delivery_id, agencies, peers)
    if delivery.state in (DeliveryState.DONE, DeliveryState.FAILED):
        if delivery.state != target:
            raise Conflict(ALREADY_ANSWERED, delivery_id=delivery_id, state=delivery.state.value)
        return delivery  # the same answer again: the store makes it a no-op
    if delivery.state != DeliveryState.DELIVERED:
        raise Conflict(NOT_DELIVERED, delivery_id=delivery_id, state=delivery.state.value)
    return delivery


def owned(
    delivery: Delivery | None,
    delivery_id: str,
    agencies: Collection[str],
    peers: Collection[str] = (),
) -> Delivery:
    """The delivery if it is in the caller's inbox, else ``acknowledge.not_found``.

    Local deliveries are their agencies' inbox; a peer's copy is the peer hub's to answer.
    Someone else's item is answered like a missing one, as fetch does (ids are not an
    oracle); the trace keeps the real reason for the administrator. Both doors (REST and
    VDXP) ask this.
    """
    if delivery is None:
        raise NotFound(NOT_FOUND, delivery_id=delivery_id)
    mine = {canonical_id(a) for a in agencies}
    local = delivery.route == "local" and canonical_id(delivery.recipient) in mine
    peer = delivery.route == "downlink" and delivery.peer is not None and delivery.peer in peers
    if not (local or peer):
        raise NotFound(
            NOT_FOUND,
            delivery_id=delivery_id,
            trace={"reason": "not_your_inbox", "recipient": delivery.recipient},
        )
    return delivery
