"""Look into the hub's queues for the admin console: depths, and the dead-letter queue's copies.

Depths come from a passive ``queue.declare``, which answers the number of *ready* messages
and consumers without touching the queue (messages a consumer holds unacknowledged are not
counted); a queue that does not exist closes the channel (404), so each miss gets a new one.

``P.dead`` keeps the AMQP message the consumer rejected, with RabbitMQ's ``x-death`` header
(queue, reason, count, time). The store already knows every dead delivery (its state, reason
and history: ``gateway.service.admin.deadletters``), so the copy matters to operators who look
with RabbitMQ's own tools, and after a replay it is stale. :func:`peek_dead` reads copies
with ``basic.get`` without acknowledging them and closes its channel, which puts them back;
with ``discard`` it acknowledges (removes) the copies the caller says are no longer needed.
Each look counts as a redelivery for a quorum queue: on RabbitMQ 4, whose quorum queues have
a default delivery limit, look on demand, not on every page view.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractRobustChannel

from gateway.broker.connection import Broker
from gateway.broker.errors import translate
from gateway.broker.topology import Topology

__all__ = ["DeadCopy", "QueueDepth", "hub_queues", "peek_dead", "queue_depths"]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    role: str  # inbox, peer, uplink, retry, dead
    messages: int | None  # ready messages; None when the queue could not be asked
    consumers: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeadCopy:
    """One message in ``P.dead``, as its headers and ``x-death`` describe it."""

    delivery_id: str | None
    doc_id: str | None
    message_id: str | None
    routing_key: str | None  # the key it was first published with
    queue: str | None  # the queue it died in
    reason: str | None  # rejected, expired, maxlen, delivery_limit
    count: int | None  # times it died there
    died_at: datetime | None
    discarded: bool = False


def hub_queues(topology: Topology) -> list[tuple[str, str]]:
    """(queue, role) of every queue the hub declared, in a stable order."""
    out = [(topology.uplink, "uplink"), (topology.dead, "dead")]
    out += [(name, "peer") for _, name in sorted(topology.peers.items())]
    out += [(name, "retry") for _, name in topology.retry]
    out += [(name, "inbox") for _, name in sorted(topology.inboxes.items())]
    return out


async def queue_depths(broker: Broker, queues: list[tuple[str, str]]) -> list[QueueDepth]:
    """Ready messages and consumers of each queue (passive declare, module doc)."""
    out: list[QueueDepth] = []
    channel: AbstractRobustChannel | None = None
    try:
        for name, role in queues:
            try:
                if channel is None:
                    channel = await broker.channel(confirms=False)
                amqp = await channel.get_underlay_channel()
                ok = await amqp.queue_declare(name, passive=True)
                out.append(QueueDepth(name, role, ok.message_count, ok.consumer_count))
            except Exception as exc:
                error = translate(exc, url=broker.url)
                out.append(QueueDepth(name, role, None, None, error.message_en))
                if channel is not None:  # a 404 closed it: the next queue gets a new one
                    with contextlib.suppress(Exception):
                        await channel.close()
                channel = None
    finally:
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.close()
    return out


async def peek_dead(
    broker: Broker,
    *,
    limit: int = 100,
    discard: Callable[[DeadCopy], Awaitable[bool]] | None = None,
) -> list[DeadCopy]:
    """Up to ``limit`` copies from ``P.dead``; those ``discard`` answers True for are removed.

    The others go back to the queue when the channel closes (module doc).
    """
    copies: list[DeadCopy] = []
    channel = await broker.channel(confirms=False)
    try:
        queue = await channel.get_queue(broker.topology.dead, ensure=False)
        while len(copies) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            copy = _describe(dict(message.headers or {}), message.message_id)
            if discard is not None and await discard(copy):
                await message.ack()
                copy = DeadCopy(**{**_fields(copy), "discarded": True})
            copies.append(copy)
    except Exception as exc:
        raise translate(exc, url=broker.url) from exc
    finally:
        with contextlib.suppress(Exception):
            await channel.close()  # everything not acknowledged goes back to P.dead
    return copies


def _fields(copy: DeadCopy) -> dict[str, Any]:
    return {name: getattr(copy, name) for name in DeadCopy.__dataclass_fields__}


def _describe(headers: Mapping[str, Any], message_id: str | None) -> DeadCopy:
    deaths = headers.get("x-death")
    first: Mapping[str, Any] = {}
    if isinstance(deaths, list | tuple) and deaths and isinstance(deaths[0], Mapping):
        first = deaths[0]  # the most recent death comes first
    keys = first.get("routing-keys")
    routing_key = _text(keys[0]) if isinstance(keys, list | tuple) and keys else None
    died = first.get("time")
    if isinstance(died, datetime) and died.tzinfo is None:
        died = died.replace(tzinfo=UTC)  # AMQP timestamps are UTC seconds
    count = first.get("count")
    return DeadCopy(
        delivery_id=_text(headers.get("delivery_id")),
        doc_id=_text(headers.get("doc_id")),
        message_id=message_id,
        routing_key=routing_key,
        queue=_text(first.get("queue")),
        reason=_text(first.get("reason")),
        count=count if isinstance(count, int) else None,
        died_at=died if isinstance(died, datetime) else None,
    )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):  # AMQP long strings may arrive as bytes
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None
