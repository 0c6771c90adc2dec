"""The outbox relay: publish committed outbox rows with publisher confirms, then mark them sent.

This is the second half of invariant §3.1 (accepted means durable): ingress commits the message
and its outbox rows in one store transaction; the relay leases a batch of unpublished rows
(``Store.claim_outbox``), publishes every row of the batch at once and gathers the confirms
(performance.md: awaiting each confirm in turn caps a hub at ~600-1,000 msg/s, keeping many in
flight reaches ~5,000), and marks published only the rows the broker confirmed
(``Store.mark_published``). A row that was nacked, returned or caught in a connection loss is
simply left alone: its lease expires and a relay (this one or another node's) publishes it
again. A row may therefore be published twice; every message carries ``message_id`` =
delivery_id and the consumer de-duplicates against the store (§3.3).

Direct dispatch: while its channel is open, the relay lends ingress an :class:`OutboxClaim`
(:meth:`Relay.claim`); ``store.accept`` then writes the package's outbox rows already leased
to this node and returns them, and :meth:`Relay.dispatch` publishes them from memory. That
saves a ``claim_outbox`` transaction (a WAL sync on SQLite) and a store round trip per package
when the hub is not busy enough to batch them. Rows dispatched but never published (the node
stopped, the channel died) are the store's like any claimed row: the lease runs out and a
relay claims them again.

Ingress keeps accepting while RabbitMQ is down: rows wait in the outbox, the relay pauses
while its channel is closed and catches up after the robust connection is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, DeliveryMode
from pamqp.commands import Basic

from gateway import logs
from gateway.broker.errors import translate
from gateway.store.base import OutboxClaim, OutboxLag, OutboxRow, Store, TraceEvent
from gateway.store.errors import StoreError

if TYPE_CHECKING:
    from gateway.metrics import Metrics

__all__ = ["Relay"]

log = logging.getLogger(__name__)


class Relay:
    """Moves rows from the store's outbox to RabbitMQ; one per process is enough.

    Run it with ``await relay.run(stop)``; call :meth:`notify` after a commit that wrote outbox
    rows so they go out at once instead of at the next poll. ``stats`` counts ``published``,
    ``failed`` (nacked, lost in a connection drop, timed out) and ``returned`` (reached no queue
    at all; with ``P.route``'s alternate exchange that means the uplink queue is missing).
    """

    def __init__(
        self,
        store: Store,
        channel: AbstractChannel,
        *,
        node: str,
        batch_size: int = 256,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.2,
        confirm_timeout: float = 10.0,
        lag_warning_seconds: float = 60.0,
        pipeline: int = 2,
        direct_limit: int = 4096,
        metrics: Metrics | None = None,
    ) -> None:
        if lease_seconds <= confirm_timeout:
            # A lease shorter than the wait for a confirm lets another relay publish the same
            # rows while this one still waits: harmless (dedupe) but wasteful.
            log.warning(
                "relay lease (%ss) <= confirm timeout (%ss)", lease_seconds, confirm_timeout
            )
        self.store = store
        self.channel = channel  # must have publisher confirms on (Broker.channel() does)
        self.node = node
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.confirm_timeout = confirm_timeout
        self.lag_warning_seconds = lag_warning_seconds
        # Batches in progress at once: while one waits for its confirms, the next is claimed
        # and the previous marked, so the store's two commits per batch (~25% of the time
        # when done in turn) overlap the publishing. Leases keep the batches disjoint.
        self.pipeline = max(1, pipeline)
        self.stats: Counter[str] = Counter()
        self.metrics = metrics  # the node's metrics (gateway/metrics.py); None counts nothing
        self._wake = asyncio.Event()
        self._exchanges: dict[str, AbstractExchange] = {}
        # Rows ingress committed leased to this node (dispatch), waiting to be published;
        # beyond direct_limit ingress writes plain rows and the relay claims them instead.
        self.direct_limit = direct_limit
        self._direct: deque[tuple[float, OutboxRow]] = deque()  # (monotonic time, row)
        self._claim = OutboxClaim(node, lease_seconds)

    def notify(self) -> None:
        """New outbox rows were committed: publish now rather than at the next poll."""
        self._wake.set()

    def claim(self) -> OutboxClaim | None:
        """The lease ingress may write its outbox rows with, or None to write them plain
        (channel closed: nobody would publish them before the lease ran out; or backlog)."""
        if self.channel.is_closed or len(self._direct) >= self.direct_limit:
            return None
        return self._claim

    def dispatch(self, rows: Sequence[OutboxRow]) -> None:
        """Rows committed under :meth:`claim`'s lease: publish them now, without a claim."""
        now = time.monotonic()
        self._direct.extend((now, row) for row in rows)
        self._wake.set()

    async def lag(self) -> OutboxLag:
        """Unpublished rows and the age of the oldest, as the store counts them."""
        return await self.store.outbox_lag()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; batches already claimed are finished first."""
        workers = [
            asyncio.create_task(self._work(stop, report=i == 0)) for i in range(self.pipeline)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, stop: asyncio.Event, *, report: bool) -> None:
        loop = asyncio.get_running_loop()
        next_report = loop.time()
        while not stop.is_set():
            claimed, published = 0, self.stats["published"]
            if self.channel.is_closed:
                pass  # reconnecting: claiming now would only burn leases
            else:
                try:
                    claimed = await self.relay_once()
                except StoreError as exc:
                    log.warning("outbox relay: the store failed (%s); retrying", exc)
                except Exception:
                    # Never let the relay die silently: accepted packages would pile up unseen.
                    log.exception("outbox relay: unexpected error; retrying")
            if report and loop.time() >= next_report:
                next_report = loop.time() + max(self.lag_warning_seconds, 1.0)
                await self._report_lag()
            # A full, fully confirmed batch means more may be waiting: go on at once. Anything
            # else (idle, or publishes failing) waits for a notify or the next poll.
            if claimed < self.batch_size or self.stats["published"] - published < claimed:
                await self._sleep(stop)

    async def relay_once(self) -> int:
        """Take one batch (dispatched rows first, else a claim from the store), publish it
        with confirms, mark the confirmed rows; returns the rows taken."""
        rows = self._take_direct()
        if not rows:
            rows = await self.store.claim_outbox(self.batch_size, self.node, self.lease_seconds)
        if not rows:
            return 0
        started = time.perf_counter()
        results = await asyncio.gather(*(self._publish(row) for row in rows))
        done = [row for row, ok in zip(rows, results, strict=True) if ok]
        confirmed = [row.id for row in done]
        if confirmed:
            # If this commit fails the rows are published again after their lease: duplicates,
            # which receivers absorb, never a loss.
            await self.store.mark_published(confirmed, [self._event(row) for row in done])
        self.stats["published"] += len(confirmed)
        self.stats["batches"] += 1
        if self.metrics is not None:
            self.metrics.observe("publish", time.perf_counter() - started)
        return len(rows)

    def _take_direct(self) -> list[OutboxRow]:
        """Up to a batch of dispatched rows whose lease still has a confirm's time left (an
        older one may be another relay's by now: it is left to the claim path)."""
        rows: list[OutboxRow] = []
        oldest = time.monotonic() - (self.lease_seconds - self.confirm_timeout)
        while self._direct and len(rows) < self.batch_size:
            dispatched, row = self._direct.popleft()
            if dispatched >= oldest:
                rows.append(row)
            else:
                self.stats["direct_expired"] += 1
        return rows

    def _event(self, row: OutboxRow) -> TraceEvent:
        """``publish/ok``: RabbitMQ confirmed the delivery's message (the trace's hop timing)."""
        doc_id = row.headers.get("doc_id")
        return TraceEvent(
            node=self.node,
            stage="publish",
            outcome="ok",
            doc_id=str(doc_id) if doc_id else None,
            detail={
                "delivery_id": row.delivery_id,
                "exchange": row.exchange,
                "routing_key": row.routing_key,
            },
        ).serialised()  # here, not on the store's writer (TraceEvent.serialised)

    async def _publish(self, row: OutboxRow) -> bool:
        # Its own task (gather): the binding names this row's package in its log lines only.
        logs.bind(delivery_id=row.delivery_id, doc_id=row.headers.get("doc_id"))
        message = aio_pika.Message(
            body=row.body,
            headers=dict(row.headers),
            # Receivers de-duplicate on it (§3.3); rows without a delivery still get a stable id.
            message_id=row.delivery_id or f"outbox-{row.id}",
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        try:
            exchange = await self._exchange(row.exchange)
            result = await exchange.publish(
                message, row.routing_key, mandatory=True, timeout=self.confirm_timeout
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being stopped
            # aiormq cancels the pending confirms of a channel that closes under them.
            self.stats["failed"] += 1
            return False
        except Exception as exc:
            self.stats["failed"] += 1
            error = translate(exc)
            log.debug("outbox row %s not published: %s", row.id, error)
            return False
        if isinstance(result, Basic.Ack):
            return True
        # Basic.Return (mandatory): no queue took it, not even the alternate exchange's uplink
        # queue. Unknown routing keys never come back here; a missing queue does, so keep the
        # row and let it be published again once the topology is back.
        self.stats["returned"] += 1
        log.warning(
            "outbox row %s to %s/%s reached no queue; will retry",
            row.id,
            row.exchange,
            row.routing_key,
        )
        return False

    async def _exchange(self, name: str) -> AbstractExchange:
        exchange = self._exchanges.get(name)
        if exchange is None:
            if name == "":
                exchange = self.channel.default_exchange
            else:  # declared by topology.declare; not re-declared per publish
                exchange = await self.channel.get_exchange(name, ensure=False)
            self._exchanges[name] = exchange
        return exchange

    async def _sleep(self, stop: asyncio.Event) -> None:
        if self._direct and not self.channel.is_closed:
            return  # dispatched rows wait (another batch's wake may have been cleared)
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        self._wake.clear()

    async def _report_lag(self) -> None:
        try:
            lag = await self.store.outbox_lag()
        except StoreError:
            return
        self.stats["unpublished"] = lag.unpublished
        if lag.oldest_age_seconds > self.lag_warning_seconds:
            log.warning(
                "outbox lag: %d rows unpublished, oldest %.0f s (is RabbitMQ reachable?)",
                lag.unpublished,
                lag.oldest_age_seconds,
            )
