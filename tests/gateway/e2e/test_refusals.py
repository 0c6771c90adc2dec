"""Every refusal of the REST door, end to end: HTTP status, stable code, and nothing left behind.

Each test checks the problem document (``application/problem+json``, the ``code`` a client
switches on) and that the refusal created nothing: no message row, no delivery, no inbox item.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from edxml.model import Attachment
from edxml.trust import fingerprint
from gateway.store import System
from tests.gateway.core.factories import CERTS

from .conftest import Gateway, GatewayFactory, TlsGateway, wait_for
from .packages import document

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"  # a commune with a dev certificate ("xa" system)
HUYEN = "000.00.31.H53"  # its district ("huyen" system)
TINH = "000.00.00.H53"  # the province ("tinh" system)
LOCKED = "000.00.02.H53"  # locked in tests/data/e2e-directory.toml


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The problem document of a refusal, after checking its status, type and code."""
    body: dict[str, Any] = await response.json(content_type=None)
    assert response.status == status, body
    assert response.content_type == "application/problem+json", response.content_type
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:edxgw:error:{code}"
    assert body["message_vi"] and body["message_en"]
    assert body["retryable"] is False
    return body


async def post_package(
    gw: Gateway, headers: dict[str, str], data: bytes, **params: str
) -> aiohttp.ClientResponse:
    return await gw.client.post(
        "/api/v1/packages",
        data=data,
        params=params,
        headers={**headers, "Content-Type": "application/xml"},
    )


async def stages(gw: Gateway, doc_id: str) -> list[tuple[str, str]]:
    return [(r.stage, r.outcome) for r in await gw.store.trace_for(doc_id)]


async def nothing_created(gw: Gateway, doc_id: str) -> None:
    assert await gw.store.get_message(doc_id) is None
    assert await gw.store.list_deliveries(doc_id=doc_id) == []


# -- who may send, read and acknowledge -------------------------------------------------------


async def test_wrong_sender_is_refused_and_traced(gateway: Gateway) -> None:
    # "xa" is registered for the communes, not for their district.
    data = document(HUYEN, [TINH], "r-1")
    response = await post_package(gateway, gateway.auth("xa"), data)
    body = await problem(response, 403, "receive.sender_not_registered")
    assert HUYEN in body["message_en"] and "xa" in body["message_en"]
    doc_id = body["doc_id"]
    assert await stages(gateway, doc_id) == [("receive", "rejected")]
    [rejection] = await gateway.store.trace_for(doc_id)
    assert rejection.detail["code"] == "receive.sender_not_registered"
    assert rejection.detail["sender"] == HUYEN
    await nothing_created(gateway, doc_id)
    assert await gateway.inbox("tinh") == []


async def test_foreign_inbox_cannot_be_listed_fetched_or_acknowledged(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/api/v1/inbox", params={"organ": HUYEN}, headers=gateway.auth("xa")
    )
    body = await problem(response, 403, "inbox.not_registered")
    assert HUYEN in body["message_en"]

    # A real delivery in the district's inbox: the commune system may not touch it.
    sent = await gateway.submit("xa", document(XA, [HUYEN], "r-2"))
    [delivery] = await gateway.delivered(sent["doc_id"])
    assert delivery.state.value == "delivered"
    response = await gateway.client.get(
        f"/api/v1/inbox/{delivery.delivery_id}", headers=gateway.auth("xa")
    )
    await problem(response, 404, "inbox.not_found")
    # "Not yours" and "does not exist" read the same when fetching: ids are not an oracle.
    response = await gateway.client.get("/api/v1/inbox/no-such-item", headers=gateway.auth("xa"))
    await problem(response, 404, "inbox.not_found")

    response = await gateway.client.post(
        f"/api/v1/inbox/{delivery.delivery_id}/ack",
        json={"result": "done"},
        headers=gateway.auth("xa"),
    )
    await problem(response, 404, "acknowledge.not_found")  # the same answer as a missing item
    after = await gateway.store.get_delivery(delivery.delivery_id)
    assert after is not None and after.state.value == "delivered" and after.acked_at is None
    assert ("acknowledge", "rejected") in await stages(gateway, sent["doc_id"])
    [refusal] = [
        r for r in await gateway.store.trace_for(sent["doc_id"]) if r.outcome == "rejected"
    ]
    assert refusal.detail["reason"] == "not_your_inbox"  # the admin sees the real reason
    # The owner still can.
    assert (await gateway.ack("huyen", delivery.delivery_id))["state"] == "done"


async def test_unknown_token_missing_credentials_and_revoked_system(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/api/v1/me", headers={"Authorization": "Bearer not-a-token"}
    )
    await problem(response, 401, "auth.unknown_token")
    response = await gateway.client.get("/api/v1/me")
    await problem(response, 401, "auth.missing_credentials")
    response = await gateway.client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"})
    await problem(response, 401, "auth.missing_credentials")
    # Without credentials nothing is submitted either.
    response = await gateway.client.post(
        "/api/v1/packages", data=document(XA, [HUYEN], "r-3"), headers={}
    )
    await problem(response, 401, "auth.missing_credentials")
    assert await gateway.inbox("huyen") == []

    assert (await gateway.get("xa", "/api/v1/me"))["system_id"] == "xa"
    system = await gateway.store.get_system("xa")
    assert system is not None
    await gateway.store.upsert_system(dataclasses.replace(system, revoked=True))
    response = await gateway.client.get("/api/v1/me", headers=gateway.auth("xa"))
    body = await problem(response, 403, "auth.system_revoked")
    assert "xa" in body["message_en"]
    response = await post_package(gateway, gateway.auth("xa"), document(XA, [HUYEN], "r-4"))
    await problem(response, 403, "auth.system_revoked")
    assert await gateway.inbox("huyen") == []


# -- mTLS ---------------------------------------------------------------------------------------


def _client_tls(name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(CERTS / "ca.crt"))
    context.load_cert_chain(CERTS / f"{name}.crt", CERTS / f"{name}.key")
    return context


async def _me(gw: TlsGateway, certificate: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{gw.url}/api/v1/me", ssl=_client_tls(certificate))
        await response.read()
        return response


async def test_mtls_client_certificates(tls_gateway: TlsGateway) -> None:
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

    # (a) the registered certificate is the system.
    response = await _me(tls_gateway, f"agency-{XA}")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["system_id"], body["agencies"]) == ("xa-mtls", [XA])

    # (b) a certificate the CA revoked (ca.crl) passes the handshake but not the gateway.
    response = await _me(tls_gateway, "revoked")
    body = await problem(response, 401, "auth.certificate_rejected")
    assert "revoked" in body["message_en"], body

    # (c) a valid certificate no system is registered with.
    response = await _me(tls_gateway, f"agency-{HUYEN}")
    body = await problem(response, 401, "auth.certificate_unknown")
    other = x509.load_pem_x509_certificate((CERTS / f"agency-{HUYEN}.crt").read_bytes())
    assert fingerprint(other)[:16] in body["message_en"]

    # Without a certificate, HTTPS falls back to the bearer token rules.
    async with aiohttp.ClientSession() as session:
        context = ssl.create_default_context(cafile=str(CERTS / "ca.crt"))
        response = await session.get(f"{tls_gateway.url}/api/v1/me", ssl=context)
        await problem(response, 401, "auth.missing_credentials")


# -- routing refusals ---------------------------------------------------------------------------


async def test_locked_recipient_refuses_the_whole_package(gateway: Gateway) -> None:
    response = await post_package(gateway, gateway.auth("tinh"), document(TINH, [LOCKED], "r-5"))
    body = await problem(response, 422, "route.recipient_locked")
    assert LOCKED in body["message_en"]
    await nothing_created(gateway, body["doc_id"])
    assert ("route", "rejected") in await stages(gateway, body["doc_id"])

    # A locked and an active recipient: nothing is half-delivered.
    data = document(TINH, [HUYEN, LOCKED], "r-6")
    response = await post_package(gateway, gateway.auth("tinh"), data)
    body = await problem(response, 422, "route.recipient_locked")
    await nothing_created(gateway, body["doc_id"])
    trace = await stages(gateway, body["doc_id"])
    # Sealed in memory, then refused by the router: no blob, no route/ok, no deliver.
    assert trace[-1] == ("route", "rejected")
    assert not {("route", "ok"), ("deliver", "delivered")} & set(trace)
    assert await gateway.inbox("huyen") == []
    assert await gateway.inbox("tinh", organ=LOCKED) == []
    assert [p for p in Path(gateway.settings.blob_dir).rglob("*") if p.is_file()] == []


async def test_a_lock_made_at_run_time_reaches_the_worker_processes(
    make_gateway: GatewayFactory,
) -> None:
    """The gateway's own WorkerPool gets the directory once per change (WorkerPool.share):
    after the periodic reload sees a lock, the workers refuse the agency; after the unlock,
    they route to it again."""
    gateway = await make_gateway(own_pool=True, workers=2)
    first = await gateway.submit("tinh", document(TINH, [HUYEN], "w-1"))
    assert [r["recipient"] for r in first["recipients"]] == [HUYEN]

    await gateway.store.set_agency_state(HUYEN, "locked")

    async def refused(n: int) -> dict[str, Any] | None:
        data = document(TINH, [HUYEN], f"w-lock-{n}")
        response = await post_package(gateway, gateway.auth("tinh"), data)
        return await response.json() if response.status == 422 else None

    tries = iter(range(1000))
    body = await wait_for(lambda: refused(next(tries)), 20.0, "the workers to see the lock")
    assert body["code"] == "route.recipient_locked"

    await gateway.store.set_agency_state(HUYEN, "active")

    async def accepted(n: int) -> bool:
        data = document(TINH, [HUYEN], f"w-open-{n}")
        return (await post_package(gateway, gateway.auth("tinh"), data)).status == 202

    again = iter(range(1000))
    assert await wait_for(lambda: accepted(next(again)), 20.0, "the workers to see the unlock")


async def test_too_large_package(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(max_package_bytes=20_000)
    big = Attachment(
        content_id="1", name="scan.pdf", content_type="application/pdf", data=os.urandom(30_000)
    )
    data = document(XA, [HUYEN], "r-7", files=[big])
    assert len(data) > 20_000
    response = await post_package(gw, gw.auth("xa"), data)
    body = await problem(response, 413, "receive.too_large")
    assert "20000" in body["message_en"]
    doc_id = body["doc_id"]
    [rejection] = await gw.store.trace_for(doc_id)
    assert (rejection.stage, rejection.outcome) == ("receive", "rejected")
    assert rejection.detail["code"] == "receive.too_large"
    assert rejection.detail["system_id"] == "xa"
    await nothing_created(gw, doc_id)

    # Streamed without a Content-Length (chunked), it is cut off while being read.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    response = await gw.client.post(
        "/api/v1/packages",
        data=chunks(),
        headers={**gw.auth("xa"), "Content-Type": "application/xml"},
    )
    body = await problem(response, 413, "receive.too_large")
    assert await stages(gw, body["doc_id"]) == [("receive", "rejected")]
    await nothing_created(gw, body["doc_id"])
    assert await gw.inbox("huyen") == []
    assert [p for p in Path(gw.settings.spool_dir).rglob("*") if p.is_file()] == []

    # A small one still passes the same gateway.
    small = await gw.submit("xa", document(XA, [HUYEN], "r-8"))
    assert [d.state.value for d in await gw.delivered(small["doc_id"])] == ["delivered"]


# -- malformed requests -------------------------------------------------------------------------


async def test_bad_requests(gateway: Gateway) -> None:
    sent = await gateway.submit("xa", document(XA, [HUYEN], "r-9"))
    [delivery] = await gateway.delivered(sent["doc_id"])

    response = await gateway.client.post(
        f"/api/v1/inbox/{delivery.delivery_id}/ack",
        json={"result": "maybe"},
        headers=gateway.auth("huyen"),
    )
    body = await problem(response, 400, "request.invalid")
    assert "result" in body["message_en"]
    response = await gateway.client.post(
        f"/api/v1/inbox/{delivery.delivery_id}/ack",
        data=b"{not json",
        headers={**gateway.auth("huyen"), "Content-Type": "application/json"},
    )
    await problem(response, 400, "request.invalid")
    after = await gateway.store.get_delivery(delivery.delivery_id)
    assert after is not None and after.state.value == "delivered"

    response = await gateway.client.get(
        "/api/v1/inbox", params={"state": "bogus"}, headers=gateway.auth("huyen")
    )
    body = await problem(response, 400, "request.invalid")
    assert "state" in body["message_en"]
    # A cursor the hub never issued is the caller's mistake (400), not the store's (500).
    for cursor in ("garbage", "eyJ4IjoxfQ", ""):
        response = await gateway.client.get(
            "/api/v1/inbox", params={"cursor": cursor}, headers=gateway.auth("huyen")
        )
        body = await problem(response, 400, "request.invalid")
        assert "cursor" in body["message_en"]
    for params in ({"limit": "0"}, {"since": "yesterday"}, {"kind": "memo"}):
        response = await gateway.client.get(
            "/api/v1/inbox", params=params, headers=gateway.auth("huyen")
        )
        await problem(response, 400, "request.invalid")

    response = await post_package(gateway, gateway.auth("xa"), b"")
    await problem(response, 400, "request.invalid")
    response = await post_package(gateway, gateway.auth("xa"), b"<x/>", kind="memo")
    await problem(response, 400, "request.invalid")
    assert len(await gateway.inbox("huyen")) == 1  # only the first, valid document


async def test_declared_kind_mismatch(gateway: Gateway) -> None:
    data = document(XA, [HUYEN], "r-10")
    response = await post_package(gateway, gateway.auth("xa"), data, kind="status")
    body = await problem(response, 422, "receive.kind_mismatch")
    assert "status" in body["message_en"] and "edoc" in body["message_en"]
    await nothing_created(gateway, body["doc_id"])
    assert await stages(gateway, body["doc_id"]) == [("receive", "rejected")]
    # Declared right, the same package is accepted.
    accepted = await gateway.submit("xa", data, kind="edoc")
    assert accepted["kind"] == "edoc"
