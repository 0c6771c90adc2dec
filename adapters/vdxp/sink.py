"""Drain ``P.uplink``: send each package routed up to the upstream axis with ``sendEdoc``.

This is the *effect* of the consumer of the uplink queue (``gateway.broker.Consumer``, the one
module that acks): the consumer records the delivery and acks only after :class:`UplinkSink`
returns, i.e. after the axis answered with its ``DocId`` (invariant §3.2)::

    handover (claim check) ─► message row + sealed blob ─► gate ─► sendEdoc(from, messagetype)
        OK, DocId            trace uplink/sent (upstream_doc_id)  → consumer: delivered, ack
        axis down / -2       EffectDeferred: back to P.uplink, no attempt counted (backlog)
        -1, 5xx in protocol  EffectFailed retryable → delay queue, exponential backoff
        -3 (sender unknown)  register the sender upstream, send once more, else retryable
        other FAIL           EffectFailed permanent → dead letter (uplink.refused)

A package sent twice (the node died between the axis's answer and the ack) is recognised by
the axis as a duplicate: this gateway's door answers with the original DocId; the national
axis de-duplicates on the receiving side (edxml.md §4.4 step 4).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from adapters.vdxp.client import MessageType, VdxpClient, VdxpError
from adapters.vdxp.config import UplinkConfig
from adapters.vdxp.errors import (
    MISROUTED,
    PACKAGE_MISSING,
    REFUSED,
    SENDER_NOT_REGISTERED,
    UPSTREAM_ERROR,
)
from adapters.vdxp.status import Gate, UpstreamDown
from gateway.blobs import BlobError, Packages
from gateway.broker import EffectDeferred, EffectFailed, Handover
from gateway.store.base import Message, Store, TraceEvent

__all__ = ["UPLINK", "UplinkSink"]

log = logging.getLogger(__name__)

#: The trace stage of everything the uplink does (README trace catalogue).
UPLINK = "uplink"
_NOT_REGISTERED = "-3"


class UplinkSink:
    """The effect that hands one delivery to the upstream axis (module doc)."""

    def __init__(
        self,
        *,
        config: UplinkConfig,
        client: VdxpClient,
        gate: Gate,
        store: Store,
        blobs: Packages,
        node: str,
        register: Callable[[str], Awaitable[bool]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.client = client
        self.gate = gate
        self.store = store
        self.blobs = blobs
        self.node = node
        #: Registers one of our agencies upstream (``DirectorySync.register_one``).
        self.register = register
        self.clock = clock

    async def __call__(self, handover: Handover) -> None:
        decision = handover.decision
        if decision.route != "uplink":
            # Routed to a peer or a local inbox whose queue was not bound yet when it was
            # published, so the alternate exchange sent it here: the retry publishes it to
            # P.route again, where the binding now exists.
            raise EffectFailed(MISROUTED.code, retryable=True, message=decision.route)
        message = await self.store.get_message(decision.doc_id)
        if message is None:  # a delivery without its message breaks a foreign key
            raise EffectFailed(PACKAGE_MISSING.code, retryable=False, message=decision.doc_id)
        try:
            data = await self.blobs.read(message.blob_key)
        except BlobError:
            raise EffectFailed(
                PACKAGE_MISSING.code, retryable=False, message=message.blob_key
            ) from None
        upstream_doc_id = await self._send(message, data)
        status = self.gate.status
        status.sent += 1
        status.last_sent_at = self.clock()
        await self.store.append_trace(
            [
                TraceEvent(
                    node=self.node,
                    stage=UPLINK,
                    outcome="sent",
                    doc_id=message.doc_id,
                    detail={
                        "delivery_id": decision.delivery_id,
                        "recipient": decision.recipient,
                        "upstream_doc_id": upstream_doc_id,
                        "system_id": self.config.system_id,
                    },
                )
            ]
        )

    async def _send(self, message: Message, data: bytes) -> str:
        kind = MessageType.STATUS if message.kind == "status" else MessageType.EDOC

        async def send() -> str:
            return await self.client.send_edoc(data, sender=message.sender, message_type=kind)

        retried = False
        while True:
            try:
                return await self.gate.run(send, hold=self.config.hold_seconds)
            except UpstreamDown as exc:
                self.gate.status.deferred += 1
                raise EffectDeferred(exc.code, str(exc)) from None
            except VdxpError as exc:
                if exc.error_code == _NOT_REGISTERED and not retried and self.register:
                    # The axis does not know the sender under our system (yet): the directory
                    # registration may not have reached it. Register it and try once more.
                    retried = await self.register(message.sender)
                    if retried:
                        continue
                raise self._failure(exc, message) from exc

    def _failure(self, exc: VdxpError, message: Message) -> EffectFailed:
        detail = f"ErrorCode {exc.error_code}: {exc.desc}"[:200]
        if exc.error_code == _NOT_REGISTERED:
            return EffectFailed(SENDER_NOT_REGISTERED.code, retryable=True, message=detail)
        if exc.retryable:
            return EffectFailed(UPSTREAM_ERROR.code, retryable=True, message=detail)
        log.warning("the upstream axis refuses %s for good: %s", message.doc_id, detail)
        self.gate.status.dead_lettered += 1
        return EffectFailed(REFUSED.code, retryable=False, message=detail)
