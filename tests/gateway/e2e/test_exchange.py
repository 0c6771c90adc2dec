"""End to end on the real RabbitMQ and both stores: submit, seal, route, inbox, ack, statuses."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from cryptography import x509

from adapters.sdk.receipts import verify_signed_receipt
from edxml import parse
from edxml.safexml import parse_xml
from edxml.signature import SignaturePolicy, verify_package
from edxml.trust import TrustStore
from gateway.core.receipt import verify_receipt
from tests.gateway.core.factories import CERTS

from .conftest import COMMUNES, Gateway, GatewayFactory
from .packages import document, status

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"  # a commune with a dev certificate
HUYEN = "000.00.31.H53"  # its district, with a dev certificate
TINH = "000.00.00.H53"  # the province


def _trust() -> TrustStore:
    return TrustStore.from_files([CERTS / "ca.crt"], [CERTS / "ca.crl"])


async def _send(gw: Gateway, system: str, data: bytes) -> tuple[dict[str, Any], list[Any]]:
    body = await gw.submit(system, data)
    deliveries = await gw.delivered(body["doc_id"])
    return body, deliveries


async def test_commune_to_district_receipt_inbox_fetch_ack(gateway: Gateway) -> None:
    data = document(XA, [HUYEN], "101")
    body = await gateway.submit("xa", data)

    # The signed receipt states what was received, and verifies with the hub certificate.
    receipt = body["receipt"]
    assert receipt["receipt"]["doc_id"] == body["doc_id"]
    assert receipt["receipt"]["sha256"] == body["sha256"]
    hub_cert = x509.load_pem_x509_certificate((CERTS / "gateway.crt").read_bytes())
    assert verify_receipt(receipt, hub_cert)
    tampered = {**receipt, "receipt": {**receipt["receipt"], "doc_id": "other"}}
    assert not verify_receipt(tampered, hub_cert)
    assert body["recipients"] == [
        {"recipient": HUYEN, "route": "local", "delivery_id": body["recipients"][0]["delivery_id"]}
    ]

    [delivery] = await gateway.delivered(body["doc_id"])
    assert delivery.state.value == "delivered"
    items = await gateway.inbox("huyen")
    assert [i["doc_id"] for i in items] == [body["doc_id"]]
    assert items[0]["subject"].startswith("V/v thử nghiệm")

    # What the district fetches is sealed: the commune's signature and the hub seal verify.
    sealed = await gateway.fetch("huyen", delivery.delivery_id)
    report = verify_package(parse_xml(sealed), _trust(), policy=SignaturePolicy.STRICT)
    assert report.sender is not None and report.sender.signer_organ_id == XA
    assert [(s.signer_organ_id, s.valid) for s in report.seals] == [("00.53.W00", True)]
    assert parse(sealed).trace_headers[-1].organ_id == gateway.settings.hub_organ_id

    assert (await gateway.ack("huyen", delivery.delivery_id))["state"] == "done"
    assert (await gateway.ack("huyen", delivery.delivery_id))["state"] == "done"  # repeat: ok
    await gateway.ack("huyen", delivery.delivery_id, "fail", expect=409)
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    assert [(r["recipient"], r["state"]) for r in tracking["recipients"]] == [(HUYEN, "done")]

    stages = [(r.stage, r.outcome) for r in await gateway.store.trace_for(body["doc_id"])]
    # The relay marks the publish when the broker's confirm is in, which can be after the
    # consumer recorded the delivery: it is in the timeline once, wherever it falls.
    assert stages.count(("publish", "ok")) == 1
    stages.remove(("publish", "ok"))
    assert stages == [
        ("receive", "ok"),
        ("validate", "ok"),
        ("verify", "ok"),
        ("seal", "ok"),
        ("route", "ok"),
        ("deliver", "delivered"),
        ("acknowledge", "done"),
        ("acknowledge", "rejected"),  # the contradicting "fail", traced as refused
    ]
    assert (await gateway.store.verify_trace()).ok


async def test_packages_that_queue_together_share_a_receipt_signature(
    make_gateway: GatewayFactory,
) -> None:
    """The gateway's own pool with one worker: submissions that wait for it are finished
    together, one signature over their receipts' Merkle tree; every receipt still verifies,
    with the gateway's checker and the SDK's, and states its own package."""
    gw = await make_gateway(own_pool=True, workers=1)
    packages = [document(XA, [HUYEN], f"batch-{i}") for i in range(16)]
    bodies = await asyncio.gather(*(gw.submit("xa", data) for data in packages))
    hub_cert = x509.load_pem_x509_certificate((CERTS / "gateway.crt").read_bytes())
    for body in bodies:
        receipt = body["receipt"]
        assert receipt["receipt"]["doc_id"] == body["doc_id"]
        assert receipt["receipt"]["sha256"] == body["sha256"]
        assert verify_receipt(receipt, hub_cert) and verify_signed_receipt(receipt, hub_cert)
    batched = [b["receipt"] for b in bodies if "batch" in b["receipt"]]
    assert batched, "no two submissions were finished together"
    assert len({r["signature"] for r in batched}) < len(batched)  # shared signatures
    for body in bodies:
        assert [d.state.value for d in await gw.delivered(body["doc_id"])] == ["delivered"]


async def test_district_to_province(gateway: Gateway) -> None:
    body, [delivery] = await _send(gateway, "huyen", document(HUYEN, [TINH], "202"))
    assert (delivery.recipient, delivery.state.value) == (TINH, "delivered")
    assert [i["doc_id"] for i in await gateway.inbox("tinh", organ=TINH)] == [body["doc_id"]]
    assert await gateway.inbox("huyen") == []


async def test_province_to_forty_communes(gateway: Gateway) -> None:
    _, deliveries = await _send(gateway, "tinh", document(TINH, COMMUNES, "303"))
    assert sorted(d.recipient for d in deliveries) == sorted(COMMUNES)
    assert {d.state.value for d in deliveries} == {"delivered"}
    items = await gateway.inbox("xa", limit=1000)
    assert sorted(i["recipient"] for i in items) == sorted(COMMUNES)
    # One commune's own view (the system may narrow to one of its agencies).
    one = await gateway.inbox("xa", organ="000.07.31.H53")
    assert [i["recipient"] for i in one] == ["000.07.31.H53"]


async def test_status_flow_back_to_the_sender_in_any_order(gateway: Gateway) -> None:
    original = document(XA, [HUYEN], "404")
    body, _ = await _send(gateway, "xa", original)
    codes = ["01", "03", "04", "05", "06"]
    shuffled = codes[:]
    random.Random(4).shuffle(shuffled)
    for n, code in enumerate(shuffled):
        st = await gateway.submit("huyen", status(original, HUYEN, code, minutes=codes.index(code)))
        assert st["kind"] == "status"
        [delivered] = await gateway.delivered(st["doc_id"])
        assert delivered.recipient == XA, n  # statuses route to ResponseFor/OrganId
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    [recipient] = tracking["recipients"]
    assert recipient["progress"]["level"] == "06"  # monotonic, whatever the arrival order
    assert recipient["progress"]["events"] == 5
    assert sorted(s["code"] for s in tracking["statuses"]) == codes
    inbox = await gateway.inbox("xa", kind="status")
    assert len(inbox) == 5


async def test_rejection_02_is_terminal(gateway: Gateway) -> None:
    original = document(XA, [HUYEN], "405")
    body, _ = await _send(gateway, "xa", original)
    await gateway.submit("huyen", status(original, HUYEN, "02", minutes=1))
    await gateway.submit("huyen", status(original, HUYEN, "03", minutes=2))  # late, kept
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    assert tracking["recipients"][0]["progress"]["level"] == "02"
    assert len(tracking["statuses"]) == 2


async def test_recall_13_then_15(gateway: Gateway) -> None:
    original = document(XA, [HUYEN], "406")
    body, _ = await _send(gateway, "xa", original)
    ask = await gateway.submit("xa", status(original, XA, "13", recipient=HUYEN, minutes=1))
    [to_district] = await gateway.delivered(ask["doc_id"])
    assert to_district.recipient == HUYEN  # 13 travels from the sender to the receiver
    agree = await gateway.submit("huyen", status(original, HUYEN, "15", minutes=2))
    [to_commune] = await gateway.delivered(agree["doc_id"])
    assert to_commune.recipient == XA
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    assert tracking["recipients"][0]["progress"]["change_state"] == "15"
    trace = [(r.stage, r.outcome) for r in await gateway.store.trace_for(body["doc_id"])]
    assert ("status", "13") in trace and ("status", "15") in trace


async def test_revoke_document_is_correlated_with_the_original(gateway: Gateway) -> None:
    original = document(XA, [HUYEN], "407")
    first, _ = await _send(gateway, "xa", original)
    revoke = document(XA, [HUYEN], "407b", business_type=1, original=original)
    second, _ = await _send(gateway, "xa", revoke)
    tracking = await gateway.get("xa", f"/api/v1/documents/{second['doc_id']}")
    assert tracking["original_doc_id"] == first["doc_id"]
    trace = [(r.stage, r.outcome) for r in await gateway.store.trace_for(first["doc_id"])]
    assert ("correlate", "revised") in trace


async def test_same_package_twice_gives_the_same_doc_id_and_one_delivery(
    gateway: Gateway,
) -> None:
    data = document(XA, [HUYEN], "408")
    first = await gateway.submit("xa", data)
    again = await gateway.submit("xa", data, expect=200)
    assert again["doc_id"] == first["doc_id"] and again["duplicate"] is True
    assert again["receipt"]["receipt"]["doc_id"] == first["doc_id"]
    deliveries = await gateway.delivered(first["doc_id"])
    assert len(deliveries) == 1
    assert len(await gateway.inbox("huyen")) == 1
