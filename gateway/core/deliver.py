"""Decide what a consumer does with one broker message, and own the acknowledgement policy.

The broker shell (``gateway/broker/``, the only place that acks) reads the delivery from the
store, calls :func:`decide`, and executes the decision by :data:`ACK_POLICY`, one explicit
table (style.md §7; invariant §3.2 "ack after effect")::

    decision        effect first?  commit before acking                    then
    RecordDelivery  yes            store.record_delivery(id, trace)        basic.ack
    AlreadyDone     no             nothing (a redelivery)                  basic.ack
    Retry           no             set_delivery_state(s) for each of       copy to the delay
                                   ``transitions`` (error, trace)          queue, confirm, ack
    DeadLetter      no             set_delivery_state(DEAD) if any         basic.reject
                                   ``transitions`` (error, trace)          (requeue=False → DLX)
    (commit fails)  -              nothing was recorded                    basic.nack(requeue)

When the effect fails, call :func:`decide` again with ``failure=``: a retryable failure
becomes :class:`Retry` with exponential backoff (2 s x 4ⁿ, capped at 1 h) until
``max_attempts`` failures, then :class:`DeadLetter`; a permanent one is dead-lettered at once.
Decisions against the delivery's state (lifecycle.py) make redeliveries harmless (§3.3).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.errors import define
from gateway.core.trace import DEAD_LETTER, DELIVER, DELIVERED, RETRY, event
from gateway.store.base import Delivery, Route, TraceEvent
from gateway.store.lifecycle import DeliveryState

__all__ = [
    "ACK_POLICY",
    "BAD_HEADERS",
    "DEFAULT_RETRY",
    "HEADER_MISMATCH",
    "MAX_ATTEMPTS",
    "ON_COMMIT_FAILURE",
    "UNKNOWN_DELIVERY",
    "Ack",
    "AckRule",
    "AlreadyDone",
    "DeadLetter",
    "Decision",
    "Failure",
    "RecordDelivery",
    "Retry",
    "RetryPolicy",
    "decide",
]

_S = DeliveryState

BAD_HEADERS = define(
    "deliver.bad_headers",
    "Thông điệp trong hàng đợi thiếu delivery_id",
    "The queued message lacks a delivery_id header",
)
UNKNOWN_DELIVERY = define(
    "deliver.unknown_delivery",
    "Không có lượt chuyển {delivery_id} trong kho dữ liệu",
    "The store has no delivery {delivery_id}",
)
HEADER_MISMATCH = define(
    "deliver.header_mismatch",
    "Tiêu đề thông điệp không khớp lượt chuyển {delivery_id} ({field})",
    "The message headers do not match delivery {delivery_id} ({field})",
)
MAX_ATTEMPTS = define(
    "deliver.max_attempts",
    "Đã thử chuyển {attempts} lần không thành công",
    "Delivery failed {attempts} times",
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: failure n waits ``min(cap, base x factorⁿ⁻¹)`` seconds."""

    base_seconds: float = 2.0
    factor: float = 4.0
    cap_seconds: float = 3600.0
    #: Failed attempts after which a delivery is dead-lettered.
    max_attempts: int = 8

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1 for the first failure)."""
        return float(min(self.cap_seconds, self.base_seconds * self.factor ** (attempt - 1)))

    def delays(self) -> tuple[float, ...]:
        """Every delay this policy asks for, in order: one delay queue (TTL) per value."""
        return tuple(self.delay(n) for n in range(1, self.max_attempts))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the effect failed: ``code`` (``webhook.http_503``…) and whether trying again helps."""

    code: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class RecordDelivery:
    """Perform the effect (inbox, push, hand to the peer), commit it, then ack."""

    delivery_id: str
    doc_id: str
    recipient: str
    route: Route
    peer: str | None
    trace: tuple[TraceEvent, ...]


@dataclass(frozen=True, slots=True)
class AlreadyDone:
    """A redelivery of something already handled (or parked as dead): ack and do nothing."""

    delivery_id: str
    state: DeliveryState


@dataclass(frozen=True, slots=True)
class Retry:
    """Record the failure and try again after ``delay_seconds``."""

    delivery_id: str
    delay_seconds: float
    attempt: int  # the attempt that failed, 1-based
    error: str
    #: States to move through, in order (``set_delivery_state``): entering ``retrying`` counts
    #: the attempt, so a delivery already ``retrying`` passes through ``queued`` first.
    transitions: tuple[DeliveryState, ...]
    trace: tuple[TraceEvent, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Give up: park the delivery as ``dead`` (an admin may replay it) and reject the message."""

    delivery_id: str | None
    reason: str  # a stable code: deliver.* or the failure's code
    transitions: tuple[DeliveryState, ...]
    trace: tuple[TraceEvent, ...]


Decision = RecordDelivery | AlreadyDone | Retry | DeadLetter


class Ack(enum.StrEnum):
    ACK = "ack"  # basic.ack
    DELAY = "delay"  # publish a copy to the delay queue, await its confirm, then basic.ack
    DEAD_LETTER = "dead_letter"  # basic.reject(requeue=False): the queue's DLX takes it
    REQUEUE = "requeue"  # basic.nack(requeue=True): our own commit failed, try again


@dataclass(frozen=True, slots=True)
class AckRule:
    effect_first: bool
    commit: str
    ack: Ack


#: The acknowledgement policy: what the broker shell does for each decision (module doc).
ACK_POLICY: Mapping[type[Decision], AckRule] = {
    RecordDelivery: AckRule(True, "store.record_delivery(delivery_id, trace)", Ack.ACK),
    AlreadyDone: AckRule(False, "nothing", Ack.ACK),
    Retry: AckRule(False, "store.set_delivery_state(each of transitions)", Ack.DELAY),
    DeadLetter: AckRule(False, "store.set_delivery_state(each of transitions)", Ack.DEAD_LETTER),
}
#: If committing a decision fails (store unavailable), nothing was recorded: requeue it.
ON_COMMIT_FAILURE = Ack.REQUEUE

# How to reach ``retrying`` from each live state so that the attempt is counted.
_TO_RETRYING: Mapping[DeliveryState, tuple[DeliveryState, ...]] = {
    _S.PENDING: (_S.QUEUED, _S.RETRYING),  # the relay has not marked it queued yet
    _S.QUEUED: (_S.RETRYING,),
    _S.RETRYING: (_S.QUEUED, _S.RETRYING),  # back from the delay queue: requeue, then retry
}
_HANDLED = frozenset({_S.DELIVERED, _S.DONE, _S.FAILED, _S.DEAD})


def decide(
    delivery: Delivery | None,
    headers: Mapping[str, Any],
    *,
    node: str,
    now: datetime,
    failure: Failure | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Decision:
    """What to do with one message, given the delivery as the store has it now (module doc)."""
    delivery_id = _text(headers.get("delivery_id"))
    doc_id = _text(headers.get("doc_id"))
    if delivery_id is None:
        return _dead(None, doc_id, BAD_HEADERS.code, (), node, now)
    if delivery is None:
        return _dead(delivery_id, doc_id, UNKNOWN_DELIVERY.code, (), node, now)
    mismatch = _mismatch(delivery, headers)
    if mismatch is not None:  # a bad message, not a bad delivery: leave the delivery alone
        return _dead(delivery_id, delivery.doc_id, HEADER_MISMATCH.code, (), node, now, mismatch)
    if delivery.state in _HANDLED:
        return AlreadyDone(delivery_id, delivery.state)
    attempt = delivery.attempts + 1
    if failure is None and delivery.attempts < policy.max_attempts:
        delivered = _event(node, now, delivery, DELIVERED, attempt=attempt)
        return RecordDelivery(
            delivery_id,
            delivery.doc_id,
            delivery.recipient,
            delivery.route,
            delivery.peer,
            (delivered,),
        )
    if failure is None:  # over the limit already (the policy was lowered): stop here
        reason, attempts = MAX_ATTEMPTS.code, delivery.attempts
    elif not failure.retryable:
        reason, attempts = failure.code, attempt
    elif attempt >= policy.max_attempts:
        reason, attempts = MAX_ATTEMPTS.code, attempt
    else:
        delay = policy.delay(attempt)
        detail = {"attempt": attempt, "delay_seconds": delay, "error": failure.code}
        retry = _event(node, now, delivery, RETRY, **detail)
        return Retry(
            delivery_id, delay, attempt, failure.code, _TO_RETRYING[delivery.state], (retry,)
        )
    dead = _event(node, now, delivery, DEAD_LETTER, attempts=attempts, reason=reason)
    return DeadLetter(delivery_id, reason, (_S.DEAD,), (dead,))


def _text(value: object) -> str | None:
    # AMQP long strings may come back as bytes, depending on the client library.
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _mismatch(delivery: Delivery, headers: Mapping[str, Any]) -> str | None:
    for name, expected in (("doc_id", delivery.doc_id), ("recipient", delivery.recipient)):
        got = _text(headers.get(name))
        if got is not None and got != expected:
            return name
    return None


def _event(node: str, now: datetime, delivery: Delivery, outcome: str, **detail: Any) -> TraceEvent:
    return event(
        node,
        DELIVER,
        outcome,
        delivery.doc_id,
        now,
        delivery_id=delivery.delivery_id,
        recipient=delivery.recipient,
        route=delivery.route,
        **detail,
    )


def _dead(
    delivery_id: str | None,
    doc_id: str | None,
    reason: str,
    transitions: tuple[DeliveryState, ...],
    node: str,
    now: datetime,
    field: str | None = None,
) -> DeadLetter:
    trace = event(
        node, DELIVER, DEAD_LETTER, doc_id, now, delivery_id=delivery_id, reason=reason, field=field
    )
    return DeadLetter(delivery_id, reason, transitions, (trace,))
