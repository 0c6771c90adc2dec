"""Run this hub's links to other hubs: the downlink peer queues and, if configured, the uplink.

One aiohttp ``cleanup_ctx`` (:func:`link_ctx`), entered after the broker's (it needs the
declared topology) and left before it:

- **Downlink** (always): one consumer per ``P.peer.<name>`` queue, with the same effect as a
  local inbox (``record_only``): the delivery row IS the hand-over. The downlink hub is a
  system of this hub registered for its top agency (host ``downlink``, its peer name) and
  fetches its copies through the VDXP door like any agency system (getReceivedEdocList,
  getEdoc, updateStatus: ``Hub.peers_of``). New peers appear with the directory; the app's
  directory watcher binds their queue before the router uses them, this starts a consumer.
- **Uplink** (when ``uplink_url`` is set): this hub as a system of the upstream axis —
  the consumer of ``P.uplink`` with :class:`~adapters.vdxp.sink.UplinkSink` as its effect,
  the poller :class:`~adapters.vdxp.source.UplinkSource`, and the directory exchange
  :class:`~adapters.vdxp.directory.DirectorySync` (register our agencies; sync theirs), all
  behind one :class:`~adapters.vdxp.status.Gate`. ``app[UPLINK]`` is the :class:`Uplink`
  (``status`` is what health and metrics read), or ``None`` without an uplink.

Both are steps of the node's drain (``Drain.add_step``), after its own consumers: ``uplink``
stops polling the axis and sending to it (what waits goes back to ``P.uplink``), then
``downlink`` stops the peer consumers (what they hold finishes, or RabbitMQ redelivers it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from adapters.vdxp.client import VdxpClient
from adapters.vdxp.config import UplinkConfig
from adapters.vdxp.directory import DirectorySync
from adapters.vdxp.sink import UplinkSink
from adapters.vdxp.source import UplinkSource
from adapters.vdxp.status import Gate, LinkState, UplinkStatus, UpstreamDown
from gateway.broker import Broker, Consumer
from gateway.broker.errors import redact
from gateway.core.deliver import RetryPolicy
from gateway.metrics import Links, Metrics
from gateway.service.hub import Hub
from gateway.settings import Settings
from gateway.web.state import HUB, LINKS, METRICS, SETTINGS, SPOOL, STORE

__all__ = ["UPLINK", "Downlink", "Uplink", "link_ctx"]

log = logging.getLogger(__name__)


class Uplink:
    """The running uplink of one node: client, gate, sender, poller, directory exchange."""

    def __init__(
        self,
        config: UplinkConfig,
        *,
        hub: Hub,
        broker: Broker,
        settings: Settings,
        spool: Path,
        session: aiohttp.ClientSession | None = None,
        on_change: Callable[[UplinkStatus], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.hub = hub
        self.broker = broker
        self.settings = settings
        # Shown to operators and in errors: never a password the URL might carry.
        self.status = UplinkStatus(endpoint=redact(config.endpoint), system_id=config.system_id)
        self.gate = Gate(self.status, backoff_max=config.backoff_max_seconds, on_change=on_change)
        self.client = VdxpClient(
            config.endpoint,
            config.system_id,
            config.secret,
            session=session,
            timeout=config.timeout_seconds,
        )
        self.directory = DirectorySync(config=config, client=self.client, gate=self.gate, hub=hub)
        self.sink = UplinkSink(
            config=config,
            client=self.client,
            gate=self.gate,
            store=hub.store,
            blobs=hub.packages,
            node=hub.node,
            register=self.directory.register_one,
        )
        self.source = UplinkSource(
            config=config,
            client=self.client,
            gate=self.gate,
            hub=hub,
            spool=spool,
            signature_policy=settings.signature_policy,
            validation_mode=settings.validation_mode,
        )
        self.consumer: Consumer | None = None
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Consume ``P.uplink``, poll, and keep the directory exchange going."""
        topology = self.broker.topology
        self.consumer = Consumer(
            self.hub.store,
            await self.broker.channel(prefetch=self.config.concurrency),
            topology,
            topology.uplink,
            node=self.hub.node,
            effect=self.sink,
            policy=RetryPolicy(max_attempts=self.settings.delivery_max_attempts),
            prefetch=self.config.concurrency,
            metrics=self.metrics,
        )
        await self.consumer.start()
        self.tasks.append(asyncio.create_task(self.source.run(self.stop), name="uplink-poll"))
        self.tasks.append(asyncio.create_task(self._maintain(), name="uplink-directory"))
        log.info("uplink to %s as system %s started", self.status.endpoint, self.config.system_id)

    async def close(self) -> None:
        """Stop taking work; packages waiting for the axis go back to ``P.uplink``."""
        self.stop.set()
        self.gate.close()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=15)
        if self.consumer is not None:
            await self.consumer.stop()
        await self.client.close()

    async def backlog(self) -> int:
        """Messages waiting in ``P.uplink`` (not counting those in hand); -1 if unknown."""
        try:
            channel = await self.broker.channel(confirms=False)
            try:
                amqp = await channel.get_underlay_channel()
                ok = await amqp.queue_declare(self.broker.topology.uplink, passive=True)
                return int(ok.message_count or 0)
            finally:
                await channel.close()
        except Exception as exc:
            log.debug("uplink backlog unknown: %s", exc)
            return -1

    async def _maintain(self) -> None:
        """Register our agencies when the directory changes; sync theirs every so often."""
        loop = asyncio.get_running_loop()
        next_sync = loop.time()
        registered_for: str | None = None
        while not self.stop.is_set():
            hold = self.config.poll_seconds
            try:
                fingerprint = self.hub.directory.fingerprint
                if self.config.register_agencies and fingerprint != registered_for:
                    await self.directory.register(hold=hold)
                    registered_for = fingerprint
                interval = self.config.directory_sync_seconds
                if interval > 0 and loop.time() >= next_sync:
                    await self.directory.sync(hold=hold)
                    next_sync = loop.time() + interval
            except UpstreamDown:
                pass  # the status says so; try again after the pause
            except Exception:
                log.exception("uplink: directory exchange failed; trying again later")
            pause = min(self.settings.directory_refresh_seconds, self.config.poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), max(pause, 0.1))


class Downlink:
    """One ``record_only`` consumer per downlink peer queue, following the directory."""

    def __init__(
        self, broker: Broker, hub: Hub, settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics
        self.broker = broker
        self.hub = hub
        self.settings = settings
        self.consumers: dict[str, Consumer] = {}
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.follow()
        self.task = asyncio.create_task(self._watch(), name="downlink-peers")

    async def follow(self) -> None:
        """Start a consumer for every declared peer queue that has none."""
        policy = RetryPolicy(max_attempts=self.settings.delivery_max_attempts)
        for name, queue in sorted(self.broker.topology.peers.items()):
            if name in self.consumers:
                continue
            consumer = Consumer(
                self.hub.store,
                await self.broker.channel(prefetch=64),
                self.broker.topology,
                queue,
                node=self.hub.node,
                policy=policy,
                metrics=self.metrics,
            )
            await consumer.start()
            self.consumers[name] = consumer
            log.info("downlink peer %s: consuming %s", name, queue)

    async def close(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop following the directory and every peer consumer: what they hold finishes
        within ``timeout`` or RabbitMQ redelivers it. Again after a drain: nothing more."""
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, timeout=15)
        holding = sum(c.in_flight for c in self.consumers.values())
        await asyncio.gather(*(c.stop(timeout=timeout) for c in self.consumers.values()))
        return {"stopped": len(self.consumers), "finished": holding}

    async def _watch(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.settings.directory_refresh_seconds)
            if self.stop.is_set():
                return
            try:
                await self.follow()
            except Exception:
                log.exception("downlink: starting a peer consumer failed; trying again")


#: The node's uplink (``None`` without one): ``request.app[UPLINK].status`` for health/metrics.
UPLINK: web.AppKey[Uplink | None] = web.AppKey("uplink")
#: The node's downlink peer consumers (for the drain's report and for tests).
DOWNLINK: web.AppKey[Downlink] = web.AppKey("downlink")


async def link_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context ``gateway/app.py`` registers after the broker's (module doc)."""
    # Imported here: gateway.app imports this module to register the context.
    from gateway.app import BROKER
    from gateway.ops.drain import DRAIN

    settings = app[SETTINGS]
    hub = app[HUB]
    assert app[STORE] is hub.store
    broker = app[BROKER].broker
    metrics = app.get(METRICS)
    downlink = Downlink(broker, hub, settings, metrics)
    await downlink.start()
    config = UplinkConfig.from_settings(settings)
    links = app.get(LINKS)
    uplink = None
    if config is not None:
        report = None if links is None else _reporter(links, settings.uplink_peer)
        uplink = Uplink(
            config,
            hub=hub,
            broker=broker,
            settings=settings,
            spool=app[SPOOL],
            on_change=report,
            metrics=metrics,
        )
    elif links is not None:
        links.set(settings.uplink_peer, "disabled", kind="uplink")
    app[UPLINK] = uplink
    app[DOWNLINK] = downlink
    drain = app.get(DRAIN)
    if drain is not None:
        # Drain steps after the node's own consumers: the uplink stops polling and sending to
        # the axis, then the downlink consumers stop taking messages and finish what they hold,
        # before the node says it is drained (and, under SIGTERM, exits).
        if uplink is not None:
            drain.add_step("uplink", _closer(uplink))
        drain.add_step("downlink", downlink.close)
    try:
        if uplink is not None:
            await uplink.start()
        yield
    finally:
        if uplink is not None:
            await uplink.close()
        await downlink.close()


def _closer(uplink: Uplink) -> Callable[[float], Awaitable[None]]:
    """The uplink's drain step (``Drain.add_step`` hands it the seconds left; close bounds
    its own waits)."""

    async def close(_seconds_left: float) -> None:
        await uplink.close()

    return close


#: UplinkStatus states as the metrics' link registry names them (``gateway.metrics.LinkState``).
_LINK_STATES = {
    LinkState.STARTING: "connecting",
    LinkState.UP: "up",
    LinkState.DOWN: "down",
    LinkState.UNAUTHORIZED: "down",
    LinkState.STOPPED: "disabled",
}


def _reporter(links: Links, name: str) -> Callable[[UplinkStatus], None]:
    links.set(name, "connecting", kind="uplink")

    def report(status: UplinkStatus) -> None:
        detail = status.last_error_code if status.state is not LinkState.UP else None
        links.set(name, _LINK_STATES[status.state], kind="uplink", detail=detail)

    return report
