"""/metrics of a real gateway (RabbitMQ, both stores) after real traffic, value by value."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from edxml.organ import parse_organ_id
from gateway.app import BROKER
from gateway.web.metrics import REQUEST_ID
from gateway.web.state import LINKS
from tests.gateway.core.factories import CERTS

from .conftest import Gateway, GatewayFactory, wait_for
from .packages import document, status

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
TINH = "000.00.00.H53"

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(gw: Gateway, **headers: str) -> Samples:
    response = await gw.client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, **labels: str) -> dict[frozenset[Any], float]:
    """Every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {k: v for (n, k), v in samples.items() if n == name and want <= k}


async def test_metrics_count_real_traffic(make_gateway: GatewayFactory, amqp_url: str) -> None:
    gw = await make_gateway(metrics_refresh_seconds=1)
    before = await scrape(gw)
    assert value(before, "edxgw_packages_accepted_total", kind="edoc") == 0
    assert value(before, "edxgw_info", hub="00.53.W00", node="node-1", version="0.1.0") == 1

    first = document(XA, [HUYEN], "m-1")
    one = await gw.submit("xa", first)
    two = await gw.submit("xa", document(XA, [HUYEN, TINH], "m-2"))
    again = await gw.submit("xa", first, expect=200)
    assert again["doc_id"] == one["doc_id"]
    refused = await gw.submit("xa", b"<not-edxml/>", expect=None)
    [rejection] = [
        r for r in await gw.store.trace_for(refused["doc_id"]) if r.outcome == "rejected"
    ]
    response = await gw.client.post(
        "/api/v1/packages",
        data=first,
        headers={"Authorization": "Bearer wrong", REQUEST_ID: "req-42.a"},
    )
    assert response.status == 401
    assert response.headers[REQUEST_ID] == "req-42.a"
    [d1] = await gw.delivered(one["doc_id"])
    await gw.delivered(two["doc_id"])
    status_body = await gw.submit("huyen", status(first, HUYEN, "03"))
    await gw.delivered(status_body["doc_id"])
    await gw.ack("huyen", d1.delivery_id)

    # A message the consumer can only dead-letter (no delivery_id header): deliver.bad_headers.
    key = parse_organ_id(HUYEN).routing_key
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{gw.prefix}.route", ensure=False)
        await exchange.publish(aio_pika.Message(body=b"{}", headers={"doc_id": "x"}), key)
    finally:
        await connection.close()
    dead_queue = f"{gw.prefix}.dead"

    async def refreshed() -> Samples | None:
        s = await scrape(gw)
        done = (
            value(s, "edxgw_queue_messages", queue=dead_queue, kind="dead") == 1
            and value(s, "edxgw_deliveries_current", state="delivered") == 3
        )
        return s if done else None

    s = await wait_for(refreshed, 20.0, "the background refresh to see the traffic")

    # Packages: accepted by kind, the re-sent one, the refusal under the stage and code traced.
    assert value(s, "edxgw_packages_accepted_total", kind="edoc") == 2
    assert value(s, "edxgw_packages_accepted_total", kind="status") == 1
    assert value(s, "edxgw_packages_duplicate_total", kind="edoc") == 1
    code = rejection.detail["code"]
    assert refused["code"] == code
    assert value(s, "edxgw_packages_rejected_total", stage=rejection.stage, reason=code) == 1
    assert sum(labelled(s, "edxgw_packages_rejected_total").values()) == 1
    assert value(s, "edxgw_statuses_total", code="03") == 1
    route = "/api/v1/packages"
    assert value(s, "edxgw_http_refusals_total", route=route, code="auth.unknown_token") == 1
    assert value(s, "edxgw_http_refusals_total", route=route, code=code) == 1
    assert value(s, "edxgw_http_requests_total", route=route, method="POST", status="202") == 3
    assert value(s, "edxgw_http_requests_total", route=route, method="POST", status="200") == 1

    # Deliveries: four copies (one, two x2, the status back to the commune), one answered.
    assert value(s, "edxgw_deliveries_total", outcome="delivered", route="local") == 4
    assert value(s, "edxgw_acknowledgements_total", result="done") == 1
    assert value(s, "edxgw_dead_letters_total", reason="deliver.bad_headers") == 1
    assert value(s, "edxgw_deliveries_current", state="delivered") == 3
    assert value(s, "edxgw_deliveries_current", state="pending") == 0
    assert value(s, "edxgw_relay_published_total") == 4
    assert value(s, "edxgw_consumer_settled_total", settle="ack") == 4
    assert value(s, "edxgw_consumer_settled_total", settle="dead_letter") == 1
    assert value(s, "edxgw_outbox_unpublished") == 0
    assert value(s, "edxgw_trace_events_total", stage="deliver", outcome="delivered") == 4

    # Stage latencies: four packages went through the whole pipeline (the re-sent one too),
    # five through receive (the refusal stopped there).
    def count(stage: str) -> float:
        return value(s, "edxgw_stage_duration_seconds_count", stage=stage)

    assert count(rejection.stage) == 5
    for stage in ("verify", "seal", "route", "blob", "receipt", "commit"):
        assert count(stage) == 4, stage
    assert count("worker") == count("submit") == 5
    assert count("accept_to_deliver") == 4
    assert count("deliver") == 5
    assert count("publish") >= 1
    assert value(s, "edxgw_stage_duration_seconds_sum", stage="verify") > 0
    assert value(s, "edxgw_worker_cpu_seconds_count") == 5

    # Queues, links and certificates.
    inbox = f"{gw.prefix}.inbox.{key}"
    assert value(s, "edxgw_queue_messages", queue=inbox, kind="inbox") == 0
    assert value(s, "edxgw_queue_consumers", queue=inbox, kind="inbox") == 1
    assert value(s, "edxgw_queue_messages", queue=f"{gw.prefix}.uplink", kind="uplink") == 0
    assert labelled(s, "edxgw_queue_messages", kind="retry")
    assert value(s, "edxgw_link_up", link="broker", kind="broker") == 1
    assert value(s, "edxgw_link_up", link="store", kind="store") == 1
    hub_cert = x509.load_pem_x509_certificate((CERTS / "gateway.crt").read_bytes())
    [days] = labelled(s, "edxgw_certificate_expiry_days", role="hub").values()
    expected = (hub_cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400
    assert abs(days - expected) < 0.01
    assert labelled(s, "edxgw_certificate_expiry_days", role="ca")
    assert labelled(s, "edxgw_crl_next_update_days")

    # An adapter reports its link; the gauge follows.
    gw.client.app[LINKS].set("uplink", "down", kind="uplink", detail="vdxp.unreachable")
    s = await scrape(gw)
    assert value(s, "edxgw_link_up", link="uplink", kind="uplink") == 0
    assert value(s, "edxgw_link_state", link="uplink", kind="uplink", state="down") == 1
    assert value(s, "edxgw_link_state", link="uplink", kind="uplink", state="up") == 0
    gw.client.app[LINKS].set("uplink", "up", kind="uplink")
    s = await scrape(gw)
    assert value(s, "edxgw_link_up", link="uplink", kind="uplink") == 1
    assert gw.client.app[BROKER].consumers[key].stats["dead_letter"] == 1


async def test_metrics_token(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(metrics_token="s3cret-metrics")
    response = await gw.client.get("/metrics")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = await gw.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    samples = await scrape(gw, Authorization="Bearer s3cret-metrics")
    assert value(samples, "edxgw_link_up", link="broker", kind="broker") in (0.0, 1.0)
    assert json.dumps(sorted(k for k, _ in samples))  # something was rendered
    assert (
        value(samples, "edxgw_http_requests_total", route="/metrics", method="GET", status="401")
        == 2
    )


async def test_a_client_that_disconnects_mid_body_is_499_not_a_server_error(
    make_gateway: GatewayFactory,
) -> None:
    """A sender killed while uploading is counted as 499 (client closed), never as a 500."""
    gw = await make_gateway()
    server = gw.client.server
    _, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        (
            "POST /api/v1/packages HTTP/1.1\r\n"
            f"Host: {server.host}\r\n"
            f"Authorization: Bearer {gw.tokens['xa']}\r\n"
            "Content-Type: application/xml\r\n"
            "Content-Length: 200000\r\n\r\n"
        ).encode()
        + b"<edXML:MessageHeader" * 100
    )
    await writer.drain()
    writer.close()  # gone before the body is complete
    await writer.wait_closed()
    route = "/api/v1/packages"

    async def counted() -> Samples | None:
        s = await scrape(gw)
        return s if value(s, "edxgw_http_requests_total", route=route, method="POST",
                          status="499") else None  # fmt: skip

    s = await wait_for(counted, 10.0, "the aborted upload to be counted")
    assert value(s, "edxgw_http_requests_total", route=route, method="POST", status="499") == 1
    assert value(s, "edxgw_http_requests_total", route=route, method="POST", status="500") == 0
