"""``/metrics`` for Prometheus, the request middleware that measures and logs every request,
and the background task that reads what the metrics need from the store and RabbitMQ.

``setup(app)`` (called by ``make_app``) puts a :class:`~gateway.metrics.Metrics` with its own
registry under ``app[METRICS]`` and its link registry under ``app[LINKS]`` before any part
starts, so every ``cleanup_ctx`` (and every adapter) can report to them; it appends one
``cleanup_ctx`` entry that runs last, after the broker is up:

- it points the scrape-time collector at the parts it reads (relay and consumer counters,
  the worker pool, the hub's certificates and CRLs);
- every ``metrics_refresh_seconds`` it reads the outbox lag, RabbitMQ queue depths (a passive
  ``queue.declare`` per queue on its own channel), the store and broker link states and, less
  often (:data:`COUNT_EVERY`), the number of deliveries in each state. A scrape only renders
  what is in memory: a slow store or a broker outage never makes ``/metrics`` slow.

The middleware is the outermost one: every request is counted by route template, method and
status (refusals also by error code), gets a ``request_id`` (the caller's ``X-Request-Id`` when
it is sane, else a new one, echoed in the response) bound to every log line written while it
runs, and leaves one ``gateway.access`` line: DEBUG for a success (the trace and the metrics
have those), INFO for a refusal, WARNING for a server error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aio_pika.abc import AbstractRobustChannel
from aiohttp import web
from prometheus_client import generate_latest

from gateway import __version__, logs
from gateway.core.receive import TOO_LARGE
from gateway.metrics import LinkState, Metrics, certificates_of
from gateway.service.pool import WorkerPool
from gateway.store.lifecycle import DeliveryState
from gateway.web.state import HUB, LINKS, METRICS, SETTINGS, STORE

if TYPE_CHECKING:
    from gateway.broker import Broker
    from gateway.store.base import Store

__all__ = ["COUNT_EVERY", "REQUEST_ID", "observe", "setup"]

log = logging.getLogger(__name__)
access = logging.getLogger("gateway.access")

REQUEST_ID = "X-Request-Id"
#: Logged and counted when the client disconnected before the answer (nginx's convention).
CLIENT_CLOSED = 499
#: The text exposition format every Prometheus version reads (names here are plain ASCII, so
#: the body is the same as in newer clients' 1.0.0 format).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Deliveries by state is a GROUP BY over the whole deliveries table: read it on every
#: COUNT_EVERY-th refresh only (every 30 s with the default 5 s refresh).
COUNT_EVERY = 6
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_TIMEOUT = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    metrics = Metrics(hub=settings.hub_organ_id, node=settings.node, version=__version__)
    app[METRICS] = metrics
    app[LINKS] = metrics.links
    app.middlewares.insert(0, observe)
    app.router.add_get("/metrics", scrape)
    app.cleanup_ctx.append(_refresh_ctx)


async def scrape(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.Response(
                status=401,
                text="metrics token required / cần mã truy cập số liệu\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


# -- every request ------------------------------------------------------------------------------

#: Request ids need to be unique, not secret: a random prefix drawn once per process and a
#: counter (32 hex digits, like the uuid4 they replaced, without a getrandom call each).
_REQUEST_PREFIX = secrets.token_hex(8)
_REQUEST_COUNTER = itertools.count(1)


def _next_request_id() -> str:
    return f"{_REQUEST_PREFIX}{next(_REQUEST_COUNTER):016x}"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count, time and log one request with its ``request_id`` bound (module doc)."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    given = request.headers.get(REQUEST_ID, "")
    request_id = given if _SANE_ID.match(given) else _next_request_id()
    logs.clear()  # a keep-alive connection's requests share a task: start clean
    logs.bind(request_id=request_id)
    route = _route(request)
    status = 500
    code: str | None = None
    try:
        response = await handler(request)
        status = response.status
        code = _problem_code(response)
        if not response.prepared:
            response.headers[REQUEST_ID] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID] = request_id
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        # The client went away mid-request (a killed agency system, a proxy timeout): not a
        # server error. 499 is nginx's "client closed request". What was committed stays
        # committed: a sender that re-sends the package gets the same DocId (§3.3).
        status = CLIENT_CLOSED
        raise
    finally:
        seconds = time.perf_counter() - started
        metrics.http(route, request.method, status, seconds)
        if code is not None:
            metrics.refusal(route, code)
            if code == TOO_LARGE.code:  # refused by the door before the pipeline saw it
                metrics.rejected("receive", code)
        level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
        if access.isEnabledFor(level):
            access.log(
                level,
                "%s %s %s %.1f ms",
                request.method,
                request.path,
                status,
                seconds * 1000,
                extra={"route": route, "status": status, "code": code},
            )
        logs.clear()


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _problem_code(response: web.StreamResponse) -> str | None:
    if response.status < 400 or not isinstance(response, web.Response):
        return None
    if response.content_type != "application/problem+json" or not isinstance(response.body, bytes):
        return None
    try:
        code = json.loads(response.body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


# -- the background reader ----------------------------------------------------------------------


async def _refresh_ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.app import BROKER  # the composition root imports this module

    metrics = app[METRICS]
    hub = app[HUB]
    runtime = app.get(BROKER)
    src = metrics.source
    src.certificates = lambda: certificates_of(hub.keys)
    src.crls = lambda: hub.keys.trust.crls
    pool = hub.executor
    if isinstance(pool, WorkerPool):
        src.workers = lambda: (pool.size, pool.in_flight)
    broker: Broker | None = None
    if runtime is not None:
        relay, consumers, broker = runtime.relay, runtime.consumers, runtime.broker
        src.relay_stats = lambda: relay.stats
        src.consumer_stats = lambda: [(k, c.stats, c.in_flight) for k, c in consumers.items()]
    refresher = Refresher(metrics, app[STORE], broker, float(app[SETTINGS].metrics_refresh_seconds))
    stop = asyncio.Event()
    task = asyncio.create_task(refresher.run(stop), name="metrics")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=_TIMEOUT)
        await refresher.close()


class Refresher:
    """Reads the figures that need I/O into the gauges (module doc); one per node."""

    def __init__(
        self, metrics: Metrics, store: Store, broker: Broker | None, interval: float
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.broker = broker
        self.interval = interval
        self._channel: AbstractRobustChannel | None = None
        self._queues: set[tuple[str, str]] = set()
        self._refreshes = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh_once()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def refresh_once(self) -> None:
        m = self.metrics
        try:
            async with asyncio.timeout(_TIMEOUT):
                await self._store()
        except Exception as exc:
            m.refresh_errors.labels("store").inc()
            m.links.set("store", LinkState.DOWN, kind="store", detail=type(exc).__name__)
            log.warning("metrics: reading the store failed: %s", exc)
        if self.broker is None:
            return
        if not self.broker.is_connected:
            m.links.set("broker", LinkState.CONNECTING, kind="broker")
            return
        m.links.set("broker", LinkState.UP, kind="broker")
        try:
            async with asyncio.timeout(_TIMEOUT):
                await self._depths(self.broker)
        except Exception as exc:
            m.refresh_errors.labels("broker").inc()
            log.warning("metrics: reading queue depths failed: %s", exc)
            await self._drop_channel()

    async def close(self) -> None:
        await self._drop_channel()

    async def _store(self) -> None:
        m = self.metrics
        healthy = await self.store.health()
        m.links.set("store", LinkState.UP if healthy else LinkState.DOWN, kind="store")
        if not healthy:
            return
        lag = await self.store.outbox_lag()
        m.outbox_unpublished.set(lag.unpublished)
        m.outbox_oldest.set(lag.oldest_age_seconds)
        if self._refreshes % COUNT_EVERY == 0:
            counts = await self.store.count_deliveries()
            for state in _COUNTED:
                m.deliveries_now.labels(state.value).set(counts.get(state, 0))
        self._refreshes += 1
        m.refreshed.labels("store").set(time.time())

    async def _depths(self, broker: Broker) -> None:
        t = broker.topology
        wanted = {(t.uplink, "uplink"), (t.dead, "dead")}
        wanted |= {(name, "retry") for _, name in t.retry}
        wanted |= {(name, "inbox") for name in t.inboxes.values()}
        wanted |= {(name, "peer") for name in t.peers.values()}
        if self._channel is None or self._channel.is_closed:
            self._channel = await broker.channel(confirms=False)
        amqp = await self._channel.get_underlay_channel()
        g, c = self.metrics.queue_messages, self.metrics.queue_consumers
        for name, kind in sorted(wanted):
            ok = await amqp.queue_declare(name, passive=True)
            g.labels(name, kind).set(ok.message_count or 0)
            c.labels(name, kind).set(ok.consumer_count or 0)
        for name, kind in self._queues - wanted:  # unbound since: drop the series
            with contextlib.suppress(KeyError):
                g.remove(name, kind)
                c.remove(name, kind)
        self._queues = wanted
        self.metrics.refreshed.labels("broker").set(time.time())

    async def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()


#: Deliveries by state as a gauge: the live states (done and failed only grow; their rate is
#: ``edxgw_acknowledgements_total``).
_COUNTED = (
    DeliveryState.PENDING,
    DeliveryState.QUEUED,
    DeliveryState.RETRYING,
    DeliveryState.DELIVERED,
    DeliveryState.DEAD,
)
