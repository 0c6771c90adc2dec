"""The operations services of the console (dead letters, directory, statistics, health) on the app.

:func:`setup` adds one ``cleanup_ctx`` entry, after the broker's (``gateway.app.make_app``
appends the store, hub and broker entries before the console is set up): it builds the
services of ``gateway.service.admin`` over the running hub's store, blobs, keys and broker and
starts the trace chain watcher, which it stops on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.broker.connection import Broker
from gateway.core.deliver import RetryPolicy
from gateway.service.admin.deadletters import DeadLetters
from gateway.service.admin.directory import DirectoryAdmin
from gateway.service.admin.health import HealthService, LinkLike, TraceWatch
from gateway.service.admin.stats import Statistics
from gateway.web.console.access import admin_event
from gateway.web.state import HUB, LINKS, SETTINGS, STORE

__all__ = ["OPS", "Ops", "audit", "setup"]


@dataclass(frozen=True, slots=True)
class Ops:
    dead_letters: DeadLetters
    directory: DirectoryAdmin
    statistics: Statistics
    health: HealthService
    trace: TraceWatch


OPS = web.AppKey("console_ops", Ops)


def audit(request: web.Request) -> dict[str, Any]:
    """Who is acting (admin, address, via), as every console admin event names them."""
    return dict(admin_event(request, "admin.audit").detail)


def _runtime(app: web.Application) -> Any:
    from gateway.app import BROKER  # the composition root; imported late (it imports us)

    return app.get(BROKER)


def _broker(app: web.Application) -> Broker | None:
    runtime = _runtime(app)
    return None if runtime is None else runtime.broker


def _relay_stats(app: web.Application) -> Mapping[str, int]:
    runtime = _runtime(app)
    return {} if runtime is None else dict(runtime.relay.stats)


def _links(app: web.Application) -> Iterable[LinkLike]:
    links = app.get(LINKS)
    return () if links is None else tuple(links)


async def _ops_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, store, hub = app[SETTINGS], app[STORE], app[HUB]
    trace = TraceWatch(store)
    app[OPS] = Ops(
        dead_letters=DeadLetters(
            store,
            node=settings.node,
            exchange=hub.exchange,
            blobs=hub.packages,
            policy=RetryPolicy(max_attempts=settings.delivery_max_attempts),
            # Hub.on_commit is the relay's nudge once the broker runs (app.py).
            notify=lambda: hub.on_commit(),
        ),
        directory=DirectoryAdmin(store, node=settings.node),
        statistics=Statistics(store),
        health=HealthService(
            store,
            node=settings.node,
            keys=hub.keys,
            trace=trace,
            broker=lambda: _broker(app),
            links=lambda: _links(app),
            relay_stats=lambda: _relay_stats(app),
        ),
        trace=trace,
    )
    stop = asyncio.Event()
    watcher = asyncio.create_task(trace.run(stop), name="trace-watch")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(watcher, timeout=10)


def setup(app: web.Application) -> None:
    if _ops_ctx not in app.cleanup_ctx:
        app.cleanup_ctx.append(_ops_ctx)
