"""The one composition root: ``make_app(settings)`` wires store, keys, workers, broker and routes.

Lifetimes are aiohttp ``cleanup_ctx`` entries, opened in order and closed in reverse
(style.md §9); parts live under typed ``AppKey``s (``gateway/web/state.py``)::

    store     open, migrate; on the very first start load the configured directory file
    hub       keys, blob folder, spool folder, the process pool that runs the core
    broker    connect (broker.unavailable says how to start RabbitMQ), declare the topology,
              run the outbox relay, one consumer per local agency inbox, and the directory
              watcher that binds new local agencies before the router may use them

Shutdown stops taking requests (aiohttp), then lets the relay and consumers finish what they
hold before the broker and store close: nothing half-done is lost (invariants §3.1, §3.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from pathlib import Path

from aiohttp import web

from adapters.vdxp.link import link_ctx
from edxml.organ import parse_organ_id
from edxml.signature import SignaturePolicy
from edxml.validate import Mode, Policy
from gateway import delivery
from gateway.blobs import BlobStore
from gateway.broker import Broker, Consumer, Effect, Relay, record_only
from gateway.core.deliver import RetryPolicy
from gateway.core.directory import Directory
from gateway.core.keys import Keys
from gateway.ops import drain
from gateway.service.hub import Hub, import_directory_file, load_directory, token_hash
from gateway.service.pool import WorkerPool
from gateway.settings import DEMO_DIRECTORY, Settings
from gateway.store import open_store
from gateway.store.admins import Admin
from gateway.store.base import Store, System, TraceEvent
from gateway.web import api, console, health, openapi
from gateway.web import metrics as web_metrics
from gateway.web import vdxp as vdxp_door
from gateway.web.state import CHECKS, HUB, METRICS, SETTINGS, SPOOL, STORE, TRUST

__all__ = [
    "BROKER",
    "DEMO_ADMIN_FILE",
    "DEMO_TOKEN_FILE",
    "Runtime",
    "local_keys",
    "make_app",
    "peer_bindings",
]

log = logging.getLogger(__name__)

DEMO_ADMIN_FILE = "demo-admin.txt"  # "admin <password>", next to the demo token
DEMO_TOKEN_FILE = "demo-token.txt"  # noqa: S105 - a file name; next to the SQLite file: var/demo-token.txt


class Runtime:
    """The broker side of a running node: relay, consumers, directory watcher."""

    def __init__(self, broker: Broker, relay: Relay, effect: Effect = record_only) -> None:
        self.broker = broker
        self.relay = relay
        #: What every local inbox consumer does with a delivery (gateway/delivery.py).
        self.effect = effect
        self.consumers: dict[str, Consumer] = {}
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []


BROKER = web.AppKey("runtime", Runtime)


def make_app(settings: Settings, *, executor: Executor | None = None) -> web.Application:
    """The gateway as an aiohttp application (``edxgw serve`` runs it; tests too).

    ``executor`` replaces the worker pool (tests share one ProcessPoolExecutor); by default a
    :class:`WorkerPool` of ``settings.workers`` processes (one per core when 0) runs the core.
    """
    app = web.Application(client_max_size=settings.max_package_bytes + 1024 * 1024)
    app[SETTINGS] = settings
    app[CHECKS] = {}
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_hub_ctx(executor))
    app.cleanup_ctx.append(delivery.ctx)  # push/AMQP sinks: before the consumers start
    app.cleanup_ctx.append(_broker_ctx)
    app.cleanup_ctx.append(link_ctx)  # downlink peer queues; the uplink when configured
    api.setup(app)
    health.setup(app)
    openapi.setup(app)
    vdxp_door.setup(app)  # the national-axis (VDXP) calls, beside the REST API
    web_metrics.setup(app)  # app[METRICS], app[LINKS], /metrics; its ctx runs last
    console.setup(app)  # the admin console /console/ and its JSON API /api/admin/v1/
    drain.setup(app)  # drain (SIGTERM, edxgw drain), periodic retention: its ctx opens last
    return app


# -- store ------------------------------------------------------------------------------------


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.store_dsn.startswith("sqlite:///"):
        Path(settings.store_dsn.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    store = await open_store(settings.store_dsn)
    try:
        applied = await store.migrate()
        if applied:
            log.info("store migrations applied: %s", applied)
        await _first_start(store, settings)
        app[STORE] = store
        app[CHECKS]["store"] = store.health
        yield
    finally:
        await store.close()


async def _first_start(store: Store, settings: Settings) -> None:
    """Load the directory file into an empty store; give the demo hub a demo system.

    Only an EMPTY directory is loaded at start: afterwards the store is the truth (admins
    lock, merge and alias with ``edxgw directory``) and a re-import is an explicit command.
    """
    if settings.directory_file is not None and not await store.list_agencies(limit=1):
        count = await import_directory_file(
            store, settings.directory_file, node=settings.node, reason="first start"
        )
        log.info("directory loaded from %s (%d agencies)", settings.directory_file, count)
    if (
        not settings.production
        and settings.directory_file == DEMO_DIRECTORY
        and not await store.list_systems()
    ):
        await _demo_system(store, settings)
    if (
        not settings.production
        and settings.directory_file == DEMO_DIRECTORY
        and not await store.list_admins()
    ):
        await _demo_admin(store, settings)


async def _demo_system(store: Store, settings: Settings) -> None:
    """A system registered for every local demo agency, its token in ``var/demo-token.txt``."""
    local = await store.list_agencies(host="local", limit=100_000)
    token = secrets.token_urlsafe(32)
    target = _var_dir(settings) / DEMO_TOKEN_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    await store.upsert_system(
        System(
            system_id="demo",
            name="Demo document-management system / Hệ thống QLVB demo",
            token_sha256=token_hash(token),
            signature_policy=settings.signature_policy,
            validation_mode=settings.validation_mode,
            agencies=tuple(a.organ_id for a in local),
        ),
        [
            TraceEvent(
                node=settings.node,
                stage="admin.system_add",
                outcome="ok",
                detail={"system_id": "demo", "agencies": len(local), "reason": "demo hub"},
            )
        ],
    )
    log.warning("demo system 'demo' created; its API token is in %s", target)


async def _demo_admin(store: Store, settings: Settings) -> None:
    """An operator ``admin`` for the web console, its password in ``var/demo-admin.txt``."""
    from gateway.admins import generate_password, hash_password

    password = generate_password()
    target = _var_dir(settings) / DEMO_ADMIN_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"admin {password}\n")
    admin = Admin(
        username="admin",
        display_name="Demo administrator / Quản trị demo",
        role="operator",
        password_hash=await asyncio.to_thread(hash_password, password),
    )
    detail = {"username": "admin", "role": "operator", "reason": "demo hub"}
    await store.add_admin(
        admin,
        [TraceEvent(node=settings.node, stage="admin.admin_add", outcome="ok", detail=detail)],
    )
    log.warning("demo console admin 'admin' created; its password is in %s", target)


def _var_dir(settings: Settings) -> Path:
    if settings.store_dsn.startswith("sqlite:///"):
        return Path(settings.store_dsn.removeprefix("sqlite:///")).parent
    return Path(settings.blob_dir).parent


# -- hub --------------------------------------------------------------------------------------


def _hub_ctx(executor: Executor | None):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        store = app[STORE]
        keys = Keys.from_files(
            key_file=settings.key_file,
            cert_file=settings.cert_file,
            ca_files=settings.ca_files,
            crl_files=settings.crl_files,
        )
        _ = keys.signing_key  # fail at start, not on the first package, if the key is wrong
        spool = Path(settings.spool_dir)
        spool.mkdir(parents=True, exist_ok=True)
        Path(settings.blob_dir).mkdir(parents=True, exist_ok=True)
        pool: Executor | WorkerPool = executor or WorkerPool(settings.workers or None)
        if isinstance(pool, WorkerPool):
            await pool.start()
        hub = Hub(
            store=store,
            blobs=BlobStore(settings.blob_dir, fsync=settings.fsync),
            keys=keys,
            node=settings.node,
            hub_organ_id=settings.hub_organ_id,
            exchange=f"{settings.amqp_prefix}.route",
            directory=await load_directory(store),
            executor=pool,
            uplink_peer=settings.uplink_peer,
            default_mode=Mode(settings.validation_mode),
            default_signatures=SignaturePolicy(settings.signature_policy),
            limits=Policy(max_package_bytes=settings.max_package_bytes),
            fsync=settings.fsync,
            inline_limit=settings.inline_package_bytes,
            metrics=app[METRICS],
        )
        app[HUB] = hub
        app[TRUST] = keys.trust
        app[SPOOL] = spool
        app[CHECKS]["directory"] = _directory_ready(hub)
        try:
            if isinstance(pool, WorkerPool):
                # Import the core and load the keys in every worker now, not on first packages.
                await asyncio.gather(*(pool.run(_warm_up, keys) for _ in range(pool.size)))
            yield
        finally:
            if isinstance(pool, WorkerPool):
                await pool.close()

    return ctx


def _warm_up(keys: Keys) -> int:
    import gateway.service.worker  # noqa: F401

    _ = keys.signing_key, keys.trust
    return os.getpid()


def _directory_ready(hub: Hub):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(hub.directory) > 0

    return check


# -- broker -----------------------------------------------------------------------------------


def local_keys(directory: Directory) -> dict[str, str]:
    """Routing key → organ id of every agency this hub delivers to itself."""
    return {
        parse_organ_id(a.organ_id).routing_key: a.organ_id
        for a in directory
        if a.host == "local" and a.state != "merged"
    }


def peer_bindings(directory: Directory) -> dict[str, str]:
    """Downlink peer name → the subtree key bound to its queue (the highest agency it hosts)."""
    peers: dict[str, str] = {}
    for a in directory:
        if a.host == "downlink" and a.peer:
            key = parse_organ_id(a.organ_id).routing_key
            if a.peer not in peers or len(key) < len(peers[a.peer]):
                peers[a.peer] = key
    return peers


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = app[STORE]
    hub = app[HUB]
    policy = RetryPolicy(max_attempts=settings.delivery_max_attempts)
    broker = await Broker.open(
        settings.amqp_url,
        prefix=settings.amqp_prefix,
        local_keys=local_keys(hub.directory),
        peers=peer_bindings(hub.directory),
        delays=policy.delays(),
        queue_type="classic" if settings.amqp_queue_type == "classic" else "quorum",
        name=f"edxgw {settings.hub_organ_id} {settings.node}",
    )
    relay = Relay(
        store,
        await broker.channel(),
        node=settings.node,
        metrics=app[METRICS],
        lease_seconds=settings.relay_lease_seconds,
    )
    runtime = Runtime(broker, relay, app[delivery.EFFECTS])
    app[BROKER] = runtime
    app[CHECKS]["broker"] = _broker_ready(broker)
    hub.on_commit = relay.notify
    hub.outbox_claim, hub.dispatch = relay.claim, relay.dispatch
    try:
        for key in broker.topology.inboxes:
            await _start_consumer(runtime, store, settings, policy, key)
        runtime.tasks.append(asyncio.create_task(relay.run(runtime.stop), name="relay"))
        runtime.tasks.append(
            asyncio.create_task(
                _watch_directory(runtime, hub, store, settings, policy), name="directory"
            )
        )
        yield
    finally:
        runtime.stop.set()
        hub.on_commit = lambda: None
        hub.outbox_claim, hub.dispatch = (lambda: None), (lambda rows: None)
        for task in runtime.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=15)
        for consumer in runtime.consumers.values():
            await consumer.stop()
        await broker.close()


def _broker_ready(broker: Broker):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return broker.is_connected

    return check


async def _start_consumer(
    runtime: Runtime, store: Store, settings: Settings, policy: RetryPolicy, key: str
) -> None:
    consumer = Consumer(
        store,
        await runtime.broker.channel(prefetch=64),
        runtime.broker.topology,
        runtime.broker.topology.inbox(key),
        node=settings.node,
        effect=runtime.effect,
        policy=policy,
        metrics=runtime.relay.metrics,  # the node's one Metrics (app[METRICS])
    )
    await consumer.start()
    runtime.consumers[key] = consumer


async def _watch_directory(
    runtime: Runtime, hub: Hub, store: Store, settings: Settings, policy: RetryPolicy
) -> None:
    """Follow directory changes made by admins (another process): bind first, then route."""
    while not runtime.stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), settings.directory_refresh_seconds)
        if runtime.stop.is_set():
            return
        try:
            directory = await load_directory(store)
            if directory.fingerprint == hub.directory.fingerprint:
                continue
            wanted = local_keys(directory)
            for key in wanted.keys() - runtime.broker.topology.inboxes.keys():
                await runtime.broker.bind_agency(key)
                await _start_consumer(runtime, store, settings, policy, key)
            for key in runtime.broker.topology.inboxes.keys() - wanted.keys():
                await runtime.broker.unbind_agency(key)  # its queue drains; consumer stays
            for peer, subtree in peer_bindings(directory).items():
                if runtime.broker.peers.get(peer) != subtree:  # adapters.vdxp consumes it
                    await runtime.broker.bind_peer(peer, subtree)
            hub.set_directory(directory)
            log.info("directory reloaded: %d agencies", len(directory))
        except Exception:
            log.exception("directory reload failed; keeping the previous one")
