"""A document and its statuses through the VDXP door, with the project's VDXP client:
send → list → get → updateStatus → getSentEdocList → status back; the same hub, store and trace
as the REST door (one gateway, two doors)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
from datetime import UTC, datetime

import pytest

from adapters.vdxp.client import MessageType, ReceivedItem, UpdateStatus, VdxpClient, VdxpError
from edxml import parse
from edxml.model import Attachment, DocumentPackage, StatusPackage
from gateway.core import vdxp
from tests.gateway.e2e.conftest import SYSTEMS
from tests.gateway.e2e.packages import document, status

from .conftest import ClientFactory, Gateway, GatewayFactory, endpoint, secret_of

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"  # system "xa"
HUYEN = "000.00.31.H53"  # system "huyen"
TINH = "000.00.00.H53"  # system "tinh"
DISTRICT_32 = "000.00.32.H53"  # a district hub below this one (host downlink, peer huyen-32)
BELOW_32 = "000.05.32.H53"  # a commune under it: its copies are routed to the peer


async def _delivered_item(
    gw: Gateway, client: VdxpClient, doc_id: str, kind: str = "edoc"
) -> ReceivedItem:
    await gw.delivered(doc_id)
    [item] = await client.get_received_edoc_list(kind)
    return item


async def test_send_list_get_acknowledge_track_and_status_back(
    gateway: Gateway, vdxp_client: ClientFactory
) -> None:
    xa, huyen = vdxp_client("xa"), vdxp_client("huyen")
    data = document(XA, [HUYEN], "v-1")
    doc_id = await xa.send_edoc(data, sender=XA, sdk_crlf=True)  # as SDK 2.0.1 sends it
    message = await gateway.store.get_message(doc_id)
    assert message is not None and message.system_id == "xa" and message.size == len(data)

    # The receiver's inbox: one item, its docId the delivery id of this copy.
    item = await _delivered_item(gateway, huyen, doc_id)
    [delivery] = await gateway.store.list_deliveries(doc_id=doc_id)
    assert (item.doc_id, item.sender, item.recipient) == (delivery.delivery_id, XA, HUYEN)
    assert (item.status, item.message_type, item.service_type) == ("initial", "edoc", "eDoc")
    assert item.created_time and item.updated_time
    assert await huyen.count_receive_edoc() == 1
    assert await huyen.count_receive_status() == 0
    assert await huyen.get_received_edoc_list(MessageType.STATUS) == []
    assert await xa.get_received_edoc_list() == []  # nothing addressed to the commune

    # getEdoc and downloadEdoc give the sealed package the REST door gives.
    sealed = await huyen.get_edoc(item.doc_id)
    assert sealed == await gateway.fetch("huyen", item.doc_id)
    assert await huyen.download_edoc(item.doc_id) == sealed
    package = parse(sealed)
    assert isinstance(package, DocumentPackage)
    assert package.trace_headers[-1].organ_id == gateway.settings.hub_organ_id

    # processing, then fail: recorded, the item stays listed, the sender sees it.
    await huyen.update_status(item.doc_id, UpdateStatus.PROCESSING)
    [again] = await huyen.get_received_edoc_list()
    assert (again.doc_id, again.status) == (item.doc_id, "processing")
    [sent] = await xa.get_sent_edoc_list(doc_id)
    assert (sent.sender_doc_id, sent.receiver_doc_id) == (doc_id, item.doc_id)
    assert (sent.from_code, sent.to_code, sent.message_type) == (XA, HUYEN, "edoc")
    assert (sent.send_status, sent.receive_status) == ("done", "processing")
    assert sent.title.startswith("V/v thử nghiệm") and sent.notation == "v-1/UBND-VP"
    assert sent.sent_time and sent.received_time

    await huyen.update_status(item.doc_id, UpdateStatus.FAIL, description="ổ đĩa đầy")
    await huyen.update_status(item.doc_id, UpdateStatus.FAIL, description="ổ đĩa đầy")  # repeat
    [again] = await huyen.get_received_edoc_list()
    assert again.status == "fail" and "ổ đĩa đầy" in again.status_desc
    [sent] = await xa.get_sent_edoc_list(doc_id)
    assert sent.receive_status == "fail" and "ổ đĩa đầy" in sent.receive_status_desc

    # done ends it: no longer listed, the sender sees done, repeating done is harmless.
    await huyen.update_status(item.doc_id, UpdateStatus.DONE)
    await huyen.update_status(item.doc_id, UpdateStatus.DONE)
    assert await huyen.get_received_edoc_list() == []
    assert await huyen.count_receive_edoc() == 0
    [sent] = await xa.get_sent_edoc_list(doc_id)
    assert sent.receive_status == "done"
    # After done, neither processing nor fail can take it back (the REST door's 409).
    with pytest.raises(VdxpError) as refused:
        await huyen.update_status(item.doc_id, UpdateStatus.FAIL)
    assert (refused.value.error_code, refused.value.code) == ("-6", "acknowledge.already_answered")
    assert await huyen.get_edoc(item.doc_id) == sealed  # a done item can still be fetched

    # The district answers with business status 03 through the same call.
    answer = status(data, HUYEN, "03")
    status_id = await huyen.send_status(answer, sender=HUYEN)
    back = await _delivered_item(gateway, xa, status_id, "status")
    assert (back.sender, back.recipient, back.message_type) == (HUYEN, XA, "status")
    assert await xa.count_receive_status() == 1
    assert await xa.get_received_edoc_list(MessageType.EDOC) == []
    received = parse(await xa.get_edoc(back.doc_id))
    assert isinstance(received, StatusPackage) and received.status_code == "03"
    await xa.update_status(back.doc_id, UpdateStatus.DONE)
    assert await xa.get_received_edoc_list(MessageType.STATUS) == []
    [status_sent] = await huyen.get_sent_edoc_list(status_id, MessageType.STATUS)
    assert (status_sent.message_type, status_sent.receive_status) == ("status", "done")

    # One gateway, two doors: the REST view of the same document, and its one trace.
    tracking = await gateway.get("xa", f"/api/v1/documents/{doc_id}")
    [recipient] = tracking["recipients"]
    assert (recipient["state"], recipient["progress"]["level"]) == ("done", "03")
    acknowledgements = [
        r.outcome for r in await gateway.store.trace_for(doc_id) if r.stage == "acknowledge"
    ]
    # (the refused fail after done is traced too)
    assert acknowledgements == ["processing", "fail_reported", "done", "rejected"]
    assert (await gateway.store.verify_trace()).ok


async def test_a_downlink_hub_counts_what_it_lists(make_gateway: GatewayFactory) -> None:
    # The district hub is a system registered for its top agency: its inbox is every copy
    # routed to its peer (adapters/vdxp/link.py), and countReceiveEdoc must count those too,
    # or a vendor that polls count-then-list never fetches them.
    gw = await make_gateway({**SYSTEMS, "huyen-32": (DISTRICT_32,)})

    def client(system_id: str) -> VdxpClient:
        return VdxpClient(endpoint(gw), system_id, secret_of(system_id), session=gw.client.session)

    async with client("tinh") as tinh, client("huyen-32") as hub:
        doc_ids = [
            await tinh.send_edoc(document(TINH, [BELOW_32], f"d-{n}"), sender=TINH) for n in (1, 2)
        ]
        for doc_id in doc_ids:
            [delivery] = await gw.delivered(doc_id)
            assert (delivery.route, delivery.peer) == ("downlink", "huyen-32")

        items = await hub.get_received_edoc_list()
        assert [i.recipient for i in items] == [BELOW_32, BELOW_32]
        assert await hub.count_receive_edoc() == len(items)
        assert await hub.count_receive_status() == 0
        await hub.update_status(items[0].doc_id, UpdateStatus.DONE)
        assert len(await hub.get_received_edoc_list()) == await hub.count_receive_edoc() == 1


async def test_the_older_multipart_form_and_a_spooled_package(
    gateway: Gateway, vdxp_client: ClientFactory
) -> None:
    xa, huyen = vdxp_client("xa"), vdxp_client("huyen")
    small = document(XA, [HUYEN], "m-1")
    doc_id = await xa.send_edoc(small, sender=XA, multipart=True)
    item = await _delivered_item(gateway, huyen, doc_id)
    assert parse(await huyen.get_edoc(item.doc_id)).document_id == parse(small).document_id
    await huyen.update_status(item.doc_id, UpdateStatus.DONE)

    # Above 1 MiB the body is spooled to a file: hash-file is checked on the file, and the
    # SDK's CRLF cut from it; getEdoc streams the base64 back.
    payload = os.urandom(1536 * 1024)
    scan = Attachment(content_id="1", name="scan.pdf", content_type="application/pdf", data=payload)
    large = document(XA, [HUYEN], "l-1", files=[scan])
    assert len(large) > 1024 * 1024
    doc_id = await xa.send_edoc(large, sender=XA, sdk_crlf=True)
    message = await gateway.store.get_message(doc_id)
    assert message is not None and message.size == len(large)  # without the CRLF
    item = await _delivered_item(gateway, huyen, doc_id)
    sealed = parse(await huyen.get_edoc(item.doc_id))
    assert isinstance(sealed, DocumentPackage)
    assert sealed.attachments[0].data == payload
    assert [p for p in gateway.settings.spool_dir.rglob("*") if p.is_file()] == []

    # A re-sent package is the REST door's duplicate: the original DocId.
    assert await xa.send_edoc(large, sender=XA) == doc_id


async def test_each_refusal_has_its_code(gateway: Gateway, vdxp_client: ClientFactory) -> None:
    xa, huyen, tinh = vdxp_client("xa"), vdxp_client("huyen"), vdxp_client("tinh")

    async def code(call, *args, **kwargs) -> tuple[str, str | None, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(VdxpError) as refused:
            await call(*args, **kwargs)
        return refused.value.error_code, refused.value.code, refused.value.desc

    # Sending as an agency the system is not registered for: the axis's own words.
    data = document(HUYEN, [XA], "r-1")
    error_code, stable, desc = await code(xa.send_edoc, data, sender=HUYEN)
    assert (error_code, stable) == ("-3", "receive.sender_not_registered")
    assert desc.startswith(f"Don vi gui {HUYEN} khong dung voi ma da dang ky: xa")
    # The header names a registered agency, the package another: the pipeline's check.
    error_code, stable, _ = await code(xa.send_edoc, data, sender=XA)
    assert (error_code, stable) == ("-3", "receive.sender_not_registered")
    # A status package sent as a document, an unknown messagetype.
    answer = status(document(XA, [HUYEN], "r-2"), XA, "03")
    error_code, stable, _ = await code(xa.send_edoc, answer, sender=XA, message_type="edoc")
    assert (error_code, stable) == ("-5", "receive.kind_mismatch")
    error_code, stable, _ = await code(xa.send_edoc, data, sender=XA, message_type="memo")
    assert (error_code, stable) == ("-5", "vdxp.bad_parameter")
    error_code, stable, _ = await code(xa.send_edoc, b"<not-edxml/>", sender=XA)
    assert (error_code, stable) == ("-5", "edxml.not_edxml")

    # Someone else's item: not found, whatever the call (ids are not an oracle).
    doc_id = await xa.send_edoc(document(XA, [HUYEN], "r-3"), sender=XA)
    item = await _delivered_item(gateway, huyen, doc_id)
    for call in (tinh.get_edoc, tinh.download_edoc):
        assert (await code(call, item.doc_id))[:2] == ("-4", "inbox.not_found")
    for answer_status in ("done", "fail", "processing"):
        assert (await code(tinh.update_status, item.doc_id, answer_status))[:2] == (
            "-4",
            "acknowledge.not_found",
        )
    assert (await code(huyen.get_edoc, "no-such-item"))[:2] == ("-4", "inbox.not_found")
    # What xa sent is not the recipient's to list as sent, nor a third system's.
    for client in (huyen, tinh):
        assert (await code(client.get_sent_edoc_list, doc_id))[:2] == ("-4", "document.not_found")
    error_code, stable, _ = await code(huyen.update_status, item.doc_id, "read")
    assert (error_code, stable) == ("-5", "vdxp.bad_parameter")
    [still] = await huyen.get_received_edoc_list()  # nothing of that touched the item
    assert still.status == "initial"

    # A call without a parameter it needs.
    error_code, stable, _ = await code(huyen.call, "/getEdoc", {}, b"{}")
    assert (error_code, stable) == ("-2", "vdxp.missing_header")

    # A wrong secret on the client side.
    wrong = VdxpClient(endpoint(gateway), "xa", "not-the-secret", session=gateway.client.session)
    assert (await code(wrong.get_received_edoc_list))[:2] == ("-2", "vdxp.bad_signature")


async def test_the_sdk_wire_details(gateway: Gateway) -> None:
    """Expect: 100-continue, Content-Length 0 with a JSON type, parameters re-sent by the SDK
    from earlier calls, upper-case header names: all work as the SDK sends them."""
    session = gateway.client.session
    base = endpoint(gateway)
    data = document(XA, [HUYEN], "w-1")
    digest = hashlib.sha256(data).digest()
    headers = vdxp.sign(
        "xa",
        secret_of("xa"),
        {
            "servicetype": "eDoc",
            "messagetype": "edoc",
            "hash-file": vdxp.lossy_hex(digest),
            "from": XA,
        },
        content_type="application/octet-stream",
        timestamp=datetime.now(UTC),
    )
    async with session.post(
        f"{base}/sendEdoc", data=io.BytesIO(data), headers=headers, expect100=True
    ) as response:
        body = await response.json()
    assert body["status"] == "OK", body
    doc_id = body["DocId"]
    await gateway.delivered(doc_id)

    # An SDK instance keeps earlier parameters: after updateStatus(A) a getEdoc(B) carries
    # docid=A and docId=B, both signed; getEdoc must read docId.
    [delivery] = await gateway.store.list_deliveries(doc_id=doc_id)
    headers = vdxp.sign(
        "huyen",
        secret_of("huyen"),
        {"docid": "earlier-item", "status": "done", "docId": delivery.delivery_id, "filePath": ""},
        content_type="application/json",
        timestamp=datetime.now(UTC),
    )
    # aiohttp's client folds header names that differ in case only: write the request by hand.
    shouted = {k.upper() if k.startswith("XroadVnpt-sign") else k: v for k, v in headers.items()}
    raw = await _raw_post(gateway, "/getEdoc", shouted, b"{}")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"application/json" in head, head
    answer = json.loads(body)
    assert answer["status"] == "OK", answer
    assert base64.b64decode(answer["data"]) == await gateway.fetch("huyen", delivery.delivery_id)

    # A GET without any header: a FAIL answer in the protocol, not an HTML page.
    async with session.get(f"{base}/countReceiveEdoc") as response:
        assert response.status == 200
        answer = await response.json()
    assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "-2")
    assert response.headers["Edxgw-Error-Code"] == "vdxp.missing_header"
    async with session.get(f"{base}/api/v1/me") as response:  # REST: its problem documents
        assert (response.status, response.content_type) == (401, "application/problem+json")


async def _raw_post(gw: Gateway, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """One HTTP/1.1 request written byte for byte (every header as given), its raw answer."""
    url = gw.client.make_url(path)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    try:
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
