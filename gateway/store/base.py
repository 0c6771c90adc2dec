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
- ``Message.blob_key`` is a claim check: a package's bytes are in the blob folder, or, for a
  small one, in the store itself (``accept(sealed=...)``, ``get_blob``), never in a row that
  travels through RabbitMQ.
- Errors are ``gateway.store.errors.StoreError`` with a stable code; see that module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, Protocol

from gateway.pickling import fast_pickle
from gateway.store import _codec
from gateway.store.admins import Admin, AdminSession, Role
from gateway.store.errors import StoreInvalid
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import SearchPage, SearchQuery

__all__ = [
    "AcceptResult",
    "Agency",
    "AgencyNode",
    "AgencyState",
    "ArchiveRecord",
    "DailyCount",
    "Delivery",
    "DeliveryReport",
    "ElectronicCount",
    "Host",
    "InboxItem",
    "InboxPage",
    "Kind",
    "Message",
    "NewDelivery",
    "NewOutbox",
    "OutboxClaim",
    "OutboxLag",
    "OutboxRow",
    "OverdueItem",
    "ProcessingTimes",
    "ProgressRow",
    "Purge",
    "ReportStatus",
    "RetentionHead",
    "Route",
    "StatusEvent",
    "Store",
    "System",
    "TraceEvent",
    "TraceRow",
    "VerifyResult",
    "WebhookEndpoint",
]

Kind = Literal["edoc", "status"]
Route = Literal["local", "downlink", "uplink"]
Host = Literal["local", "downlink", "uplink"]
AgencyState = Literal["active", "locked", "merged"]
#: A receiving system's report on an item it has not finished with (VDXP updateStatus).
ReportStatus = Literal["processing", "fail"]


@fast_pickle
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
    due_date: date | None = None  # edXML DueDate (hạn xử lý) of an edoc, if it has one
    #: The hub's verdict on the sender's signature (``gateway.core.verify.verdict``); None for
    #: messages accepted before it was recorded (migration 5).
    signature: str | None = None


@fast_pickle
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


@fast_pickle
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
    #: The outbox rows written already leased to the accepting node (``accept(claim=...)``),
    #: for its relay to publish at once; empty without a claim or for a duplicate.
    claimed: tuple[OutboxRow, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxClaim:
    """Write a package's outbox rows already leased to ``node_id`` (``Store.accept``).

    The accepting node's relay then publishes them straight from the commit, without a
    ``claim_outbox`` transaction of its own; if it never does (a crash), the lease runs out
    and any relay claims them as usual.
    """

    node_id: str
    lease_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxItem:
    delivery: Delivery
    message: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxPage:
    items: list[InboxItem]
    next_cursor: str | None  # pass back for the next page; None at the end


@fast_pickle
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


@fast_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEvent:
    """A trace event to append; ``at`` None means the commit time (the store's clock)."""

    node: str
    stage: str
    outcome: str
    doc_id: str | None = None  # None for admin actions
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    #: ``detail`` in canonical JSON, when it was serialised ahead (:meth:`serialised`); None:
    #: the store serialises it while appending, on its one serial writer.
    detail_json: str | None = field(default=None, init=False, compare=False, repr=False)

    def serialised(self) -> TraceEvent:
        """This event with its detail already in canonical JSON, as the store would write it.

        Done where the event is made (a worker process, for a package's stages), it takes
        that work off the store's writer, the one thing every package waits for in turn. A
        detail the store would refuse stays unserialised: the append refuses it as before.
        """
        try:
            text = _codec.dumps(self.detail)
        except StoreInvalid:
            return self
        ev = replace(self)  # detail_json is not an __init__ field: the copy's is set below
        object.__setattr__(ev, "detail_json", text)
        return ev


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
    #: Set when ``limit`` stopped an intact walk before the head: the seq to continue from
    #: (the head's own hash is checked only by the walk that reaches it).
    resume_at: int | None = None
    #: The seq of the last entry an intact walk checked (None if it checked none).
    last_seq: int | None = None


# -- retention (gateway/store/_retention.py, gateway/ops/retention.py) ------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveRecord:
    """One archive file of the trace and purged packages, as the store registers it."""

    number: int  # 1, 2, ...: each archive names the SHA-256 of number - 1
    name: str  # file name in ``archive_dir``
    sha256: str  # of the whole file
    first_seq: int
    last_seq: int  # last trace entry in it; equals first_seq - 1 when it holds no entries
    last_hash: str  # hash of that entry: where the next archive (or the live table) continues
    events: int
    messages: int  # messages whose package it holds (and that were purged)
    node: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionHead:
    """How far the trace is archived, the last archive, and who holds the retention lease."""

    archived_seq: int  # 0: nothing archived yet
    archived_hash: str  # chain.GENESIS before the first archive
    last: ArchiveRecord | None
    run_by: str | None
    run_until: datetime | None
    last_run_at: datetime | None = None  # when a retention run last completed


@dataclass(frozen=True, slots=True, kw_only=True)
class Purge:
    """What ``commit_archive`` removed; the caller then deletes ``blob_keys`` from the disk."""

    events_deleted: int
    messages_purged: int
    blob_keys: tuple[str, ...]  # package files no message still on the hub points at
    inline_deleted: int = 0  # packages kept in the store (inline), deleted in the same commit


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
    #: When the client certificate (``cert_sha256``) expires: the console warns 30 days ahead.
    cert_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEndpoint:
    """Where the gateway pushes a ``push`` agency's deliveries (``adapters/webhook``).

    ``secret`` keys the HMAC-SHA256 ``Edxgw-Signature`` the receiver checks; ``tls_client``
    presents the hub certificate (mTLS); ``ca_file`` is the CA the receiver's server
    certificate must chain to (None: the system's CAs).
    """

    organ_id: str
    url: str
    secret: str = field(repr=False)
    tls_client: bool = False
    ca_file: str | None = None
    timeout_seconds: int = 30
    concurrency: int = 4  # pushes to this agency in flight at once
    created_at: datetime | None = None  # set by the store
    updated_at: datetime | None = None  # set by the store


# -- rows of the admin console's queries (gateway/store/_admin.py) ---------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgencyNode:
    """A directory entry with the number of agencies directly under it (the console's tree)."""

    agency: Agency
    children: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyCount:
    """Documents (edoc) of one agency on one Vietnam calendar day (UTC+7)."""

    day: date
    organ_id: str
    sent: int  # edoc packages this agency sent
    received: int  # copies addressed to this agency (deliveries)


@dataclass(frozen=True, slots=True, kw_only=True)
class ElectronicCount:
    """How one sending agency's documents were exchanged (statistics; migration 5)."""

    organ_id: str
    documents: int
    signed: int  # the sender's signature verified and attributed (``signature = verified``)
    handed_over: int  # every copy delivered to (or acknowledged by) its recipient
    fully: int  # both: exchanged fully electronically
    unknown: int  # accepted before the signature verdict was recorded


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingTimes:
    """When one recipient's copy of one document was received (03) and completed (06).

    Times are the hub's (``status_events.recorded_at``), not the agency's own Timestamp: the
    hub's clock is one clock for every agency. ``received_03_at`` is the first status at or
    above 03 (a 04-06 implies receipt when a 03 was skipped).
    """

    recipient: str
    doc_id: str
    received_at: datetime  # when the hub accepted the document
    received_03_at: datetime | None
    completed_06_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OverdueItem:
    """A copy whose DueDate has passed without a 06 (or a 02, or an accepted recall)."""

    delivery: Delivery
    message: Message
    level: str | None  # the progress level the recipient reached


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """The latest ``processing`` or ``fail`` a receiving system reported on a delivered item.

    Not a lifecycle transition: the item stays in the inbox until it is ``done`` (VDXP
    updateStatus, edxml.md §2.4); the sender sees the report (migration 4).
    """

    delivery_id: str
    status: ReportStatus
    system_id: str
    description: str | None = None
    reported_at: datetime | None = None  # set by the store


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
        claim: OutboxClaim | None = None,
        sealed: bytes | None = None,
    ) -> AcceptResult:
        """Commit a package with its deliveries, outbox rows, trace (and status event).

        For a known ``dedup_key`` nothing is written and the original doc_id comes back with
        ``created=False``. With ``claim`` the outbox rows are written leased to its node (one
        attempt counted) and come back in ``AcceptResult.claimed``. With ``sealed`` the
        package's bytes are kept in the store under ``message.blob_key`` (a small package:
        no blob file), in the same transaction; ``get_blob`` reads them back.
        """
        ...

    async def get_message(self, doc_id: str) -> Message | None: ...

    async def get_blob(self, blob_key: str) -> bytes | None:
        """A package's bytes kept in the store (``accept(sealed=...)``); None if they are not
        here (a blob file, or purged)."""
        ...

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

    async def republish_in_flight(self, trace: Sequence[TraceEvent] = ()) -> int:
        """Mark the newest outbox row of every pending, queued or retrying delivery unpublished
        (lease cleared), so the relay publishes it again: after a restore, or when RabbitMQ
        lost its queues. Receivers de-duplicate (§3.3). Returns the rows; ``trace`` is written
        with them (nothing at all when there are none)."""
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
        peers: Sequence[str] = (),
    ) -> InboxPage:
        """Local deliveries in delivered/done/failed for these recipients, by delivery time;
        with ``peers``, also every delivery routed to those downlink hubs (their inbox)."""
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

    async def verify_trace(
        self, start: int | None = None, *, limit: int | None = None
    ) -> VerifyResult:
        """Recompute the chain from ``start`` (default: the first entry still in the table,
        the one after the last archived entry, whose hash it must continue) to the head, or
        only ``limit`` entries of it (``resume_at`` says where to go on): one read holds a SQLite
        reader thread or a PostgreSQL connection for its whole walk, so a hub under load
        checks a long chain in short reads (gateway.service.admin.health.TraceWatch)."""
        ...

    # -- retention (gateway/ops/retention.py) -------------------------------------------------
    async def retention_head(self) -> RetentionHead: ...

    async def claim_retention(self, node: str, lease_seconds: float) -> RetentionHead:
        """Take (or renew) the lease for writing archives; the head after the attempt says
        who holds it: ``run_by != node`` means another node does."""
        ...

    async def release_retention(self, node: str, *, completed: bool = False) -> None:
        """Give the lease back; ``completed`` records the run as the last one (``last_run_at``)."""
        ...

    async def trace_seq_before(self, cutoff: datetime) -> int:
        """The last seq that may be archived: the entry before the first at or after ``cutoff``
        (the head when there is none)."""
        ...

    async def trace_page(self, after_seq: int, until_seq: int, limit: int) -> list[TraceRow]:
        """Entries with ``after_seq < seq <= until_seq`` still in the table, by seq."""
        ...

    async def retention_candidates(self, cutoff: datetime, limit: int) -> list[Message]:
        """Messages still on the hub, received before ``cutoff``, whose every delivery is
        final (done, failed) since before ``cutoff``: nothing of them is in flight."""
        ...

    async def commit_archive(
        self,
        record: ArchiveRecord,
        doc_ids: Sequence[str],
        *,
        node: str,
        trace: Sequence[TraceEvent] = (),
    ) -> Purge:
        """Register an archive written under this node's lease, move the archived head to
        ``record.last_seq``, mark ``doc_ids`` purged (those still without any delivery in
        flight) and delete the archived entries of everything not on the hub any more."""
        ...

    async def list_archives(self) -> list[ArchiveRecord]: ...

    async def archive_of(self, doc_id: str) -> ArchiveRecord | None:
        """The archive holding a purged message's package (None: not purged)."""
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

    # -- webhook endpoints (adapters/webhook, migration 8) ---------------------------------
    async def upsert_webhook(
        self, endpoint: WebhookEndpoint, trace: Sequence[TraceEvent] = ()
    ) -> WebhookEndpoint:
        """Create or replace an agency's endpoint (``store.invalid`` for an unknown agency);
        ``created_at`` is kept."""
        ...

    async def get_webhook(self, organ_id: str) -> WebhookEndpoint | None: ...

    async def list_webhooks(self) -> list[WebhookEndpoint]:
        """Every endpoint, ordered by organ_id."""
        ...

    async def delete_webhook(self, organ_id: str, trace: Sequence[TraceEvent] = ()) -> bool:
        """Remove an agency's endpoint; False (and nothing written) if it had none."""
        ...

    # -- admin console (gateway/store/_admin.py): reads only ------------------------------------
    async def admin_deliveries(
        self,
        states: Sequence[DeliveryState],
        *,
        recipient: str | None = None,
        doc_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        """Deliveries in these states with their messages, most recently changed first."""
        ...

    async def count_deliveries(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state (states with none are absent)."""
        ...

    async def trace_head_seq(self) -> int:
        """The seq of the last trace entry (0 for an empty trace)."""
        ...

    async def outbox_rows(self, delivery_id: str) -> list[OutboxRow]:
        """Every outbox row of one delivery, oldest first (a replay copies the last one)."""
        ...

    async def agency_children(self, parent: str | None) -> list[AgencyNode]:
        """The agencies directly under ``parent``; None: the tops of the tree (no parent, or
        a parent not in the directory), each with its number of children, by organ_id."""
        ...

    async def daily_counts(self, since: datetime, until: datetime) -> list[DailyCount]:
        """edoc sent and received per agency per Vietnam day, received in [since, until)."""
        ...

    async def electronic_counts(self, since: datetime, until: datetime) -> list[ElectronicCount]:
        """Per sending agency, for edoc received in [since, until) (see ElectronicCount)."""
        ...

    async def processing_times(self, since: datetime, until: datetime) -> list[ProcessingTimes]:
        """Every copy of the edoc received in [since, until) with its 03 and 06 times."""
        ...

    async def overdue(
        self, today: date, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[OverdueItem], int]:
        """Copies whose DueDate is before ``today`` (a Vietnam date) and that no 06, 02 or
        accepted recall (15) closed, by DueDate; and how many there are in all."""
        ...

    # -- receiving systems' reports (gateway/store/_reports.py, migration 4) ------------------
    async def report_delivery(
        self, report: DeliveryReport, *, recipient: str, trace: Sequence[TraceEvent] = ()
    ) -> bool:
        """Record the latest report on a ``delivered`` item addressed to ``recipient``.

        ``store.not_found`` unless the delivery is addressed to ``recipient``,
        ``store.bad_transition`` unless it is ``delivered``; False (nothing written, trace
        included) when the same status and description are already recorded."""
        ...

    async def delivery_reports(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryReport]:
        """The latest report of each of these deliveries that has one."""
        ...

    async def count_inbox(
        self,
        recipient_ids: Sequence[str],
        *,
        state: DeliveryState | None = None,
        kind: Kind | None = None,
        peers: Sequence[str] = (),
    ) -> int:
        """How many items ``list_inbox`` would list with these filters (``peers`` included:
        local copies of the recipients, and copies routed to those downlink hubs), without
        listing them: exactly as many as its pages hold, so a poller that counts before it
        lists (VDXP countReceiveEdoc) never misses items the list would give it."""
        ...

    # -- admin console: accounts, sessions, search (``admins.py``, ``search.py``) ---------------
    async def add_admin(self, admin: Admin, trace: Sequence[TraceEvent] = ()) -> Admin:
        """Create an administrator; ``store.conflict`` if the username is taken."""
        ...

    async def get_admin(self, username: str) -> Admin | None: ...

    async def list_admins(self) -> list[Admin]:
        """Every administrator, by username."""
        ...

    async def update_admin(
        self,
        username: str,
        *,
        role: Role | None = None,
        display_name: str | None = None,
        password_hash: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> Admin:
        """Change what is given; a new password or role ends every session of the admin.
        ``store.not_found`` for an unknown username."""
        ...

    async def remove_admin(self, username: str, trace: Sequence[TraceEvent] = ()) -> bool:
        """Delete the account and its sessions; False (and no trace) if there was none."""
        ...

    async def open_admin_session(
        self, session: AdminSession, trace: Sequence[TraceEvent] = ()
    ) -> None:
        """Record a login; it also clears the admin's failed-login count."""
        ...

    async def get_admin_session(self, session_hash: str) -> tuple[Admin, AdminSession] | None:
        """The live session with this token hash and its admin; None once idle or expired."""
        ...

    async def touch_admin_session(self, session_hash: str, idle_until: datetime) -> None:
        """The session was used now: it stays valid until ``idle_until`` (at most expires_at)."""
        ...

    async def close_admin_session(
        self, session_hash: str, trace: Sequence[TraceEvent] = ()
    ) -> bool:
        """Log out; False (and no trace) for an unknown session."""
        ...

    async def purge_admin_sessions(self, failures_before: datetime) -> int:
        """Delete dead sessions (returns how many) and failed logins older than given."""
        ...

    async def record_admin_login_failure(
        self, username: str, address: str | None, trace: Sequence[TraceEvent] = ()
    ) -> None: ...

    async def admin_login_failures(self, username: str, since: datetime) -> int:
        """Failed logins under this username since the given time (the lockout window)."""
        ...

    async def search_messages(self, query: SearchQuery) -> SearchPage:
        """Messages matching every field of ``query``, newest first, keyset-paginated, each
        with its deliveries and progress; ``store.bad_cursor`` for a foreign cursor."""
        ...

    async def verify_document_trace(self, doc_id: str) -> VerifyResult:
        """Check one document's trace events and their links to their neighbours."""
        ...
