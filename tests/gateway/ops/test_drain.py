"""Draining one gateway (real RabbitMQ; SQLite and PostgreSQL): what it refuses, what it finishes,
and a node started again on the same store and queues picking up where the first one left.

The drain is driven in-process through ``app[DRAIN]`` (``edxgw drain`` and SIGTERM on a real
``edxgw serve`` process are exercised by ``test_nodes.py``).
"""

from __future__ import annotations

import pytest

from adapters.vdxp.link import DOWNLINK
from gateway.app import BROKER
from gateway.ops.drain import DRAIN
from gateway.store.lifecycle import DeliveryState
from tests.gateway.e2e.conftest import GatewayFactory, wait_for
from tests.gateway.e2e.packages import document

pytestmark = pytest.mark.rabbitmq

TINH = "000.00.00.H53"
HUYEN = "000.00.31.H53"


async def test_draining_refuses_new_packages_and_serves_the_rest(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(drain_grace_seconds=0)
    body = await gw.submit("huyen", document(HUYEN, [TINH], "701"))
    [delivery] = await gw.delivered(body["doc_id"])
    drain = gw.client.app[DRAIN]

    assert drain.begin("test: maintenance") is True
    assert drain.begin("again") is False  # one drain at a time
    response = await gw.client.get("/readyz")
    ready = await response.json()
    assert response.status == 503 and ready["checks"]["accepting"] is False
    response = await gw.client.post(
        "/api/v1/packages",
        data=document(HUYEN, [TINH], "702"),
        headers={**gw.auth("huyen"), "Content-Type": "application/xml"},
    )
    problem = await response.json(content_type=None)
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert (problem["code"], problem["retryable"]) == ("ops.drain.draining", True)
    assert gw.settings.node in problem["message_en"] and gw.settings.node in problem["message_vi"]
    # Reads and answers are not new work: they go on while draining.
    assert [i["doc_id"] for i in await gw.inbox("tinh")] == [body["doc_id"]]
    await gw.fetch("tinh", delivery.delivery_id)
    assert (await gw.ack("tinh", delivery.delivery_id))["state"] == "done"

    status = await drain.run("test: maintenance")
    assert status["state"] == "drained" and status["reason"] == "test: maintenance"
    assert [s["step"] for s in status["steps"]] == [
        "refuse",
        "grace",
        "requests",
        "relay",
        "consumers",
        "downlink",  # the demo directory's downlink peer (adapters/vdxp/link.py)
    ]
    runtime = gw.client.app[BROKER]
    assert runtime.stop.is_set() and all(t.done() for t in runtime.tasks)
    # No queue of this node has a consumer left, the downlink peers' included: nothing more
    # is taken while the process still runs.
    downlink = gw.client.app[DOWNLINK]
    assert status["steps"][-1]["stopped"] == len(downlink.consumers) >= 1
    assert downlink.task is not None and downlink.task.done()
    queues = [c.queue_name for c in [*runtime.consumers.values(), *downlink.consumers.values()]]
    channel = await runtime.broker.channel(confirms=False)
    try:
        amqp = await channel.get_underlay_channel()
        for name in queues:
            declared = await amqp.queue_declare(name, passive=True)
            assert declared.consumer_count == 0, name
    finally:
        await channel.close()
    assert status["in_flight"] == 0 and status["exits"] is False  # not its own process
    # The drain is an admin action in the trace: started and done, on this node.
    outcomes = [(r.stage, r.outcome, r.node) for r in await gw.store.trace_page(0, 10**9, 1000)]
    assert ("node.drain", "started", gw.settings.node) in outcomes
    assert ("node.drain", "done", gw.settings.node) in outcomes
    assert (await gw.store.verify_trace()).ok


async def test_a_node_started_again_picks_up_where_the_drained_one_left(
    make_gateway: GatewayFactory,
) -> None:
    first = await make_gateway(drain_grace_seconds=0)
    runtime = first.client.app[BROKER]
    # Its consumers stop first (as if they had been cut off), so what is submitted now is
    # committed, published by the drain's relay step, and waits in RabbitMQ.
    for consumer in runtime.consumers.values():
        await consumer.stop()
    bodies = [await first.submit("huyen", document(HUYEN, [TINH], f"8{i:02d}")) for i in range(6)]
    status = await first.client.app[DRAIN].run("upgrade")
    assert status["state"] == "drained"
    assert (await first.store.outbox_lag()).unpublished == 0  # the relay published everything
    doc_ids = [b["doc_id"] for b in bodies]
    for doc_id in doc_ids:
        [delivery] = await first.store.list_deliveries(doc_id=doc_id)
        assert delivery.state is DeliveryState.QUEUED  # in RabbitMQ, not delivered

    # The same hub started again (same store and queues): it delivers every one, once.
    second = await make_gateway(amqp_prefix=first.prefix, node="node-2")
    for doc_id in doc_ids:
        [delivery] = await second.delivered(doc_id)
        assert delivery.state is DeliveryState.DELIVERED

    async def recorded() -> list[str] | None:
        rows = await second.store.trace_page(0, 10**9, 10_000)
        found = [
            str(r.detail["delivery_id"])
            for r in rows
            if (r.stage, r.outcome) == ("deliver", "delivered") and r.doc_id in doc_ids
        ]
        return found if len(found) >= len(doc_ids) else None

    found = await wait_for(recorded, 20, "deliver events")
    assert len(found) == len(set(found)) == len(doc_ids)
    items = await second.inbox("tinh")
    assert sorted(i["doc_id"] for i in items) == sorted(doc_ids)
