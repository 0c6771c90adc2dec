"""The health page: is every part of this hub working, and what will break soon?

One :class:`HealthReport` gathers what ``/readyz`` answers in one word, with the detail an
operator needs: store and broker connectivity, the outbox's lag, queue depths (passive
declare, ``gateway.broker.inspect``), deliveries retrying and dead, link states reported by the
adapters (``app[LINKS]``: uplink, downlink peers), certificates expiring within
:data:`WARN_DAYS` days (the hub's, its chain, the trusted CAs, the client certificates of the
registered systems), CRLs past or near their nextUpdate, and the trace chain.

The chain check reads every entry since the last one checked and recomputes its hash, which
ties up the store's reader (SQLite's one reader thread) for as long as one read walks:
:class:`TraceWatch` checks in the background, incrementally (the last
:data:`TraceWatch.window` entries at start, then each new entry once), in short reads paced so
that requests' reads get through between them, and keeps the result; a full check from the
first entry runs on request (operator button, ``edxgw trace verify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography import x509

from edxml.trust import subject_text
from gateway.broker.connection import Broker
from gateway.broker.inspect import QueueDepth, hub_queues, queue_depths
from gateway.core.keys import Keys
from gateway.store.base import Store, VerifyResult
from gateway.store.lifecycle import DeliveryState

__all__ = [
    "WARN_DAYS",
    "CertificateState",
    "Check",
    "HealthReport",
    "HealthService",
    "LinkLike",
    "TraceStatus",
    "TraceWatch",
]

log = logging.getLogger(__name__)

#: Certificates expiring within this many days are a warning (issue 5, item 7).
WARN_DAYS = 30
CRL_WARN_DAYS = 3
OUTBOX_WARN_SECONDS = 60.0
OUTBOX_ERROR_SECONDS = 600.0
OK, WARNING, ERROR, UNKNOWN = "ok", "warning", "error", "unknown"
_RANK = {OK: 0, UNKNOWN: 1, WARNING: 2, ERROR: 3}


class LinkLike(Protocol):
    """What the link registry (``gateway.metrics.Links``) holds for one link."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def since(self) -> float: ...
    @property
    def detail(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the summary: a part, its level (ok, warning, error, unknown) and why."""

    name: str
    level: str
    detail: str = ""  # identifiers and figures; the page words it in both languages


@dataclass(frozen=True, slots=True)
class CertificateState:
    role: str  # hub, chain, ca, system
    owner: str | None  # the system id for client certificates
    subject: str
    not_after: datetime | None
    days_left: float | None
    level: str


@dataclass(frozen=True, slots=True)
class TraceStatus:
    level: str
    checked_from: int | None = None  # first seq of the last check
    checked_to: int | None = None  # last seq known good
    first_broken_seq: int | None = None
    reason: str | None = None
    at: datetime | None = None  # when the last check finished
    full: bool = False  # whether a check from seq 1 has passed (since start)
    running: bool = False


@dataclass(frozen=True, slots=True)
class HealthReport:
    at: datetime
    node: str
    checks: list[Check]
    queues: list[QueueDepth]
    outbox_unpublished: int
    outbox_oldest_seconds: float
    deliveries: Mapping[str, int]
    links: list[dict[str, Any]]
    certificates: list[CertificateState]
    crls: list[dict[str, Any]]
    trace: TraceStatus
    relay: Mapping[str, int] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return max((c.level for c in self.checks), key=_RANK.__getitem__, default=OK)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "node": self.node,
            "level": self.level,
            "checks": [{"name": c.name, "level": c.level, "detail": c.detail} for c in self.checks],
            "outbox": {
                "unpublished": self.outbox_unpublished,
                "oldest_seconds": round(self.outbox_oldest_seconds, 3),
            },
            "deliveries": dict(self.deliveries),
            "queues": [
                {
                    "name": q.name,
                    "role": q.role,
                    "messages": q.messages,
                    "consumers": q.consumers,
                    "error": q.error,
                }
                for q in self.queues
            ],
            "links": self.links,
            "certificates": [
                {
                    "role": c.role,
                    "owner": c.owner,
                    "subject": c.subject,
                    "not_after": c.not_after.isoformat() if c.not_after else None,
                    "days_left": None if c.days_left is None else round(c.days_left, 1),
                    "level": c.level,
                }
                for c in self.certificates
            ],
            "crls": self.crls,
            "trace": {
                "level": self.trace.level,
                "checked_from": self.trace.checked_from,
                "checked_to": self.trace.checked_to,
                "first_broken_seq": self.trace.first_broken_seq,
                "reason": self.trace.reason,
                "at": self.trace.at.isoformat() if self.trace.at else None,
                "full": self.trace.full,
                "running": self.trace.running,
            },
            "relay": dict(self.relay),
        }


class TraceWatch:
    """Checks the trace's hash chain in the background, incrementally (module doc)."""

    window = 10_000  # entries checked at start, before the incremental checks
    #: Entries per read. One read holds the store's reader (SQLite's one reader thread, which
    #: also answers every request's authentication) for its whole walk: at ~50 µs an entry a
    #: minute of a busy hub's trace took 3-5 s, and every request waited behind it.
    chunk = 500
    #: The share of the time the walk may read; it sleeps the rest between its reads.
    duty = 0.25

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.status = TraceStatus(level=UNKNOWN)
        self._lock = asyncio.Lock()

    async def check(self, *, full: bool = False) -> TraceStatus:
        """Check from seq 1 (``full``), else from the last good entry (or the last window)."""
        async with self._lock:
            last = self.status.checked_to
            if full or self.status.level == ERROR:
                start = 1
            elif last is not None:
                start = last  # re-check the last good one: it links the new entries
            else:
                start = max(1, await self.store.trace_head_seq() - self.window + 1)
            self.status = _replace(self.status, running=True)
            try:
                result = await self._walk(start)
            except Exception as exc:
                log.warning("trace chain check failed to run: %s", exc)
                self.status = _replace(self.status, running=False, level=UNKNOWN, reason=str(exc))
                return self.status
            now = self.clock()
            if result.ok:
                end = result.last_seq if result.last_seq is not None else (last or start - 1)
                self.status = TraceStatus(
                    level=OK,
                    checked_from=start,
                    checked_to=max(end, 0) or None,
                    at=now,
                    full=self.status.full or start == 1,
                )
            else:
                self.status = TraceStatus(
                    level=ERROR,
                    checked_from=start,
                    checked_to=None,
                    first_broken_seq=result.first_broken_seq,
                    reason=result.reason,
                    at=now,
                    full=start == 1,
                )
                log.error(
                    "trace chain broken at seq %s: %s", result.first_broken_seq, result.reason
                )
            return self.status

    async def _walk(self, start: int) -> VerifyResult:
        """The chain from ``start`` to the head in reads of :attr:`chunk` entries, paced to
        :attr:`duty`, as one result (``checked`` counts every read's entries)."""
        checked = 0
        while True:
            began = time.perf_counter()
            part = await self.store.verify_trace(start, limit=self.chunk)
            checked += part.checked
            if not part.ok or part.resume_at is None:
                return dataclasses.replace(part, checked=checked)
            start = part.resume_at
            await asyncio.sleep((time.perf_counter() - began) * (1 / self.duty - 1))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # never let the watcher die: the page shows "unknown"
                log.exception("trace chain watcher")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


def _replace(status: TraceStatus, **changes: Any) -> TraceStatus:
    values = {name: getattr(status, name) for name in TraceStatus.__dataclass_fields__}
    values.update(changes)
    return TraceStatus(**values)


class HealthService:
    """Gathers a :class:`HealthReport`; the parts it reads are handed in by the composition."""

    def __init__(
        self,
        store: Store,
        *,
        node: str,
        keys: Keys | None,
        trace: TraceWatch,
        broker: Callable[[], Broker | None] = lambda: None,
        links: Callable[[], Iterable[LinkLike]] = tuple,
        relay_stats: Callable[[], Mapping[str, int]] = dict,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        warn_days: int = WARN_DAYS,
    ) -> None:
        self.store = store
        self.node = node
        self.keys = keys
        self.trace = trace
        self.broker = broker
        self.links = links
        self.relay_stats = relay_stats
        self.clock = clock
        self.warn_days = warn_days

    async def report(self) -> HealthReport:
        now = self.clock()
        checks: list[Check] = []
        store_ok = await self.store.health()
        checks.append(Check("store", OK if store_ok else ERROR))
        lag_n, lag_age, deliveries = 0, 0.0, {}
        if store_ok:
            lag = await self.store.outbox_lag()
            lag_n, lag_age = lag.unpublished, lag.oldest_age_seconds
            counts = await self.store.count_deliveries()
            deliveries = {s.value: counts.get(s, 0) for s in DeliveryState}
        level = ERROR if lag_age > OUTBOX_ERROR_SECONDS else OK
        if level == OK and lag_age > OUTBOX_WARN_SECONDS:
            level = WARNING
        checks.append(Check("outbox", level, f"{lag_n} / {lag_age:.1f}s"))
        dead = deliveries.get(DeliveryState.DEAD.value, 0)
        checks.append(Check("dead_letters", WARNING if dead else OK, str(dead)))

        broker = self.broker()
        queues: list[QueueDepth] = []
        if broker is None:
            checks.append(Check("broker", UNKNOWN, "not started"))
        elif not broker.is_connected:
            checks.append(Check("broker", ERROR, "disconnected"))
        else:
            queues = await queue_depths(broker, hub_queues(broker.topology))
            missing = [q.name for q in queues if q.messages is None]
            checks.append(Check("broker", WARNING if missing else OK, ", ".join(missing)))
            parked = sum(q.messages or 0 for q in queues if q.role == "dead")
            checks.append(Check("dead_queue", WARNING if parked else OK, str(parked)))

        links = [
            {
                "name": link.name,
                "kind": link.kind,
                "state": str(link.state),
                "since": datetime.fromtimestamp(link.since, UTC).isoformat(),
                "detail": link.detail,
            }
            for link in self.links()
        ]
        down = [str(x["name"]) for x in links if x["state"] == "down"]
        connecting = [str(x["name"]) for x in links if x["state"] == "connecting"]
        level = ERROR if down else WARNING if connecting else OK
        checks.append(Check("links", level, ", ".join(down + connecting)))

        certificates = await self._certificates(now)
        worst = max((c.level for c in certificates), key=_RANK.__getitem__, default=OK)
        near = [c.subject for c in certificates if c.level != OK]
        checks.append(Check("certificates", worst, "; ".join(near)))
        crls = self._crls(now)
        crl_level = max((c["level"] for c in crls), key=_RANK.__getitem__, default=OK)
        checks.append(Check("crls", crl_level))

        trace = self.trace.status
        checks.append(Check("trace", trace.level, trace.reason or ""))
        return HealthReport(
            at=now,
            node=self.node,
            checks=checks,
            queues=queues,
            outbox_unpublished=lag_n,
            outbox_oldest_seconds=lag_age,
            deliveries=deliveries,
            links=links,
            certificates=certificates,
            crls=crls,
            trace=trace,
            relay=dict(self.relay_stats()),
        )

    async def _certificates(self, now: datetime) -> list[CertificateState]:
        out: list[CertificateState] = []
        if self.keys is not None:
            signing = self.keys.signing_key
            owned: list[tuple[str, x509.Certificate]] = [("hub", signing.certificate)]
            owned += [("chain", c) for c in signing.chain]
            owned += [("ca", c) for c in self.keys.trust.anchors]
            for role, cert in owned:
                end = cert.not_valid_after_utc
                out.append(self._state(role, None, subject_text(cert), end, now))
        for system in await self.store.list_systems():
            if system.cert_sha256 and not system.revoked:
                out.append(
                    self._state(
                        "system",
                        system.system_id,
                        f"{system.name} ({system.cert_sha256[:16]}…)",
                        system.cert_expires_at,
                        now,
                    )
                )
        return sorted(out, key=lambda c: (-_RANK[c.level], c.days_left or 0.0))

    def _state(
        self, role: str, owner: str | None, subject: str, end: datetime | None, now: datetime
    ) -> CertificateState:
        if end is None:  # registered before its expiry was recorded (migration 5)
            return CertificateState(role, owner, subject, None, None, UNKNOWN)
        days = (end - now) / timedelta(days=1)
        level = ERROR if days <= 0 else WARNING if days <= self.warn_days else OK
        return CertificateState(role, owner, subject, end, days, level)

    def _crls(self, now: datetime) -> list[dict[str, Any]]:
        if self.keys is None:
            return []
        out = []
        for crl in self.keys.trust.crls:
            nxt = crl.next_update_utc
            days = None if nxt is None else (nxt - now) / timedelta(days=1)
            level = (
                UNKNOWN
                if days is None
                else ERROR
                if days <= 0
                else WARNING
                if days <= CRL_WARN_DAYS
                else OK
            )
            out.append(
                {
                    "issuer": crl.issuer.rfc4514_string(),
                    "next_update": nxt.isoformat() if nxt else None,
                    "days_left": None if days is None else round(days, 1),
                    "revoked": len(crl),
                    "level": level,
                }
            )
        return out
