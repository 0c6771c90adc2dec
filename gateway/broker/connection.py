"""Hold this process's one robust RabbitMQ connection and keep the hub's topology declared on it.

:class:`Broker` is what ``gateway/app.py`` opens at start-up and closes at shutdown (one
``cleanup_ctx``). It connects with ``aio_pika.connect_robust``, which reconnects by itself after
a broker restart or a network cut and reopens every channel made with :meth:`Broker.channel`
(their prefetch and consumers included). Topology is NOT left to aio-pika's memory: after every
reconnect the topology channel runs ``topology.declare`` again with the bindings the directory
wants *now* (architecture §4), so an agency unbound while the broker was away stays unbound.

Publishes in flight when the connection drops fail (aio-pika does not replay them); the relay
leaves those outbox rows unpublished and the consumer leaves those messages unacked, so the
broker redelivers them (invariants §3.1, §3.2). Deliveries are at-least-once by design (§3.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from gateway.broker import topology as topo
from gateway.broker.errors import BrokerUnavailable, redact, translate, unavailable
from gateway.broker.topology import QueueType, Topology

__all__ = ["Broker"]

log = logging.getLogger(__name__)


class Broker:
    """A robust connection, the declared :class:`Topology`, and a factory of channels."""

    def __init__(
        self,
        url: str,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        topology: Topology,
        peers: Mapping[str, str],
        delays: tuple[float, ...],
    ) -> None:
        # Use Broker.open(); this only stores what open() made.
        self.url = url
        self.connection = connection
        self._channel = channel  # the topology channel: declarations and bindings only
        self._topology = topology
        self._peers = dict(peers)
        self._delays = delays
        self._lock = asyncio.Lock()
        #: Reconnects after which the topology was declared again (for health checks, tests).
        self.reconnects = 0
        channel.reopen_callbacks.add(self._on_reopen)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        prefix: str,
        local_keys: Iterable[str] = (),
        peers: Mapping[str, str] | None = None,
        delays: Iterable[float] = (),
        queue_type: QueueType = "quorum",
        reconnect_interval: float = 5.0,
        timeout: float = 10.0,
        name: str = "edxgw",
    ) -> Broker:
        """Connect and declare the topology; ``broker.unavailable`` names the URL if it fails.

        ``name`` appears in ``rabbitmqctl list_connections name`` (use the node's name).
        """
        try:
            connection = await aio_pika.connect_robust(
                url,
                timeout=timeout,
                reconnect_interval=reconnect_interval,
                client_properties={"connection_name": name},
            )
        except Exception as exc:
            # At start-up an unreachable broker is a configuration or operations problem:
            # say where we looked and how to start it, rather than retrying forever.
            raise unavailable(url, _reason(exc)) from exc
        try:
            channel = await connection.channel(publisher_confirms=False)
            declared = await topo.declare(
                channel,
                prefix,
                local_keys=local_keys,
                peers=peers,
                delays=tuple(delays),
                queue_type=queue_type,
            )
        except BaseException:
            await connection.close()
            raise
        return cls(url, connection, channel, declared, peers or {}, tuple(delays))

    @property
    def topology(self) -> Topology:
        """The names as declared, with the agency bindings as they are now."""
        return self._topology

    @property
    def is_connected(self) -> bool:
        return not self.connection.is_closed and self.connection.connected.is_set()

    async def channel(self, *, prefetch: int = 0, confirms: bool = True) -> AbstractRobustChannel:
        """A new robust channel (publisher confirms on by default), reopened after reconnects."""
        try:
            channel = await self.connection.channel(publisher_confirms=confirms)
            if prefetch:
                await channel.set_qos(prefetch_count=prefetch)
        except Exception as exc:
            raise translate(exc, url=self.url) from exc
        return channel

    async def bind_agency(self, routing_key: str) -> str:
        """Bind a local agency's inbox; returns the queue name.

        The binding is remembered first: if the broker is away this raises
        ``broker.unavailable`` and the binding is made on reconnect anyway.
        """
        async with self._lock:
            self._topology = self._topology.with_inbox(routing_key)
            await topo.bind_agency(self._channel, self._topology, routing_key)
        return self._topology.inbox(routing_key)

    @property
    def peers(self) -> Mapping[str, str]:
        """Downlink peer name → the subtree key its queue is bound to (as declared)."""
        return dict(self._peers)

    async def bind_peer(self, name: str, subtree: str) -> str:
        """Declare a downlink peer's queue bound to ``subtree`` (a new peer, or one whose top
        agency changed); returns the queue name. Remembered first, as in :meth:`bind_agency`.
        """
        async with self._lock:
            old = self._peers.get(name)
            self._peers[name] = subtree
            self._topology = self._topology.with_peer(name)
            await topo.bind_peer(self._channel, self._topology, name, subtree, old)
        return self._topology.peer(name)

    async def unbind_agency(self, routing_key: str) -> None:
        """Unbind a local agency's key (its queue stays to drain; see ``topology``)."""
        async with self._lock:
            self._topology = self._topology.without_inbox(routing_key)
            await topo.unbind_agency(self._channel, self._topology, routing_key)

    async def close(self) -> None:
        """Close every channel and the connection; idempotent."""
        if not self.connection.is_closed:
            await self.connection.close()

    async def _on_reopen(self, _sender: Any = None) -> None:
        # Called by aio-pika when the topology channel is reopened: after a reconnect, or after
        # the broker closed the channel (e.g. a failed declaration). A broker that lost its
        # definitions (new node, deleted vhost content) gets them back before consumers resume.
        t = self._topology
        try:
            async with self._lock:
                await topo.declare(
                    self._channel,
                    t.prefix,
                    local_keys=tuple(t.inboxes),
                    peers=self._peers,
                    delays=self._delays,
                    queue_type=t.queue_type,
                )
        except Exception:
            # aio-pika swallows callback errors; say it here. The next reopen tries again.
            log.exception("re-declaring the topology on %s failed", redact(self.url))
        else:
            self.reconnects += 1
            log.info("reconnected to %s; topology re-declared", redact(self.url))

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "reconnecting"
        return f"<Broker {redact(self.url)} {self._topology.prefix} {state}>"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BrokerUnavailable):
        return exc.message_en
    return f"{type(exc).__name__}: {exc}"
