"""Choose how each local delivery is handed over, by its recipient's delivery mode.

Every local agency has its inbox queue and consumer (``gateway/app.py``); the consumer's effect
(``gateway.broker.Effect``) is :class:`Effects`, which reads the recipient's ``delivery_mode``
in the hub's current directory snapshot and runs::

    pull (or none), folder   record_only: the delivery row IS the handover; the agency's system
                             (SDK, drop folder, VDXP SDK) pulls it over HTTP
    push                     adapters.webhook.sink.WebhookSink: POST to the agency's URL
    amqp                     adapters.amqp.sink.AmqpSink: copy into the agency's own queue

An admin's ``edxgw webhook set`` or ``edxgw systems amqp-grant`` changes the mode in the store;
running nodes follow within ``directory_refresh_seconds`` (the directory watcher). The sinks
live in :func:`ctx`, a ``cleanup_ctx`` entry placed before the broker's, so that no consumer
ever starts without them and the broker stops before their sessions close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web

from adapters.amqp.config import DELIVERY_MODE as AMQP
from adapters.amqp.sink import AmqpSink
from adapters.webhook.config import DELIVERY_MODE as PUSH
from adapters.webhook.sink import WebhookSink
from gateway.broker import Effect, Handover, record_only
from gateway.core.directory import Directory
from gateway.web.state import HUB, SETTINGS, STORE

__all__ = ["EFFECTS", "Effects", "ctx"]


class Effects:
    """The effect of every local inbox consumer: dispatch on ``Agency.delivery_mode``."""

    def __init__(self, directory: Callable[[], Directory], sinks: Mapping[str, Effect]) -> None:
        self._directory = directory
        self._sinks = dict(sinks)

    def mode(self, recipient: str) -> str:
        agency = self._directory().resolve(recipient)
        return (agency.delivery_mode if agency is not None else None) or "pull"

    async def __call__(self, handover: Handover) -> None:
        sink = self._sinks.get(self.mode(handover.decision.recipient), record_only)
        await sink(handover)


EFFECTS = web.AppKey("effects", Effects)


async def ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the push and AMQP sinks for the node's consumers; close them after the broker."""
    settings, store, hub = app[SETTINGS], app[STORE], app[HUB]
    webhook = WebhookSink(
        store,
        hub.packages,
        hub_organ_id=settings.hub_organ_id,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
    )
    amqp = AmqpSink(
        settings.amqp_url,
        prefix=settings.amqp_prefix,
        queue_type=settings.amqp_queue_type,
        store=store,
        blobs=hub.packages,
        hub_organ_id=settings.hub_organ_id,
        name=f"edxgw {settings.hub_organ_id} {settings.node} amqp-adapter",
    )
    app[EFFECTS] = Effects(lambda: hub.directory, {PUSH: webhook, AMQP: amqp})
    try:
        yield
    finally:
        await webhook.close()
        await amqp.close()
