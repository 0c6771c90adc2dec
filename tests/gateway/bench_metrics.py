"""What the metrics and logs hooks cost on the hot path: ``python -m tests.gateway.bench_metrics``.

Times the calls the event loop makes per package (``Metrics.submitted``), per broker message
(``Metrics.settled``), per HTTP request (``Metrics.http``), a scrape of a registry holding
that traffic, and a disabled and an emitted JSON log line. Figures go into the README.
"""

from __future__ import annotations

import io
import logging
import timeit
from datetime import UTC, datetime

from prometheus_client import generate_latest

from gateway import logs
from gateway.core.deliver import RecordDelivery
from gateway.metrics import Metrics
from gateway.service.worker import Outcome
from gateway.store.base import Delivery, TraceEvent
from gateway.store.lifecycle import DeliveryState

_STAGES = ("receive", "validate", "verify", "seal", "route")


def _us(fn: object, number: int) -> float:
    return timeit.timeit(fn, number=number) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    m = Metrics(hub="00.53.W00", node="node-1", version="bench")
    trace = tuple(
        TraceEvent(node="n", stage=s, outcome="ok", doc_id="d", detail={}) for s in _STAGES
    )
    outcome = Outcome(
        result=None,  # type: ignore[arg-type]  # not read by Metrics
        receipt=None,
        cpu_seconds=0.003,
        worker_pid=1,
        timings=tuple((s, 0.001) for s in (*_STAGES, "blob", "receipt")),
    )
    now = datetime.now(UTC)
    delivery = Delivery(
        delivery_id="x",
        doc_id="d",
        recipient="000.00.31.H53",
        route="local",
        peer=None,
        state=DeliveryState.QUEUED,
        attempts=0,
        last_error=None,
        created_at=now,
        updated_at=now,
        delivered_at=None,
        acked_at=None,
    )
    delivered = TraceEvent(
        node="n", stage="deliver", outcome="delivered", doc_id="d", detail={"route": "local"}
    )
    decision = RecordDelivery("x", "d", "000.00.31.H53", "local", None, (delivered,))
    n = 20_000
    submit = _us(
        lambda: m.submitted(
            outcome, 1.0, 1.004, committed=1.006, created=True, trace=trace, kind="edoc"
        ),
        n,
    )
    settle = _us(lambda: m.settled(decision, delivery, 0.002, now), n)
    http = _us(lambda: m.http("/api/v1/packages", "POST", 202, 0.01), n)
    scrape = _us(lambda: generate_latest(m.registry), 200) / 1000
    handler = logs.configure("INFO", "json", stream=io.StringIO())
    try:
        quiet = _us(lambda: logging.getLogger("gateway.access").debug("x %s", 1), n)
        line = _us(lambda: logging.getLogger("gateway.access").info("x %s", 1), 5_000)
    finally:
        logging.getLogger().removeHandler(handler)
    print(f"Metrics.submitted (per package)      {submit:7.1f} µs")
    print(f"Metrics.settled (per broker message) {settle:7.1f} µs")
    print(f"Metrics.http (per HTTP request)      {http:7.1f} µs")
    print(f"scrape /metrics body                 {scrape:7.2f} ms")
    print(f"log line below the level             {quiet:7.1f} µs")
    print(f"JSON log line written                {line:7.1f} µs")


if __name__ == "__main__":
    main()
