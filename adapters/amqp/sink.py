"""Copy each delivery of an ``amqp`` agency into the agency's own queue: the consumer effect.

:class:`AmqpSink` is a :data:`gateway.broker.Effect`: the consumer of the agency's inbox queue
calls it before recording the delivery; it publishes the sealed package to
``<prefix>.agency.<organ id>`` (the default exchange, ``mandatory``) and returns only once
RabbitMQ confirmed it, so the inbox message is acked after the copy is safe (invariant §3.2).
A failure raises :class:`~gateway.broker.EffectFailed` (retryable): the consumer retries through
the delay queues. If the hub dies between the confirm and its own commit, the copy is made again
(at-least-once, §3.3): the agency de-duplicates on ``message_id`` = the delivery id.

The message the agency receives::

    body          the sealed edXML package (application/xml); empty when it is larger than
                  INLINE_MAX_BYTES: fetch it with GET /api/v1/inbox/{delivery_id}
    message_id    the delivery id (de-duplication key)     type  edoc | status
    headers       delivery_id, doc_id, kind, sender, recipient, sha256, size,
                  inline (true/false), fetch (/api/v1/inbox/<delivery id>), hub

The sink keeps its own robust connection (named ``edxgw <hub> amqp-adapter``), so a flow-
controlled agency queue cannot stall the relay's or the consumers' channels, and declares each
agency queue once per connection with the arguments of :func:`adapters.amqp.config.queue_arguments`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection, DeliveryMode
from pamqp.commands import Basic

from adapters.amqp.config import INLINE_MAX_BYTES, queue_arguments, queue_name
from adapters.amqp.errors import PACKAGE_UNREADABLE, PUBLISH_FAILED, UNAVAILABLE
from gateway.blobs import BlobError, Packages
from gateway.broker import EffectFailed, Handover
from gateway.broker.errors import redact
from gateway.core.errors import Reason
from gateway.store.base import Store

__all__ = ["AmqpSink"]

log = logging.getLogger(__name__)


def _fail(why: Reason, /, **params: object) -> EffectFailed:
    return EffectFailed(why.code, retryable=True, message=why.en.format(**params))


class AmqpSink:
    """The effect that copies a delivery into its agency's own queue (module doc)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        queue_type: str,
        store: Store,
        blobs: Packages,
        hub_organ_id: str,
        name: str = "edxgw amqp-adapter",
        inline_max_bytes: int = INLINE_MAX_BYTES,
        confirm_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.queue_type = queue_type
        self.store = store
        self.blobs = blobs
        self.hub_organ_id = hub_organ_id
        self.name = name
        self.inline_max_bytes = inline_max_bytes
        self.confirm_timeout = confirm_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._declared: set[str] = set()
        self._lock = asyncio.Lock()

    async def __call__(self, handover: Handover) -> None:
        decision = handover.decision
        queue = queue_name(self.prefix, decision.recipient)
        blob_key, sha256 = await self._claim(handover)
        try:
            body, size, digest = await self._read(blob_key)
        except (BlobError, OSError) as exc:
            raise _fail(PACKAGE_UNREADABLE, blob_key=blob_key, reason=exc) from exc
        if sha256 is not None and digest is not None and digest != sha256:
            raise _fail(PACKAGE_UNREADABLE, blob_key=blob_key, reason="sha256 mismatch")
        kind = _text(handover.headers.get("kind"))
        message = aio_pika.Message(
            body=body,
            headers={
                "delivery_id": decision.delivery_id,
                "doc_id": decision.doc_id,
                "kind": kind,
                "sender": _text(handover.headers.get("sender")),
                "recipient": decision.recipient,
                "sha256": sha256 or digest or "",
                "size": size,
                "inline": bool(body),
                "fetch": f"/api/v1/inbox/{decision.delivery_id}",
                "hub": self.hub_organ_id,
            },
            message_id=decision.delivery_id,
            type=kind,
            content_type="application/xml",
            delivery_mode=DeliveryMode.PERSISTENT,
            timestamp=datetime.now(UTC),
            app_id="edxgw",
        )
        channel = await self._ready(queue)
        try:
            result = await channel.default_exchange.publish(
                message, queue, mandatory=True, timeout=self.confirm_timeout
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the consumer is stopping
            # aiormq cancels pending confirms when the channel closes under them.
            raise _fail(PUBLISH_FAILED, queue=queue, reason="channel closed") from None
        except Exception as exc:
            self._declared.discard(queue)
            raise _fail(PUBLISH_FAILED, queue=queue, reason=f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(result, Basic.Ack):
            # Basic.Return: the queue is gone (deleted by an admin); declare it again next time.
            self._declared.discard(queue)
            raise _fail(PUBLISH_FAILED, queue=queue, reason=type(result).__name__)

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
        self._connection = self._channel = None
        self._declared.clear()

    # -- helpers ----------------------------------------------------------------------------
    async def _claim(self, handover: Handover) -> tuple[str, str | None]:
        try:
            claim = json.loads(handover.body)
        except (ValueError, UnicodeDecodeError):
            claim = None
        if isinstance(claim, dict) and isinstance(claim.get("blob_key"), str):
            digest = claim.get("sha256")
            return claim["blob_key"], digest if isinstance(digest, str) else None
        message = await self.store.get_message(handover.decision.doc_id)
        return (message.blob_key if message is not None else ""), None

    async def _read(self, blob_key: str) -> tuple[bytes, int, str | None]:
        package = await self.blobs.body(blob_key)  # one lookup: the bytes, or the file
        if isinstance(package, bytes):
            data = package
        else:
            size = package.stat().st_size
            if size > self.inline_max_bytes:
                return b"", size, None  # fetched over REST: not read here at all
            data = await asyncio.to_thread(package.read_bytes)
        if len(data) > self.inline_max_bytes:
            return b"", len(data), None
        return data, len(data), hashlib.sha256(data).hexdigest()

    async def _ready(self, queue: str) -> AbstractRobustChannel:
        """The connection, the channel (publisher confirms) and the declared queue."""
        async with self._lock:
            try:
                if self._connection is None:
                    self._connection = await aio_pika.connect_robust(
                        self.url, client_properties={"connection_name": self.name}
                    )
                if self._channel is None:
                    self._channel = await self._connection.channel(publisher_confirms=True)
                if queue not in self._declared:
                    await self._channel.declare_queue(
                        queue,
                        durable=True,
                        arguments=queue_arguments(self.prefix, self.queue_type),
                    )
                    self._declared.add(queue)
            except Exception as exc:
                log.warning(
                    "amqp adapter cannot prepare %s on %s: %s", queue, redact(self.url), exc
                )
                raise _fail(UNAVAILABLE, reason=f"{type(exc).__name__}: {exc}") from exc
        return self._channel


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""
