"""Retries and dead letters: list them with reasons and attempt history, and replay them.

The store is the truth (``deliveries.state``): a dead letter is a delivery in ``dead``, parked
by the consumer after ``delivery_max_attempts`` failures or a permanent one
(``gateway.core.deliver``); ``retrying`` ones wait in a delay queue and come back by
themselves. The broker's ``P.dead`` queue keeps the rejected AMQP message too, for operators
who look with RabbitMQ's tools; ``gateway.broker.inspect`` shows and tidies it.

A replay goes through the transactional outbox like an accept (invariant §3.1): ONE store
transaction moves the delivery ``dead -> pending`` (a fresh attempt budget, lifecycle.py),
writes a copy of its outbox row (same ``delivery_id``, ``doc_id``, routing key and claim
check) and the ``admin.replay`` trace event with who and why; then the relay publishes it.
The ids never change, so the receiver de-duplicates (§3.3): the consumer records the delivery
once, and any older copy that still turns up (from ``P.dead`` or a late redelivery) finds it
delivered and is acked without a second inbox row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edxml.organ import parse_organ_id
from gateway.blobs import Packages
from gateway.core.deliver import RetryPolicy
from gateway.core.errors import Problem, catalogue
from gateway.service.admin.errors import (
    REASON_REQUIRED,
    REPLAY_NOT_DEAD,
    REPLAY_NOT_FOUND,
    REPLAY_RECIPIENT_LOCKED,
    REPLAY_RECIPIENT_MERGED,
    REPLAY_TOO_MANY,
    conflict,
    invalid,
    not_found,
)
from gateway.service.hub import Refused
from gateway.store.base import Delivery, Message, NewOutbox, Store, TraceEvent
from gateway.store.errors import BadTransition
from gateway.store.lifecycle import DeliveryState

__all__ = [
    "REPLAY",
    "Attempt",
    "DeadLetterPage",
    "DeadLetters",
    "Parked",
    "ReplayOutcome",
    "explain",
]

#: The trace stage of a replay (README trace catalogue); it carries the document's DocId.
REPLAY = "admin.replay"
#: The states this view lists.
VIEW_STATES = (DeliveryState.DEAD, DeliveryState.RETRYING)
_HISTORY_STAGES = frozenset({"publish", "deliver", REPLAY})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of a delivery's history, from the trace (publish, deliver, replay)."""

    seq: int
    at: datetime
    node: str
    stage: str
    outcome: str  # ok, delivered, retry, dead_letter
    error: str | None = None  # the failure's code (retry) or the reason (dead_letter)
    attempt: int | None = None
    delay_seconds: float | None = None
    admin: str | None = None  # who replayed, and why
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Parked:
    """A delivery that is retrying or dead, with what an administrator needs to decide.

    The audit of a replay (``audit=``) is who did it, as the console's ``admin_event`` names
    them (``admin``, ``address``, ``via``) or ``{"via": "cli"}``.
    """

    delivery: Delivery
    message: Message
    reason_vi: str | None  # the last error explained, when its code is in the catalogue
    reason_en: str | None
    next_attempt_at: datetime | None  # retrying: when the delay queue hands it back
    history: tuple[Attempt, ...] = ()

    @property
    def failed_attempts(self) -> int:
        """Attempts that failed: ``Delivery.attempts`` counts those that were retried, so a
        dead delivery adds the failure that parked it."""
        d = self.delivery
        return d.attempts + 1 if d.state is DeliveryState.DEAD else d.attempts

    def as_json(self) -> dict[str, Any]:
        d, m = self.delivery, self.message
        return {
            "delivery_id": d.delivery_id,
            "doc_id": d.doc_id,
            "recipient": d.recipient,
            "route": d.route,
            "peer": d.peer,
            "state": d.state.value,
            "attempts": d.attempts,
            "failed_attempts": self.failed_attempts,
            "last_error": d.last_error,
            "reason_vi": self.reason_vi,
            "reason_en": self.reason_en,
            "created_at": d.created_at.isoformat(),
            "updated_at": d.updated_at.isoformat(),
            "next_attempt_at": _iso(self.next_attempt_at),
            "kind": m.kind,
            "sender": m.sender,
            "subject": m.subject,
            "code_notation": m.code_notation,
            "history": [
                {
                    "seq": a.seq,
                    "at": a.at.isoformat(),
                    "node": a.node,
                    "stage": a.stage,
                    "outcome": a.outcome,
                    "error": a.error,
                    "attempt": a.attempt,
                    "delay_seconds": a.delay_seconds,
                    "admin": a.admin,
                    "reason": a.reason,
                }
                for a in self.history
            ],
        }


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    items: list[Parked]
    next_cursor: str | None
    counts: Mapping[str, int]  # deliveries per state, for the tabs


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    delivery_id: str
    replayed: bool
    problem: Problem | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"delivery_id": self.delivery_id, "replayed": self.replayed}
        if self.problem is not None:
            out.update(
                code=self.problem.code,
                message_vi=self.problem.message_vi,
                message_en=self.problem.message_en,
            )
        return out


def explain(code: str | None, **params: object) -> tuple[str | None, str | None]:
    """The catalogue's Vietnamese and English text for a dead-letter reason, if it has one."""
    if not code:
        return None, None
    reason = next((r for r in catalogue() if r.code == code), None)
    if reason is None:
        return None, None  # an effect's own code (webhook.http_503...): shown as the code
    keep = _Keep(params)
    return reason.vi.format_map(keep), reason.en.format_map(keep)


class _Keep(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class DeadLetters:
    """The use cases of the dead-letter page and of ``/api/admin/v1/deadletters``."""

    def __init__(
        self,
        store: Store,
        *,
        node: str,
        exchange: str,
        blobs: Packages,
        policy: RetryPolicy,
        notify: Callable[[], None] = lambda: None,
        max_batch: int = 500,
    ) -> None:
        self.store = store
        self.node = node
        self.exchange = exchange  # P.route: where a rebuilt outbox row publishes
        self.blobs = blobs
        self.policy = policy
        self.notify = notify  # the relay's nudge after a commit (Hub.on_commit)
        self.max_batch = max_batch

    # -- reading ---------------------------------------------------------------------------
    async def page(
        self,
        *,
        state: DeliveryState | None = None,
        recipient: str | None = None,
        doc_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeadLetterPage:
        """Dead and retrying deliveries (or one of the two), most recently changed first."""
        states = [state] if state in VIEW_STATES else list(VIEW_STATES)
        found = await self.store.admin_deliveries(
            states, recipient=recipient, doc_id=doc_id, limit=limit, cursor=cursor
        )
        counts = await self.store.count_deliveries()
        return DeadLetterPage(
            items=[self._parked(i.delivery, i.message) for i in found.items],
            next_cursor=found.next_cursor,
            counts={s.value: counts.get(s, 0) for s in VIEW_STATES},
        )

    async def get(self, delivery_id: str) -> Parked:
        """One delivery with its whole history (any state: also after a replay)."""
        delivery = await self.store.get_delivery(delivery_id)
        message = None if delivery is None else await self.store.get_message(delivery.doc_id)
        if delivery is None or message is None:
            raise not_found(REPLAY_NOT_FOUND, delivery_id=delivery_id)
        history = await self.history(delivery)
        parked = self._parked(delivery, message)
        return Parked(
            delivery=parked.delivery,
            message=parked.message,
            reason_vi=parked.reason_vi,
            reason_en=parked.reason_en,
            next_attempt_at=parked.next_attempt_at,
            history=history,
        )

    async def history(self, delivery: Delivery) -> tuple[Attempt, ...]:
        rows = await self.store.trace_for(delivery.doc_id)
        out = []
        for row in rows:
            detail = row.detail
            mine = detail.get("delivery_id") == delivery.delivery_id
            if row.stage not in _HISTORY_STAGES or not mine:
                continue
            error = None
            if row.stage == "deliver":  # retry names the error, dead_letter the reason
                error = detail.get("error") or detail.get("reason")
            out.append(
                Attempt(
                    seq=row.seq,
                    at=row.at,
                    node=row.node,
                    stage=row.stage,
                    outcome=row.outcome,
                    error=_text(error),
                    attempt=(
                        _int(detail.get("attempt") or detail.get("attempts"))
                        if row.stage == "deliver"
                        else None
                    ),
                    delay_seconds=_float(detail.get("delay_seconds")),
                    admin=_text(detail.get("admin")) if row.stage == REPLAY else None,
                    reason=_text(detail.get("reason")) if row.stage == REPLAY else None,
                )
            )
        return tuple(out)

    def _parked(self, delivery: Delivery, message: Message) -> Parked:
        vi, en = explain(
            delivery.last_error, attempts=delivery.attempts, delivery_id=delivery.delivery_id
        )
        next_at = None
        if delivery.state is DeliveryState.RETRYING and delivery.attempts:
            next_at = delivery.updated_at + timedelta(seconds=self.policy.delay(delivery.attempts))
        return Parked(
            delivery=delivery, message=message, reason_vi=vi, reason_en=en, next_attempt_at=next_at
        )

    # -- replay ----------------------------------------------------------------------------
    async def replay(
        self,
        delivery_ids: Sequence[str],
        *,
        reason: str,
        audit: Mapping[str, Any] | None = None,
    ) -> list[ReplayOutcome]:
        """Replay each dead delivery (module doc); the others are refused one by one.

        Each replay is its own transaction: one refused copy does not hold back the others,
        and a double click finds the first one done (``admin.replay.not_dead``).
        """
        reason = reason.strip()
        if not reason:
            raise invalid(REASON_REQUIRED, action="replay / gửi lại")
        ids = list(dict.fromkeys(delivery_ids))
        if len(ids) > self.max_batch:
            raise invalid(REPLAY_TOO_MANY, limit=self.max_batch, count=len(ids))
        outcomes = []
        for delivery_id in ids:
            try:
                await self._replay_one(delivery_id, reason=reason, audit=audit or {})
            except Refused as refused:
                outcomes.append(ReplayOutcome(delivery_id, False, refused.problem))
            else:
                outcomes.append(ReplayOutcome(delivery_id, True))
        if any(o.replayed for o in outcomes):
            self.notify()
        return outcomes

    async def replay_matching(
        self,
        *,
        reason: str,
        audit: Mapping[str, Any] | None = None,
        recipient: str | None = None,
        doc_id: str | None = None,
    ) -> list[ReplayOutcome]:
        """Replay every dead letter of one recipient and/or document (up to ``max_batch``)."""
        page = await self.store.admin_deliveries(
            [DeliveryState.DEAD], recipient=recipient, doc_id=doc_id, limit=self.max_batch
        )
        ids = [i.delivery.delivery_id for i in page.items]
        return await self.replay(ids, reason=reason, audit=audit) if ids else []

    async def _replay_one(self, delivery_id: str, *, reason: str, audit: Mapping[str, Any]) -> None:
        delivery = await self.store.get_delivery(delivery_id)
        if delivery is None:
            raise not_found(REPLAY_NOT_FOUND, delivery_id=delivery_id)
        if delivery.state is not DeliveryState.DEAD:
            raise conflict(REPLAY_NOT_DEAD, delivery_id=delivery_id, state=delivery.state.value)
        agency = await self.store.resolve(delivery.recipient)
        if agency is not None and agency.state == "locked":
            raise conflict(REPLAY_RECIPIENT_LOCKED, recipient=delivery.recipient)
        if agency is not None and agency.state == "merged":
            raise conflict(
                REPLAY_RECIPIENT_MERGED,
                recipient=delivery.recipient,
                successor=agency.successor_id or "?",
            )
        copy, source = await self._outbox_copy(delivery)
        event = TraceEvent(
            node=self.node,
            stage=REPLAY,
            outcome="ok",
            doc_id=delivery.doc_id,
            detail={
                **audit,
                "delivery_id": delivery_id,
                "recipient": delivery.recipient,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
                "outbox": source,
                "reason": reason,
            },
        )
        try:
            moved = await self.store.set_delivery_state(
                delivery_id, DeliveryState.PENDING, outbox=[copy], trace=[event]
            )
        except BadTransition:
            moved = False  # someone replayed it and it was delivered in between
        if not moved:
            now = await self.store.get_delivery(delivery_id)
            state = now.state.value if now is not None else "?"
            raise conflict(REPLAY_NOT_DEAD, delivery_id=delivery_id, state=state)

    async def _outbox_copy(self, delivery: Delivery) -> tuple[NewOutbox, str]:
        """The delivery's last outbox row, as published the first time; rebuilt if purged."""
        rows = await self.store.outbox_rows(delivery.delivery_id)
        if rows:
            last = rows[-1]
            return (
                NewOutbox(
                    delivery_id=delivery.delivery_id,
                    exchange=last.exchange,
                    routing_key=last.routing_key,
                    headers=dict(last.headers),
                    body=last.body,
                ),
                "copied",
            )
        message = await self.store.get_message(delivery.doc_id)
        if message is None:  # a delivery without its message breaks a foreign key
            raise RuntimeError(f"delivery {delivery.delivery_id} has no message")
        # The same row route.py writes (headers and claim check), for rows purged since.
        headers = {
            "doc_id": delivery.doc_id,
            "delivery_id": delivery.delivery_id,
            "kind": message.kind,
            "sender": message.sender,
            "recipient": delivery.recipient,
            "route": delivery.route,
        }
        if delivery.peer is not None:
            headers["peer"] = delivery.peer
        claim = {
            "doc_id": delivery.doc_id,
            "delivery_id": delivery.delivery_id,
            "blob_key": message.blob_key,
            "sha256": await _sha256(self.blobs, message.blob_key),
        }
        return (
            NewOutbox(
                delivery_id=delivery.delivery_id,
                exchange=self.exchange,
                routing_key=parse_organ_id(delivery.recipient).routing_key,
                headers=headers,
                body=json.dumps(claim, sort_keys=True, separators=(",", ":")).encode(),
            ),
            "rebuilt",
        )


async def _sha256(packages: Packages, key: str) -> str:
    """Of the sealed package: the bytes the store keeps, or its file read in a thread."""
    body = await packages.body(key)
    if isinstance(body, bytes):
        return hashlib.sha256(body).hexdigest()
    return await asyncio.to_thread(_file_sha256, body)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
