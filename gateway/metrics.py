"""The node's Prometheus metrics: one registry per application, fed by cheap in-process hooks.

Three kinds of figures, by where they come from (README "Metrics" lists every name)::

    hooks        the hub, the consumer and the relay call :class:`Metrics` methods on their
                 hot path: counter increments and histogram observations only, never I/O
    collected    read at scrape time from objects already in memory: link states
                 (:class:`Links`), relay and consumer counters, worker pool, certificate expiry
    refreshed    what needs I/O (outbox lag, deliveries by state, RabbitMQ queue depths) is
                 fetched by a background task every ``metrics_refresh_seconds``
                 (``gateway/web/metrics.py``); a scrape never waits for the store or the broker

Everything is counted in the event-loop process. The CPU workers are separate processes, but
what they do comes back to the loop in each :class:`~gateway.service.worker.Outcome` (stage
timings, CPU seconds), so no multi-process collection is needed. Each application gets its own
``CollectorRegistry``: tests run many gateways in one process, and no metric is a module-level
singleton (style.md §9).

Counters count what THIS node did (sum them over nodes); the refreshed gauges of the store
(``edxgw_outbox_*``, ``edxgw_deliveries``) describe the whole hub and are the same on every node
(take ``max`` over nodes). Label values are bounded: error codes of the catalogue, stage names,
states, queue names of this hub; never a DocId or an organ id outside the queue names.
"""

from __future__ import annotations

import bisect
import enum
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edxml.trust import subject_text
from gateway.core.deliver import AlreadyDone, Decision, RecordDelivery
from gateway.core.keys import Keys
from gateway.store.base import Delivery, TraceEvent

if TYPE_CHECKING:
    from gateway.service.worker import Outcome

__all__ = [
    "LATENCY_BUCKETS",
    "Link",
    "LinkState",
    "Links",
    "Metrics",
    "Source",
    "certificates_of",
]

#: Seconds: from a fraction of a millisecond (a core stage) to minutes (a retried delivery).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    float("inf"),
)
_DAY = 86400.0
#: Stages of the pipeline whose rejections are package rejections (trace catalogue).
_PACKAGE_STAGES = frozenset({"receive", "validate", "verify", "seal", "route"})


class LinkState(enum.StrEnum):
    """The state of a link to another system (uplink axis, downlink peer, broker)."""

    UP = "up"  # connected and working
    CONNECTING = "connecting"  # starting, or reconnecting after a failure
    DOWN = "down"  # failing: the last attempt did not work
    DISABLED = "disabled"  # configured off (e.g. no uplink in this deployment)


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    kind: str
    state: LinkState
    since: float  # time.time() when it entered ``state``
    detail: str | None = None  # a short reason (an error code), shown nowhere else


class Links:
    """The registry every link adapter fills: ``app[LINKS].set("uplink", LinkState.UP)``.

    Adapters (the uplink to the national axis, downlink peers, webhooks) own their connection
    and know best whether it works; they report each change here and the metrics expose it as
    ``edxgw_link_up{link,kind}`` and ``edxgw_link_state{link,kind,state}``. Setting the same
    state again keeps ``since``. ``detail`` should be a code, never a URL with credentials.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._links: dict[str, Link] = {}
        self._clock = clock

    def set(
        self, name: str, state: LinkState | str, *, kind: str = "peer", detail: str | None = None
    ) -> Link:
        state = LinkState(state)
        old = self._links.get(name)
        since = old.since if old is not None and old.state is state else self._clock()
        link = Link(name, kind, state, since, detail)
        self._links[name] = link
        return link

    def remove(self, name: str) -> None:
        self._links.pop(name, None)

    def get(self, name: str) -> Link | None:
        return self._links.get(name)

    def __iter__(self) -> Iterator[Link]:
        return iter(sorted(self._links.values(), key=lambda link: link.name))

    def __len__(self) -> int:
        return len(self._links)


@dataclass(slots=True)
class Source:
    """Objects of a running node the scrape-time collector reads (set as the node starts).

    Each is optional: a node still starting (or a test without a broker) just has fewer
    figures. The callables return the objects' own counters (``Relay.stats``…).
    """

    relay_stats: Callable[[], Mapping[str, int]] | None = None
    consumer_stats: Callable[[], Iterable[tuple[str, Mapping[str, int], int]]] | None = None
    workers: Callable[[], tuple[int, int]] | None = None  # (size, calls in flight)
    certificates: Callable[[], Iterable[tuple[str, x509.Certificate]]] | None = None
    crls: Callable[[], Iterable[x509.CertificateRevocationList]] | None = None


class _Counts:
    """Counters owned by the event-loop thread: a dict increment on the hot path.

    prometheus_client's ``labels(...).inc()`` takes a lock and costs ~5 µs here; a package
    touches a dozen figures, so the loop's own counters and timings are kept in plain dicts
    (only the loop thread writes them; the scrape runs on the loop too) and rendered at scrape.
    """

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        # An unlabelled counter exists from the start (0), as Prometheus expects.
        self.values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, *key: str) -> None:
        self.values[key] = self.values.get(key, 0.0) + 1.0

    def get(self, *key: str) -> float:
        return self.values.get(key, 0.0)

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in sorted(self.values.items()):
            family.add_metric(list(key), value)
        return family


class _Timings:
    """Histograms owned by the event-loop thread (see :class:`_Counts`): bisect and add."""

    __slots__ = ("bounds", "doc", "labels", "name", "rows", "sums")

    def __init__(
        self, name: str, doc: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] = ()
    ) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.bounds = tuple(b for b in (buckets or LATENCY_BUCKETS) if b != float("inf"))
        self.rows: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}

    def observe(self, seconds: float, *key: str) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0] * (len(self.bounds) + 1)
            self.sums[key] = 0.0
        row[bisect.bisect_left(self.bounds, seconds)] += 1  # le: the first bound >= seconds
        self.sums[key] += seconds

    def count(self, *key: str) -> int:
        return sum(self.rows.get(key, ()))

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, row in sorted(self.rows.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*self.bounds, float("inf")), row, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric(list(key), buckets, self.sums[key])
        return family


class Metrics:
    """Every metric of one node, on its own registry; the hooks the shells call.

    ``hub`` and ``node`` label ``edxgw_info`` only (Prometheus adds ``instance`` and the
    scrape config adds ``job``), so series stay short. The hooks run on the event loop only.
    """

    def __init__(self, *, hub: str = "", node: str = "", version: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.links = Links()
        self.source = Source()
        self.info = (hub, node, version)
        c = _Counts
        self.packages_accepted = c(
            "edxgw_packages_accepted", "Packages accepted (committed, 202), by kind", ("kind",)
        )
        self.packages_duplicate = c(
            "edxgw_packages_duplicate",
            "Re-sent packages answered with their original DocId (200), by kind",
            ("kind",),
        )
        self.packages_rejected = c(
            "edxgw_packages_rejected",
            "Packages refused, by the stage that refused them and the error code (reason)",
            ("stage", "reason"),
        )
        self.deliveries = c(
            "edxgw_deliveries",
            "Delivery decisions of this node's consumers: delivered, retry, dead_letter",
            ("outcome", "route"),
        )
        self.retries = c(
            "edxgw_delivery_retries",
            "Delivery attempts that failed and were scheduled again, by error code",
            ("error",),
        )
        self.dead_letters = c(
            "edxgw_dead_letters", "Messages dead-lettered by this node, by reason code", ("reason",)
        )
        self.redeliveries = c(
            "edxgw_redeliveries",
            "Broker messages whose delivery was already recorded (acked without effect)",
        )
        self.acknowledgements = c(
            "edxgw_acknowledgements",
            "Answers of receiving systems: done, failed, rejected",
            ("result",),
        )
        self.statuses = c(
            "edxgw_statuses",
            "Status packages accepted, by status code (01-06, 13, 15, 16)",
            ("code",),
        )
        self.trace_events = c(
            "edxgw_trace_events",
            "Trace events this node appended, by stage and outcome",
            ("stage", "outcome"),
        )
        self.http_requests = c(
            "edxgw_http_requests",
            "HTTP requests, by route template, method and status code",
            ("route", "method", "status"),
        )
        self.http_refusals = c(
            "edxgw_http_refusals",
            "HTTP requests answered with a problem document, by route and error code",
            ("route", "code"),
        )
        self.stage_seconds = _Timings(
            "edxgw_stage_duration_seconds",
            "Wall time of each step of a package: core stages (receive, validate, verify, "
            "seal, route, in a worker), worker (round trip), blob, receipt, commit, submit, "
            "publish (one relay batch), deliver (one message), accept_to_deliver",
            ("stage",),
        )
        self.worker_cpu = _Timings(
            "edxgw_worker_cpu_seconds", "CPU time a worker process spent on one package"
        )
        self.http_seconds = _Timings(
            "edxgw_http_request_duration_seconds",
            "HTTP request handling time, by route template",
            ("route", "method"),
        )
        self._loop: tuple[_Counts | _Timings, ...] = (
            self.packages_accepted,
            self.packages_duplicate,
            self.packages_rejected,
            self.deliveries,
            self.retries,
            self.dead_letters,
            self.redeliveries,
            self.acknowledgements,
            self.statuses,
            self.trace_events,
            self.http_requests,
            self.http_refusals,
            self.stage_seconds,
            self.worker_cpu,
            self.http_seconds,
        )
        # -- refreshed in the background (gateway/web/metrics.py) --------------------------
        r = self.registry
        self.outbox_unpublished = Gauge(
            "edxgw_outbox_unpublished",
            "Outbox rows committed but not yet confirmed by RabbitMQ (whole hub)",
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "edxgw_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row; 0 when there is none (whole hub)",
            registry=r,
        )
        self.deliveries_now = Gauge(
            "edxgw_deliveries_current",
            "Deliveries in each state right now (whole hub; done and failed are not counted)",
            ["state"],
            registry=r,
        )
        self.queue_messages = Gauge(
            "edxgw_queue_messages",
            "Messages ready in each RabbitMQ queue of this hub (passive declare)",
            ["queue", "kind"],
            registry=r,
        )
        self.queue_consumers = Gauge(
            "edxgw_queue_consumers",
            "Consumers of each RabbitMQ queue of this hub (all nodes)",
            ["queue", "kind"],
            registry=r,
        )
        self.refreshed = Gauge(
            "edxgw_metrics_refreshed_timestamp_seconds",
            "When each background source was last read successfully",
            ["source"],
            registry=r,
        )
        self.refresh_errors = Counter(
            "edxgw_metrics_refresh_errors",
            "Background reads that failed, by source (store, broker)",
            ["source"],
            registry=r,
        )
        r.register(_Collected(self))

    # -- hooks: dict updates only, never I/O -------------------------------------------------
    def observe(self, stage: str, seconds: float) -> None:
        self.stage_seconds.observe(seconds, stage)

    def timings(self, timings: Iterable[tuple[str, float]]) -> None:
        for stage, seconds in timings:
            self.stage_seconds.observe(seconds, stage)

    def accepted(self, kind: str, *, duplicate: bool) -> None:
        (self.packages_duplicate if duplicate else self.packages_accepted).inc(kind)

    def rejected(self, stage: str, code: str) -> None:
        self.packages_rejected.inc(stage, code)

    def traced(self, events: Iterable[TraceEvent]) -> None:
        """Count committed trace events; rejections, deliveries and answers from them.

        The trace catalogue (``gateway/core/trace.py``) already says what happened to every
        package, so the shells hand over what they committed instead of counting twice.
        """
        for ev in events:
            self.trace_events.inc(ev.stage, ev.outcome)
            detail = ev.detail
            if ev.outcome == "rejected" and ev.stage in _PACKAGE_STAGES:
                self.packages_rejected.inc(ev.stage, str(detail.get("code", "unknown")))
            elif ev.stage == "deliver":
                self.deliveries.inc(ev.outcome, str(detail.get("route", "none")))
                if ev.outcome == "retry":
                    self.retries.inc(str(detail.get("error", "unknown")))
                elif ev.outcome == "dead_letter":
                    self.dead_letters.inc(str(detail.get("reason", "unknown")))
            elif ev.stage == "acknowledge":
                self.acknowledgements.inc(ev.outcome)

    def submitted(
        self,
        outcome: Outcome,
        started: float,
        worked: float,
        *,
        committed: float | None = None,
        created: bool | None = None,
        trace: Iterable[TraceEvent] = (),
        kind: str | None = None,
        status: str | None = None,
    ) -> None:
        """One ``Hub.submit``: its timings (``perf_counter`` readings) and what it decided.

        ``trace`` is what was committed (a rejection's events, or an accepted package's; a
        duplicate commits nothing). ``created`` None means the package was refused.
        """
        stage = self.stage_seconds
        for name, seconds in outcome.timings:
            stage.observe(seconds, name)
        self.worker_cpu.observe(outcome.cpu_seconds)
        stage.observe(worked - started, "worker")
        self.traced(trace)
        end = worked
        if committed is not None:
            stage.observe(committed - worked, "commit")
            end = committed
        if created is not None and kind is not None:
            self.accepted(kind, duplicate=not created)
            if created and status is not None:
                self.statuses.inc(status)
        stage.observe(end - started, "submit")

    def settled(
        self, decision: Decision | None, delivery: Delivery | None, seconds: float, now: datetime
    ) -> None:
        """One broker message handled by a consumer; ``decision`` None: nothing was committed."""
        self.stage_seconds.observe(seconds, "deliver")
        if decision is None:
            return
        if isinstance(decision, AlreadyDone):
            self.redeliveries.inc()
            return
        self.traced(decision.trace)
        if isinstance(decision, RecordDelivery) and delivery is not None:
            waited = (now - delivery.created_at).total_seconds()
            self.stage_seconds.observe(max(waited, 0.0), "accept_to_deliver")

    def http(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.inc(route, method, str(status))
        self.http_seconds.observe(seconds, route, method)

    def refusal(self, route: str, code: str) -> None:
        self.http_refusals.inc(route, code)


class _Collected(Collector):
    """Figures read at scrape time from objects in memory (no I/O; module doc)."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> list[Metric]:
        return []  # names are not known before the node runs; nothing to check at register

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "edxgw_info",
            "Always 1; labels name this node, its hub and the software version",
            labels=["hub", "node", "version"],
        )
        info.add_metric(list(self._m.info), 1.0)
        yield info
        for figure in self._m._loop:
            yield figure.family()
        yield from self._links()
        src = self._m.source
        if src.relay_stats is not None:
            yield from _relay(src.relay_stats())
        if src.consumer_stats is not None:
            yield from _consumers(src.consumer_stats())
        if src.workers is not None:
            size, busy = src.workers()
            yield GaugeMetricFamily("edxgw_workers", "Worker processes of the pool", value=size)
            yield GaugeMetricFamily(
                "edxgw_workers_busy", "Packages in the worker pool right now", value=busy
            )
        now = datetime.now(UTC)
        if src.certificates is not None:
            yield from _certificates(src.certificates(), now)
        if src.crls is not None:
            yield from _crls(src.crls(), now)

    def _links(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "edxgw_link_up", "1 while a link to another system works", labels=["link", "kind"]
        )
        state = GaugeMetricFamily(
            "edxgw_link_state",
            "1 for the state each link is in, 0 for the others",
            labels=["link", "kind", "state"],
        )
        since = GaugeMetricFamily(
            "edxgw_link_state_since_timestamp_seconds",
            "When each link entered its current state",
            labels=["link", "kind"],
        )
        for link in self._m.links:
            up.add_metric([link.name, link.kind], 1.0 if link.state is LinkState.UP else 0.0)
            for s in LinkState:
                state.add_metric([link.name, link.kind, s.value], 1.0 if s is link.state else 0.0)
            since.add_metric([link.name, link.kind], link.since)
        yield from (up, state, since)


def _relay(stats: Mapping[str, int]) -> Iterator[Metric]:
    published = CounterMetricFamily(
        "edxgw_relay_published", "Outbox rows this node published and RabbitMQ confirmed"
    )
    published.add_metric([], float(stats.get("published", 0)))
    failed = CounterMetricFamily(
        "edxgw_relay_publish_failures",
        "Publishes left for a later try: failed (nack, timeout, connection), returned "
        "(reached no queue)",
        labels=["reason"],
    )
    for reason in ("failed", "returned"):
        failed.add_metric([reason], float(stats.get(reason, 0)))
    batches = CounterMetricFamily("edxgw_relay_batches", "Outbox batches this node claimed")
    batches.add_metric([], float(stats.get("batches", 0)))
    yield from (published, failed, batches)


def _consumers(rows: Iterable[tuple[str, Mapping[str, int], int]]) -> Iterator[Metric]:
    settled = CounterMetricFamily(
        "edxgw_consumer_settled",
        "Broker messages settled by this node: ack, delay (retry), dead_letter, requeue",
        labels=["settle"],
    )
    in_flight = GaugeMetricFamily(
        "edxgw_consumer_in_flight", "Messages taken off the queues and not settled yet"
    )
    totals: dict[str, int] = {"ack": 0, "delay": 0, "dead_letter": 0, "requeue": 0}
    busy = 0
    for _queue, stats, held in rows:
        for key, value in stats.items():
            totals[key] = totals.get(key, 0) + value
        busy += held
    for key, value in sorted(totals.items()):
        settled.add_metric([key], float(value))
    in_flight.add_metric([], float(busy))
    yield from (settled, in_flight)


def _certificates(certs: Iterable[tuple[str, x509.Certificate]], now: datetime) -> Iterator[Metric]:
    days = GaugeMetricFamily(
        "edxgw_certificate_expiry_days",
        "Days until a certificate this node uses expires (negative: expired)",
        labels=["role", "subject", "serial"],
    )
    not_after = GaugeMetricFamily(
        "edxgw_certificate_not_after_timestamp_seconds",
        "When a certificate this node uses expires",
        labels=["role", "subject", "serial"],
    )
    for role, cert in certs:
        labels = [role, subject_text(cert), format(cert.serial_number, "x")]
        end = cert.not_valid_after_utc
        days.add_metric(labels, (end - now).total_seconds() / _DAY)
        not_after.add_metric(labels, end.timestamp())
    yield from (days, not_after)


def _crls(crls: Iterable[x509.CertificateRevocationList], now: datetime) -> Iterator[Metric]:
    days = GaugeMetricFamily(
        "edxgw_crl_next_update_days",
        "Days until a CRL's nextUpdate (negative: the CRL is stale; fetch a new one)",
        labels=["issuer"],
    )
    for crl in crls:
        nxt = crl.next_update_utc
        if nxt is not None:
            days.add_metric([crl.issuer.rfc4514_string()], (nxt - now).total_seconds() / _DAY)
    yield days


def certificates_of(keys: Keys) -> list[tuple[str, x509.Certificate]]:
    """(role, certificate) of a :class:`gateway.core.keys.Keys`: the hub's, its chain, the CAs."""
    signing = keys.signing_key
    out: list[tuple[str, x509.Certificate]] = [("hub", signing.certificate)]
    out.extend(("chain", c) for c in signing.chain)
    out.extend(("ca", c) for c in keys.trust.anchors)
    return out
