"""Connection loss under load, an unreachable broker, and the error translation table."""

from __future__ import annotations

import asyncio
from collections import Counter

import aio_pika
import aiormq.exceptions
import pytest
from pamqp.commands import Basic

from gateway.broker import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    Consumer,
    PublishFailed,
    Relay,
    TopologyConflict,
    translate,
)
from gateway.broker.errors import redact
from gateway.store import DeliveryState, Store

from .conftest import AGENCIES, FAST, accept, arabbitmqctl, depth, wait_until

DOCS = 100  # x 3 recipients = 300 outbox rows


@pytest.mark.rabbitmq
@pytest.mark.parametrize("backlog", [False, True], ids=["trickle", "backlog"])
async def test_connection_loss_under_load_loses_and_duplicates_nothing(
    broker: Broker, store: Store, vhost: str, amqp_url: str, backlog: bool
) -> None:
    """Trickle: ingress keeps accepting through the outage; backlog: 300 rows wait up front."""
    prefix = broker.topology.prefix
    relay = Relay(
        store,
        await broker.channel(),
        node="gw-test",
        batch_size=32,
        lease_seconds=1.0,
        confirm_timeout=0.5,
        poll_interval=0.05,
    )
    consumers = [
        Consumer(
            store,
            await broker.channel(),
            broker.topology,
            broker.topology.inbox(key),
            node="gw-test",
            policy=FAST,
            prefetch=16,
            requeue_pause=0.05,
        )
        for _, key in AGENCIES
    ]
    delivery_ids: list[str] = []

    async def ingress(pause: float) -> None:  # accepting goes on while the broker is away (§3.1)
        for n in range(DOCS):
            delivery_ids.extend(await accept(store, prefix, n, AGENCIES))
            relay.notify()
            await asyncio.sleep(pause)

    if backlog:
        await ingress(0)
    for consumer in consumers:
        await consumer.start()
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    accepting = asyncio.create_task(ingress(0.005) if not backlog else asyncio.sleep(0))

    async def some_delivered() -> bool:
        return sum(c.stats["ack"] for c in consumers) >= 40

    try:
        await wait_until(some_delivered, what="the first deliveries")
        reconnects = broker.reconnects
        await arabbitmqctl("close_all_connections", "--vhost", vhost, "test: connection loss")
        await accepting
        assert len(delivery_ids) == 3 * DOCS

        async def all_delivered() -> bool:
            counts = Counter(d.state for d in await store.list_deliveries(limit=1000))
            return counts == {DeliveryState.DELIVERED: 3 * DOCS}

        await wait_until(all_delivered, timeout=30, what="every delivery delivered")
        await wait_until(lambda: _no_lag(relay), timeout=10, what="outbox drained")

        async def reconnected_and_drained() -> bool:
            # The messages whose ack was lost come back after the reconnect and are acked as
            # AlreadyDone: every inbox ends empty.
            if broker.reconnects == reconnects or any(c.in_flight for c in consumers):
                return False
            depths = [await depth(amqp_url, q) for q in broker.topology.inboxes.values()]
            return depths == [0, 0, 0]

        await wait_until(reconnected_and_drained, timeout=20, what="reconnect and redeliveries")
    finally:
        stop.set()
        await relaying
        for consumer in consumers:
            await consumer.stop()
            await consumer.channel.close()  # anything still unacked would now be requeued
    assert [await depth(amqp_url, q) for q in broker.topology.inboxes.values()] == [0, 0, 0]
    recorded: Counter[str] = Counter()
    for n in range(DOCS):
        for row in await store.trace_for(f"doc-{n}"):
            if (row.stage, row.outcome) == ("deliver", "delivered"):
                recorded[str(row.detail["delivery_id"])] += 1
    assert set(recorded) == set(delivery_ids), "lost deliveries"
    assert set(recorded.values()) == {1}, "a delivery was recorded twice"
    assert (await store.verify_trace()).ok


@pytest.mark.rabbitmq
async def test_lost_definitions_are_declared_again_on_reconnect(
    broker: Broker, vhost: str, amqp_url: str
) -> None:
    """A broker that lost queues (new node, an admin's mistake) gets them back, bound."""
    inbox = broker.topology.inbox(AGENCIES[0][1])
    await arabbitmqctl("-p", vhost, "delete_queue", inbox)
    await arabbitmqctl("-p", vhost, "delete_queue", broker.topology.uplink)
    reconnects = broker.reconnects
    await arabbitmqctl("close_all_connections", "--vhost", vhost, "test: lost definitions")

    async def redeclared() -> bool:
        return broker.reconnects > reconnects

    await wait_until(redeclared, what="the reconnect")
    channel = await broker.channel()
    try:
        exchange = await channel.get_exchange(broker.topology.route, ensure=False)
        for key in (AGENCIES[0][1], "G09.99.01"):
            await exchange.publish(aio_pika.Message(b"{}"), key)
    finally:
        await channel.close()
    assert await depth(amqp_url, inbox) == 1
    assert await depth(amqp_url, broker.topology.uplink) == 1


async def _no_lag(relay: Relay) -> bool:
    return (await relay.lag()).unpublished == 0


async def test_unreachable_broker_says_where_and_how_to_start_it() -> None:
    url = "amqp://edxgw:s3cret@127.0.0.1:1/hub"
    with pytest.raises(BrokerUnavailable) as caught:
        await Broker.open(url, prefix="x", timeout=2)
    error = caught.value
    assert (error.code, error.retryable, error.http_status) == ("broker.unavailable", True, 503)
    text = str(error)
    assert "amqp://edxgw:***@127.0.0.1:1/hub" in text
    assert "s3cret" not in text
    assert "rabbitmq-server -detached" in text
    assert "systemctl start rabbitmq-server" in text
    assert "không kết nối được RabbitMQ" in error.message_vi
    assert "cannot reach RabbitMQ" in error.message_en


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (aiormq.exceptions.DeliveryError(None, Basic.Nack(delivery_tag=1)), PublishFailed),
        (aiormq.exceptions.DeliveryError(None, None), PublishFailed),  # type: ignore[arg-type] # repr raises
        (aiormq.exceptions.ChannelPreconditionFailed("inequivalent arg"), TopologyConflict),
        (aiormq.exceptions.ProbableAuthenticationError("ACCESS_REFUSED"), BrokerUnavailable),
        (aiormq.exceptions.AMQPConnectionError(111, "refused"), BrokerUnavailable),
        (aiormq.exceptions.ChannelInvalidStateError("closed"), BrokerUnavailable),
        (aiormq.exceptions.ChannelNotFoundEntity("no exchange"), BrokerUnavailable),
        (ConnectionResetError(), BrokerUnavailable),
        (TimeoutError(), BrokerUnavailable),
        (asyncio.CancelledError(), BrokerUnavailable),
        (aiormq.exceptions.AMQPError("?"), BrokerError),
    ],
)
def test_translate_most_specific_first(exc: BaseException, expected: type[BrokerError]) -> None:
    error = translate(exc, url="amqp://u:p@h/")
    assert type(error) is expected
    assert error.code.startswith("broker.")
    assert translate(error) is error


def test_redact() -> None:
    assert redact("amqp://guest:guest@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert redact("amqp://127.0.0.1/") == "amqp://127.0.0.1/"
