"""A tree of whole gateways on real ports: each its own store, AMQP prefix, key and directory.

``hubs`` starts gateways (``make_app``, the command operators run, on 127.0.0.1 and a free
port) that a test links into a tree: a hub with ``parent=`` gets ``uplink_url`` = the parent's
URL and is registered at the parent as a system (its systemId, a secret) for its top agency,
which the parent's directory lists as a downlink peer. Every hub seals with its own
certificate (issued here by the development CA, whose trust every hub shares), so that loop
detection and per-hop seals are real. :meth:`Hub.stop` / :meth:`Hub.start` close and reopen a
hub on the same port, store and prefix (an outage of the upstream).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapters.vdxp import UPLINK, Uplink
from edxml.devpki import Issued, make_leaf
from gateway.app import make_app
from gateway.service import token_hash
from gateway.service.hub import Hub as HubService
from gateway.settings import Settings
from gateway.store import Store, System, TraceRow
from gateway.web.state import HUB, STORE
from tests.gateway.e2e.conftest import wait_for
from tests.gateway.store.conftest import schema_dsn, throwaway_database

# ``amqp_url`` (the run's vhost) and ``pool`` (the shared process pool) come from
# tests/adapters/conftest.py, like every adapter test's.
__all__ = ["Hub", "HubFactory", "Peer", "wait_for"]

ROOT = Path(__file__).resolve().parents[3]
CERTS = ROOT / "certs" / "dev"


@pytest.fixture(scope="session")
def hub_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Hub code -> (key file, certificate file); 00.53.W00 is certs/dev's own gateway."""
    ca = Issued(
        serialization.load_pem_private_key((CERTS / "ca.key").read_bytes(), None),  # type: ignore[arg-type]
        x509.load_pem_x509_certificate((CERTS / "ca.crt").read_bytes()),
    )
    folder = tmp_path_factory.mktemp("hub-keys")
    keys = {"00.53.W00": (CERTS / "gateway.key", CERTS / "gateway.crt")}
    for code, name in (
        ("00.00.W00", "Trục liên thông văn bản quốc gia (thử nghiệm)"),
        ("00.41.W00", "Trục liên thông văn bản tỉnh Nghệ An (thử nghiệm)"),
        ("32.53.W00", "Trục liên thông huyện Châu Thành (thử nghiệm)"),
    ):
        leaf = make_leaf(ca, name, code)
        key, cert = folder / f"{code}.key", folder / f"{code}.crt"
        key.write_bytes(
            leaf.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM))
        keys[code] = (key, cert)
    return keys


@pytest.fixture(scope="session")
def pg_tree_database() -> Iterator[str]:
    with throwaway_database("edxgw_tree") as dsn:
        yield dsn


@dataclass(frozen=True)
class Peer:
    """How a child hub hangs under its parent: the parent's peer name and the child's top."""

    name: str  # peer name in the parent's directory (its P.peer.<name> queue)
    top: str  # the child's top agency, host "downlink" at the parent
    system_id: str  # the child's systemId at the parent (its hub code)


@dataclass
class Hub:
    """One running gateway of the tree, and the REST calls the tests make as its systems."""

    name: str
    settings: Settings
    executor: ProcessPoolExecutor
    http: aiohttp.ClientSession
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> web.Application:
        assert self.runner is not None, f"hub {self.name} is stopped"
        return self.runner.app

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def hub(self) -> HubService:
        return self.app[HUB]

    @property
    def uplink(self) -> Uplink:
        uplink = self.app[UPLINK]
        assert uplink is not None, f"hub {self.name} has no uplink"
        return uplink

    async def start(self) -> None:
        """Start (or restart, on the same port, store and prefix) the gateway."""
        runner = web.AppRunner(make_app(self.settings, executor=self.executor), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self.runner = runner

    async def stop(self) -> None:
        """Close the gateway as a SIGTERM would (it finishes what it holds)."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    async def add_system(
        self, system_id: str, agencies: Sequence[str], *, secret: str | None = None
    ) -> str:
        """Register an agency system (REST token; VDXP secret if given); returns the token."""
        token = secrets.token_urlsafe(16)
        await self.store.upsert_system(
            System(
                system_id=system_id,
                name=f"QLVB {system_id}",
                token_sha256=token_hash(token),
                secret=secret,
                signature_policy="lenient",
                validation_mode="lenient",
                agencies=tuple(agencies),
            )
        )
        self.tokens[system_id] = token
        return token

    def _auth(self, system: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[system]}"}

    async def submit(self, system: str, data: bytes, *, expect: int = 202) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}/api/v1/packages",
            data=data,
            headers={**self._auth(system), "Content-Type": "application/xml"},
        ) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            assert response.status == expect, body
            return body

    async def inbox(self, system: str, **params: str) -> list[dict[str, Any]]:
        async with self.http.get(
            f"{self.url}/api/v1/inbox", params=params, headers=self._auth(system)
        ) as response:
            body = await response.json(content_type=None)
            assert response.status == 200, body
            items: list[dict[str, Any]] = body["items"]
            return items

    async def fetch(self, system: str, delivery_id: str) -> bytes:
        async with self.http.get(
            f"{self.url}/api/v1/inbox/{delivery_id}", headers=self._auth(system)
        ) as response:
            assert response.status == 200, await response.text()
            return await response.read()

    async def ack(self, system: str, delivery_id: str, result: str = "done") -> None:
        async with self.http.post(
            f"{self.url}/api/v1/inbox/{delivery_id}/ack",
            json={"result": result},
            headers=self._auth(system),
        ) as response:
            assert response.status == 200, await response.text()

    async def wait_inbox(
        self, system: str, count: int, timeout: float = 25.0, **params: str
    ) -> list[dict[str, Any]]:
        """Wait until ``system``'s inbox holds at least ``count`` items (``params`` filter)."""

        async def probe() -> list[dict[str, Any]] | None:
            items = await self.inbox(system, **params)
            return items if len(items) >= count else None

        result: list[dict[str, Any]] = await wait_for(
            probe, timeout, f"{count} item(s) in the inbox of {system} at {self.name}", 0.1
        )
        return result

    async def trace_of(self, sender: str, document_id: str) -> list[TraceRow]:
        """This hub's trace of the message it holds for (sender, DocumentId)."""
        message = await self.store.find_message_by_document_id(sender, document_id)
        assert message is not None, f"{self.name} has no {document_id} from {sender}"
        return await self.store.trace_for(message.doc_id)


HubFactory = Any  # the ``hubs`` fixture's callable (see below)


def directory_toml(
    path: Path, hub: str, name: str, agencies: Sequence[tuple[str, str, str, str | None]]
) -> Path:
    """A directory file: (organ id, name, host, peer) per agency."""
    lines = ["[hub]", f'organ_id = "{hub}"', f'name = "{name}"', ""]
    for organ_id, label, host, peer in agencies:
        lines += ["[[agency]]", f'organ_id = "{organ_id}"', f'name = "{label}"', f'host = "{host}"']
        if peer:
            lines.append(f'peer = "{peer}"')
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
async def hubs(
    amqp_url: str,
    tmp_path: Path,
    pool: ProcessPoolExecutor,
    hub_keys: dict[str, tuple[Path, Path]],
    request: pytest.FixtureRequest,
) -> AsyncIterator[HubFactory]:
    """``await hubs(name, hub_code, agencies, parent=..., peer=..., postgres=..., **settings)``."""
    started: list[Hub] = []
    http = aiohttp.ClientSession()

    async def start(
        name: str,
        hub_code: str,
        agencies: Sequence[tuple[str, str, str, str | None]],
        *,
        parent: Hub | None = None,
        peer: Peer | None = None,
        postgres: bool = False,
        **overrides: Any,
    ) -> Hub:
        folder = tmp_path / name
        folder.mkdir()
        if postgres:
            store_dsn = schema_dsn(request.getfixturevalue("pg_tree_database"), name)
        else:
            store_dsn = f"sqlite:///{folder}/gateway.db"
        key, cert = hub_keys[hub_code]
        values: dict[str, Any] = {
            "hub_organ_id": hub_code,
            "node": f"{name}-1",
            "store_dsn": store_dsn,
            "blob_dir": str(folder / "blobs"),
            "spool_dir": str(folder / "spool"),
            "amqp_url": amqp_url,
            "amqp_prefix": f"{name}{secrets.token_hex(3)}",
            "amqp_queue_type": "classic",
            "key_file": str(key),
            "cert_file": str(cert),
            "directory_file": str(
                directory_toml(folder / "directory.toml", hub_code, name, agencies)
            ),
            "delivery_max_attempts": 4,
            "directory_refresh_seconds": 1,
            "fsync": False,
        }
        if parent is not None:
            assert peer is not None, "a child hub names how it hangs under its parent"
            secret = secrets.token_urlsafe(24)
            await parent.add_system(peer.system_id, [peer.top], secret=secret)
            values.update(
                uplink_url=parent.url,
                uplink_system_id=peer.system_id,
                uplink_secret=secret,
                uplink_poll_seconds=0.3,
                uplink_backoff_max_seconds=0.5,
                uplink_timeout_seconds=10,
            )
        values.update(overrides)
        hub = Hub(name, Settings.from_mapping(values), pool, http)
        await hub.start()
        started.append(hub)
        return hub

    try:
        yield start
    finally:
        for hub in reversed(started):
            await hub.stop()
        await http.close()


def hops(package: bytes) -> list[tuple[str, datetime]]:
    """The TraceHeaderList of a package: (OrganId, Timestamp) per hop, in order."""
    from edxml import parse
    from edxml.model import DocumentPackage

    parsed = parse(package)
    assert isinstance(parsed, DocumentPackage)
    return [(t.organ_id or "", t.timestamp) for t in parsed.trace_headers]


def organs(mapping: Mapping[str, str]) -> list[tuple[str, str, str, str | None]]:
    """Local agencies from ``{organ id: name}``."""
    return [(o, n, "local", None) for o, n in mapping.items()]
