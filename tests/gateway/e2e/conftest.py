"""A whole gateway per test: make_app on the real RabbitMQ (own prefix) and a real store.

Every end-to-end test gets a fresh store (a SQLite file, or a PostgreSQL schema: the
``backend`` parameter runs each test on both), its own ``amqp_prefix`` inside the run's
vhost, and the directory of ``tests/data/e2e-directory.toml``; the agency systems of
``SYSTEMS`` are registered with API tokens. The core runs in one process pool shared by the
session (spawn start-up costs a second; the pool has no state of its own). ``tls_gateway``
serves one gateway over HTTPS with client certificates (mTLS), as ``edxgw serve`` does with
``tls = true``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import BROKER, make_app
from gateway.cli import tls_context
from gateway.service import token_hash
from gateway.settings import Settings
from gateway.store import Delivery, Store, System
from gateway.web.state import HUB, STORE
from tests.gateway.store.conftest import schema_dsn, throwaway_database

ROOT = Path(__file__).resolve().parents[3]
DIRECTORY = ROOT / "tests" / "data" / "e2e-directory.toml"
COMMUNES = tuple(f"000.{i:02d}.31.H53" for i in range(1, 41))
#: system id -> the agencies it is registered for (and may send as / read for).
SYSTEMS: dict[str, tuple[str, ...]] = {
    "tinh": ("000.00.00.H53", "000.00.01.H53", "000.00.02.H53"),
    "huyen": ("000.00.31.H53",),
    "xa": COMMUNES,
}


@pytest.fixture(scope="session")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"))
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def pg_e2e_database() -> Iterator[str]:
    with throwaway_database("edxgw_e2e") as dsn:
        yield dsn


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    database: str = request.getfixturevalue("pg_e2e_database")
    return schema_dsn(database, "e")


@dataclass
class Gateway:
    """One running gateway and the tokens of its systems, with the calls the tests make."""

    client: TestClient[Any, Any]
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.client.app[STORE]

    @property
    def prefix(self) -> str:
        return self.settings.amqp_prefix

    def auth(self, system: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[system]}"}

    async def submit(
        self, system: str, data: bytes, *, expect: int | None = 202, **params: str
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/packages",
            data=data,
            params=params,
            headers={**self.auth(system), "Content-Type": "application/xml"},
        )
        body: dict[str, Any] = await response.json(content_type=None)
        if expect is not None:
            assert response.status == expect, body
        return body

    async def get(self, system: str, path: str, expect: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=self.auth(system))
        body = await response.json(content_type=None)
        assert response.status == expect, body
        return body

    async def inbox(self, system: str, **params: Any) -> list[dict[str, Any]]:
        page = await self.get(system, "/api/v1/inbox", **params)
        items: list[dict[str, Any]] = page["items"]
        return items

    async def fetch(self, system: str, delivery_id: str) -> bytes:
        response = await self.client.get(f"/api/v1/inbox/{delivery_id}", headers=self.auth(system))
        assert response.status == 200, await response.text()
        return await response.read()

    async def ack(
        self, system: str, delivery_id: str, result: str = "done", expect: int = 200, **extra: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/inbox/{delivery_id}/ack",
            json={"result": result, **extra},
            headers=self.auth(system),
        )
        body: dict[str, Any] = await response.json(content_type=None)
        assert response.status == expect, body
        return body

    async def delivered(
        self, doc_id: str, count: int | None = None, timeout: float = 20.0
    ) -> list[Delivery]:
        """Wait until every delivery of ``doc_id`` left pending/queued (or ``count`` did)."""
        return await wait_for(
            lambda: self._settled(doc_id, count), timeout, f"deliveries of {doc_id}"
        )

    async def _settled(self, doc_id: str, count: int | None) -> list[Delivery] | None:
        deliveries = await self.store.list_deliveries(doc_id=doc_id, limit=1000)
        done = [d for d in deliveries if d.state.value not in ("pending", "queued", "retrying")]
        want = count if count is not None else len(deliveries)
        return deliveries if deliveries and len(done) >= want else None


async def wait_for(
    probe: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = 0.05
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


GatewayFactory = Callable[..., Awaitable[Gateway]]


def gateway_settings(
    store_dsn: str, amqp_url: str, tmp_path: Path, n: int = 0, **overrides: Any
) -> Settings:
    """The settings of the ``n``-th gateway of a test (own folders, own AMQP prefix)."""
    values: dict[str, Any] = {
        "store_dsn": store_dsn,
        "blob_dir": str(tmp_path / f"blobs{n}"),
        "spool_dir": str(tmp_path / f"spool{n}"),
        "amqp_url": amqp_url,
        "amqp_prefix": f"e{secrets.token_hex(3)}",
        "amqp_queue_type": "classic",
        "directory_file": str(DIRECTORY),
        "delivery_max_attempts": 3,
        "directory_refresh_seconds": 1,
        "node": f"node-{n + 1}",
    }
    values.update(overrides)
    return Settings.from_mapping(values)


@pytest.fixture
async def make_gateway(
    store_dsn: str, amqp_url: str, tmp_path: Path, pool: ProcessPoolExecutor
) -> AsyncIterator[GatewayFactory]:
    """Start gateways (usually one) with test settings; ``**overrides`` change any setting."""
    started: list[TestClient[Any, Any]] = []

    async def start(
        systems: Mapping[str, tuple[str, ...]] = SYSTEMS,
        *,
        own_pool: bool = False,
        **overrides: Any,
    ) -> Gateway:
        """``own_pool``: the gateway's own WorkerPool (``workers`` processes), as in production,
        instead of the tests' shared ProcessPoolExecutor."""
        n = len(started)
        settings = gateway_settings(store_dsn, amqp_url, tmp_path, n, **overrides)
        app = make_app(settings) if own_pool else make_app(settings, executor=pool)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        gateway = Gateway(client, settings)
        for system_id, agencies in systems.items():
            token = secrets.token_urlsafe(16)
            await gateway.store.upsert_system(
                System(
                    system_id=system_id,
                    name=f"QLVB {system_id}",
                    token_sha256=token_hash(token),
                    secret=f"secret-{system_id}",
                    signature_policy="lenient",
                    validation_mode="lenient",
                    agencies=agencies,
                )
            )
            gateway.tokens[system_id] = token
        return gateway

    try:
        yield start
    finally:
        for client in reversed(started):
            await client.close()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()


@dataclass
class TlsGateway:
    """A gateway served over HTTPS (``tls = true``), as ``edxgw serve`` runs it, for mTLS."""

    app: web.Application
    settings: Settings
    port: int

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def url(self) -> str:
        # The development gateway certificate names "localhost" (SAN), not 127.0.0.1.
        return f"https://localhost:{self.port}"


@pytest.fixture
async def tls_gateway(
    store_dsn: str, amqp_url: str, tmp_path: Path, pool: ProcessPoolExecutor
) -> AsyncIterator[TlsGateway]:
    """One gateway on a free port with ``gateway.cli.tls_context`` (client certificates)."""
    settings = gateway_settings(store_dsn, amqp_url, tmp_path, tls=True)
    runner = web.AppRunner(make_app(settings, executor=pool), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(settings))
        await site.start()
        port = int(runner.addresses[0][1])
        yield TlsGateway(runner.app, settings, port)
    finally:
        await runner.cleanup()


__all__ = [
    "BROKER",
    "COMMUNES",
    "HUB",
    "SYSTEMS",
    "Gateway",
    "GatewayFactory",
    "TlsGateway",
    "gateway_settings",
    "wait_for",
]
