"""Fixtures for the operations pages' tests: a whole gateway (tests/gateway/e2e) with admins.

``ops`` is a running gateway on the real RabbitMQ with SQLite or PostgreSQL (both, through
``store_dsn``), an ``operator`` and a ``viewer`` admin, and :class:`AdminApi` clients signed in
through the JSON admin API (session cookie + CSRF token), as a script would use it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient

from gateway.admins import hash_password
from gateway.app import BROKER
from gateway.broker import EffectFailed, Handover
from gateway.store.admins import Admin
from tests.gateway.e2e.conftest import (  # noqa: F401 - fixtures used by these tests
    Gateway,
    GatewayFactory,
    make_gateway,
    pg_e2e_database,
    pool,
    store_dsn,
    wait_for,
)

PASSWORDS = {"operator": "Mat-khau-van-hanh-1", "viewer": "Mat-khau-xem-chi-1"}


@dataclass
class AdminApi:
    """A client signed in as one admin through ``POST /api/admin/v1/session``."""

    client: TestClient[Any, Any]
    csrf: str

    async def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        body = await response.json(content_type=None)
        assert response.status == expect, body
        return body

    async def post(self, path: str, body: Any, expect: int = 200, *, csrf: bool = True) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        response = await self.client.post(path, json=body, headers=headers)
        answer = await response.json(content_type=None)
        assert response.status == expect, answer
        return answer


@dataclass
class Ops:
    gateway: Gateway
    login: Callable[[str], Awaitable[AdminApi]]


async def add_admins(gateway: Gateway) -> None:
    for role, password in PASSWORDS.items():
        await gateway.store.add_admin(
            Admin(
                username=role,
                display_name=f"Test {role}",
                role=role,  # type: ignore[arg-type]
                password_hash=hash_password(password),
            )
        )


@pytest.fixture
async def ops(make_gateway: GatewayFactory) -> Ops:  # noqa: F811
    gateway = await make_gateway()
    await add_admins(gateway)
    opened: list[TestClient[Any, Any]] = []

    async def login(role: str) -> AdminApi:
        # A client of its own (own cookie jar) on the gateway's test server.
        client: TestClient[Any, Any] = TestClient(
            gateway.client.server, cookie_jar=CookieJar(unsafe=True)
        )
        await client.start_server()
        opened.append(client)
        first = await (await client.get("/api/admin/v1/session")).json()
        response = await client.post(
            "/api/admin/v1/session",
            json={"username": role, "password": PASSWORDS[role]},
            headers={"X-CSRF-Token": first["csrf_token"]},
        )
        body = await response.json()
        assert response.status == 200, body
        return AdminApi(client, body["csrf_token"])

    yield Ops(gateway, login)  # type: ignore[misc]
    for client in opened:
        await client.session.close()


def break_effect(gateway: Gateway, code: str = "webhook.http_410", *, retryable: bool = False):  # type: ignore[no-untyped-def]
    """Make every local inbox hand-over fail (an agency endpoint that refuses, e.g. a webhook
    answering 410): the consumer dead-letters at once (permanent) or after its retries.
    Returns the function that repairs it."""
    runtime = gateway.client.app[BROKER]
    saved = {key: c.effect for key, c in runtime.consumers.items()}

    async def refuse(handover: Handover) -> None:
        raise EffectFailed(code, retryable=retryable, message="endpoint refused")

    for consumer in runtime.consumers.values():
        consumer.effect = refuse

    def repair() -> None:
        for key, consumer in runtime.consumers.items():
            consumer.effect = saved.get(key, consumer.effect)

    return repair


__all__ = ["PASSWORDS", "AdminApi", "Ops", "add_admins", "break_effect", "secrets"]


# The store tests' backends (a SQLite file, a PostgreSQL schema) for the service tests.
from tests.gateway.store.conftest import backend, pg_database, store  # noqa: E402, F401
