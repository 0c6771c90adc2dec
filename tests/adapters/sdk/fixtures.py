"""A real gateway on a TCP port for the client-side adapters' tests (SDK, drop folder).

The gateway is the end-to-end one (``tests/gateway/e2e/conftest.py``: ``make_app`` on the real
RabbitMQ, the e2e directory, the ``SYSTEMS`` with API tokens), served by aiohttp's
``TestServer`` on 127.0.0.1 so that an SDK client — in this process or in a subprocess — has a
real URL. The adapters do not test the store, so it runs on SQLite only (the e2e suite runs
every exchange on PostgreSQL too).

A conftest takes these fixtures with ``from tests.adapters.sdk.fixtures import *``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import ClientConfig, KeyPair
from tests.gateway.conftest import amqp_url, vhost
from tests.gateway.e2e.conftest import (
    SYSTEMS,
    Gateway,
    GatewayFactory,
    TlsGateway,
    make_gateway,
    pool,
    tls_gateway,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[3]
CERTS = ROOT / "certs" / "dev"
XA = "000.21.31.H53"  # a commune with a dev certificate ("xa" system)
HUYEN = "000.00.31.H53"  # its district, with a dev certificate ("huyen" system)
TINH = "000.00.00.H53"  # the province, no dev certificate ("tinh" system)


def key_pair(organ_id: str) -> KeyPair:
    return KeyPair(CERTS / f"agency-{organ_id}.key", CERTS / f"agency-{organ_id}.crt")


@dataclass
class Served:
    """One gateway reachable over HTTP, and SDK configurations for its systems."""

    gateway: Gateway

    @property
    def url(self) -> str:
        return str(self.gateway.client.make_url("")).rstrip("/")

    def token(self, system: str) -> str:
        return self.gateway.tokens[system]

    def config(self, system: str, **overrides: Any) -> ClientConfig:
        """The SDK configuration of ``system``: its token, the dev keys of its agencies, the
        dev hub certificate pinned for receipts, quick retries."""
        values: dict[str, Any] = {
            "url": self.url,
            "token": self.token(system),
            "hub_certificate": CERTS / "gateway.crt",
            "signing_keys": tuple(
                key_pair(a) for a in SYSTEMS[system] if (CERTS / f"agency-{a}.key").exists()
            ),
            "retries": 2,
            "backoff": 0.05,
            "timeout": 30.0,
        }
        values.update(overrides)
        return ClientConfig(**values)

    def env(self, system: str) -> dict[str, str]:
        """The ``EDXGW_*`` variables of ``system`` (what the examples and daemons read)."""
        env = {
            "EDXGW_URL": self.url,
            "EDXGW_TOKEN": self.token(system),
            "EDXGW_HUB_CERTIFICATE": str(CERTS / "gateway.crt"),
        }
        signing = [a for a in SYSTEMS[system] if (CERTS / f"agency-{a}.key").exists()]
        if signing:
            env["EDXGW_SIGNING_KEY"] = str(CERTS / f"agency-{signing[0]}.key")
            env["EDXGW_SIGNING_CERT"] = str(CERTS / f"agency-{signing[0]}.crt")
        return env


@pytest.fixture
def store_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/gateway.db"


@pytest.fixture
async def served(make_gateway: GatewayFactory) -> Served:
    return Served(await make_gateway())


__all__ = [
    "CERTS",
    "HUYEN",
    "ROOT",
    "SYSTEMS",
    "TINH",
    "XA",
    "Served",
    "TlsGateway",
    "amqp_url",
    "key_pair",
    "make_gateway",
    "pool",
    "served",
    "store_dsn",
    "tls_gateway",
    "vhost",
    "wait_for",
]
