"""The store seam: the ``Store`` protocol and the frozen rows that cross it.

``gateway/store`` is the only package that writes durable state (style.md §3). Both backends,
``sqlite.SqliteStore`` and ``postgres.PostgresStore``, implement :class:`Store` and pass the
same contract tests (``tests/gateway/store/test_contract.py``).

Conventions every method keeps:

- Each write method runs in ONE transaction, including the trace events it is given
  (``trace=``), which are appended last, on the hash chain (architecture §3.1, §3.7). When a
  write turns out to be a no-op (a duplicate accept, a repeated transition, a duplicate status)
  it writes nothing at all, trace included, and says so in its return value.
- Timestamps go in aware (a naive one raises ``store.invalid``) and come out aware in UTC.
- The store never holds package bytes: ``Message.blob_key`` is a claim check.
- Errors are ``gateway.store.errors.StoreError`` with a stable code; see that module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from gateway.store.lifecycle import DeliveryState

__all__ = [
    "AcceptResult",
    "Agency",
    "AgencyState",
    "Delivery",
    "Host",
    "InboxItem",
    "InboxPage",
    "Kind",
    "Message",
    "NewDelivery",
    "NewOutbox",
    "OutboxLag",
    "OutboxRow",
    "ProgressRow",
    "Route",
    "StatusEvent",
    "Store",
    "System",
    "TraceEvent",
    "TraceRow",
    "VerifyResult",
]

Kind = Literal["edoc", "status"]
Route = Literal["local", "downlink", "uplink"]
Host = Literal["local", "downlink", "uplink"]
AgencyState = Literal["active", "locked", "merged"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One accepted package (edoc or status); the raw bytes live in the blob store."""

    doc_id: str  # gateway-assigned, the DocId the sender gets back
    kind: Kind
    sender: str  # From organ id, canonical
    document_id: str  # edXML DocumentId, verbatim
    received_at: datetime
    sha256: str  # hex digest of the package as received
    size: int
    blob_key: str
    # Computed by the caller, e.g. "sender|DocumentId|business type|kind"; a second accept
    # with the same key returns this message's doc_id (architecture §3.3).
    dedup_key: str
    business_type: int | None = None  # BussinessDocType 0-3 for edoc, None for status
    status_code: str | None = None  # for status packages
    response_for_document_id: str | None = None
    response_for_organ_id: str | None = None
    subject: str | None = None
    code_notation: str | None = None
    system_id: str | None = None  # the agency system that submitted it


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDelivery:
    """A delivery to create with its message; it starts ``pending``."""

    delivery_id: str
    recipient: str
    route: Route
    peer: str | None = None  # name of the downlink/uplink peer for those routes


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    delivery_id: str
    doc_id: str
    recipient: str
    route: Route
    peer: str | None
    state: DeliveryState
    attempts: int  # failed attempts since creation or the last replay
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    acked_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOutbox:
    """A broker publish to perform after commit; ``body`` is a small claim-check, not a package."""

    delivery_id: str | None
    exchange: str
    routing_key: str
    headers: Mapping[str, Any] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    id: int
    delivery_id: str | None
    exchange: str
    routing_key: str
    headers: Mapping[str, Any]
    body: bytes
    created_at: datetime
    published_at: datetime | None
    attempts: int  # times claimed by a relay
    claimed_by: str | None
    claimed_until: datetime | None


class OutboxLag(NamedTuple):
    unpublished: int  # rows not yet published
    oldest_age_seconds: float  # age of the oldest of them; 0.0 when there are none


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptResult:
    doc_id: str
    created: bool  # False: a duplicate of an earlier package; nothing was written


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxItem:
    delivery: Delivery
    message: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxPage:
    items: list[InboxItem]
    next_cursor: str | None  # pass back for the next page; None at the end


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusEvent:
    """One business status about one original document, as reported.

    ``recipient`` is always the original document's *recipient* and ``from_organ`` the status
    package's ``From``: for 01-06/15/16 these are the same organ, for a 13 (recall) the
    sender asks and ``ResponseFor/OrganId`` names the recipient (edxml.md §2.2: Bkav swaps
    them too). ``doc_id`` is the original's doc_id, None when we never saw the original.
    """

    status_doc_id: str  # doc_id of the status package itself: the de-duplication key
    doc_id: str | None
    recipient: str
    from_organ: str
    code: str  # verbatim StatusCode
    at: datetime  # the status Timestamp
    description: str | None = None
    recorded_at: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressRow:
    """The monotonic progress of one (original document, recipient); see ``progress.py``."""

    doc_id: str
    recipient: str
    level: str | None
    level_at: datetime | None
    change_state: str | None  # 13 requested, 15 accepted, 16 refused
    change_at: datetime | None
    last_code: str | None  # the most recently *arrived* code, for display
    events: int  # distinct status events counted
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEvent:
    """A trace event to append; ``at`` None means the commit time (the store's clock)."""

    node: str
    stage: str
    outcome: str
    doc_id: str | None = None  # None for admin actions
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRow:
    seq: int
    doc_id: str | None
    node: str
    stage: str
    outcome: str
    detail: Mapping[str, Any]
    at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    ok: bool
    checked: int  # entries whose hash was recomputed
    first_broken_seq: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Agency:
    """A directory entry (architecture §4); ``organ_id`` is the canonical id."""

    organ_id: str
    name: str
    level: int | None = None
    parent_id: str | None = None
    host: Host = "uplink"
    peer: str | None = None
    state: AgencyState = "active"
    successor_id: str | None = None  # set when merged
    delivery_mode: str | None = None  # for local agencies: pull, push, amqp, folder, ...
    updated_at: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True, kw_only=True)
class System:
    """An agency system allowed to connect, and the agencies it may act for.

    ``secret`` is the VDXP HMAC key, stored as given: the database file (SQLite) or server
    (PostgreSQL) must be protected at rest by filesystem permissions and access control. The
    SQLite backend creates a new database file with mode 0600 for that reason.
    """

    system_id: str
    name: str
    token_sha256: str | None = field(default=None, repr=False)
    cert_sha256: str | None = None
    secret: str | None = field(default=None, repr=False)
    signature_policy: str = "strict"  # strict | lenient | off (architecture §5)
    validation_mode: str = "strict"
    revoked: bool = False
    agencies: tuple[str, ...] = ()
    created_at: datetime | None = None  # set by the store


class Store(Protocol):
    """Durable state of one gateway: messages, deliveries, outbox, statuses, trace, directory."""

    # -- lifetime --------------------------------------------------------------------------
    async def migrate(self) -> list[int]:
        """Apply missing schema migrations in one transaction; return the versions applied."""
        ...

    async def health(self) -> bool:
        """True when the database answers a trivial query; never raises."""
        ...

    async def close(self) -> None:
        """Close every connection; idempotent. Later calls raise ``store.unavailable``."""
        ...

    # -- accepting (architecture §3.1, §3.3) -----------------------------------------------
    async def accept(
        self,
        message: Message,
        deliveries: Sequence[NewDelivery],
        outbox: Sequence[NewOutbox],
        trace: Sequence[TraceEvent],
        *,
        status: StatusEvent | None = None,
    ) -> AcceptResult:
        """Commit a package with its deliveries, outbox rows, trace (and status event).

        For a known ``dedup_key`` nothing is written and the original doc_id comes back with
        ``created=False``.
        """
        ...

    async def get_message(self, doc_id: str) -> Message | None: ...

    async def find_message_by_document_id(self, sender: str, document_id: str) -> Message | None:
        """The earliest *edoc* message from ``sender`` with this DocumentId (for statuses and
        recalls, whose ResponseFor names the original by these two)."""
        ...

    # -- deliveries ------------------------------------------------------------------------
    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def list_deliveries(
        self, *, doc_id: str | None = None, state: DeliveryState | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries of one message, or in one state (the dead-letter view), oldest first."""
        ...

    async def set_delivery_state(
        self,
        delivery_id: str,
        new_state: DeliveryState,
        *,
        error: str | None = None,
        outbox: Sequence[NewOutbox] = (),
        trace: Sequence[TraceEvent] = (),
    ) -> bool:
        """Move along ``lifecycle.TRANSITIONS``; False for a repeat, ``store.bad_transition``
        for an illegal edge. ``outbox`` rows are written with it (e.g. the republish of a
        dead -> pending replay); entering ``retrying`` counts an attempt."""
        ...

    async def record_delivery(self, delivery_id: str, trace: Sequence[TraceEvent] = ()) -> bool:
        """The consumer's effect: pending/queued/retrying -> delivered. False if it already
        was (a RabbitMQ redelivery: ack it and move on)."""
        ...

    async def acknowledge(
        self,
        delivery_id: str,
        recipient: str,
        ok: bool,
        reason: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> bool:
        """The receiving system's done/fail. ``store.not_found`` unless the delivery is
        addressed to ``recipient``; False for a repeat of the same answer."""
        ...

    # -- outbox relay ----------------------------------------------------------------------
    async def claim_outbox(self, limit: int, node_id: str, lease_seconds: float) -> list[OutboxRow]:
        """Lease up to ``limit`` unpublished rows, oldest first, that no live lease holds."""
        ...

    async def mark_published(self, ids: Sequence[int], trace: Sequence[TraceEvent] = ()) -> int:
        """Mark confirmed rows published and their pending deliveries queued; returns rows."""
        ...

    async def outbox_lag(self) -> OutboxLag: ...

    async def purge_outbox(self, published_before: datetime) -> int:
        """Delete rows published before the given time; returns how many."""
        ...

    # -- inbox -----------------------------------------------------------------------------
    async def list_inbox(
        self,
        recipient_ids: Sequence[str],
        *,
        state: DeliveryState | None = None,
        since: datetime | None = None,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        """Local deliveries in delivered/done/failed for these recipients, by delivery time."""
        ...

    # -- statuses and progress (architecture §3.6) ------------------------------------------
    async def record_status(self, event: StatusEvent, trace: Sequence[TraceEvent] = ()) -> bool:
        """Store the event and fold it into progress; False for a known status_doc_id."""
        ...

    async def get_progress(self, doc_id: str) -> list[ProgressRow]: ...

    async def list_status_events(self, doc_id: str) -> list[StatusEvent]: ...

    # -- trace (architecture §3.7) -----------------------------------------------------------
    async def append_trace(self, events: Sequence[TraceEvent]) -> list[TraceRow]: ...

    async def trace_for(self, doc_id: str) -> list[TraceRow]: ...

    async def verify_trace(self, start: int | None = None) -> VerifyResult:
        """Recompute the chain from ``start`` (default: the first entry) to the head."""
        ...

    # -- directory (architecture §4) ---------------------------------------------------------
    async def upsert_agency(self, agency: Agency, trace: Sequence[TraceEvent] = ()) -> Agency: ...

    async def add_alias(self, alias: str, organ_id: str, trace: Sequence[TraceEvent] = ()) -> None:
        """Map ``alias`` to a known agency (re-mapping an existing alias is allowed)."""
        ...

    async def list_aliases(self, organ_id: str) -> list[str]: ...

    async def alias_map(self) -> dict[str, str]:
        """Every alias → its canonical organ id (to load the router's directory at once)."""
        ...

    async def resolve(self, organ_id_or_alias: str) -> Agency | None:
        """The agency by canonical id or alias. Merges are NOT followed: the router decides."""
        ...

    async def list_agencies(
        self,
        *,
        parent: str | None = None,
        host: Host | None = None,
        state: AgencyState | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Agency]:
        """Agencies ordered by organ_id; page with ``after`` = the last organ_id seen."""
        ...

    async def set_agency_state(
        self,
        organ_id: str,
        state: AgencyState,
        *,
        successor_id: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> Agency:
        """Lock, reactivate or merge (``successor_id`` required for merged)."""
        ...

    # -- systems -----------------------------------------------------------------------------
    async def upsert_system(self, system: System, trace: Sequence[TraceEvent] = ()) -> System:
        """Create or replace a system, its agencies included; ``created_at`` is kept."""
        ...

    async def get_system(self, system_id: str) -> System | None: ...

    async def find_system_by_token_hash(self, token_sha256: str) -> System | None:
        """Revoked systems are returned too, so the caller can say *why* it refuses."""
        ...

    async def find_system_by_cert(self, cert_sha256: str) -> System | None: ...

    async def list_systems(self) -> list[System]: ...

    async def set_system_agencies(
        self, system_id: str, organ_ids: Sequence[str], trace: Sequence[TraceEvent] = ()
    ) -> None: ...
