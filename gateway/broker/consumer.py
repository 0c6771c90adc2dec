"""Consume a queue and settle every message by the core's ACK_POLICY: the one module that acks.

Invariant §3.2 (ack after effect) lives here and nowhere else; style.md §7. For each message:

1. read the delivery named by the ``delivery_id`` header from the store;
2. ``decide(...)`` (sans-io, ``gateway/core/deliver.py``) says what to do;
3. for :class:`RecordDelivery`, run the *effect* (a pluggable callable: nothing more than the
   store row for a local inbox the agency pulls over HTTP; a webhook POST or a peer hand-over
   for other adapters). An effect that raises :class:`EffectFailed` (or crashes) is decided
   again with that failure and becomes Retry or DeadLetter;
4. commit the decision in the store, THEN settle the message:

   ============== ============================================ =================================
   decision       store (committed first)                      RabbitMQ
   ============== ============================================ =================================
   RecordDelivery record_delivery(id, trace)                   ack
   AlreadyDone    nothing (a redelivery, §3.3)                 ack
   Retry          set_delivery_state(each transition)          copy to P.retry.<s>, confirm, ack
   DeadLetter     set_delivery_state(DEAD) (or the trace only) reject(requeue=False) -> P.dead
   (deferred)     nothing: the effect's destination is down    nack(requeue=True), no attempt
   anything fails nothing, or part (each step is idempotent)   nack(requeue=True) after a pause
   ============== ============================================ =================================

A message is never acked before its effect is durable; if the channel dies between commit and
ack the broker redelivers and the store answers ``AlreadyDone``. Handlers run in tasks owned by
the consumer (not by aiormq, which cancels its consumer tasks when a channel closes), so a
store commit in progress is never cut in half by a connection loss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    ConsumerTag,
    DeliveryMode,
)
from pamqp.commands import Basic

from gateway import logs
from gateway.broker.errors import EffectDeferred, EffectFailed, PublishFailed, translate
from gateway.broker.topology import Topology
from gateway.core.deliver import (
    ACK_POLICY,
    DEFAULT_RETRY,
    ON_COMMIT_FAILURE,
    AlreadyDone,
    DeadLetter,
    Decision,
    Failure,
    RecordDelivery,
    Retry,
    RetryPolicy,
    decide,
)
from gateway.core.deliver import Ack as Settle
from gateway.store.base import Delivery, Store
from gateway.store.lifecycle import DeliveryState

if TYPE_CHECKING:
    from gateway.metrics import Metrics

__all__ = ["EFFECT_CRASHED", "Consumer", "Effect", "Handover", "record_only"]

log = logging.getLogger(__name__)

#: The failure code when an effect raised something other than EffectFailed (a bug or an
#: unexpected library error): retried like a transient failure, and logged with its traceback.
EFFECT_CRASHED = "broker.effect_crashed"


@dataclass(frozen=True, slots=True)
class Handover:
    """What an effect receives: the decision and the message as it came off the queue."""

    decision: RecordDelivery
    routing_key: str
    headers: Mapping[str, Any]
    body: bytes  # the claim check (invariant §3.5), not the package
    message_id: str | None
    redelivered: bool


#: Performs the effect of one delivery; raises EffectFailed to ask for a retry or a dead letter.
Effect = Callable[[Handover], Awaitable[None]]


async def record_only(handover: Handover) -> None:
    """The local inbox's effect: the row ``record_delivery`` commits IS the delivery.

    The agency's system then pulls it over HTTP (VDXP ``getReceivedEdocList``) and acknowledges.
    """


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Consumer:
    """Consumes one queue with a prefetch limit and settles every message by ``ACK_POLICY``.

    Give each consumer its own channel (``Broker.channel()``): the prefetch is set per channel,
    and a channel error (e.g. a failed ack) then disturbs only this queue.
    """

    def __init__(
        self,
        store: Store,
        channel: AbstractRobustChannel,
        topology: Topology,
        queue: str,
        *,
        node: str,
        effect: Effect = record_only,
        policy: RetryPolicy = DEFAULT_RETRY,
        prefetch: int = 64,
        requeue_pause: float = 1.0,
        confirm_timeout: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.channel = channel  # robust, publisher confirms on: the retry copy is confirmed
        self.topology = topology
        self.queue_name = queue
        self.node = node
        self.effect = effect
        self.policy = policy
        self.prefetch = prefetch
        # After a failed commit the broker would redeliver at once; pause so a store outage
        # does not become a hot loop.
        self.requeue_pause = requeue_pause
        self.confirm_timeout = confirm_timeout
        self.clock = clock
        self.metrics = metrics  # the node's metrics (gateway/metrics.py); None counts nothing
        self.stats: Counter[str] = Counter()
        self._queue: AbstractQueue | None = None
        self._tag: ConsumerTag | None = None
        self._tasks: set[asyncio.Task[Settle]] = set()
        self._exchanges: dict[str, AbstractExchange] = {}
        # delivery_id -> set when the handler holding it is done (see handle()).
        self._inflight: dict[str, asyncio.Event] = {}

    @property
    def in_flight(self) -> int:
        """Messages being handled right now (taken off the queue, not settled yet)."""
        return len(self._tasks)

    async def start(self) -> None:
        """Declare the queue (same arguments as the topology) and start consuming."""
        try:
            await self.channel.set_qos(prefetch_count=self.prefetch)
            # Declared robustly on this channel: aio-pika re-declares it and re-consumes after
            # a reconnect, with the prefetch above.
            self._queue = await self.channel.declare_queue(
                self.queue_name,
                durable=True,
                arguments=self.topology.arguments_for(self.queue_name),
            )
            self._tag = await self._queue.consume(self._on_message)
        except Exception as exc:
            raise translate(exc) from exc

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages and let the ones in hand finish (their acks included)."""
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception as exc:  # the channel is gone: nothing more will arrive anyway
                log.debug("cancelling consumer of %s: %s", self.queue_name, exc)
            self._tag = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:  # unacked: the broker redelivers them
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self.handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, message: AbstractIncomingMessage) -> Settle:
        """Decide, perform, commit, settle one message; returns how it was settled."""
        headers: dict[str, Any] = dict(message.headers or {})
        key = _delivery_id(headers)
        # Every log line about this message names it (each message runs in its own task).
        logs.bind(delivery_id=key, doc_id=_text(headers.get("doc_id")), queue=self.queue_name)
        # A redelivery can overtake the first copy's handler (its channel died after the
        # effect, before the ack). Waiting for that handler turns the copy into AlreadyDone
        # instead of a second effect (a second webhook POST): fewer duplicates, same outcome.
        while key is not None and (running := self._inflight.get(key)) is not None:
            await running.wait()
        done = asyncio.Event()
        if key is not None:
            self._inflight[key] = done
        try:
            return await self._handle(message, headers)
        finally:
            if key is not None:
                del self._inflight[key]
            done.set()

    async def _handle(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> Settle:
        started = time.perf_counter()
        delivery: Delivery | None = None
        committed: Decision | None = None
        try:
            delivery = await self._lookup(headers)
            decision = await self._decide(message, headers, delivery)
            await self._commit(decision)
            committed = decision
            if isinstance(decision, DeadLetter):
                log.warning("delivery dead-lettered: %s", decision.reason)
            elif isinstance(decision, Retry):
                log.info(
                    "delivery attempt %d failed (%s); retry in %.0f s",
                    decision.attempt,
                    decision.error,
                    decision.delay_seconds,
                )
            settle = ACK_POLICY[type(decision)].ack
            if settle is Settle.DELAY:
                assert isinstance(decision, Retry)
                await self._delay(message, headers, decision)
        except asyncio.CancelledError:
            raise
        except EffectDeferred as exc:
            # The effect's destination is down and it already waited: back to the queue as it
            # was, no attempt counted (errors.EffectDeferred).
            log.debug("message %s on %s deferred: %s", message.message_id, self.queue_name, exc)
            settle = Settle.REQUEUE
        except Exception as exc:
            # Nothing (or an idempotent part) was recorded: hand it back to the broker.
            log.warning("message %s on %s: %s; requeued", message.message_id, self.queue_name, exc)
            settle = ON_COMMIT_FAILURE
            await asyncio.sleep(self.requeue_pause)
        await self._settle(message, settle)
        self.stats[settle.value] += 1
        if self.metrics is not None:
            self.metrics.settled(committed, delivery, time.perf_counter() - started, self.clock())
        return settle

    async def _decide(
        self, message: AbstractIncomingMessage, headers: dict[str, Any], delivery: Delivery | None
    ) -> Decision:
        now = self.clock()
        decision = decide(delivery, headers, node=self.node, now=now, policy=self.policy)
        if not isinstance(decision, RecordDelivery):
            return decision
        handover = Handover(
            decision=decision,
            routing_key=message.routing_key or "",
            headers=headers,
            body=message.body,
            message_id=message.message_id,
            redelivered=bool(message.redelivered),
        )
        try:
            await self.effect(handover)
        except (asyncio.CancelledError, EffectDeferred):
            raise
        except EffectFailed as exc:
            failure = exc.failure
        except Exception:
            log.exception("effect for delivery %s crashed", decision.delivery_id)
            failure = Failure(EFFECT_CRASHED, retryable=True)
        else:
            return decision
        return decide(
            delivery, headers, node=self.node, now=now, failure=failure, policy=self.policy
        )

    async def _lookup(self, headers: Mapping[str, Any]) -> Delivery | None:
        delivery_id = _delivery_id(headers)
        if delivery_id is None:
            return None  # decide() dead-letters it as deliver.bad_headers
        return await self.store.get_delivery(delivery_id)

    async def _commit(self, decision: Decision) -> None:
        """Make the decision durable; every call here is idempotent, so a requeue is safe."""
        if isinstance(decision, RecordDelivery):
            # False means it already was delivered (a concurrent duplicate): same outcome.
            await self.store.record_delivery(decision.delivery_id, decision.trace)
        elif isinstance(decision, AlreadyDone):
            pass
        elif isinstance(decision, Retry):
            await self._transitions(
                decision.delivery_id, decision.transitions, decision.error, decision.trace
            )
        elif decision.delivery_id is not None and decision.transitions:
            await self._transitions(
                decision.delivery_id, decision.transitions, decision.reason, decision.trace
            )
        else:  # a malformed message: no delivery to move, but the admin must see it (§3.7)
            await self.store.append_trace(decision.trace)

    async def _transitions(
        self,
        delivery_id: str,
        states: tuple[DeliveryState, ...],
        error: str,
        trace: tuple[Any, ...],
    ) -> None:
        # One store call per edge (queued -> retrying counts the attempt); the trace goes with
        # the last one so it is written once, when the decision is complete.
        for i, state in enumerate(states):
            last = i == len(states) - 1
            await self.store.set_delivery_state(
                delivery_id,
                state,
                error=error if state in (DeliveryState.RETRYING, DeliveryState.DEAD) else None,
                trace=trace if last else (),
            )

    async def _delay(
        self, message: AbstractIncomingMessage, headers: Mapping[str, Any], decision: Retry
    ) -> None:
        """Publish a copy to the delay queue and wait for its confirm (then the caller acks)."""
        name = self.topology.retry_for(decision.delay_seconds)
        copy = aio_pika.Message(
            body=message.body,
            # x-death and x-delivery-count belong to the broker; the delay queue sets its own.
            headers={k: v for k, v in headers.items() if not k.startswith("x-")},
            message_id=message.message_id,
            content_type=message.content_type,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        try:
            exchange = self._exchanges.get(name)
            if exchange is None:
                exchange = await self.channel.get_exchange(name, ensure=False)
                self._exchanges[name] = exchange
            # Same routing key: when the TTL expires the delay queue dead-letters the copy to
            # P.route with it, and it reaches the same queue again (topology.py).
            result = await exchange.publish(
                copy, message.routing_key or "", mandatory=True, timeout=self.confirm_timeout
            )
        except Exception as exc:
            raise translate(exc) from exc
        if not isinstance(result, Basic.Ack):
            raise PublishFailed(
                f"hàng đợi chờ {name} không nhận bản sao",
                f"the delay queue {name} did not take the copy (missing queue?)",
            )

    async def _settle(self, message: AbstractIncomingMessage, settle: Settle) -> None:
        try:
            if settle in (Settle.ACK, Settle.DELAY):
                await message.ack()
            elif settle is Settle.DEAD_LETTER:
                # The queue's x-dead-letter-exchange moves it to P.dead with an x-death header.
                await message.reject(requeue=False)
            else:
                await message.nack(requeue=True)
        except Exception as exc:
            # The channel closed under us: the broker requeues everything unacked on it and
            # redelivers; the store makes that harmless (AlreadyDone).
            log.info(
                "could not %s message %s (the broker will redeliver it): %s",
                settle.value,
                message.message_id,
                translate(exc),
            )


def _delivery_id(headers: Mapping[str, Any]) -> str | None:
    value = headers.get("delivery_id")
    if isinstance(value, bytes):  # AMQP long strings may arrive as bytes
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None
