"""The VDXP door on a whole gateway (tests/gateway/e2e fixtures: real RabbitMQ, SQLite and
PostgreSQL), and the project's VDXP client (adapters/vdxp/client.py) pointed at it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.vdxp.client import VdxpClient
from tests.gateway.e2e import conftest as e2e
from tests.gateway.e2e.conftest import Gateway, GatewayFactory

# The end-to-end fixtures (a whole gateway per test, on SQLite and PostgreSQL).
pool = e2e.pool
pg_e2e_database = e2e.pg_e2e_database
store_dsn = e2e.store_dsn
make_gateway = e2e.make_gateway

#: The systems of tests/gateway/e2e/conftest.py get the secret ``secret-<system id>``.
ClientFactory = Callable[..., VdxpClient]


def secret_of(system_id: str) -> str:
    return f"secret-{system_id}"


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()


@pytest.fixture
async def vdxp_client(gateway: Gateway) -> AsyncIterator[ClientFactory]:
    """``vdxp_client("xa")``: a VDXP client of system ``xa`` of the test gateway."""
    made: list[VdxpClient] = []

    def make(system_id: str, secret: str | None = None, gw: Gateway | None = None) -> VdxpClient:
        target = gw or gateway
        client = VdxpClient(
            endpoint(target),
            system_id,
            secret if secret is not None else secret_of(system_id),
            session=target.client.session,
        )
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


def endpoint(gw: Gateway) -> str:
    """The gateway's base URL, as a vendor sets it in the SDK (no path: the door is at /)."""
    return str(gw.client.make_url("/")).rstrip("/")


async def set_system(gw: Gateway, system_id: str, **changes: Any) -> None:
    """Change a registered system (secret, agencies, revoked) in the gateway's store."""
    system = await gw.store.get_system(system_id)
    assert system is not None
    await gw.store.upsert_system(dataclasses.replace(system, **changes))
