"""Declare this hub's exchanges, queues and bindings in RabbitMQ, idempotently (architecture §4).

For a prefix ``P`` (``Settings.amqp_prefix``; several hubs may share one broker)::

    P.route            topic exchange, durable, alternate-exchange = P.unroutable. Outbox rows
                       publish here with the recipient's position as routing key (H53.31.21).
    P.unroutable       fanout exchange  ──► P.uplink (queue): whatever no binding of P.route
                       matches goes up to the national axis (architecture §4).
    P.inbox.<key>      queue per local agency, bound to P.route with its exact routing key.
    P.peer.<name>      queue per downlink hub, bound with ``<subtree>.#`` and ``<subtree>``.
    P.retry.<s>        fanout exchange ──► queue of the same name with x-message-ttl = s and
                       x-dead-letter-exchange = P.route (no dead-letter routing key, so the
                       message goes back with its ORIGINAL routing key): one per delay of
                       ``RetryPolicy.delays()``. A per-queue TTL, not a per-message one: every
                       message of the queue expires in arrival order, so none waits behind a
                       longer one at the head (RabbitMQ only expires messages at the head).
    P.dead             fanout exchange ──► queue P.dead: the dead-letter exchange of every
                       consuming queue (inbox, peer, uplink). The consumer rejects a message it
                       gives up on (``gateway.core.deliver.ACK_POLICY``) and RabbitMQ moves it
                       here with an ``x-death`` header naming the queue and the reason.

Queue type: ``quorum`` (the default: replicated, and the only type whose dead-lettering can be
at-least-once, ``x-dead-letter-strategy``) or ``classic``. performance.md measured quorum queues
at ~25% less end-to-end throughput than classic durable queues on this kind of machine; classic
is the choice for a single-node hub that needs the speed. A queue's type cannot change in
place: RabbitMQ refuses the redeclaration (``broker.topology_conflict``); drain and delete the
old queues first. ``connection.Broker`` runs :func:`declare` again after every reconnect, with the
bindings the directory wants at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import aiormq.abc
from aio_pika.abc import AbstractChannel

from gateway.broker.errors import translate

__all__ = [
    "QueueType",
    "Topology",
    "bind_agency",
    "bind_peer",
    "declare",
    "delay_label",
    "unbind_agency",
]

QueueType = Literal["quorum", "classic"]
QUEUE_TYPES: tuple[QueueType, ...] = ("quorum", "classic")


def delay_label(seconds: float) -> str:
    """A delay as it appears in a queue name: 2.0 -> ``2``, 0.2 -> ``0.2`` (never exponents)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class Topology:
    """The names ``declare`` created; everything else in the broker shell asks this for names."""

    prefix: str
    queue_type: QueueType
    route: str  # topic exchange outbox rows publish to
    unroutable: str  # its alternate exchange (fanout)
    uplink: str  # the queue behind the alternate exchange
    dead: str  # dead-letter exchange and queue (same name)
    retry: tuple[tuple[float, str], ...]  # (delay seconds, exchange = queue name), ascending
    inboxes: Mapping[str, str]  # routing key -> queue, as declared
    peers: Mapping[str, str]  # peer name -> queue

    def inbox(self, routing_key: str) -> str:
        return f"{self.prefix}.inbox.{routing_key}"

    def peer(self, name: str) -> str:
        return f"{self.prefix}.peer.{name}"

    def with_peer(self, name: str) -> Topology:
        return replace(self, peers={**self.peers, name: self.peer(name)})

    def with_inbox(self, routing_key: str) -> Topology:
        return replace(self, inboxes={**self.inboxes, routing_key: self.inbox(routing_key)})

    def without_inbox(self, routing_key: str) -> Topology:
        return replace(self, inboxes={k: v for k, v in self.inboxes.items() if k != routing_key})

    def retry_for(self, delay_seconds: float) -> str:
        """The delay queue for a delay: the shortest one not shorter than asked, else the longest.

        ``decide`` asks for ``policy.delay(n)``; if the policy changed since the queues were
        declared, a near delay is better than none.
        """
        if not self.retry:
            raise ValueError("no retry delay queues were declared")
        for seconds, name in self.retry:
            if seconds >= delay_seconds - 1e-9:
                return name
        return self.retry[-1][1]

    def arguments_for(self, queue: str) -> dict[str, Any]:
        """The arguments ``declare`` gives a queue, for a consumer that re-declares it."""
        if queue == self.dead:
            return _queue_arguments(self.queue_type, None)
        for seconds, name in self.retry:
            if name == queue:
                return _retry_arguments(self.queue_type, self.route, seconds)
        return _queue_arguments(self.queue_type, self.dead)


def _queue_arguments(queue_type: QueueType, dead_letter_to: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"x-queue-type": queue_type}
    if dead_letter_to is not None:
        args["x-dead-letter-exchange"] = dead_letter_to
        if queue_type == "quorum":
            # At-least-once dead-lettering (RabbitMQ >= 3.10) keeps the message in the source
            # queue until the target confirms it; it requires reject-publish overflow. Without
            # it a dead-lettered (or expired retry) message may be lost on a node failure.
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
    return args


def _retry_arguments(queue_type: QueueType, route: str, seconds: float) -> dict[str, Any]:
    # Expired messages dead-letter to P.route; without x-dead-letter-routing-key RabbitMQ keeps
    # the routing key the message was published with, i.e. the recipient's original key.
    args = _queue_arguments(queue_type, route)
    args["x-message-ttl"] = max(1, round(seconds * 1000))
    return args


async def declare(
    channel: AbstractChannel,
    prefix: str,
    local_keys: Iterable[str] = (),
    peers: Mapping[str, str] | None = None,
    delays: Iterable[float] = (),
    queue_type: QueueType = "quorum",
) -> Topology:
    """Declare everything (module doc); safe to call again with the same arguments.

    ``local_keys`` are routing keys of local agencies, ``peers`` maps a downlink peer's name to
    its subtree key (``{"huyen-x": "H53.31"}``), ``delays`` the retry delays in seconds.
    """
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"queue_type must be one of {QUEUE_TYPES}, not {queue_type!r}")
    route, unroutable = f"{prefix}.route", f"{prefix}.unroutable"
    dead, uplink = f"{prefix}.dead", f"{prefix}.uplink"
    retry = tuple(
        (seconds, f"{prefix}.retry.{delay_label(seconds)}")
        for seconds in sorted({float(d) for d in delays})
    )
    topology = Topology(
        prefix=prefix,
        queue_type=queue_type,
        route=route,
        unroutable=unroutable,
        uplink=uplink,
        dead=dead,
        retry=retry,
        inboxes={key: f"{prefix}.inbox.{key}" for key in local_keys},
        peers={name: f"{prefix}.peer.{name}" for name in peers or {}},
    )
    # Raw AMQP methods on the underlying channel, not aio-pika's robust objects: aio-pika would
    # remember every binding and restore it after a reconnect, including ones the directory
    # has since removed. The owner re-runs this function on reconnect instead (connection.py).
    try:
        amqp = await channel.get_underlay_channel()
        await _exchange(amqp, dead, "fanout")
        await _queue(amqp, dead, _queue_arguments(queue_type, None), (dead, ""))
        await _exchange(amqp, unroutable, "fanout")
        await _exchange(amqp, route, "topic", {"alternate-exchange": unroutable})
        await _queue(amqp, uplink, _queue_arguments(queue_type, dead), (unroutable, ""))
        for seconds, name in retry:
            await _exchange(amqp, name, "fanout")
            await _queue(amqp, name, _retry_arguments(queue_type, route, seconds), (name, ""))
        for key, name in topology.inboxes.items():
            await _queue(amqp, name, _queue_arguments(queue_type, dead), (route, key))
        for peer, subtree in (peers or {}).items():
            # "H53.31.#" already matches "H53.31" itself ('#' is zero or more words); the exact
            # binding states the hub's own key explicitly and survives anyone "fixing" the
            # pattern to "H53.31.*".
            await _queue(
                amqp,
                topology.peer(peer),
                _queue_arguments(queue_type, dead),
                (route, f"{subtree}.#"),
                (route, subtree),
            )
    except Exception as exc:
        raise translate(exc) from exc
    return topology


async def bind_agency(channel: AbstractChannel, topology: Topology, routing_key: str) -> Topology:
    """A local agency joined (directory change): declare its inbox queue and bind its key."""
    name = topology.inbox(routing_key)
    try:
        amqp = await channel.get_underlay_channel()
        args = _queue_arguments(topology.queue_type, topology.dead)
        await _queue(amqp, name, args, (topology.route, routing_key))
    except Exception as exc:
        raise translate(exc) from exc
    return topology.with_inbox(routing_key)


async def bind_peer(
    channel: AbstractChannel,
    topology: Topology,
    name: str,
    subtree: str,
    old_subtree: str | None = None,
) -> Topology:
    """A downlink peer joined, or its subtree moved (directory change): declare its queue and
    bind ``subtree``; a different ``old_subtree`` is unbound, its queued messages stay."""
    queue = topology.peer(name)
    try:
        amqp = await channel.get_underlay_channel()
        args = _queue_arguments(topology.queue_type, topology.dead)
        await _queue(amqp, queue, args, (topology.route, f"{subtree}.#"), (topology.route, subtree))
        if old_subtree is not None and old_subtree != subtree:
            for key in (f"{old_subtree}.#", old_subtree):
                await amqp.queue_unbind(queue=queue, exchange=topology.route, routing_key=key)
    except Exception as exc:
        raise translate(exc) from exc
    return topology.with_peer(name)


async def unbind_agency(channel: AbstractChannel, topology: Topology, routing_key: str) -> Topology:
    """A local agency left (moved to a peer, merged): unbind its key, KEEP its queue.

    New messages for the key now take a peer's binding or the alternate exchange (uplink);
    what is already queued stays and is consumed normally. Delete the queue once it is empty
    (``rabbitmqctl delete_queue --if-empty``); deleting it here could drop accepted messages.
    """
    try:
        amqp = await channel.get_underlay_channel()
        await amqp.queue_unbind(
            queue=topology.inbox(routing_key), exchange=topology.route, routing_key=routing_key
        )
    except Exception as exc:
        raise translate(exc) from exc
    return replace(
        topology, inboxes={k: v for k, v in topology.inboxes.items() if k != routing_key}
    )


async def _exchange(
    amqp: aiormq.abc.AbstractChannel, name: str, kind: str, args: dict[str, Any] | None = None
) -> None:
    await amqp.exchange_declare(name, exchange_type=kind, durable=True, arguments=args)


async def _queue(
    amqp: aiormq.abc.AbstractChannel,
    name: str,
    args: dict[str, Any],
    *bindings: tuple[str, str],
) -> None:
    await amqp.queue_declare(name, durable=True, arguments=args)
    for exchange, key in bindings:
        await amqp.queue_bind(name, exchange, routing_key=key)
