"""Time the outbox relay: ``python -m tests.gateway.broker.bench_relay [ROWS]``.

Rows carry 1 KiB bodies and go to three local inboxes nobody consumes; the relay publishes
them persistent with publisher confirms, a batch in flight at a time, and marks them published
in the SQLite store (WAL, synchronous=FULL). The raw baseline in the same run publishes the
same messages with 256 in flight and no store at all (performance.md: ~5k msg/s classic).
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time

import aio_pika
from aio_pika.abc import DeliveryMode

from gateway.broker import Broker, Relay
from gateway.store import Message, NewDelivery, NewOutbox, Store, open_store
from tests.gateway.broker.conftest import AGENCIES, HOST, T0, rabbitmqctl

BODY = b"x" * 1024
PER_MESSAGE = 10


async def fill(store: Store, prefix: str, rows: int) -> None:
    for n in range(rows // PER_MESSAGE):
        doc_id = f"doc-{n}"
        message = Message(
            doc_id=doc_id,
            kind="edoc",
            sender="000.00.00.H53",
            document_id=f"d{n}",
            received_at=T0,
            sha256="0" * 64,
            size=1024,
            blob_key=doc_id,
            dedup_key=doc_id,
            business_type=0,
        )
        deliveries, outbox = [], []
        for i in range(PER_MESSAGE):
            organ, key = f"000.{i:02}.01.H53", AGENCIES[i % len(AGENCIES)][1]
            delivery_id = f"{doc_id}:{i}"
            deliveries.append(NewDelivery(delivery_id=delivery_id, recipient=organ, route="local"))
            outbox.append(
                NewOutbox(
                    delivery_id=delivery_id,
                    exchange=f"{prefix}.route",
                    routing_key=key,
                    headers={"doc_id": doc_id, "delivery_id": delivery_id, "recipient": organ},
                    body=BODY,
                )
            )
        await store.accept(message, deliveries, outbox, [])


async def relay_rate(
    url: str, queue_type: str, rows: int, batch: int, pipeline: int, tmp: str
) -> float:
    prefix = f"b{secrets.token_hex(3)}"
    store = await open_store(f"sqlite:///{tmp}/{prefix}.db")
    await store.migrate()
    broker = await Broker.open(
        url,
        prefix=prefix,
        local_keys=[k for _, k in AGENCIES],
        queue_type=queue_type,  # type: ignore[arg-type]
    )
    try:
        await fill(store, prefix, rows)
        relay = Relay(
            store, await broker.channel(), node="bench", batch_size=batch, pipeline=pipeline
        )
        stop = asyncio.Event()
        start = time.perf_counter()
        running = asyncio.create_task(relay.run(stop))
        while relay.stats["published"] < rows:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - start
        stop.set()
        await running
        assert relay.stats["published"] == rows, relay.stats
        return rows / elapsed
    finally:
        await broker.close()
        await store.close()


async def raw_rate(url: str, queue_type: str, rows: int, in_flight: int = 256) -> float:
    prefix = f"b{secrets.token_hex(3)}"
    broker = await Broker.open(
        url,
        prefix=prefix,
        local_keys=[k for _, k in AGENCIES],
        queue_type=queue_type,  # type: ignore[arg-type]
    )
    try:
        channel = await broker.channel()
        exchange = await channel.get_exchange(broker.topology.route, ensure=False)

        async def one(i: int) -> None:
            message = aio_pika.Message(
                BODY, message_id=str(i), delivery_mode=DeliveryMode.PERSISTENT
            )
            await exchange.publish(message, AGENCIES[i % 3][1])

        start = time.perf_counter()
        for base in range(0, rows, in_flight):
            await asyncio.gather(*(one(i) for i in range(base, min(rows, base + in_flight))))
        return rows / (time.perf_counter() - start)
    finally:
        await broker.close()


async def main(rows: int) -> None:
    vhost = f"edxgw-bench-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@{HOST}/{vhost}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for queue_type in ("classic", "quorum"):
                raw = [await raw_rate(url, queue_type, rows) for _ in range(3)]
                rate = statistics.median(raw)
                print(f"{queue_type:8} raw publish, 256 in flight    : {rate:7.0f} msg/s")
                for batch, pipeline in ((64, 1), (256, 1), (64, 2), (128, 2), (256, 2), (256, 4)):
                    rates = [
                        await relay_rate(url, queue_type, rows, batch, pipeline, tmp)
                        for _ in range(3)
                    ]
                    print(
                        f"{queue_type:8} relay batch {batch:4} x {pipeline} batches : "
                        f"{statistics.median(rates):7.0f} rows/s  "
                        f"[{min(rates):.0f}..{max(rates):.0f}]"
                    )
    finally:
        rabbitmqctl("delete_vhost", vhost)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
