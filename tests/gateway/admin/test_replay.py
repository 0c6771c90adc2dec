"""Dead letters on a running gateway: listed with reason and history, replayed exactly once.

Each test runs on the real RabbitMQ with SQLite and with PostgreSQL (``store_dsn``). A dead
letter is made the way production makes one: the hand-over to the agency fails permanently
(``break_effect``: an endpoint answering 410), the consumer parks the delivery as ``dead``
and rejects the message to ``P.dead``.
"""

from __future__ import annotations

import aio_pika
import pytest

from gateway.app import BROKER
from gateway.broker.inspect import peek_dead
from gateway.store import DeliveryState
from gateway.web.console.ops import OPS
from tests.gateway.e2e.packages import document

from .conftest import Ops, break_effect, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

S = DeliveryState
SENDER, RECIPIENT = "000.00.31.H53", "000.00.00.H53"


async def _dead_letter(ops: Ops, number: str = "1") -> tuple[str, str]:
    """Submit one document whose delivery dies; returns (doc_id, delivery_id)."""
    gw = ops.gateway
    repair = break_effect(gw)
    receipt = await gw.submit("huyen", document(SENDER, [RECIPIENT], number))
    [delivery] = await gw.delivered(receipt["doc_id"])
    assert delivery.state is S.DEAD
    repair()  # the endpoint works again
    return receipt["doc_id"], delivery.delivery_id


async def _delivered_events(ops: Ops, doc_id: str, delivery_id: str) -> int:
    rows = await ops.gateway.store.trace_for(doc_id)
    return sum(
        1
        for r in rows
        if (r.stage, r.outcome) == ("deliver", "delivered")
        and r.detail.get("delivery_id") == delivery_id
    )


async def test_dead_letter_replayed_through_the_api_is_delivered_exactly_once(ops: Ops) -> None:
    gw = ops.gateway
    doc_id, delivery_id = await _dead_letter(ops)
    operator = await ops.login("operator")

    listed = await operator.get("/api/admin/v1/dead-letters", state="dead")
    [item] = listed["items"]
    assert (item["delivery_id"], item["doc_id"], item["state"]) == (delivery_id, doc_id, "dead")
    assert item["last_error"] == "webhook.http_410"
    assert listed["counts"]["dead"] == 1
    detail = await operator.get(f"/api/admin/v1/dead-letters/{delivery_id}")
    [dead] = [h for h in detail["history"] if h["outcome"] == "dead_letter"]
    assert (dead["stage"], dead["error"]) == ("deliver", "webhook.http_410")

    answer = await operator.post(
        "/api/admin/v1/dead-letters/replay",
        {"delivery_ids": [delivery_id], "reason": "endpoint repaired / đã sửa"},
    )
    assert (answer["replayed"], answer["refused"]) == (1, 0)
    [after] = await gw.delivered(doc_id)
    assert after.delivery_id == delivery_id  # the same id: the receiver de-duplicates
    await wait_for(lambda: _is(gw, delivery_id, S.DELIVERED), 20, "the replayed delivery")
    assert await _delivered_events(ops, doc_id, delivery_id) == 1
    inbox = await gw.inbox("tinh")
    assert [i["delivery_id"] for i in inbox if i["doc_id"] == doc_id] == [delivery_id]

    [replay] = [r for r in await gw.store.trace_for(doc_id) if r.stage == "admin.replay"]
    assert replay.detail["admin"] == "operator"
    assert replay.detail["reason"] == "endpoint repaired / đã sửa"
    assert replay.detail["outbox"] == "copied"
    history = await operator.get(f"/api/admin/v1/dead-letters/{delivery_id}")
    stages = [(h["stage"], h["outcome"]) for h in history["history"]]
    after_replay = stages[stages.index(("admin.replay", "ok")) + 1 :]
    # The relay marks its publish after the broker's confirm: the consumer may commit first.
    assert sorted(after_replay) == [("deliver", "delivered"), ("publish", "ok")]

    # The stale copy RabbitMQ kept in P.dead, put back on the route by hand (a shovel, an
    # operator's mistake): the consumer finds the delivery done and records nothing new.
    runtime = gw.client.app[BROKER]
    [copy] = await peek_dead(runtime.broker)
    assert (copy.delivery_id, copy.reason) == (delivery_id, "rejected")
    connection = await aio_pika.connect(gw.settings.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(runtime.broker.topology.dead, ensure=False)
        message = await queue.get(no_ack=False)
        assert message is not None
        exchange = await channel.get_exchange(runtime.broker.topology.route, ensure=False)
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        await exchange.publish(
            aio_pika.Message(message.body, headers=headers, message_id=message.message_id),
            routing_key=copy.routing_key or "",
        )
        await message.ack()
    finally:
        await connection.close()
    consumers = runtime.consumers.values()
    await wait_for(lambda: _settled(sum(c.stats["ack"] for c in consumers), 2), 20, "the old copy")
    assert await _delivered_events(ops, doc_id, delivery_id) == 1
    assert len([i for i in await gw.inbox("tinh") if i["doc_id"] == doc_id]) == 1


async def _is(gw: object, delivery_id: str, state: DeliveryState) -> bool:
    delivery = await gw.store.get_delivery(delivery_id)  # type: ignore[attr-defined]
    return delivery is not None and delivery.state is state


async def _settled(value: int, at_least: int) -> bool:
    return value >= at_least


async def test_replay_refusals_and_bulk(ops: Ops) -> None:
    gw = ops.gateway
    _, first = await _dead_letter(ops, "1")
    _, second = await _dead_letter(ops, "2")
    operator = await ops.login("operator")
    viewer = await ops.login("viewer")

    no_reason = await operator.post(
        "/api/admin/v1/dead-letters/replay", {"delivery_ids": [first], "reason": " "}, 400
    )
    assert no_reason["code"] == "admin.reason_required"
    forbidden = await viewer.post(
        "/api/admin/v1/dead-letters/replay", {"delivery_ids": [first], "reason": "x"}, 403
    )
    assert forbidden["code"] == "admin.forbidden"
    no_csrf = await operator.post(
        "/api/admin/v1/dead-letters/replay",
        {"delivery_ids": [first], "reason": "x"},
        403,
        csrf=False,
    )
    assert no_csrf["code"] == "admin.csrf_failed"
    assert (await gw.store.get_delivery(first)).state is S.DEAD  # type: ignore[union-attr]

    # A locked recipient is refused (unlock first); an unknown id is refused; others go.
    service = gw.client.app[OPS].directory
    await service.lock(RECIPIENT, confirm=RECIPIENT, reason="test")
    locked = await operator.post(
        "/api/admin/v1/dead-letters/replay",
        {"delivery_ids": [first, "no-such-delivery"], "reason": "try"},
    )
    assert [(o["delivery_id"], o["replayed"], o.get("code")) for o in locked["outcomes"]] == [
        (first, False, "admin.replay.recipient_locked"),
        ("no-such-delivery", False, "admin.replay.not_found"),
    ]
    await service.unlock(RECIPIENT, confirm=RECIPIENT, reason="test")

    bulk = await operator.post(
        "/api/admin/v1/dead-letters/replay",
        {"all": True, "recipient": RECIPIENT, "reason": "bulk after repair"},
    )
    assert sorted(o["delivery_id"] for o in bulk["outcomes"] if o["replayed"]) == sorted(
        [first, second]
    )
    for delivery_id in (first, second):
        await wait_for(lambda d=delivery_id: _is(gw, d, S.DELIVERED), 20, "bulk replay")
    again = await operator.post(
        "/api/admin/v1/dead-letters/replay", {"delivery_ids": [first], "reason": "twice"}
    )
    assert again["outcomes"][0]["code"] == "admin.replay.not_dead"

    # The dead queue still holds both rejected copies; tidying removes exactly those.
    peeked = await operator.get("/api/admin/v1/dead-letters/queue")
    assert sorted(c["delivery_id"] for c in peeked["copies"]) == sorted([first, second])
    assert all(c["stale"] for c in peeked["copies"])
    tidy = await operator.post("/api/admin/v1/dead-letters/queue/tidy", {})
    assert tidy["removed"] == 2
    assert (await operator.get("/api/admin/v1/dead-letters/queue"))["copies"] == []
