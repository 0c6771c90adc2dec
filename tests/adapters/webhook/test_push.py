"""Webhook push end to end: a gateway on the real RabbitMQ pushes to real HTTP(S) receivers."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapters.webhook.receiver import Push, receiver
from edxml import parse
from edxml.devpki import make_ca
from tests.gateway.e2e.conftest import Gateway, GatewayFactory, wait_for
from tests.gateway.e2e.packages import document, status

from ..hubs import aadmin, node_sees_mode, secret_from, serve

pytestmark = pytest.mark.rabbitmq

ROOT = Path(__file__).resolve().parents[3]
CERTS = ROOT / "certs" / "dev"
XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
TINH = "000.00.00.H53"

Behaviour = Callable[[Push], Awaitable[int]]


class Receiver:
    """An agency's webhook receiver (adapters.webhook.receiver), scripted per test.

    ``behaviour`` answers each verified push with a status (204: stored); the secret is read
    at request time, so it can be set after ``edxgw webhook set`` printed it.
    """

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.secret = "unset"
        self.pushes: list[Push] = []
        self.refused: list[int] = []
        self.behaviour = behaviour
        self.in_flight = 0
        self.most_in_flight = 0
        self.peer_organs: list[str] = []

    def app(self) -> web.Application:
        async def on_push(push: Push) -> None:
            self.pushes.append(push)

        async def handle(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                cert = request.transport.get_extra_info("peercert") if request.transport else None
                if cert:
                    subject = dict(x[0] for x in cert["subject"])
                    self.peer_organs.append(subject.get("serialNumber", ""))
                response = await receiver(self.secret, on_push)(request)
                if response.status != 204:
                    self.refused.append(response.status)
                    return response
                answer = await self.behaviour(self.pushes[-1]) if self.behaviour else 204
                return web.Response(status=answer)
            finally:
                self.in_flight -= 1

        app = web.Application(client_max_size=80 * 1024 * 1024)
        app.router.add_post("/hook", handle)
        return app


async def push_to(gw: Gateway, organ: str, url: str, *options: str) -> str:
    """``edxgw webhook set`` as an admin runs it; returns the secret it printed."""
    code, out = await aadmin(gw, "webhook", "set", organ, "--url", url, *options)
    assert code == 0, out
    await node_sees_mode(gw, organ, "push")
    return secret_from(out) if "shown once" in out else ""


async def pushed(rx: Receiver, count: int, timeout: float = 30.0) -> list[Push]:
    async def probe() -> list[Push] | None:
        return rx.pushes if len(rx.pushes) >= count else None

    result: list[Push] = await wait_for(probe, timeout, f"{count} pushes")
    return result


async def state_of(gw: Gateway, doc_id: str, want: str, timeout: float = 30.0) -> Any:
    async def probe() -> Any:
        [d] = await gw.store.list_deliveries(doc_id=doc_id)
        return d if d.state.value == want else None

    return await wait_for(probe, timeout, f"delivery of {doc_id} {want}")


async def stages(gw: Gateway, doc_id: str) -> list[tuple[str, str, Any]]:
    return [
        (r.stage, r.outcome, r.detail.get("error") or r.detail.get("reason"))
        for r in await gw.store.trace_for(doc_id)
        if r.stage == "deliver"
    ]


async def test_a_push_carries_the_sealed_package_signed_and_the_agency_answers_over_rest(
    gateway: Gateway,
) -> None:
    rx = Receiver()
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gateway, HUYEN, f"{url}/hook")
        original = document(XA, [HUYEN], "201")
        body = await gateway.submit("xa", original)
        [push] = await pushed(rx, 1)
        delivery = await state_of(gateway, body["doc_id"], "delivered")

    # Exactly the sealed package the hub stored: the REST fetch gives the same bytes.
    assert push.body == await gateway.fetch("huyen", delivery.delivery_id)
    assert parse(push.body).trace_headers[-1].organ_id == gateway.settings.hub_organ_id
    assert (push.delivery_id, push.doc_id, push.kind, push.sender, push.recipient) == (
        delivery.delivery_id,
        body["doc_id"],
        "edoc",
        XA,
        HUYEN,
    )
    assert push.attempt == 1
    assert push.headers["Edxgw-Sha256"] == hashlib.sha256(push.body).hexdigest()
    assert push.headers["Edxgw-Hub"] == gateway.settings.hub_organ_id
    assert await stages(gateway, body["doc_id"]) == [("deliver", "delivered", None)]

    # The agency acknowledges and sends its statuses over REST with its system token.
    assert (await gateway.ack("huyen", delivery.delivery_id))["state"] == "done"
    await gateway.submit("huyen", status(original, HUYEN, "01"))
    await gateway.submit("huyen", status(original, HUYEN, "03", minutes=1))
    tracking = await gateway.get("xa", f"/api/v1/documents/{body['doc_id']}")
    [recipient] = tracking["recipients"]
    assert (recipient["state"], recipient["progress"]["level"]) == ("done", "03")


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    gateway: Gateway,
) -> None:
    answers = iter([503, 204])
    rx = Receiver(lambda _push: asyncio.sleep(0, next(answers)))
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gateway, HUYEN, f"{url}/hook")
        body = await gateway.submit("xa", document(XA, [HUYEN], "202"))
        first, second = await pushed(rx, 2)
        delivery = await state_of(gateway, body["doc_id"], "delivered")
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.delivery_id == second.delivery_id == delivery.delivery_id
    assert first.body == second.body
    assert delivery.attempts == 1
    assert await stages(gateway, body["doc_id"]) == [
        ("deliver", "retry", "webhook.http_error"),
        ("deliver", "delivered", None),
    ]


async def _dead_letters(gw: Gateway) -> int:
    connection = await aio_pika.connect(gw.settings.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{gw.prefix}.dead", passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def test_a_permanent_refusal_is_dead_lettered_at_once(gateway: Gateway) -> None:
    rx = Receiver(lambda _push: asyncio.sleep(0, 422))
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gateway, HUYEN, f"{url}/hook")
        body = await gateway.submit("xa", document(XA, [HUYEN], "203"))
        delivery = await state_of(gateway, body["doc_id"], "dead")
        assert len(rx.pushes) == 1
    assert delivery.last_error == "webhook.refused"
    assert await stages(gateway, body["doc_id"]) == [("deliver", "dead_letter", "webhook.refused")]
    await wait_for(lambda: _dead_letters(gateway), 10, "the message in the dead-letter queue")


async def test_dead_lettered_after_the_configured_attempts(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(delivery_max_attempts=2)
    rx = Receiver(lambda _push: asyncio.sleep(0, 500))
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gw, HUYEN, f"{url}/hook")
        body = await gw.submit("xa", document(XA, [HUYEN], "204"))
        delivery = await state_of(gw, body["doc_id"], "dead")
    assert [p.attempt for p in rx.pushes] == [1, 2]
    assert delivery.last_error == "deliver.max_attempts"
    assert await stages(gw, body["doc_id"]) == [
        ("deliver", "retry", "webhook.http_error"),
        ("deliver", "dead_letter", "deliver.max_attempts"),
    ]


async def test_a_hanging_receiver_never_holds_up_another_agency(gateway: Gateway) -> None:
    release = asyncio.Event()

    async def hang(_push: Push) -> int:
        await release.wait()
        return 204

    stuck, healthy = Receiver(hang), Receiver()
    async with serve(stuck.app()) as stuck_url, serve(healthy.app()) as healthy_url:
        stuck.secret = await push_to(
            gateway, HUYEN, f"{stuck_url}/hook", "--timeout", "300", "--concurrency", "2"
        )
        healthy.secret = await push_to(gateway, TINH, f"{healthy_url}/hook")
        to_stuck = [await gateway.submit("xa", document(XA, [HUYEN], f"3{i}")) for i in range(3)]
        await wait_for(
            lambda: asyncio.sleep(0, stuck.in_flight == 2), 30, "two pushes hanging at the receiver"
        )
        try:
            to_healthy = [
                await gateway.submit("xa", document(XA, [TINH], f"4{i}")) for i in range(5)
            ]
            # Every delivery to the healthy agency completes while the stuck one holds its slots.
            for body in to_healthy:
                await state_of(gateway, body["doc_id"], "delivered")
            assert len(healthy.pushes) == 5
            assert stuck.in_flight == 2 and stuck.pushes and len(stuck.pushes) == 2
            for body in to_stuck:
                [d] = await gateway.store.list_deliveries(doc_id=body["doc_id"])
                assert d.state.value in ("pending", "queued")
        finally:
            release.set()
        for body in to_stuck:
            await state_of(gateway, body["doc_id"], "delivered")
    # The agency's concurrency limit held: never more than 2 of its pushes at once.
    assert stuck.most_in_flight == 2
    assert len(stuck.pushes) == 3


async def test_a_slow_receiver_times_out_and_is_retried(gateway: Gateway) -> None:
    calls = 0
    release = asyncio.Event()

    async def slow_once(_push: Push) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()  # until the test ends: the hub's timeout gives up first
        return 204

    rx = Receiver(slow_once)
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gateway, HUYEN, f"{url}/hook", "--timeout", "3")
        body = await gateway.submit("xa", document(XA, [HUYEN], "205"))
        await state_of(gateway, body["doc_id"], "delivered")
        release.set()
    assert await stages(gateway, body["doc_id"]) == [
        ("deliver", "retry", "webhook.timeout"),
        ("deliver", "delivered", None),
    ]


async def test_push_mode_without_an_endpoint_waits_for_one(gateway: Gateway) -> None:
    agency = await gateway.store.resolve(HUYEN)
    assert agency is not None
    from dataclasses import replace

    await gateway.store.upsert_agency(replace(agency, delivery_mode="push"))
    await node_sees_mode(gateway, HUYEN, "push")
    body = await gateway.submit("xa", document(XA, [HUYEN], "206"))

    async def retried() -> bool:
        return ("deliver", "retry", "webhook.not_configured") in await stages(
            gateway, body["doc_id"]
        )

    await wait_for(retried, 20, "a retry for lack of an endpoint")
    rx = Receiver()
    async with serve(rx.app()) as url:
        rx.secret = await push_to(gateway, HUYEN, f"{url}/hook")
        await state_of(gateway, body["doc_id"], "delivered")
    assert [p.doc_id for p in rx.pushes] == [body["doc_id"]]


# -- mTLS -------------------------------------------------------------------------------------


def _pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return bytes(
        obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _server_leaf(ca: Any) -> tuple[x509.Certificate, Any]:
    """A TLS server certificate for localhost (edxml.devpki's leaves are clientAuth only)."""
    import datetime as dt
    import ipaddress

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qlvb.localhost")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


def _receiver_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """The agency's HTTPS server: its own CA and certificate (localhost); it demands a client
    certificate issued by the hub's CA (certs/dev/ca.crt). Returns the context and its CA file."""
    ca = make_ca("CA của đơn vị (thử nghiệm)")
    cert, key = _server_leaf(ca)
    (tmp_path / "agency-ca.crt").write_bytes(_pem(ca.cert))
    (tmp_path / "server.crt").write_bytes(_pem(cert))
    (tmp_path / "server.key").write_bytes(_pem(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(CERTS / "ca.crt"))
    return context, tmp_path / "agency-ca.crt"


async def test_mtls_the_hub_presents_its_certificate_and_pins_the_receivers_ca(
    gateway: Gateway, tmp_path: Path
) -> None:
    context, agency_ca = _receiver_tls(tmp_path)
    rx = Receiver()
    async with serve(rx.app(), ssl_context=context) as url:
        # Pinned to the wrong CA: the receiver's certificate does not verify, nothing is sent.
        rx.secret = await push_to(
            gateway, HUYEN, f"{url}/hook", "--tls-client", "--ca", str(CERTS / "ca.crt")
        )
        body = await gateway.submit("xa", document(XA, [HUYEN], "207"))

        async def refused() -> bool:
            return ("deliver", "retry", "webhook.tls_failed") in await stages(
                gateway, body["doc_id"]
            )

        await wait_for(refused, 20, "a TLS failure")
        assert rx.pushes == []
        # The admin fixes the CA; the retry goes through, with the hub's client certificate.
        await push_to(gateway, HUYEN, f"{url}/hook", "--tls-client", "--ca", str(agency_ca))
        await state_of(gateway, body["doc_id"], "delivered")
    assert [p.doc_id for p in rx.pushes] == [body["doc_id"]]
    assert rx.peer_organs == [gateway.settings.hub_organ_id]
