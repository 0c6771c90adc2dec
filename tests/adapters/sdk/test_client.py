"""The SDK against a real gateway on the real RabbitMQ: send, receive, acknowledge, statuses,
tracking, refusals, over both clients (the synchronous one runs in a thread: the gateway
under test shares this event loop)."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from adapters.sdk import (
    AsyncClient,
    BadRequest,
    Client,
    ClientConfig,
    Conflict,
    Forbidden,
    InboxItem,
    NotFound,
    ReceiptError,
    Received,
    Submitted,
    Tracking,
    TransportError,
    Unauthenticated,
    compose,
)
from edxml.model import StatusPackage
from edxml.safexml import parse_xml
from edxml.signature import SignaturePolicy, verify_package
from edxml.trust import TrustStore, fingerprint
from gateway.store import System
from tests.adapters.sdk.fixtures import (
    CERTS,
    HUYEN,
    TINH,
    XA,
    Served,
    TlsGateway,
    key_pair,
    wait_for,
)

pytestmark = pytest.mark.rabbitmq


async def _inbox_has(client: AsyncClient, doc_id: str, **filters: str) -> bool:
    page = await client.inbox(**filters)
    return any(i.doc_id == doc_id for i in page.items)


@dataclass
class RoundTrip:
    sent: Submitted
    again: Submitted
    received: Received
    repeat: str
    conflict: str
    status: Submitted
    tracking: Tracking


def _wait_sync(client: Client, doc_id: str) -> InboxItem:
    for _ in range(400):  # bounded polling until the router delivered it
        for item in client.iter_inbox(state="delivered"):
            if item.doc_id == doc_id:
                return item
        time.sleep(0.05)
    raise AssertionError(f"{doc_id} never reached the inbox")


def _sync_round_trip(served: Served, tmp_path: Path) -> RoundTrip:
    """The whole exchange with the synchronous client, as a DMS would write it."""
    pdf = tmp_path / "cv101.pdf"
    pdf.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 40)
    fields: dict[str, Any] = {
        "sender": XA,
        "recipients": [HUYEN],
        "subject": "V/v thử nghiệm SDK",
        "code": "101/UBND-VP",
        "signer": "Nguyễn Văn A",
        "files": [pdf],
    }
    with Client(served.config("xa")) as xa, Client(served.config("huyen")) as huyen:
        sent = xa.send_document(**fields)
        # Composed again (another timestamp, so other bytes), same DocumentId: a duplicate.
        again = xa.submit(xa.document(**{**fields, "subject": "V/v thử nghiệm SDK (lần 2)"}))
        item = _wait_sync(huyen, sent.doc_id)
        received = huyen.fetch(item)
        huyen.ack(item)
        repeat = huyen.ack(item)  # the same answer again is harmless
        with pytest.raises(Conflict) as conflict:
            huyen.ack(item, ok=False, reason="đổi ý")
        status = huyen.send_status(received, code="03", comment="Đã tiếp nhận")
        return RoundTrip(
            sent, again, received, repeat.state, conflict.value.code, status, xa.track(sent.doc_id)
        )


async def test_sync_client_round_trip(served: Served, tmp_path: Path) -> None:
    r = await asyncio.to_thread(_sync_round_trip, served, tmp_path)
    assert not r.sent.duplicate and r.sent.sender == XA
    assert r.sent.receipt.doc_id == r.sent.doc_id
    assert [(x.recipient, x.route) for x in r.sent.recipients] == [(HUYEN, "local")]
    # Same sender, DocumentId and business type: the gateway answers with the original DocId.
    assert r.again.duplicate and r.again.doc_id == r.sent.doc_id

    assert r.received.doc_id == r.sent.doc_id and r.received.recipient == HUYEN
    doc = r.received.document
    assert doc.subject == "V/v thử nghiệm SDK"
    assert doc.attachments[0].data == (tmp_path / "cv101.pdf").read_bytes()
    trust = TrustStore.from_files([CERTS / "ca.crt"], [CERTS / "ca.crl"])
    report = verify_package(parse_xml(r.received.data), trust, policy=SignaturePolicy.STRICT)
    assert report.sender is not None and report.sender.signer_organ_id == XA
    assert [s.signer_organ_id for s in report.seals] == ["00.53.W00"]
    assert r.repeat == "done"
    assert r.conflict == "acknowledge.already_answered"

    assert r.status.kind == "status" and r.status.sender == HUYEN
    recipient = r.tracking.recipient(HUYEN)
    assert recipient.state == "done"
    assert recipient.progress is not None and recipient.progress.level == "03"
    assert [(s.code, s.from_organ) for s in r.tracking.statuses] == [("03", HUYEN)]


async def test_async_client_pages_statuses_and_recall(served: Served, tmp_path: Path) -> None:
    async with (
        AsyncClient(served.config("xa")) as xa,
        AsyncClient(served.config("huyen")) as huyen,
    ):
        me = await huyen.me()
        assert (me.system_id, me.agencies) == ("huyen", (HUYEN,))
        outgoing = [
            await xa.document(
                sender=XA,
                recipients=[HUYEN],
                subject=f"V/v văn bản số {n}",
                code=f"{n}/UBND-VP",
                signer="Nguyễn Văn A",
                files=[compose.File(f"vb{n}.txt", f"Nội dung {n}".encode())],
            )
            for n in range(201, 206)
        ]
        sent = [await xa.submit(out) for out in outgoing]
        for s in sent:
            await wait_for(lambda s=s: _inbox_has(huyen, s.doc_id), 20, f"delivery of {s.doc_id}")
        # Pages of two: every item exactly once.
        items = [i async for i in huyen.iter_inbox(kind="edoc", page_size=2)]
        assert sorted(i.doc_id for i in items) == sorted(s.doc_id for s in sent)
        assert {i.subject for i in items} == {f"V/v văn bản số {n}" for n in range(201, 206)}

        first = next(i for i in items if i.doc_id == sent[0].doc_id)
        received = await huyen.fetch(first)
        assert received.document.attachments[0].data == "Nội dung 201".encode()
        await huyen.ack(first)
        for code in ("01", "05", "03"):  # any order: progress is monotonic
            await huyen.send_status(received, code=code)

        # A recall (13) from the sender, answered 15 by the recipient.
        recall = await xa.send_status(outgoing[0].package, code="13", recipient=HUYEN)
        assert recall.kind == "status" and recall.sender == XA
        await wait_for(lambda: _inbox_has(huyen, recall.doc_id, kind="status"), 20, "the recall")
        [asked] = [i async for i in huyen.iter_inbox(kind="status")]
        recall_package = (await huyen.fetch(asked)).status
        assert isinstance(recall_package, StatusPackage) and recall_package.status_code == "13"
        await huyen.send_status(received, code="15", comment="Đồng ý thu hồi")

        # The sender's inbox has the statuses; its tracking shows the progress.
        await wait_for(lambda: _count_statuses(xa, 4), 20, "the statuses in the sender's inbox")
        tracking = await xa.track(sent[0].doc_id)
        progress = tracking.recipient(HUYEN).progress
        assert progress is not None
        assert (progress.level, progress.change_state) == ("05", "15")
        assert sorted(s.code for s in tracking.statuses) == ["01", "03", "05", "13", "15"]


async def _count_statuses(client: AsyncClient, n: int) -> bool:
    return len([i async for i in client.iter_inbox(kind="status")]) >= n


async def test_refusals_are_typed_and_carry_the_gateways_code(
    served: Served, tmp_path: Path
) -> None:
    async with AsyncClient(served.config("xa")) as xa:
        # Sending as an agency the system is not registered for.
        with pytest.raises(Forbidden) as forbidden:
            await xa.send_document(
                sender=TINH, recipients=[HUYEN], subject="s", code="1/UBND", signer="A"
            )
        assert forbidden.value.code == "receive.sender_not_registered"
        assert forbidden.value.doc_id  # the refusal was traced under a DocId
        assert forbidden.value.message_vi and not forbidden.value.retryable

        # A package that is no edXML at all: a 4xx with the edxml code.
        with pytest.raises(BadRequest) as bad:
            await xa.submit(b"<not-edxml/>")
        assert bad.value.code.startswith("edxml.") and bad.value.status == 400, bad.value

        with pytest.raises(NotFound) as missing:
            await xa.fetch("00000000-0000-0000-0000-000000000000")
        assert missing.value.code == "inbox.not_found"
        with pytest.raises(NotFound) as unknown_doc:
            await xa.track("no-such-doc")
        assert unknown_doc.value.code == "document.not_found"

    async with AsyncClient(served.config("xa", token="wrong")) as stranger:
        with pytest.raises(Unauthenticated) as unauth:
            await stranger.me()
        assert unauth.value.code.startswith("auth.")

    # A receipt that does not verify with the pinned hub certificate is refused loudly,
    # with the gateway's answer attached (the package *was* accepted: investigate).
    wrong_hub = CERTS / f"agency-{HUYEN}.crt"
    async with AsyncClient(served.config("xa", hub_certificate=wrong_hub)) as pinned:
        with pytest.raises(ReceiptError) as receipt:
            await pinned.send_document(
                sender=XA, recipients=[HUYEN], subject="s", code="2/UBND", signer="A"
            )
        assert receipt.value.code == "sdk.receipt_invalid"
        assert receipt.value.submitted is not None and receipt.value.submitted.doc_id

    # Without a pinned certificate the SDK fetches the hub's once and checks with it.
    async with AsyncClient(served.config("xa", hub_certificate=None)) as fetched:
        sent = await fetched.send_document(
            sender=XA, recipients=[HUYEN], subject="s", code="3/UBND", signer="A"
        )
        assert sent.receipt.verify(await fetched.hub_certificate())


async def test_an_unreachable_gateway_is_a_retryable_transport_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ClientConfig(url=f"http://127.0.0.1:{port}", token="t", retries=1, backoff=0.01)
    async with AsyncClient(config) as client:
        with pytest.raises(TransportError) as caught:
            await client.me()
    assert caught.value.retryable and caught.value.code == "sdk.transport"


async def test_large_packages_stream_from_and_to_files(served: Served, tmp_path: Path) -> None:
    # 3 MiB of attachment: above the gateway's 1 MiB spool threshold, streamed both ways.
    big = tmp_path / "scan.pdf"
    big.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * (3 * 4096))
    out = compose.document(
        sender=XA,
        recipients=[HUYEN],
        subject="Bản quét lớn",
        code="301/UBND-VP",
        signer="A",
        files=[big],
        key=served.config("xa").signing_key_map()[XA],
    )
    package = tmp_path / "out.edxml"
    package.write_bytes(out.data)
    async with AsyncClient(served.config("xa")) as xa, AsyncClient(served.config("huyen")) as hu:
        sent = await xa.submit(package)  # a path: streamed, hashed for the receipt check
        assert sent.size == len(out.data) and sent.sha256 == out.sha256
        await wait_for(lambda: _inbox_has(hu, sent.doc_id), 20, "the large delivery")
        target = tmp_path / "in.edxml"
        headers = await hu.download(sent.recipients[0].delivery_id or "", target)
        assert headers["edxgw-doc-id"] == sent.doc_id
        received = await hu.fetch(sent.recipients[0].delivery_id or "")
        assert target.read_bytes() == received.data
        assert received.document.attachments[0].data == big.read_bytes()


async def test_mutual_tls_instead_of_a_token(tls_gateway: TlsGateway) -> None:
    cert = x509.load_pem_x509_certificate((CERTS / f"agency-{XA}.crt").read_bytes())
    await tls_gateway.store.upsert_system(
        System(
            system_id="xa-mtls",
            name="QLVB xã (mTLS)",
            cert_sha256=fingerprint(cert),
            signature_policy="lenient",
            validation_mode="lenient",
            agencies=(XA,),
        )
    )
    config = ClientConfig(
        url=tls_gateway.url,
        client_cert=CERTS / f"agency-{XA}.crt",
        client_key=CERTS / f"agency-{XA}.key",
        ca_file=CERTS / "ca.crt",
        hub_certificate=CERTS / "gateway.crt",
        signing_keys=(key_pair(XA),),
    )
    async with AsyncClient(config) as client:
        me = await client.me()
        assert (me.system_id, me.agencies) == ("xa-mtls", (XA,))
        sent = await client.send_document(
            sender=XA, recipients=[HUYEN], subject="qua mTLS", code="401/UBND", signer="A"
        )
        assert sent.receipt.sender == XA
    # Without the CA the gateway's certificate is not trusted: a transport error, not a hang.
    untrusted = ClientConfig(url=tls_gateway.url, token="t", retries=0)
    async with AsyncClient(untrusted) as client:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.me()
