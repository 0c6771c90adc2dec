"""Accept -> relay (publisher confirms) -> consumer -> delivered, with retries and dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest

from gateway.broker import Broker, Consumer, Effect, EffectFailed, Handover, Relay, record_only
from gateway.core.deliver import Ack
from gateway.store import DeliveryState, OutboxClaim, Store

from .conftest import AGENCIES, FAST, accept, delivered_events, depth, drain, wait_until

pytestmark = pytest.mark.rabbitmq

ORGAN, KEY = AGENCIES[0]


@asynccontextmanager
async def running(
    broker: Broker,
    store: Store,
    *,
    effect: Effect = record_only,
    keys: tuple[str, ...] = (KEY,),
    lease: float = 2.0,
) -> AsyncIterator[tuple[Relay, list[Consumer]]]:
    """A relay and one consumer per inbox, running until the block ends."""
    relay = Relay(
        store,
        await broker.channel(),
        node="gw-test",
        batch_size=64,
        lease_seconds=lease,
        poll_interval=0.05,
        confirm_timeout=lease / 2,
    )
    consumers = [
        Consumer(
            store,
            await broker.channel(),
            broker.topology,
            broker.topology.inbox(key),
            node="gw-test",
            effect=effect,
            policy=FAST,
            prefetch=32,
            requeue_pause=0.05,
        )
        for key in keys
    ]
    for consumer in consumers:
        await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay, consumers
    finally:
        stop.set()
        await task
        for consumer in consumers:
            await consumer.stop()


def state_is(store: Store, delivery_id: str, state: DeliveryState) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        delivery = await store.get_delivery(delivery_id)
        return delivery is not None and delivery.state == state

    return check


async def test_accept_relay_consume_delivered(broker: Broker, store: Store, amqp_url: str) -> None:
    seen: list[Handover] = []

    async def effect(handover: Handover) -> None:
        seen.append(handover)

    [delivery_id] = await accept(store, broker.topology.prefix, 1)
    async with running(broker, store, effect=effect) as (relay, [consumer]):
        relay.notify()
        await wait_until(state_is(store, delivery_id, DeliveryState.DELIVERED), what="delivered")
        await wait_until(lambda: _zero_lag(relay), what="outbox marked published")
    assert relay.stats["published"] == 1
    assert consumer.stats == {"ack": 1}
    [handover] = seen
    assert handover.message_id == delivery_id
    assert handover.routing_key == KEY
    assert handover.headers["doc_id"] == "doc-1"
    assert json.loads(handover.body)["blob_key"] == "blobs/doc-1"
    assert await delivered_events(store, "doc-1") == [delivery_id]
    # Acked, not just unacked-and-returned: the consumer's channel is gone and nothing is back.
    assert await depth(amqp_url, broker.topology.inbox(KEY)) == 0
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.attempts == 0


async def test_dispatched_rows_are_published_without_a_claim(
    broker: Broker, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Direct dispatch: the rows ingress committed leased to this node go out from memory;
    the relay never asks the store for a claim."""
    claims: list[int] = []
    claim_outbox = store.claim_outbox

    async def counted(limit: int, node_id: str, lease_seconds: float) -> Any:
        rows = await claim_outbox(limit, node_id, lease_seconds)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(store, "claim_outbox", counted)
    async with running(broker, store, keys=tuple(k for _, k in AGENCIES[:2])) as (relay, _):
        ids = await accept(store, broker.topology.prefix, 7, AGENCIES[:2], relay=relay)
        for delivery_id in ids:
            await wait_until(state_is(store, delivery_id, DeliveryState.DELIVERED), what="done")
        await wait_until(lambda: _zero_lag(relay), what="outbox marked published")
    assert relay.stats["published"] == 2
    assert sum(claims) == 0  # the relay polled (an idle relay does) but never claimed a row
    assert await delivered_events(store, "doc-7") == sorted(ids)


async def test_dispatched_rows_left_unpublished_go_back_to_the_claim_path(
    broker: Broker, store: Store
) -> None:
    """A node that leased rows at accept and stopped before publishing them: once the lease
    runs out another relay claims and publishes them, as with any claimed row."""
    async with running(broker, store, lease=2.0) as (relay, _):
        claim = relay.claim()
    assert claim is not None and claim.node_id == "gw-test"
    # The relay is gone; ingress had committed under its lease and dispatched to nobody.
    ids = await _accept_claimed(store, broker, 8, claim)
    assert await store.claim_outbox(10, "other", 2.0) == []  # leased
    async with running(broker, store) as (relay, _):
        await wait_until(
            state_is(store, ids[0], DeliveryState.DELIVERED), timeout=20, what="delivered"
        )
    assert relay.stats["published"] == 1


async def _accept_claimed(store: Store, broker: Broker, n: int, claim: OutboxClaim) -> list[str]:
    class Leased:  # what accept() needs of a relay: its claim; the dispatch goes nowhere
        def claim(self) -> OutboxClaim:
            return claim

        def dispatch(self, rows: object) -> None:
            pass

    return await accept(store, broker.topology.prefix, n, relay=Leased())  # type: ignore[arg-type]


async def _zero_lag(relay: Relay) -> bool:
    return (await relay.lag()).unpublished == 0


async def test_duplicate_publish_is_delivered_once(broker: Broker, store: Store) -> None:
    [delivery_id] = await accept(store, broker.topology.prefix, 2)
    [row] = await store.claim_outbox(10, "someone-else", 60)
    channel = await broker.channel()
    try:  # the same message twice, as a relay whose lease expired before the confirm would
        exchange = await channel.get_exchange(row.exchange, ensure=False)
        for _ in range(2):
            message = aio_pika.Message(
                row.body, headers=dict(row.headers), message_id=delivery_id, delivery_mode=2
            )
            await exchange.publish(message, row.routing_key)
    finally:
        await channel.close()
    async with running(broker, store) as (_, [consumer]):
        await wait_until(lambda: _settled(consumer, 2), what="both copies settled")
    assert consumer.stats == {"ack": 2}
    assert await delivered_events(store, "doc-2") == [delivery_id]


async def _settled(consumer: Consumer, n: int) -> bool:
    return sum(consumer.stats.values()) >= n


async def test_ack_lost_after_commit_is_redelivered_and_deduplicated(
    broker: Broker, store: Store, amqp_url: str
) -> None:
    """The effect commits, then the channel dies before the ack: the broker redelivers."""
    consumers: list[Consumer] = []
    calls: list[bool] = []

    async def effect(handover: Handover) -> None:
        calls.append(handover.redelivered)
        if len(calls) == 1:  # kill the consumer's channel under the in-flight message
            underlay = await consumers[0].channel.get_underlay_channel()
            await underlay.close()

    [delivery_id] = await accept(store, broker.topology.prefix, 3)
    async with running(broker, store, effect=effect) as (relay, found):
        consumers.extend(found)
        relay.notify()
        await wait_until(lambda: _settled(found[0], 2), what="the redelivery")
    assert calls == [False]  # the redelivery found the delivery already done: no second effect
    assert found[0].stats == {"ack": 2}  # the first ack failed quietly, the second landed
    assert await delivered_events(store, "doc-3") == [delivery_id]
    assert await depth(amqp_url, broker.topology.inbox(KEY)) == 0


async def test_retryable_failure_goes_through_the_delay_queue(broker: Broker, store: Store) -> None:
    attempts: list[float] = []

    async def flaky(handover: Handover) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) == 1:
            raise EffectFailed("webhook.http_503", retryable=True)

    [delivery_id] = await accept(store, broker.topology.prefix, 4)
    async with running(broker, store, effect=flaky) as (relay, [consumer]):
        relay.notify()
        await wait_until(state_is(store, delivery_id, DeliveryState.DELIVERED), what="retry")
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= FAST.delay(1) * 0.9  # it waited in P.retry.0.2
    assert consumer.stats == {"delay": 1, "ack": 1}
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.attempts, delivery.last_error) == (1, "webhook.http_503")
    outcomes = [(r.stage, r.outcome) for r in await store.trace_for("doc-4")]
    assert outcomes[-2:] == [("deliver", "retry"), ("deliver", "delivered")]


async def test_failing_effect_is_dead_lettered_after_max_attempts(
    broker: Broker, store: Store, amqp_url: str
) -> None:
    calls: list[int] = []

    async def down(handover: Handover) -> None:
        calls.append(1)
        raise EffectFailed("webhook.http_503", retryable=True)

    [delivery_id] = await accept(store, broker.topology.prefix, 5)
    async with running(broker, store, effect=down) as (relay, [consumer]):
        relay.notify()
        await wait_until(state_is(store, delivery_id, DeliveryState.DEAD), what="dead")
        await wait_until(lambda: _depth_is(amqp_url, broker.topology.dead, 1), what="P.dead")
    assert len(calls) == FAST.max_attempts
    assert consumer.stats == {"delay": 2, "dead_letter": 1}
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.last_error == "deliver.max_attempts"
    [dead] = await drain(amqp_url, broker.topology.dead)
    assert dead.message_id == delivery_id
    deaths: Any = dead.headers["x-death"]
    latest = deaths[0]  # the most recent death comes first
    assert (latest["queue"], latest["reason"]) == (broker.topology.inbox(KEY), "rejected")


async def _depth_is(amqp_url: str, queue: str, n: int) -> bool:
    return await depth(amqp_url, queue) == n


async def test_permanent_failure_is_dead_at_once(
    broker: Broker, store: Store, amqp_url: str
) -> None:
    async def refuse(handover: Handover) -> None:
        raise EffectFailed("webhook.http_410", retryable=False, message="gone")

    [delivery_id] = await accept(store, broker.topology.prefix, 6)
    async with running(broker, store, effect=refuse) as (relay, [consumer]):
        relay.notify()
        await wait_until(state_is(store, delivery_id, DeliveryState.DEAD), what="dead")
    assert consumer.stats == {"dead_letter": 1}
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.last_error == "webhook.http_410"
    await wait_until(lambda: _depth_is(amqp_url, broker.topology.dead, 1), what="P.dead")


async def test_crashing_effect_is_retried_like_a_transient_failure(
    broker: Broker, store: Store
) -> None:
    calls: list[int] = []

    async def buggy(handover: Handover) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("oops")

    [delivery_id] = await accept(store, broker.topology.prefix, 7)
    async with running(broker, store, effect=buggy) as (relay, _):
        relay.notify()
        await wait_until(state_is(store, delivery_id, DeliveryState.DELIVERED), what="retry")
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.last_error == "broker.effect_crashed"


async def test_message_without_delivery_id_is_dead_lettered(
    broker: Broker, store: Store, amqp_url: str
) -> None:
    async with running(broker, store) as (_, [consumer]):
        channel = await broker.channel()
        try:
            exchange = await channel.get_exchange(broker.topology.route, ensure=False)
            await exchange.publish(aio_pika.Message(b"{}", headers={"doc_id": "x"}), KEY)
        finally:
            await channel.close()
        await wait_until(lambda: _settled(consumer, 1), what="settled")
    assert consumer.stats == {Ack.DEAD_LETTER.value: 1}
    [dead] = await drain(amqp_url, broker.topology.dead)
    assert dead.body == b"{}"
    traced = await store.trace_for("x")
    assert [(r.outcome, r.detail["reason"]) for r in traced] == [
        ("dead_letter", "deliver.bad_headers")
    ]


async def test_store_failure_requeues_and_nothing_is_lost(
    broker: Broker, store: Store, amqp_url: str, tmp_path: object
) -> None:
    from gateway.store import open_store

    [delivery_id] = await accept(store, broker.topology.prefix, 8)
    broken = await open_store(f"sqlite:///{tmp_path}/gw.db")
    await broken.close()  # every call now raises store.unavailable
    relay = Relay(store, await broker.channel(), node="gw-test")
    assert await relay.relay_once() == 1
    consumer = Consumer(
        broken,
        await broker.channel(),
        broker.topology,
        broker.topology.inbox(KEY),
        node="gw-test",
        policy=FAST,
        requeue_pause=0.05,
    )
    await consumer.start()
    await wait_until(lambda: _settled(consumer, 3), what="requeues")
    await consumer.stop()
    await consumer.channel.close()  # unacked copies return to the queue
    assert set(consumer.stats) == {"requeue"}
    assert await depth(amqp_url, broker.topology.inbox(KEY)) == 1
    async with running(broker, store):
        await wait_until(state_is(store, delivery_id, DeliveryState.DELIVERED), what="delivered")
    assert await delivered_events(store, "doc-8") == [delivery_id]
