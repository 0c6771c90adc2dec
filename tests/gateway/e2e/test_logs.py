"""Structured logs of a real gateway: JSON lines with the package's ids, and never a secret.

The test configures logging exactly as ``edxgw serve`` does (``gateway.logs.configure``), at
DEBUG so that every library's lines are in too, runs traffic (accepted, refused, acknowledged,
a wrong token, a dead letter), and reads every line written.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest
import structlog

from edxml.organ import parse_organ_id
from gateway import logs
from gateway.web.metrics import REQUEST_ID

from .conftest import GatewayFactory, wait_for
from .packages import document

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
SUBJECT = "V/v thử nghiệm liên thông văn bản điện tử"  # packages.document's subject


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("DEBUG", "json", stream=stream, static={"node": "node-1"})
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    out = []
    for raw in stream.getvalue().splitlines():
        record = json.loads(raw)  # every line is one JSON object
        assert {"event", "level", "timestamp", "logger"} <= record.keys(), record
        out.append(record)
    return out


async def test_logs_are_json_with_package_ids_and_no_secrets(
    make_gateway: GatewayFactory, amqp_url: str, captured: io.StringIO
) -> None:
    gw = await make_gateway()
    package = document(XA, [HUYEN], "log-1")
    body = await gw.submit("xa", package)
    [delivery] = await gw.delivered(body["doc_id"])
    fetched = await gw.fetch("huyen", delivery.delivery_id)
    await gw.ack("huyen", delivery.delivery_id)
    refused = await gw.submit("xa", b"<not-edxml/>", expect=None)
    wrong_token = "wrong-token-Zq81xkq0vVn"
    response = await gw.client.post(
        "/api/v1/packages",
        data=package,
        headers={"Authorization": f"Bearer {wrong_token}", REQUEST_ID: "req-logs-1"},
    )
    assert response.status == 401

    # A message for a delivery the store does not know: dead-lettered, and said so in the log.
    key = parse_organ_id(HUYEN).routing_key
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{gw.prefix}.route", ensure=False)
        headers = {"delivery_id": "unknown-delivery-1", "doc_id": "unknown-doc-1"}
        await exchange.publish(aio_pika.Message(body=b"{}", headers=headers), key)
    finally:
        await connection.close()

    async def dead_lettered() -> list[dict[str, Any]]:
        return [r for r in lines(captured) if "dead-lettered" in r["event"]]

    [dead] = await wait_for(dead_lettered, 20.0, "the dead-letter log line")
    assert dead["level"] == "warning"
    assert dead["delivery_id"] == "unknown-delivery-1"
    assert dead["doc_id"] == "unknown-doc-1"
    assert dead["queue"] == f"{gw.prefix}.inbox.{key}"
    assert dead["node"] == "node-1"

    records = lines(captured)
    access = [r for r in records if r["logger"] == "gateway.access"]
    # The accepted package's request line carries its DocId and DocumentId (bound by the hub).
    [submit] = [r for r in access if r.get("doc_id") == body["doc_id"] and r["status"] == 202]
    assert submit["document_id"] == body["document_id"]
    assert submit["request_id"]
    assert submit["route"] == "/api/v1/packages"
    [fetch] = [r for r in access if r["route"] == "/api/v1/inbox/{delivery_id}"]
    assert (fetch["doc_id"], fetch["delivery_id"]) == (body["doc_id"], delivery.delivery_id)
    [ack] = [r for r in access if r["route"] == "/api/v1/inbox/{delivery_id}/ack"]
    assert ack["doc_id"] == body["doc_id"]
    [refusal] = [r for r in access if r.get("code") == refused["code"]]
    assert refusal["level"] == "info"
    [unauthenticated] = [r for r in access if r.get("request_id") == "req-logs-1"]
    assert (unauthenticated["status"], unauthenticated["code"]) == (401, "auth.unknown_token")
    # Request ids never leak from one request's lines into the next one's.
    assert len({r["request_id"] for r in access}) == len(access)

    # Nothing secret, nothing of the package: tokens, the VDXP secret, the AMQP password,
    # the subject and the body of the package.
    text = captured.getvalue()
    assert len(records) > 20  # DEBUG: aiohttp, aio-pika, aiormq, the gateway
    forbidden = [
        *gw.tokens.values(),
        wrong_token,
        "secret-xa",
        "secret-huyen",
        "guest:guest@",
        SUBJECT,
        json.dumps(SUBJECT)[1:-1],  # as JSON would escape it
        "Nguyễn Văn A",
    ]
    for secret in forbidden:
        assert secret not in text, secret
    assert package[-200:].decode() not in text
    assert fetched[:200].decode() not in text


def test_redaction_of_fields_urls_and_bearer_tokens(captured: io.StringIO) -> None:
    structlog.get_logger("t").info(
        "connecting", api_token="abc123", password="hunter2", token_sha256="00ff", organ="H53"
    )
    logging.getLogger("t").warning(
        "cannot reach %s (Authorization: Bearer %s)", "amqp://edxgw:p4ssw0rd@rabbit:5672/", "tok9"
    )
    try:
        raise RuntimeError("postgresql://edxgw:dbpass@pg/edxgw refused")
    except RuntimeError:
        logging.getLogger("t").exception("store down")
    first, second, third = lines(captured)
    assert (first["api_token"], first["password"]) == ("[redacted]", "[redacted]")
    assert (first["token_sha256"], first["organ"]) == ("00ff", "H53")
    assert second["event"] == (
        "cannot reach amqp://edxgw:[redacted]@rabbit:5672/ (Authorization: Bearer [redacted])"
    )
    assert "dbpass" not in third["exception"] and "edxgw:[redacted]@pg" in third["exception"]
    for secret in ("abc123", "hunter2", "p4ssw0rd", "tok9", "dbpass"):
        assert secret not in captured.getvalue()
