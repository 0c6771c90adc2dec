"""The agency side of direct AMQP delivery: consume your own queue with your own credentials.

For an agency system's developers (any AMQP 0-9-1 client works the same way; this one uses
aio-pika)::

    from adapters.amqp.source import AgencyQueue

    async with AgencyQueue(url_printed_by_amqp_grant, "edxgw.agency.000.21.31.H53") as queue:
        async for item in queue:
            package = item.package or await fetch_over_rest(item.fetch)   # large ones
            store_in_dms(item.delivery_id, package)    # idempotent: a repeat is a no-op
            await item.ack()                           # the copy is yours: RabbitMQ drops it
            # then, over REST with the system's token (adapters.sdk):
            # POST /api/v1/inbox/{item.delivery_id}/ack  and status packages (01, 03, ...)

The queue is declared passively (the user has no ``configure`` permission; ``edxgw systems
amqp-grant`` declared it). A message without the hub's headers is rejected to the hub's dead
letters and raises nothing here (``amqp.bad_message`` is logged). Copies are at-least-once:
de-duplicate on :attr:`Item.delivery_id` (= ``message_id``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from adapters.amqp.errors import BAD_MESSAGE

__all__ = ["AgencyQueue", "Item"]

log = logging.getLogger(__name__)

_REQUIRED = ("delivery_id", "doc_id", "kind", "sender", "recipient")


@dataclass(frozen=True, slots=True)
class Item:
    """One delivery copied into the agency's queue."""

    delivery_id: str
    doc_id: str
    kind: str  # edoc | status
    sender: str
    recipient: str
    sha256: str
    size: int
    #: The sealed edXML package, or None when it was too large to travel inline: then GET
    #: :attr:`fetch` (``/api/v1/inbox/<delivery id>``) with the system's token.
    package: bytes | None
    fetch: str
    redelivered: bool
    _message: AbstractIncomingMessage = field(repr=False, compare=False)

    async def ack(self) -> None:
        """Tell RabbitMQ the copy is safely stored (transport only; the business answer
        done/fail goes over REST)."""
        await self._message.ack()

    async def requeue(self) -> None:
        """Give the copy back (e.g. the DMS is down); it is delivered again."""
        await self._message.nack(requeue=True)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _size(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class AgencyQueue:
    """An async iterator over the deliveries in one or more of the agency's queues."""

    def __init__(self, url: str, *queues: str, prefetch: int = 16) -> None:
        if not queues:
            raise ValueError("name at least one queue (edxgw systems amqp-grant printed them)")
        self.url = url
        self.queues = queues
        self.prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._items: asyncio.Queue[Item] = asyncio.Queue()

    async def __aenter__(self) -> AgencyQueue:
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": "edxgw agency consumer"}
        )
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        for name in self.queues:
            queue = await channel.declare_queue(name, passive=True)
            await queue.consume(self._on_message)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        missing = [h for h in _REQUIRED if not _text(headers.get(h))]
        if missing:
            log.warning("%s", BAD_MESSAGE.en.format(header=missing[0]))
            await message.reject(requeue=False)
            return
        inline = bool(headers.get("inline"))
        await self._items.put(
            Item(
                delivery_id=_text(headers["delivery_id"]),
                doc_id=_text(headers["doc_id"]),
                kind=_text(headers["kind"]),
                sender=_text(headers["sender"]),
                recipient=_text(headers["recipient"]),
                sha256=_text(headers.get("sha256")),
                size=_size(headers.get("size"), len(message.body)),
                package=message.body if inline else None,
                fetch=_text(headers.get("fetch")),
                redelivered=bool(message.redelivered),
                _message=message,
            )
        )

    def __aiter__(self) -> AsyncIterator[Item]:
        return self

    async def __anext__(self) -> Item:
        return await self._items.get()

    async def next(self, timeout: float | None = None) -> Item:
        """The next delivery; ``TimeoutError`` if none arrives within ``timeout`` seconds."""
        return await asyncio.wait_for(self._items.get(), timeout)
