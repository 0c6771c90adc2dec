"""Topology against the real broker: idempotent declaration, uplink fallback, agency bindings."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from pamqp.commands import Basic

from gateway.broker import Broker, TopologyConflict, declare
from gateway.broker.topology import delay_label

from .conftest import AGENCIES, FAST, PEERS, depth, drain

pytestmark = pytest.mark.rabbitmq


async def publish(broker: Broker, routing_key: str, body: bytes = b"{}") -> None:
    channel = await broker.channel()
    try:
        exchange = await channel.get_exchange(broker.topology.route, ensure=False)
        confirm = await exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key)
        assert isinstance(confirm, Basic.Ack)
    finally:
        await channel.close()


async def test_names_and_arguments(broker: Broker, prefix: str) -> None:
    t = broker.topology
    assert (t.route, t.unroutable, t.uplink, t.dead) == (
        f"{prefix}.route",
        f"{prefix}.unroutable",
        f"{prefix}.uplink",
        f"{prefix}.dead",
    )
    assert t.retry == ((0.2, f"{prefix}.retry.0.2"),)
    assert t.inboxes == {key: f"{prefix}.inbox.{key}" for _, key in AGENCIES}
    assert t.peers == {"huyen": f"{prefix}.peer.huyen"}
    assert t.arguments_for(t.inbox("H53.01.01")) == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": t.dead,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert t.arguments_for(f"{prefix}.retry.0.2")["x-message-ttl"] == 200
    assert t.arguments_for(f"{prefix}.retry.0.2")["x-dead-letter-exchange"] == t.route
    assert t.retry_for(0.1) == t.retry_for(5.0) == f"{prefix}.retry.0.2"
    assert [delay_label(d) for d in (2.0, 0.2, 3600.0, 0.125)] == ["2", "0.2", "3600", "0.125"]


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
async def test_declare_twice_is_idempotent(amqp_url: str, prefix: str, queue_type: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        args = {
            "local_keys": ["H53.01.01"],
            "peers": PEERS,
            "delays": (0.2, 2.0, 2.0),
            "queue_type": queue_type,
        }
        first = await declare(channel, prefix, **args)  # type: ignore[arg-type]
        second = await declare(channel, prefix, **args)  # type: ignore[arg-type]
        assert first == second
        assert [name for _, name in first.retry] == [f"{prefix}.retry.0.2", f"{prefix}.retry.2"]
        assert not channel.is_closed
    finally:
        await connection.close()


async def test_changing_the_queue_type_is_a_clear_conflict(broker: Broker, amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        with pytest.raises(TopologyConflict) as caught:
            await declare(channel, broker.topology.prefix, queue_type="classic")
        assert caught.value.code == "broker.topology_conflict"
        assert "x-queue-type" in str(caught.value)
    finally:
        await connection.close()


async def test_opening_with_another_queue_type_is_refused_clearly(
    broker: Broker, amqp_url: str
) -> None:
    with pytest.raises(TopologyConflict) as caught:
        await Broker.open(amqp_url, prefix=broker.topology.prefix, queue_type="classic")
    assert "classic" in caught.value.message_en


async def test_unknown_routing_key_goes_to_the_uplink(broker: Broker, amqp_url: str) -> None:
    await publish(broker, "G09.99.01", b"up")
    await publish(broker, "H53.01.01", b"local")
    await publish(broker, "H53.31.07", b"peer subtree")
    await publish(broker, "H53.31", b"peer hub itself")
    up = await drain(amqp_url, broker.topology.uplink)
    assert [(m.routing_key, m.body) for m in up] == [("G09.99.01", b"up")]
    assert await depth(amqp_url, broker.topology.inbox("H53.01.01")) == 1
    assert await depth(amqp_url, broker.topology.peer("huyen")) == 2


async def test_bind_and_unbind_an_agency(broker: Broker, amqp_url: str) -> None:
    queue = await broker.bind_agency("H53.01.09")
    assert broker.topology.inboxes["H53.01.09"] == queue
    await publish(broker, "H53.01.09", b"1")
    assert await depth(amqp_url, queue) == 1
    assert await depth(amqp_url, broker.topology.uplink) == 0

    await broker.unbind_agency("H53.01.09")
    assert "H53.01.09" not in broker.topology.inboxes
    await publish(broker, "H53.01.09", b"2")
    assert await depth(amqp_url, queue) == 1  # kept, to drain
    assert [m.body for m in await drain(amqp_url, broker.topology.uplink)] == [b"2"]


async def test_retry_queue_returns_with_the_original_routing_key(
    broker: Broker, amqp_url: str
) -> None:
    channel = await broker.channel()
    try:
        name = broker.topology.retry_for(FAST.delay(1))
        exchange = await channel.get_exchange(name, ensure=False)
        await exchange.publish(aio_pika.Message(b"again", delivery_mode=2), "H53.01.02")
    finally:
        await channel.close()
    inbox = broker.topology.inbox("H53.01.02")
    assert await depth(amqp_url, inbox) == 0
    for _ in range(40):
        if await depth(amqp_url, inbox):
            break
        await asyncio.sleep(0.05)
    [message] = await drain(amqp_url, inbox)
    assert message.routing_key == "H53.01.02"
    assert message.body == b"again"
