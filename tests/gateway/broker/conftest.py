"""Fixtures for the broker shell tests: a throwaway RabbitMQ vhost per run, a SQLite store per test.

The vhost is created with ``rabbitmqctl`` (these tests run as root on the development machine)
and deleted afterwards, so parallel runs never see each other's queues; inside it every test
uses its own ``amqp_prefix``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from gateway.broker import Broker, Relay
from gateway.core.deliver import RetryPolicy
from gateway.store import Message, NewDelivery, NewOutbox, Store, TraceEvent
from tests.gateway.conftest import HOST, arabbitmqctl, rabbitmqctl

__all__ = ["HOST", "arabbitmqctl", "rabbitmqctl"]

#: Local agencies of the test hub: (organ id, routing key).
AGENCIES = (
    ("000.01.01.H53", "H53.01.01"),
    ("000.02.01.H53", "H53.01.02"),
    ("000.03.01.H53", "H53.01.03"),
)
PEERS = {"huyen": "H53.31"}
#: Retries after 0.2 s, dead after the third failed attempt.
FAST = RetryPolicy(base_seconds=0.2, factor=1.0, cap_seconds=0.2, max_attempts=3)
T0 = datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(3)}"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
async def broker(amqp_url: str, prefix: str) -> AsyncIterator[Broker]:
    b = await Broker.open(
        amqp_url,
        prefix=prefix,
        local_keys=[key for _, key in AGENCIES],
        peers=PEERS,
        delays=FAST.delays(),
        reconnect_interval=0.3,
        timeout=5,
        name=f"test-{prefix}",
    )
    try:
        yield b
    finally:
        await b.close()


async def accept(
    store: Store,
    prefix: str,
    n: int,
    recipients: Sequence[tuple[str, str]] = AGENCIES[:1],
    *,
    relay: Relay | None = None,
) -> list[str]:
    """Accept package ``n`` with one local delivery and outbox row per recipient, as the core
    builds them (route.py): exchange P.route, the recipient's routing key, claim-check body."""
    doc_id = f"doc-{n}"
    message = Message(
        doc_id=doc_id,
        kind="edoc",
        sender="000.00.00.H53",
        document_id=f"000.00.00.H53,2025/07/01,{n}",
        business_type=0,
        received_at=T0 + timedelta(seconds=n),
        sha256=f"{n:064x}",
        size=1024,
        blob_key=f"blobs/{doc_id}",
        dedup_key=f"000.00.00.H53|{n}|0|edoc",
    )
    deliveries, outbox = [], []
    for organ, key in recipients:
        delivery_id = f"{doc_id}:{organ}"
        deliveries.append(NewDelivery(delivery_id=delivery_id, recipient=organ, route="local"))
        headers = {
            "doc_id": doc_id,
            "delivery_id": delivery_id,
            "kind": "edoc",
            "sender": message.sender,
            "recipient": organ,
            "route": "local",
        }
        claim = {"doc_id": doc_id, "delivery_id": delivery_id, "blob_key": message.blob_key}
        outbox.append(
            NewOutbox(
                delivery_id=delivery_id,
                exchange=f"{prefix}.route",
                routing_key=key,
                headers=headers,
                body=json.dumps(claim, sort_keys=True).encode(),
            )
        )
    trace = [TraceEvent(node="gw-test", stage="receive", outcome="ok", doc_id=doc_id)]
    # With a relay: as the hub does it, rows leased to the relay's node and dispatched.
    lease = relay.claim() if relay is not None else None
    result = await store.accept(message, deliveries, outbox, trace, claim=lease)
    assert result.created
    if relay is not None:
        assert len(result.claimed) == len(outbox)
        relay.dispatch(result.claimed)
    return [d.delivery_id for d in deliveries]


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def depth(amqp_url: str, queue: str) -> int:
    """Ready messages in a queue (unacked ones are not counted)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        assert declared.declaration_result.message_count is not None
        return declared.declaration_result.message_count
    finally:
        await connection.close()


async def drain(amqp_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take (and ack) every ready message of a queue."""
    connection = await aio_pika.connect(amqp_url)
    taken = []
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        while (message := await q.get(fail=False)) is not None:
            await message.ack()
            taken.append(message)
    finally:
        await connection.close()
    return taken


async def delivered_events(store: Store, doc_id: str) -> list[str]:
    """delivery_ids of the ``deliver/delivered`` trace events of one document."""
    return [
        str(row.detail["delivery_id"])
        for row in await store.trace_for(doc_id)
        if row.stage == "deliver" and row.outcome == "delivered"
    ]
