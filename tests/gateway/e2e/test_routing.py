"""Routing end to end: uplink, downlink, mergers, the official samples, hostile input,
redelivery and large packages, on the real RabbitMQ (queues inspected with aio-pika)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from edxml import parse
from edxml.model import Attachment, DocumentPackage
from edxml.organ import parse_organ_id
from gateway.dirfile import load_directory
from gateway.settings import DEMO_DIRECTORY
from tests.gateway.core.factories import SAMPLES

from .conftest import BROKER, SYSTEMS, Gateway, GatewayFactory, wait_for
from .packages import document

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"  # a commune with a dev certificate ("xa" system)
HUYEN = "000.00.31.H53"  # its district ("huyen" system)
TINH = "000.00.00.H53"  # the province ("tinh" system), no certificate: unsigned
VPCP = "000.00.00.G22"  # on the national axis (host = uplink)
BELOW_32 = "000.05.32.H53"  # a commune under the district hub 000.00.32.H53 (peer huyen-32)
MERGED, SUCCESSOR = "000.41.31.H53", "000.01.31.H53"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[AbstractChannel]:
    """A channel of the test's own on the run's vhost, to look into the gateway's queues."""
    connection = await aio_pika.connect(amqp_url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def depth(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def wait_depth(channel: AbstractChannel, queue: str, want: int) -> None:
    async def probe() -> bool:
        return await depth(channel, queue) == want

    await wait_for(probe, 10.0, f"{want} message(s) in {queue}")


async def take(channel: AbstractChannel, queue: str) -> AbstractIncomingMessage:
    declared = await channel.declare_queue(queue, passive=True)
    message = await declared.get(fail=True)
    assert message is not None
    await message.ack()
    return message


async def wait_state(gw: Gateway, delivery_id: str, state: str) -> None:
    async def probe() -> bool:
        d = await gw.store.get_delivery(delivery_id)
        return d is not None and d.state.value == state

    await wait_for(probe, 10.0, f"delivery {delivery_id} {state}")


def claim_check(message: AbstractIncomingMessage) -> dict[str, Any]:
    claim: dict[str, Any] = json.loads(message.body)
    return claim


# -- where packages go --------------------------------------------------------------------------


async def test_unknown_or_uplink_recipient_goes_to_the_uplink_queue(
    gateway: Gateway, amqp: AbstractChannel
) -> None:
    body = await gateway.submit("tinh", document(TINH, [VPCP], "u-1"))
    [recipient] = body["recipients"]
    assert (recipient["recipient"], recipient["route"]) == (VPCP, "uplink")
    delivery_id = recipient["delivery_id"]
    delivery = await gateway.store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.route, delivery.peer) == ("uplink", gateway.settings.uplink_peer)

    queue = f"{gateway.prefix}.uplink"
    await wait_depth(amqp, queue, 1)
    await wait_state(gateway, delivery_id, "queued")  # published; the uplink adapter delivers
    message = await take(amqp, queue)
    assert message.message_id == delivery_id
    headers = message.headers
    assert headers["delivery_id"] == delivery_id and headers["doc_id"] == body["doc_id"]
    assert (headers["route"], headers["recipient"], headers["sender"]) == ("uplink", VPCP, TINH)
    claim = claim_check(message)
    assert (claim["doc_id"], claim["delivery_id"]) == (body["doc_id"], delivery_id)
    message_row = await gateway.store.get_message(body["doc_id"])
    assert message_row is not None and claim["blob_key"] == message_row.blob_key
    assert b"<edXML" not in message.body  # a claim check, never the package
    assert await depth(amqp, queue) == 0
    # Nothing reached a local inbox.
    assert await gateway.inbox("tinh") == []


async def test_commune_below_a_district_hub_goes_downlink(make_gateway: GatewayFactory) -> None:
    # The district hub is a system of this hub registered for its top agency (host downlink,
    # peer huyen-32): its inbox is every copy routed to the peer (adapters/vdxp/link.py).
    gateway = await make_gateway({**SYSTEMS, "huyen-32": ("000.00.32.H53",)})
    body = await gateway.submit("tinh", document(TINH, [BELOW_32], "d-1"))
    [recipient] = body["recipients"]
    assert (recipient["recipient"], recipient["route"]) == (BELOW_32, "downlink")
    delivery_id = recipient["delivery_id"]
    delivery = await gateway.store.get_delivery(delivery_id)
    assert delivery is not None and (delivery.route, delivery.peer) == ("downlink", "huyen-32")

    # The consumer of P.peer.huyen-32 hands it over: the delivery row is the district hub's.
    await wait_state(gateway, delivery_id, "delivered")

    async def published() -> list[Any]:
        trace = await gateway.store.trace_for(body["doc_id"])
        return [r for r in trace if r.stage == "publish"]

    [publish] = await wait_for(published, 10.0, "the relay's publish event")
    assert publish.detail["routing_key"] == parse_organ_id(BELOW_32).routing_key
    trace = await gateway.store.trace_for(body["doc_id"])
    [handed] = [r for r in trace if (r.stage, r.outcome) == ("deliver", "delivered")]
    assert (handed.detail["route"], handed.detail["recipient"]) == ("downlink", BELOW_32)
    [item] = await gateway.inbox("huyen-32")
    assert (item["delivery_id"], item["recipient"]) == (delivery_id, BELOW_32)
    assert b"<edXML" in await gateway.fetch("huyen-32", delivery_id)
    await gateway.ack("huyen-32", delivery_id)
    await wait_state(gateway, delivery_id, "done")
    # Nobody else's: not the province's system, and nothing went up.
    assert await gateway.inbox("tinh") == []
    await gateway.ack("tinh", delivery_id, expect=404)
    assert (await gateway.store.list_deliveries(doc_id=body["doc_id"]))[0].route == "downlink"


async def test_merged_recipient_is_rerouted_to_its_successor(gateway: Gateway) -> None:
    body = await gateway.submit("tinh", document(TINH, [MERGED], "m-1"))
    [delivery] = await gateway.delivered(body["doc_id"])
    assert (delivery.recipient, delivery.route, delivery.state.value) == (
        SUCCESSOR,
        "local",
        "delivered",
    )
    assert [i["doc_id"] for i in await gateway.inbox("xa", organ=SUCCESSOR)] == [body["doc_id"]]
    trace = await gateway.store.trace_for(body["doc_id"])
    [rerouted] = [r for r in trace if (r.stage, r.outcome) == ("route", "rerouted")]
    assert rerouted.detail["recipient"] == MERGED
    assert rerouted.detail["successor"] == SUCCESSOR
    assert rerouted.detail["reason"] == "merged"


# -- the official samples -------------------------------------------------------------------


async def test_official_samples_are_accepted_and_delivered(make_gateway: GatewayFactory) -> None:
    demo = load_directory(DEMO_DIRECTORY)
    organs = tuple(a.organ_id for a in demo.agencies)
    gw = await make_gateway(directory_file=str(DEMO_DIRECTORY), systems={"vpcp": organs})
    names = sorted(p.name for p in SAMPLES.glob("*.edxml") if p.name != "edoc.edxml")
    assert len(names) == 14
    accepted: dict[str, dict[str, Any]] = {}
    for name in names:
        response = await gw.client.post(
            "/api/v1/packages",
            data=(SAMPLES / name).read_bytes(),
            headers={**gw.auth("vpcp"), "Content-Type": "application/xml"},
        )
        body = await response.json()
        assert response.status == 202, (name, body)
        assert body["duplicate"] is False, name
        accepted[name] = body
    for name, body in accepted.items():
        deliveries = await gw.delivered(body["doc_id"])
        assert deliveries, name
        assert {d.state.value for d in deliveries} == {"delivered"}, (name, deliveries)
        assert {d.route for d in deliveries} == {"local"}, name
    inbox = await gw.inbox("vpcp", limit=1000)
    assert {i["doc_id"] for i in inbox} == {b["doc_id"] for b in accepted.values()}

    response = await gw.client.post(
        "/api/v1/packages",
        data=(SAMPLES / "edoc.edxml").read_bytes(),
        headers={**gw.auth("vpcp"), "Content-Type": "application/xml"},
    )
    body = await response.json(content_type=None)
    assert response.status == 400, body
    assert body["code"] == "edxml.not_well_formed"
    assert "line 74" in body["message_en"] or body["issues"][0]["line"] == 74
    assert await gw.store.get_message(body["doc_id"]) is None


# -- hostile input --------------------------------------------------------------------------


def _billion_laughs() -> bytes:
    levels = [b'<!ENTITY lol0 "lol">']
    levels += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    return b"<?xml version='1.0'?><!DOCTYPE lolz [" + b"".join(levels) + b"]><lolz>&lol9;</lolz>"


def _bad_base64() -> bytes:
    pdf = Attachment(content_id="1", name="a.pdf", content_type="application/pdf", data=b"%PDF-1")
    data = document(TINH, [HUYEN], "h-1", files=[pdf])
    start = data.index(b"<AttachmentEncoded>")
    payload = data.index(b"JVBERi0x", start)  # base64 of %PDF-1
    return data[:payload] + b"!!*not base64*!!" + data[payload + len(b"JVBERi0x") :]


def _invalid_utf8() -> bytes:
    data = document(TINH, [HUYEN], "h-2")
    subject = "V/v thử nghiệm".encode()
    at = data.index(subject)
    return data[:at] + b"\xff\xfe\xc3(" + data[at + len(subject) :]


HOSTILE: dict[str, bytes] = {
    "billion-laughs": _billion_laughs(),
    "xxe": (
        b'<?xml version="1.0"?>\n<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<edXML xmlns="' + EDXML_NS.encode() + b'">&x;</edXML>'
    ),
    "parameter-xxe": (b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd">%p;]><r/>'),
    "external-dtd": b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r/>',
    "internal-dtd": b"<!DOCTYPE r [<!ELEMENT r ANY>]><r/>",
    "deep-nesting": b"<a>" * 5000 + b"</a>" * 5000,
    "huge-attribute": b"<edXML a='" + b"x" * 200_000 + b"'/>",
    "invalid-utf8": _invalid_utf8(),
    "utf7-doctype": (
        b'<?xml version="1.0" encoding="UTF-7"?>'
        b"+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY x SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-"
        b"+ADw-a+AD4-+ACY-x+ADs-+ADw-/a+AD4-"
    ),
    "not-xml": b"%PDF-1.7 this is not XML at all",
    "binary": random.Random(7).randbytes(4096),
    "whitespace-only": b" \r\n\t ",
    "bad-base64-attachment": _bad_base64(),
    "empty-root": b'<edXML xmlns="' + EDXML_NS.encode() + b'"/>',
    "foreign-root": b"<html><body>hello</body></html>",
}


async def test_hostile_inputs_are_refused_and_leave_nothing(gateway: Gateway) -> None:
    refused: dict[str, dict[str, Any]] = {}
    for name, payload in HOSTILE.items():
        response = await gateway.client.post(
            "/api/v1/packages",
            data=payload,
            headers={**gateway.auth("tinh"), "Content-Type": "application/xml"},
        )
        text = await response.text()
        assert 400 <= response.status < 500, (name, response.status, text)
        body = json.loads(text)
        code = body["code"]
        assert code.startswith(("edxml.", "receive.")), (name, body)
        assert code == body["type"].removeprefix("urn:edxgw:error:")
        assert "root:x:0:0" not in text, name  # /etc/passwd never echoes back
        refused[name] = body
        # The gateway still answers.
        health = await gateway.client.get("/healthz")
        assert health.status == 200, name

    codes = {name: body["code"] for name, body in refused.items()}
    assert codes["billion-laughs"] == "edxml.entity_expansion"
    assert codes["xxe"] == codes["parameter-xxe"] == "edxml.external_entity"
    assert codes["external-dtd"] == "edxml.external_dtd"
    assert codes["internal-dtd"] == "edxml.doctype_forbidden"
    assert codes["deep-nesting"] == "edxml.too_deep"
    assert codes["huge-attribute"] == "edxml.attribute_too_large"
    assert codes["utf7-doctype"] == "edxml.encoding_unsupported"
    assert codes["not-xml"] == codes["invalid-utf8"] == "edxml.not_well_formed"
    assert codes["whitespace-only"] == "edxml.empty"
    assert codes["bad-base64-attachment"] == "edxml.attachment_bad_base64"
    assert codes["empty-root"] == "edxml.missing_element"
    assert codes["foreign-root"] == "edxml.not_edxml"

    for name, body in refused.items():
        doc_id = body["doc_id"]
        assert await gateway.store.get_message(doc_id) is None, name
        assert await gateway.store.list_deliveries(doc_id=doc_id) == [], name
        trace = [(r.stage, r.outcome) for r in await gateway.store.trace_for(doc_id)]
        *before, (stage, outcome) = trace
        assert outcome == "rejected" and stage in ("receive", "validate", "verify"), (name, trace)
        assert all(o == "ok" and s in ("receive", "validate") for s, o in before), (name, trace)
        [rejection] = [r for r in await gateway.store.trace_for(doc_id) if r.outcome == "rejected"]
        assert rejection.detail["code"] == body["code"], name

    blobs = Path(gateway.settings.blob_dir)
    assert [p for p in blobs.rglob("*") if p.is_file()] == []
    spool = Path(gateway.settings.spool_dir)
    assert [p for p in spool.rglob("*") if p.is_file()] == []
    assert await gateway.inbox("huyen") == []
    assert (await gateway.client.get("/readyz")).status == 200
    assert (await gateway.store.verify_trace()).ok


# -- at-least-once: a redelivered message is absorbed ---------------------------------------


async def test_a_redelivered_message_is_absorbed(gateway: Gateway, amqp: AbstractChannel) -> None:
    body = await gateway.submit("xa", document(XA, [HUYEN], "r-1"))
    doc_id = body["doc_id"]
    [delivery] = await gateway.delivered(doc_id)
    assert delivery.state.value == "delivered"
    key = parse_organ_id(HUYEN).routing_key
    consumer = gateway.client.app[BROKER].consumers[key]

    # The store row is committed before the broker ack: wait for the first copy's ack too.
    async def acked(n: int) -> bool:
        return bool(consumer.stats["ack"] == n)

    await wait_for(lambda: acked(1), 10.0, "the first copy to be acked")

    # The relay commits its publish event after the broker's confirm, which may come after
    # the consumer's ack: wait for it, so that the snapshot below is the whole first journey.
    async def published() -> bool:
        rows = await gateway.store.trace_for(doc_id)
        return any((r.stage, r.outcome) == ("publish", "ok") for r in rows)

    await wait_for(published, 10.0, "the relay's publish event")

    # The same message the relay published (gateway/core/route.py _commands, relay._publish).
    trace = await gateway.store.trace_for(doc_id)
    [seal] = [r for r in trace if r.stage == "seal"]
    claim = {
        "doc_id": doc_id,
        "delivery_id": delivery.delivery_id,
        "blob_key": seal.detail["blob_key"],
        "sha256": seal.detail["sha256"],
    }
    headers = {
        "doc_id": doc_id,
        "delivery_id": delivery.delivery_id,
        "kind": "edoc",
        "sender": XA,
        "recipient": HUYEN,
        "route": "local",
    }
    exchange = await amqp.get_exchange(f"{gateway.prefix}.route", ensure=False)
    await exchange.publish(
        aio_pika.Message(
            body=json.dumps(claim, sort_keys=True, separators=(",", ":")).encode(),
            headers=headers,
            message_id=delivery.delivery_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        key,
    )

    await wait_for(lambda: acked(2), 10.0, "the copy to be consumed")
    await wait_depth(amqp, f"{gateway.prefix}.inbox.{key}", 0)
    [again] = await gateway.store.list_deliveries(doc_id=doc_id)
    assert (again.delivery_id, again.state.value) == (delivery.delivery_id, "delivered")
    assert again.delivered_at == delivery.delivered_at
    after = [(r.stage, r.outcome) for r in await gateway.store.trace_for(doc_id)]
    assert after.count(("deliver", "delivered")) == 1
    assert after == [(r.stage, r.outcome) for r in trace]  # nothing new was traced
    assert len(await gateway.inbox("huyen")) == 1
    assert await depth(amqp, f"{gateway.prefix}.dead") == 0


# -- large packages and multipart -----------------------------------------------------------


async def test_large_package_goes_through_the_spool(gateway: Gateway) -> None:
    payload = os.urandom(1536 * 1024)
    scan = Attachment(content_id="1", name="scan.pdf", content_type="application/pdf", data=payload)
    data = document(XA, [HUYEN], "l-1", files=[scan])
    assert len(data) > 1024 * 1024  # above SPOOL_AT: spooled to a file, not kept in memory
    response = await gateway.client.post(
        "/api/v1/packages",
        data=io.BytesIO(data),  # streamed (raw bytes this large warn in aiohttp)
        headers={**gateway.auth("xa"), "Content-Type": "application/xml"},
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["size"] == len(data)
    [delivery] = await gateway.delivered(body["doc_id"])
    assert delivery.state.value == "delivered"
    fetched = await gateway.fetch("huyen", delivery.delivery_id)
    sealed = parse(fetched)
    assert isinstance(sealed, DocumentPackage)
    [attachment] = sealed.attachments
    assert attachment.name == "scan.pdf"
    assert attachment.data == payload
    spool = Path(gateway.settings.spool_dir)
    assert [p for p in spool.rglob("*") if p.is_file()] == []
    # Above inline_package_bytes: a blob file, not a row of the store.
    message = await gateway.store.get_message(body["doc_id"])
    assert message is not None
    assert await gateway.store.get_blob(message.blob_key) is None
    [blob] = [p for p in Path(gateway.settings.blob_dir).rglob("*") if p.is_file()]
    assert blob.read_bytes() == fetched


async def test_a_small_package_is_kept_in_the_store_not_as_a_file(gateway: Gateway) -> None:
    body = await gateway.submit("xa", document(XA, [HUYEN], "k-1"))
    [delivery] = await gateway.delivered(body["doc_id"])
    message = await gateway.store.get_message(body["doc_id"])
    assert message is not None
    kept = await gateway.store.get_blob(message.blob_key)
    assert kept is not None and len(kept) <= gateway.settings.inline_package_bytes
    assert message.blob_key == "sha256/" + hashlib.sha256(kept).hexdigest()
    assert [p for p in Path(gateway.settings.blob_dir).rglob("*") if p.is_file()] == []
    fetched = await gateway.fetch("huyen", delivery.delivery_id)
    assert fetched == kept
    assert b"TraceHeader" in fetched  # sealed by this hub, not the bytes received


async def test_multipart_submission(gateway: Gateway) -> None:
    data = document(XA, [HUYEN], "mp-1")
    form = aiohttp.FormData()
    form.add_field("note", "ignored")
    form.add_field("package", data, filename="goi-tin.edxml", content_type="application/xml")
    response = await gateway.client.post("/api/v1/packages", data=form, headers=gateway.auth("xa"))
    body = await response.json()
    assert response.status == 202, body
    [delivery] = await gateway.delivered(body["doc_id"])
    assert delivery.recipient == HUYEN and delivery.state.value == "delivered"
    message = await gateway.store.get_message(body["doc_id"])
    assert message is not None and message.size == len(data)

    # A multipart body without a package part is a bad request.
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "no package here")
    response = await gateway.client.post("/api/v1/packages", data=form, headers=gateway.auth("xa"))
    problem = await response.json(content_type=None)
    assert (response.status, problem["code"]) == (400, "request.invalid")
