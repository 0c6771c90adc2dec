"""Fixtures shared by the gateway's shell tests: a throwaway RabbitMQ vhost per test run, and
a fresh SQLite store per test.

The vhost is created with ``rabbitmqctl`` (the tests run as root on the development machine and
in CI) and deleted afterwards, so parallel runs never see each other's queues; inside it every
test uses its own ``amqp_prefix``.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.store import Store, open_store

HOST = "127.0.0.1:5672"


def rabbitmqctl(*args: str) -> str:
    proc = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"rabbitmqctl {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


async def arabbitmqctl(*args: str) -> None:
    """rabbitmqctl without blocking the event loop (the code under test keeps running)."""
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out + err).decode()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, migrated SQLite store in the test's folder."""
    store = await open_store(f"sqlite:///{tmp_path}/gateway.db")
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    name = f"edxgw-test-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        rabbitmqctl("delete_vhost", name)


@pytest.fixture(scope="session")
def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{HOST}/{vhost}"
