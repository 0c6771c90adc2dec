"""Direct AMQP delivery on the real RabbitMQ: the agency's own user and queue, nobody else's."""

from __future__ import annotations

import hashlib
import json
import re

import aio_pika
import aiormq.exceptions
import pytest

from adapters.amqp import queue_name, read_pattern, user_name, vhost_of
from adapters.amqp.admin import Rabbitmqctl
from adapters.amqp.sink import AmqpSink
from adapters.amqp.source import AgencyQueue, Item
from gateway.broker import EffectFailed, Handover
from gateway.core.deliver import RecordDelivery
from gateway.web.state import HUB
from tests.gateway.e2e.conftest import Gateway
from tests.gateway.e2e.packages import document, status

from ..hubs import aadmin, node_sees_mode

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
TINH = "000.00.00.H53"


def _printed(output: str, label: str) -> str:
    match = re.search(rf"^{label}[^:]*: (\S+)$", output, flags=re.M)
    assert match, output
    return match.group(1)


async def _grant(gw: Gateway, system: str, *options: str) -> tuple[str, str]:
    """``edxgw systems amqp-grant``; returns the URL and queue it printed."""
    code, out = await aadmin(gw, "systems", "amqp-grant", system, *options)
    assert code == 0, out
    url = _printed(out, "url") if "url (shown once" in out else ""
    return url, _printed(out, "queue")


@pytest.fixture
async def cleanup_users(gateway: Gateway):  # type: ignore[no-untyped-def]
    yield
    ctl = Rabbitmqctl()
    users = await ctl.users()
    for system in ("huyen", "tinh", "xa"):
        if user_name(gateway.prefix, system) in users:
            await ctl.delete_user(user_name(gateway.prefix, system))


async def test_the_agency_consumes_its_own_queue_with_its_own_user(
    gateway: Gateway, cleanup_users: None
) -> None:
    url, queue = await _grant(gateway, "huyen")
    assert queue == queue_name(gateway.prefix, HUYEN)
    assert url.startswith(f"amqp://{user_name(gateway.prefix, 'huyen')}:")
    await node_sees_mode(gateway, HUYEN, "amqp")
    original = document(XA, [HUYEN], "301")
    body = await gateway.submit("xa", original)

    async with AgencyQueue(url, queue) as agency:
        item = await agency.next(timeout=30)
        [delivery] = await gateway.delivered(body["doc_id"])
        assert delivery.state.value == "delivered"
        # The sealed package itself, as the REST fetch serves it.
        assert item.package == await gateway.fetch("huyen", delivery.delivery_id)
        assert (item.delivery_id, item.doc_id, item.kind, item.sender, item.recipient) == (
            delivery.delivery_id,
            body["doc_id"],
            "edoc",
            XA,
            HUYEN,
        )
        assert item.sha256 == hashlib.sha256(item.package or b"").hexdigest()
        assert item.fetch == f"/api/v1/inbox/{delivery.delivery_id}"
        await item.ack()

    # Acknowledgement and statuses travel over REST with the system's token.
    assert (await gateway.ack("huyen", delivery.delivery_id))["state"] == "done"
    await gateway.submit("huyen", status(original, HUYEN, "01"))
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    assert tracking["recipients"][0]["progress"]["level"] == "01"
    trace = await gateway.store.trace_for(body["doc_id"])
    assert [(r.stage, r.outcome) for r in trace if r.stage == "deliver"] == [
        ("deliver", "delivered")
    ]


async def _ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    await message.ack()


async def test_the_agency_user_is_refused_everything_else(
    gateway: Gateway, cleanup_users: None
) -> None:
    url, own = await _grant(gateway, "huyen")
    _, other = await _grant(gateway, "tinh", "--agency", TINH)
    connection = await aio_pika.connect(url)
    try:
        # Its own queue: yes (a passive declare needs no permission, consume needs read).
        channel = await connection.channel()
        await channel.declare_queue(own, passive=True)
        await (await channel.declare_queue(own, passive=True)).consume(_ack)

        async def refused(what: str, attempt) -> None:  # type: ignore[no-untyped-def]
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused) as info:
                await attempt(channel)
            assert "ACCESS_REFUSED" in str(info.value), what

        async def consume_other(ch: aio_pika.abc.AbstractChannel) -> None:
            queue = await ch.declare_queue(other, passive=True)
            await queue.consume(_ack)

        async def consume_hub_inbox(ch: aio_pika.abc.AbstractChannel) -> None:
            queue = await ch.declare_queue(f"{gateway.prefix}.inbox.H53.31", passive=True)
            await queue.get()

        async def publish(ch: aio_pika.abc.AbstractChannel) -> None:
            exchange = await ch.get_exchange(f"{gateway.prefix}.route", ensure=False)
            await exchange.publish(aio_pika.Message(b"forged"), "H53.31")
            await ch.declare_queue(own, passive=True)  # the refusal closes the channel

        async def declare(ch: aio_pika.abc.AbstractChannel) -> None:
            await ch.declare_queue(f"{gateway.prefix}.agency.mine", durable=True)

        async def delete_own(ch: aio_pika.abc.AbstractChannel) -> None:
            await ch.queue_delete(own)

        await refused("another agency's queue", consume_other)
        await refused("the hub's inbox queue", consume_hub_inbox)
        await refused("publishing to the hub's exchange", publish)
        await refused("declaring a queue", declare)
        await refused("deleting its own queue", delete_own)
    finally:
        await connection.close()


async def test_grant_again_keeps_the_password_rotate_replaces_it_revoke_ends_it(
    gateway: Gateway, cleanup_users: None
) -> None:
    url, queue = await _grant(gateway, "huyen")
    code, out = await aadmin(gateway, "systems", "amqp-grant", "huyen")
    assert code == 0 and "password unchanged" in out and "shown once" not in out
    connection = await aio_pika.connect(url)  # the first password still works
    await connection.close()

    new_url, _ = await _grant(gateway, "huyen", "--rotate")
    assert new_url != url
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await aiormq.connect(url)
    connection = await aio_pika.connect(new_url)
    await connection.close()

    code, out = await aadmin(gateway, "systems", "amqp-revoke", "huyen", "--reason", "test")
    assert code == 0, out
    await node_sees_mode(gateway, HUYEN, "pull")
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await aiormq.connect(new_url)
    # Back to pull: the next document is in the REST inbox and not copied to the queue.
    body = await gateway.submit("xa", document(XA, [HUYEN], "302"))
    await gateway.delivered(body["doc_id"])
    inbox = await gateway.inbox("huyen")
    assert body["doc_id"] in [i["doc_id"] for i in inbox]
    admin_conn = await aio_pika.connect(gateway.settings.amqp_url)
    try:
        channel = await admin_conn.channel()
        declared = await channel.declare_queue(queue, passive=True)
        assert declared.declaration_result.message_count == 0
    finally:
        await admin_conn.close()


async def test_revoking_the_system_deletes_its_rabbitmq_user(
    gateway: Gateway, cleanup_users: None
) -> None:
    url, _ = await _grant(gateway, "huyen")
    code, out = await aadmin(gateway, "systems", "remove", "huyen", "--reason", "contract ended")
    assert code == 0, out
    assert "RabbitMQ user" in out
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await aiormq.connect(url)
    agency = await gateway.store.resolve(HUYEN)
    assert agency is not None and agency.delivery_mode == "pull"


async def test_grant_refusals(gateway: Gateway) -> None:
    for argv, needle in (
        (("nobody",), "no system nobody"),
        (("huyen", "--agency", TINH), "not an agency of system huyen"),
    ):
        code, out = await aadmin(gateway, "systems", "amqp-grant", *argv)
        assert code == 1
        assert "amqp.grant_refused" in out and needle in out
    code, out = await aadmin(
        gateway, "systems", "amqp-grant", "huyen", env={"EDXGW_AMQP_ADMIN_COMMAND": "false"}
    )
    assert code == 1 and "amqp.admin_failed" in out
    agency = await gateway.store.resolve(HUYEN)
    assert agency is not None and agency.delivery_mode != "amqp"


async def test_large_packages_travel_by_reference(gateway: Gateway) -> None:
    """Above the inline limit the message carries only the delivery's identity (§3.5)."""
    body = await gateway.submit("xa", document(XA, [HUYEN], "303"))
    [delivery] = await gateway.delivered(body["doc_id"])
    message = await gateway.store.get_message(body["doc_id"])
    assert message is not None
    hub = gateway.client.app[HUB]
    sink = AmqpSink(
        gateway.settings.amqp_url,
        prefix=gateway.prefix,
        queue_type="classic",
        store=gateway.store,
        blobs=hub.packages,
        hub_organ_id=hub.hub_organ_id,
        inline_max_bytes=100,
    )
    claim = json.dumps({"blob_key": message.blob_key, "sha256": "0" * 64}).encode()
    handover = Handover(
        decision=RecordDelivery(delivery.delivery_id, message.doc_id, HUYEN, "local", None, ()),
        routing_key="H53.31",
        headers={"kind": "edoc", "sender": XA},
        body=claim,
        message_id=delivery.delivery_id,
        redelivered=False,
    )
    queue = queue_name(gateway.prefix, HUYEN)
    try:
        await sink(handover)  # not read, so the (wrong) digest is not checked here
        async with AgencyQueue(gateway.settings.amqp_url, queue) as agency:
            item: Item = await agency.next(timeout=10)
            await item.ack()
        assert item.package is None
        assert item.size == await hub.packages.size(message.blob_key)
        assert item.fetch == f"/api/v1/inbox/{delivery.delivery_id}"
        # Inline, the digest IS checked: a claim that does not match the blob is refused.
        sink.inline_max_bytes = 10**9
        with pytest.raises(EffectFailed) as info:
            await sink(handover)
        assert info.value.code == "amqp.package_unreadable"
    finally:
        await sink.close()


def test_permission_pattern_matches_exactly_the_queues() -> None:
    pattern = re.compile(read_pattern(["p.agency.000.21.31.H53", "p.agency.000.00.31.H53"]))
    assert pattern.match("p.agency.000.21.31.H53")
    assert pattern.match("p.agency.000.00.31.H53")
    for other in (
        "p.agency.000.21.31.H5",
        "p.agency.000.21.31.H53x",
        "pxagency.000.21.31.H53",  # the dot is escaped
        "p.agency.000.22.31.H53",
        "p.inbox.H53.31.21",
    ):
        assert not pattern.match(other), other
    assert read_pattern([]) == "^$"


async def test_permissions_grow_with_each_granted_agency(
    gateway: Gateway, cleanup_users: None
) -> None:
    first, second = "000.01.31.H53", "000.02.31.H53"
    await _grant(gateway, "xa", "--agency", first)
    await _grant(gateway, "xa", "--agency", second)
    perms = await Rabbitmqctl().permissions(vhost_of(gateway.settings.amqp_url))
    queues = [queue_name(gateway.prefix, first), queue_name(gateway.prefix, second)]
    assert perms[user_name(gateway.prefix, "xa")] == ("^$", "^$", read_pattern(queues))
    for organ in (first, second):
        agency = await gateway.store.resolve(organ)
        assert agency is not None and agency.delivery_mode == "amqp"
    untouched = await gateway.store.resolve("000.03.31.H53")
    assert untouched is not None and untouched.delivery_mode is None
