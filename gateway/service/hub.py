"""The hub's use cases, whichever door a request came in by: submit, inbox, fetch, ack, track.

The REST API (``gateway/web/api.py``) and the national-axis API both call :class:`Hub`; so do
peers and adapters. One gateway, several doors, one store, pipeline and trace. A use case runs
the sans-io core (in the process pool), executes what it returns against the store, and raises
:class:`Refused` carrying a :class:`~gateway.core.errors.Problem` when the answer is no.

``submit`` is invariant §3.1 in order: the worker seals and writes a big package's blob file
(fsync), then ONE ``store.accept`` commits message, deliveries, outbox rows, status event and
trace, and a small package's sealed bytes (``inline_limit``); only then does the caller get its
DocId and signed receipt, and the relay is nudged to publish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edxml.errors import Issue
from edxml.signature import SignaturePolicy
from edxml.validate import Mode, Policy
from gateway import logs
from gateway.blobs import BlobError, BlobStore, Packages
from gateway.core import acknowledge as ack_stage
from gateway.core.archive import PURGED, PackageArchived
from gateway.core.directory import Directory, canonical_id
from gateway.core.drain import DRAINING
from gateway.core.errors import GatewayError, NotAuthorized, NotFound, Problem, define
from gateway.core.keys import Keys
from gateway.core.receipt import receipt_payload, sign_receipt
from gateway.core.trace import event
from gateway.core.values import Accepted, Context, Origin, Rejected, Submission, new_id
from gateway.dirfile import load_directory as read_directory_file
from gateway.service import worker
from gateway.service.pool import WorkerCrashed, WorkerPool
from gateway.store.base import (
    Delivery,
    InboxPage,
    Kind,
    Message,
    OutboxClaim,
    OutboxRow,
    ProgressRow,
    StatusEvent,
    Store,
    System,
    TraceEvent,
)
from gateway.store.lifecycle import DeliveryState

if TYPE_CHECKING:
    from gateway.metrics import Metrics

__all__ = [
    "DOCUMENT_NOT_FOUND",
    "INBOX_NOT_REGISTERED",
    "ITEM_NOT_FOUND",
    "Hub",
    "Receipt",
    "Refused",
    "Tracking",
    "import_directory_file",
    "issue_json",
    "load_directory",
    "token_hash",
]

log = logging.getLogger(__name__)

INBOX_NOT_REGISTERED = define(
    "inbox.not_registered",
    "Hệ thống {system} không được đăng ký cho đơn vị {organ}, không được đọc hộp thư này",
    "System {system} is not registered for agency {organ} and may not read its inbox",
)
ITEM_NOT_FOUND = define(
    "inbox.not_found",
    "Không có văn bản {delivery_id} trong hộp thư của hệ thống {system}",
    "There is no item {delivery_id} in the inbox of system {system}",
)
DOCUMENT_NOT_FOUND = define(
    "document.not_found",
    "Không có văn bản {doc_id} mà hệ thống {system} đã gửi hoặc nhận",
    "There is no document {doc_id} that system {system} sent or received",
)
WORKER_CRASHED = define(
    "gateway.worker_crashed",
    "Tiến trình xử lý gói tin của trục bị dừng đột ngột ({reason}); gói tin chưa được nhận, "
    "hãy gửi lại",
    "The hub's processing worker stopped unexpectedly ({reason}); nothing was accepted, send again",
)
#: Trace stages the shell adds around the core's own (catalogue in README).
CORRELATE = "correlate"
STATUS = "status"


class Refused(Exception):
    """A use case said no; ``problem`` is what the door answers with (code, HTTP status, text)."""

    def __init__(self, problem: Problem, doc_id: str | None = None) -> None:
        super().__init__(f"{problem.code}: {problem.message_en}")
        self.problem = problem
        self.doc_id = doc_id

    @classmethod
    def of(cls, error: GatewayError, doc_id: str | None = None) -> Refused:
        return cls(error.problem(), doc_id)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to an accepted submission."""

    doc_id: str
    duplicate: bool  # the same package was accepted before: this is its original DocId
    message: Message
    recipients: tuple[dict[str, Any], ...]
    signed: dict[str, Any]  # gateway.core.receipt.sign_receipt output
    warnings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Tracking:
    """One document as its sender (or a recipient) may follow it."""

    message: Message
    deliveries: list[Delivery]
    progress: list[ProgressRow]
    statuses: list[StatusEvent]
    original: Message | None = None  # what a status, recall or update refers to


async def load_directory(store: Store) -> Directory:
    """The router's snapshot of the store's directory (compacted for the process pool)."""
    agencies = []
    after: str | None = None
    while True:
        page = await store.list_agencies(after=after, limit=5000)
        agencies.extend(page)
        if len(page) < 5000:
            break
        after = page[-1].organ_id
    aliases = await store.alias_map()
    return Directory(agencies, aliases)


async def import_directory_file(
    store: Store, path: Path, *, node: str, reason: str | None = None
) -> int:
    """Upsert every agency and alias of a TOML/CSV directory file, traced as an admin action;
    returns the number of agencies."""
    directory = read_directory_file(path)
    for agency in directory.agencies:
        await store.upsert_agency(agency)
    for alias, organ_id in directory.aliases.items():
        await store.add_alias(alias, organ_id)
    detail: dict[str, Any] = {
        "file": Path(path).name,
        "agencies": len(directory.agencies),
        "aliases": len(directory.aliases),
    }
    if reason:
        detail["reason"] = reason
    await store.append_trace(
        [TraceEvent(node=node, stage="admin.directory_import", outcome="ok", detail=detail)]
    )
    return len(directory.agencies)


@dataclass(slots=True, kw_only=True)
class Hub:
    """Use cases over one store, blob folder, key set and worker pool."""

    store: Store
    blobs: BlobStore
    keys: Keys
    node: str
    hub_organ_id: str
    exchange: str
    directory: Directory
    #: Where the core runs: the gateway's WorkerPool; an Executor (tests); None: a thread.
    executor: WorkerPool | Executor | None = None
    uplink_peer: str | None = None
    default_mode: Mode = Mode.LENIENT
    default_signatures: SignaturePolicy = SignaturePolicy.LENIENT
    limits: Policy = field(default_factory=Policy)
    fsync: bool = True
    #: Sealed packages of this many bytes or fewer are committed in the store's transaction
    #: (``Store.accept(sealed=...)``) instead of as a blob file; 0: every package is a file.
    inline_limit: int = 0
    #: Called after every commit that wrote outbox rows (the relay's ``notify``).
    on_commit: Callable[[], None] = lambda: None
    #: The lease ``submit`` commits its outbox rows under (the relay's ``claim``), and who
    #: publishes the rows so committed (the relay's ``dispatch``): direct dispatch, which
    #: spares the relay a claim transaction per package (gateway/broker/relay.py).
    outbox_claim: Callable[[], OutboxClaim | None] = lambda: None
    dispatch: Callable[[Sequence[OutboxRow]], None] = lambda rows: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: The node's metrics (``gateway/metrics.py``); None counts nothing (tests, tools).
    metrics: Metrics | None = None
    #: False while the node drains (``gateway/ops/drain.py``): new submissions are refused
    #: with 503 ops.drain.draining, so the sender (or the load balancer) goes to another node;
    #: inbox reads, fetches and acknowledgements go on.
    accepting: bool = True
    _compact: Directory | None = None
    #: The context last shared with the WorkerPool's workers (its clock reading aside).
    _shared: Context | None = None
    #: Every package's bytes by key, in the store or in ``blobs`` (what readers use).
    packages: Packages = field(init=False)

    def __post_init__(self) -> None:
        self.packages = Packages(self.store, self.blobs)

    # -- directory ------------------------------------------------------------------------------
    def set_directory(self, directory: Directory) -> None:
        self.directory = directory
        self._compact = None

    async def refresh_directory(self) -> Directory:
        self.set_directory(await load_directory(self.store))
        return self.directory

    def context(self) -> Context:
        if self._compact is None:
            self._compact = self.directory.compact()
        return Context(
            node=self.node,
            hub_organ_id=self.hub_organ_id,
            keys=self.keys,
            directory=self._compact,
            now=self.clock(),
            ids=new_id,
            exchange=self.exchange,
            uplink_peer=self.uplink_peer,
        )

    def peers_of(self, system: System) -> tuple[str, ...]:
        """The downlink hubs ``system`` stands for: the peers of its registered agencies.

        A hub below this one connects as a system registered for its top agency, which the
        directory lists with host ``downlink`` and the peer's name (architecture §4): it sends
        for that peer's whole subtree and reads the copies routed to the peer (its inbox).
        """
        peers: set[str] = set()
        for organ in system.agencies:
            agency = self.directory.resolve(organ)
            if agency is not None and agency.host == "downlink" and agency.peer:
                peers.add(agency.peer)
        return tuple(sorted(peers))

    # -- submit ---------------------------------------------------------------------------------
    def submission(
        self,
        system: System,
        *,
        data: bytes | None = None,
        path: str | None = None,
        declared_kind: Kind | None = None,
        origin: Origin = "agency",
        peer: str | None = None,
    ) -> Submission:
        """The system's policy applied to one package (architecture.md §5, per system).

        A downlink hub's system submits as that peer (``origin="downlink"``): it may send for
        its subtree, and nothing is routed back down to it.
        """
        if origin == "agency" and (peers := self.peers_of(system)):
            origin, peer = "downlink", peers[0]
        return Submission(
            system_id=system.system_id,
            senders=frozenset(canonical_id(a) for a in system.agencies),
            data=data,
            path=path,
            mode=_mode(system.validation_mode, self.default_mode),
            signatures=_signatures(system.signature_policy, self.default_signatures),
            limits=self.limits,
            declared_kind=declared_kind,
            origin=origin,
            peer=peer,
        )

    async def submit(self, submission: Submission) -> Receipt:
        """Process, commit, answer (module doc). Raises :class:`Refused`."""
        if not self.accepting:
            problem = GatewayError(DRAINING, node=self.node).problem()
            raise Refused(dataclasses.replace(problem, http_status=503, retryable=True))
        started = time.perf_counter()
        ctx = self.context()
        outcome = await self._run(submission, ctx)
        worked = time.perf_counter()
        result = outcome.result
        if isinstance(result, Rejected):
            await self.store.append_trace(result.trace)
            if self.metrics is not None:
                self.metrics.submitted(outcome, started, worked, trace=result.trace)
            raise Refused(result.error, result.doc_id)
        # Every log line from here on (this request or this hand-over) names the package.
        logs.bind(doc_id=result.doc_id, document_id=result.message.document_id)
        accepted, extra = await self._correlate(result, ctx)
        trace = (*accepted.trace, *extra)
        commit = await self.store.accept(
            accepted.message,
            accepted.deliveries,
            accepted.outbox,
            trace,
            status=accepted.status,
            claim=self.outbox_claim(),
            sealed=accepted.sealed or None,  # small: kept in the store, not as a file
        )
        if self.metrics is not None:
            self.metrics.submitted(
                outcome,
                started,
                worked,
                committed=time.perf_counter(),
                created=commit.created,
                trace=trace if commit.created else (),
                kind=accepted.message.kind,
                status=accepted.status.code if accepted.status is not None else None,
            )
        message = accepted.message
        signed = outcome.receipt
        if not commit.created:
            # A re-sent package (invariant §3.3): nothing was written; answer with the
            # original DocId, and drop the blob this attempt sealed unless it is the original's.
            original = await self.store.get_message(commit.doc_id)
            if (
                not accepted.sealed  # a file (inline bytes were never written)
                and original is not None
                and original.blob_key != message.blob_key
            ):
                await asyncio.to_thread(self.blobs.delete, message.blob_key)
            payload = receipt_payload(
                message, hub=self.hub_organ_id, node=self.node, doc_id=commit.doc_id
            )
            signed = sign_receipt(payload, self.keys.signing_key)
            recipients: tuple[dict[str, Any], ...] = tuple(
                {"recipient": d.recipient, "route": d.route, "delivery_id": d.delivery_id}
                for d in await self.store.list_deliveries(doc_id=commit.doc_id)
            )
        else:
            if commit.claimed:
                self.dispatch(commit.claimed)
            else:
                self.on_commit()
            recipients = tuple(
                {"recipient": d.recipient, "route": d.route, "delivery_id": d.delivery_id}
                for d in accepted.deliveries
            )
        assert signed is not None  # an Accepted outcome always carries its receipt
        warnings = tuple(issue_json(w) for w in accepted.warnings)
        return Receipt(
            doc_id=commit.doc_id,
            duplicate=not commit.created,
            message=message,
            recipients=recipients,
            signed=signed,
            warnings=warnings,
        )

    async def _run(self, submission: Submission, ctx: Context) -> worker.Outcome:
        root = str(self.blobs.root)
        if isinstance(self.executor, WorkerPool):
            # The keys and directory travel once per change, not with every package.
            if not _same_context(self._shared, ctx):
                self.executor.share(worker.CONTEXT, ctx)
                self._shared = ctx
            try:
                return await self.executor.run(
                    worker.run_shared, submission, ctx.now, root, self.fsync, self.inline_limit
                )
            except WorkerCrashed as exc:
                if self.metrics is not None:
                    self.metrics.rejected("worker", WORKER_CRASHED.code)
                problem = dataclasses.replace(
                    GatewayError(WORKER_CRASHED, reason=str(exc)).problem(),
                    http_status=503,
                )
                raise Refused(problem) from exc
        args = (submission, ctx, root, self.fsync, self.inline_limit)
        if self.executor is None:
            return await asyncio.to_thread(worker.run, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, worker.run, *args)

    async def _correlate(
        self, accepted: Accepted, ctx: Context
    ) -> tuple[Accepted, tuple[TraceEvent, ...]]:
        """Link a status, recall, update or replacement to the original it names (§3.6).

        A status whose original we never saw is kept all the same (order-free statuses: it
        may have gone through another hub); the trace says it could not be linked.
        """
        message = accepted.message
        doc_id = message.doc_id
        if accepted.status is not None and accepted.original is not None:
            ref = accepted.original
            original = await self.store.find_message_by_document_id(ref.sender, ref.document_id)
            status = dataclasses.replace(
                accepted.status, doc_id=original.doc_id if original is not None else None
            )
            accepted = dataclasses.replace(accepted, status=status)
            if original is None:
                return accepted, (
                    event(self.node, CORRELATE, "unmatched", doc_id, ctx.now, code=status.code),
                )
            return accepted, (
                event(self.node, CORRELATE, "ok", doc_id, ctx.now, original_doc_id=original.doc_id),
                event(
                    self.node,
                    STATUS,
                    status.code,
                    original.doc_id,
                    ctx.now,
                    status_doc_id=doc_id,
                    recipient=status.recipient,
                    from_organ=status.from_organ,
                ),
            )
        if message.kind == "edoc" and message.business_type and message.response_for_document_id:
            # Business types 1-3 (revoke, update, replace) name the original in ResponseFor.
            original = await self.store.find_message_by_document_id(
                message.response_for_organ_id or message.sender, message.response_for_document_id
            )
            if original is None:
                return accepted, (
                    event(
                        self.node,
                        CORRELATE,
                        "unmatched",
                        doc_id,
                        ctx.now,
                        business_type=message.business_type,
                    ),
                )
            return accepted, (
                event(
                    self.node,
                    CORRELATE,
                    "ok",
                    doc_id,
                    ctx.now,
                    original_doc_id=original.doc_id,
                    business_type=message.business_type,
                ),
                event(
                    self.node,
                    CORRELATE,
                    "revised",
                    original.doc_id,
                    ctx.now,
                    by_doc_id=doc_id,
                    business_type=message.business_type,
                ),
            )
        return accepted, ()

    # -- inbox ----------------------------------------------------------------------------------
    async def inbox(
        self,
        system: System,
        *,
        organs: Collection[str] = (),
        state: DeliveryState | None = None,
        kind: Kind | None = None,
        since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        """The system's inbox, or the part of it for the ``organs`` asked for."""
        wanted, peers = self._inbox_scope(system, organs)
        return await self.store.list_inbox(
            wanted, state=state, kind=kind, since=since, limit=limit, cursor=cursor, peers=peers
        )

    async def inbox_count(
        self,
        system: System,
        *,
        organs: Collection[str] = (),
        state: DeliveryState | None = None,
        kind: Kind | None = None,
    ) -> int:
        """How many items :meth:`inbox` holds with these filters (all its pages): the same
        recipients and downlink peers, so a count never disagrees with the list it announces."""
        wanted, peers = self._inbox_scope(system, organs)
        return await self.store.count_inbox(wanted, state=state, kind=kind, peers=peers)

    def _inbox_scope(
        self, system: System, organs: Collection[str]
    ) -> tuple[list[str], tuple[str, ...]]:
        """The recipients (canonical ids) and downlink peers whose copies make up the system's
        inbox, or the part of it for the ``organs`` asked for; refused for an organ the system
        is not registered for."""
        mine = {canonical_id(a) for a in system.agencies}
        wanted = [canonical_id(o) for o in organs] or sorted(mine)
        for organ in wanted:
            if organ not in mine:
                raise Refused.of(
                    NotAuthorized(INBOX_NOT_REGISTERED, system=system.system_id, organ=organ)
                )
        # A downlink hub's inbox is also every copy routed to it (its whole subtree).
        peers = () if organs else self.peers_of(system)
        return wanted, peers

    async def fetch(
        self, system: System, delivery_id: str
    ) -> tuple[Delivery, Message, bytes | Path]:
        """One inbox item and its sealed package, if it is in this system's inbox: the bytes
        when the store keeps them (a small package), else the path of its file."""
        delivery = await self.store.get_delivery(delivery_id)
        if delivery is not None:
            logs.bind(doc_id=delivery.doc_id, delivery_id=delivery_id)
        mine = {canonical_id(a) for a in system.agencies}
        visible = (DeliveryState.DELIVERED, DeliveryState.DONE, DeliveryState.FAILED)
        if (
            delivery is None
            or not _addressed_to(delivery, mine, self.peers_of(system))
            or delivery.state not in visible
        ):
            # Same answer for "does not exist" and "not yours": ids are not an oracle.
            raise Refused.of(
                NotFound(ITEM_NOT_FOUND, delivery_id=delivery_id, system=system.system_id)
            )
        message = await self.store.get_message(delivery.doc_id)
        if message is None:  # a delivery without its message breaks a foreign key
            raise RuntimeError(f"delivery {delivery_id} has no message {delivery.doc_id}")
        try:
            body = await self.packages.body(message.blob_key)
        except BlobError:
            archived = await self.store.archive_of(message.doc_id)
            if archived is None:
                raise RuntimeError(
                    f"blob {message.blob_key} of {message.doc_id} is missing"
                ) from None
            # Retention moved the package to an archive (gateway/ops/retention.py): a clear
            # 410 for the system, not a missing file.
            raise Refused.of(
                PackageArchived(
                    PURGED,
                    doc_id=message.doc_id,
                    archive=archived.name,
                    at=archived.created_at.date().isoformat(),
                )
            ) from None
        return delivery, message, body

    async def acknowledge(
        self, system: System, delivery_id: str, *, ok: bool, reason: str | None = None
    ) -> Delivery:
        """The receiving system's done/fail (VDXP updateStatus); repeats are harmless."""
        delivery = await self.store.get_delivery(delivery_id)
        answer = ack_stage.acknowledge(
            delivery,
            delivery_id=delivery_id,
            system_id=system.system_id,
            agencies=system.agencies,
            ok=ok,
            reason=reason,
            node=self.node,
            now=self.clock(),
            peers=self.peers_of(system),
        )
        if isinstance(answer, Rejected):
            await self.store.append_trace(answer.trace)
            if self.metrics is not None:
                self.metrics.traced(answer.trace)
            raise Refused(answer.error, answer.doc_id)
        logs.bind(doc_id=delivery.doc_id if delivery else None, delivery_id=delivery_id)
        changed = await self.store.acknowledge(
            answer.delivery_id, answer.recipient, answer.ok, answer.reason, answer.trace
        )
        if changed and self.metrics is not None:
            self.metrics.traced(answer.trace)
        updated = await self.store.get_delivery(delivery_id)
        assert updated is not None
        return updated

    # -- tracking ---------------------------------------------------------------------------
    async def track(self, system: System | None, doc_id: str) -> Tracking:
        """A document's deliveries and status progress per recipient.

        ``system`` None is an administrator (everything); a system sees what it sent, and
        what was addressed to one of its agencies.
        """
        message = await self.store.get_message(doc_id)
        deliveries = await self.store.list_deliveries(doc_id=doc_id) if message else []
        if message is None or (
            system is not None and not _involved(system, message, deliveries, self.peers_of(system))
        ):
            raise Refused.of(
                NotFound(
                    DOCUMENT_NOT_FOUND,
                    doc_id=doc_id,
                    system=system.system_id if system else "admin",
                )
            )
        original = None
        if message.response_for_document_id:
            # Who sent the original (receive.original): a recall (13) is asked by that sender
            # itself; other statuses and revisions name it in ResponseFor/OrganId.
            recall = message.kind == "status" and message.status_code == "13"
            sender = message.sender if recall else message.response_for_organ_id
            original = await self.store.find_message_by_document_id(
                sender or message.sender, message.response_for_document_id
            )
        return Tracking(
            message=message,
            deliveries=deliveries,
            progress=await self.store.get_progress(doc_id),
            statuses=await self.store.list_status_events(doc_id),
            original=original,
        )


def _involved(
    system: System, message: Message, deliveries: list[Delivery], peers: Collection[str] = ()
) -> bool:
    mine = {canonical_id(a) for a in system.agencies}
    if message.system_id == system.system_id or canonical_id(message.sender) in mine:
        return True
    return any(
        canonical_id(d.recipient) in mine or (d.route == "downlink" and d.peer in peers)
        for d in deliveries
    )


def _addressed_to(delivery: Delivery, mine: Collection[str], peers: Collection[str]) -> bool:
    """A local copy for one of ``mine``, or a copy routed to one of the downlink ``peers``."""
    if delivery.route == "local":
        return canonical_id(delivery.recipient) in mine
    return delivery.route == "downlink" and delivery.peer is not None and delivery.peer in peers


def _same_context(shared: Context | None, ctx: Context) -> bool:
    """Whether the workers' shared context serves ``ctx`` (identity for the big parts)."""
    return (
        shared is not None
        and shared.keys is ctx.keys
        and shared.directory is ctx.directory
        and (shared.node, shared.hub_organ_id, shared.exchange, shared.uplink_peer, shared.ids)
        == (ctx.node, ctx.hub_organ_id, ctx.exchange, ctx.uplink_peer, ctx.ids)
    )


def _mode(value: str | None, default: Mode) -> Mode:
    try:
        return Mode(value) if value else default
    except ValueError:
        return default


def _signatures(value: str | None, default: SignaturePolicy) -> SignaturePolicy:
    try:
        return SignaturePolicy(value) if value else default
    except ValueError:
        return default


def issue_json(issue: Issue) -> dict[str, Any]:
    """An edxml finding as the doors show it (code, both languages, where)."""
    out: dict[str, Any] = {
        "code": issue.code,
        "severity": issue.severity.value,
        "message_vi": issue.message_vi,
        "message_en": issue.message_en,
    }
    if issue.path:
        out["path"] = issue.path
    if issue.line is not None:
        out["line"] = issue.line
        out["column"] = issue.column
    return out


def token_hash(token: str) -> str:
    """How API tokens are stored: only their SHA-256 (a leaked database leaks no token)."""
    return hashlib.sha256(token.encode()).hexdigest()
