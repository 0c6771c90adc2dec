"""The delivery lifecycle as one transition table, from which the store, broker and UI derive.

A delivery is one (message, recipient) pair. Its path, after h11's ``_state.py``::

    pending ──publish──► queued ──deliver──► delivered ──ack──► done
       │                 │    ▲                   │    └──nack──► failed
       │           retry │    │ requeue           │
       │                 ▼    │                   │
       │               retrying ──deliver─────────┘ (a retry that succeeds)
       └──deliver──► delivered     (the consumer may commit before the relay sees the confirm)

    pending | queued | retrying | delivered ──dead_letter──► dead ──replay──► pending

``done`` and ``failed`` are final: the receiving system has answered (VDXP ``updateStatus``
done/fail, edxml.md §2.4). ``dead`` is parked, not final: an admin replays it with the same
delivery_id, so receivers still de-duplicate (architecture §3.3).

Repeating the transition that led to the current state is a no-op, never an error: RabbitMQ
redelivers, relays republish after a lease expires, admins double-click.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from gateway.store.errors import BadTransition

__all__ = [
    "FINAL_STATES",
    "INBOX_STATES",
    "TRANSITIONS",
    "DeliveryState",
    "allowed_targets",
    "transition",
]


class DeliveryState(enum.StrEnum):
    """Where one delivery stands; the value is what the ``deliveries.state`` column holds."""

    PENDING = "pending"  # committed together with its outbox row, not yet published
    QUEUED = "queued"  # published to RabbitMQ and confirmed by the broker
    RETRYING = "retrying"  # an attempt failed; waiting in a delay queue
    DELIVERED = "delivered"  # in the local inbox, or handed to the peer hub
    DONE = "done"  # the receiving system acknowledged it
    FAILED = "failed"  # the receiving system acknowledged it as failed
    DEAD = "dead"  # dead-lettered after too many attempts; waits for an admin


_S = DeliveryState

# (from, to) -> the event's name; the admin UI labels buttons and trace stages with it.
TRANSITIONS: Mapping[tuple[DeliveryState, DeliveryState], str] = {
    (_S.PENDING, _S.QUEUED): "publish",
    # The relay marks a row published only after the broker's confirm, and a fast consumer
    # can commit the inbox row first: the race is normal, so pending -> delivered is legal.
    (_S.PENDING, _S.DELIVERED): "deliver",
    (_S.QUEUED, _S.DELIVERED): "deliver",
    (_S.QUEUED, _S.RETRYING): "retry",
    (_S.RETRYING, _S.QUEUED): "requeue",
    (_S.RETRYING, _S.DELIVERED): "deliver",
    (_S.DELIVERED, _S.DONE): "ack",
    (_S.DELIVERED, _S.FAILED): "nack",
    (_S.PENDING, _S.DEAD): "dead_letter",
    (_S.QUEUED, _S.DEAD): "dead_letter",
    (_S.RETRYING, _S.DEAD): "dead_letter",
    (_S.DELIVERED, _S.DEAD): "dead_letter",
    (_S.DEAD, _S.PENDING): "replay",
}

FINAL_STATES: frozenset[DeliveryState] = frozenset(
    s for s in DeliveryState if not any(frm == s for frm, _ in TRANSITIONS)
)

# What a receiving system sees in its inbox: handed over, whether acknowledged yet or not.
INBOX_STATES: frozenset[DeliveryState] = frozenset({_S.DELIVERED, _S.DONE, _S.FAILED})


def allowed_targets(current: DeliveryState) -> frozenset[DeliveryState]:
    """The states reachable from ``current`` in one step (not counting the no-op repeat)."""
    return frozenset(to for frm, to in TRANSITIONS if frm == current)


def transition(current: DeliveryState, target: DeliveryState) -> bool:
    """Decide a change: True to apply it, False for a harmless repeat, else BadTransition."""
    if current == target:
        return False
    if (current, target) not in TRANSITIONS:
        allowed = ", ".join(sorted(allowed_targets(current))) or "nothing (final)"
        raise BadTransition(f"a delivery cannot go from {current} to {target}; allowed: {allowed}")
    return True
