"""The frozen values that go into the core (Submission, Context) and come out (Accepted, Rejected).

Everything here pickles (``tests/gateway/core/test_pickle.py``), so the shell may run
:func:`gateway.core.pipeline.process` in a ``ProcessPoolExecutor``: keys travel as PEM bytes
(:class:`gateway.core.keys.Keys`), the directory as plain dicts, the id factory as a
module-level function or a small class instance (never a lambda).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edxml.errors import Issue
from edxml.signature import SignaturePolicy, SigningKey, TrustStore
from edxml.validate import Mode, Policy
from gateway.core.directory import Directory
from gateway.core.errors import Problem
from gateway.core.keys import Keys
from gateway.pickling import fast_pickle
from gateway.store.base import Kind, Message, NewDelivery, NewOutbox, StatusEvent, TraceEvent

__all__ = [
    "Accepted",
    "Context",
    "CountingIds",
    "IdFactory",
    "Origin",
    "OriginalRef",
    "Rejected",
    "Submission",
    "new_id",
]

#: Where a submission came from: an agency system, or a peer hub below or above this one.
Origin = Literal["agency", "downlink", "uplink"]
#: Returns a fresh, unique id on each call (doc ids, delivery ids).
IdFactory = Callable[[], str]


def new_id() -> str:
    """The production id factory: a random UUID (picklable, unlike a lambda)."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class CountingIds:
    """A deterministic id factory (``doc-1``, ``doc-2``…) for tests and reproducible runs."""

    prefix: str = "id"
    issued: int = 0

    def __call__(self) -> str:
        self.issued += 1
        return f"{self.prefix}-{self.issued}"


@fast_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """One package as an ingress received it, with the submitting system's policy.

    Exactly one of ``data`` (the bytes) and ``path`` (a spooled file, invariant §3.5: large
    packages are not held twice) is set. ``senders`` are the canonical organ ids the system is
    registered for (``System.agencies``); ``From`` must be one of them (architecture.md §5).
    """

    system_id: str
    senders: frozenset[str]
    data: bytes | None = field(default=None, repr=False)
    path: str | None = None
    #: edxml validation mode: lenient accepts the wild, strict the canonical form only.
    mode: Mode = Mode.LENIENT
    #: How much signature the package needs (architecture.md §5), per system or peer.
    signatures: SignaturePolicy = SignaturePolicy.LENIENT
    #: Size limits: package bytes, attachments, recipients (edxml.validate.Policy).
    limits: Policy = field(default_factory=Policy)
    #: The kind the transport announced (VDXP ``messagetype``), checked against the package.
    declared_kind: Kind | None = None
    #: A peer hub's packages are never routed back where they came from (no ping-pong).
    origin: Origin = "agency"
    peer: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError("a Submission carries exactly one of data and path")

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(str(self.path))


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What this node knows while processing one package.

    ``now`` and ``ids`` are the only clock and the only id source the stages use, so a test
    fixes both and gets the same result every time. ``exchange`` is the topic exchange the
    outbox rows publish to; ``uplink_peer`` names the peer that ``uplink`` deliveries go to.
    """

    node: str
    hub_organ_id: str
    keys: Keys
    directory: Directory
    now: datetime
    ids: IdFactory = new_id
    exchange: str = "edxgw.route"
    uplink_peer: str | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Context.now must be timezone-aware")

    @property
    def signing_key(self) -> SigningKey:
        return self.keys.signing_key

    @property
    def trust(self) -> TrustStore:
        return self.keys.trust


@fast_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class OriginalRef:
    """For a status: the document it reports on, as the shell looks it up.

    ``store.find_message_by_document_id(sender, document_id)`` gives the original's doc_id; set
    it on the status event (``dataclasses.replace(accepted.status, doc_id=...)``) before
    ``store.accept``. ``sender`` is the original document's sender: ``ResponseFor/OrganId`` for
    01-06/15/16, the status's own ``From`` for 13 (edxml.md §2.2).
    """

    sender: str
    document_id: str


@fast_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """Everything the shell commits in ONE ``store.accept`` transaction (architecture.md §3.1).

    Store ``sealed`` under ``message.blob_key`` *before* the commit (the outbox rows point at
    it), then ``store.accept(message, deliveries, outbox, trace, status=status)``. If the store
    answers ``created=False`` the package was a duplicate: answer with the returned doc_id and
    drop the blob if nothing else references it.
    """

    message: Message
    sealed: bytes = field(repr=False)
    deliveries: tuple[NewDelivery, ...]
    outbox: tuple[NewOutbox, ...]
    trace: tuple[TraceEvent, ...]
    status: StatusEvent | None = None
    original: OriginalRef | None = None
    #: Validation warnings and signature findings, for the response to the sender.
    warnings: tuple[Issue, ...] = ()
    #: (stage, seconds) of each core stage (``Trail.timings``), for the node's metrics.
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False, repr=False)

    @property
    def doc_id(self) -> str:
        return self.message.doc_id


@fast_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A refusal: the error to answer with, and the trace to append (``store.append_trace``).

    ``doc_id`` is the id the rejection is traced under; it never becomes a message.
    """

    error: Problem
    trace: tuple[TraceEvent, ...]
    doc_id: str | None = None
    #: (stage, seconds) of each core stage run before the refusal, for the node's metrics.
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False, repr=False)
