"""Receive a package: bound its size, hash it, parse it safely, and check who may send it as whom.

Also derives what the store keeps about the package (:func:`message`, :func:`status_event`,
:func:`original`), since only this stage reads its header fields.

The de-duplication key (architecture.md §3.3: a re-sent package returns the original DocId):

- document: ``sender|DocumentId|BussinessDocType|edoc``
- status: ``sender|ResponseFor/OrganId|ResponseFor/DocumentId|StatusCode|Timestamp|status``

``sender`` and ``ResponseFor/OrganId`` are canonical through the directory, DocumentId is
verbatim (edxml.md §3.2: never normalise it), Timestamp is ISO 8601 with its offset. A status
key includes ``ResponseFor/OrganId`` because a sender recalling one document (13) from two
recipients sends two statuses that differ only there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from edxml.model import DocumentPackage, Package, ResponseFor, StatusCode, StatusPackage
from edxml.parse import Parsed, read
from edxml.safexml import Limits
from gateway.core.directory import canonical_id, organ_or_none
from gateway.core.errors import (
    InvalidPackage,
    NotAuthorized,
    PackageTooLarge,
    Unroutable,
    define,
)
from gateway.core.trace import OK, RECEIVE, Trail
from gateway.core.values import Context, OriginalRef, Submission
from gateway.store.base import Kind, Message, StatusEvent

__all__ = [
    "KIND_MISMATCH",
    "LOOP_DETECTED",
    "SENDER_NOT_REGISTERED",
    "TOO_LARGE",
    "Received",
    "dedup_key",
    "message",
    "original",
    "receive",
    "status_event",
]

TOO_LARGE = define(
    "receive.too_large",
    "Gói tin dài {size} byte, vượt giới hạn {limit} byte của hệ thống",
    "The package is {size} bytes long, over the system's limit of {limit} bytes",
)
# The national axis's own wording, unaccented as it sends it (edxml.md §4.1), so that systems
# built on the VDXP SDK see the text they already handle.
SENDER_NOT_REGISTERED = define(
    "receive.sender_not_registered",
    "Don vi gui {sender} khong dung voi ma da dang ky: {system}",
    "The sending agency {sender} is not registered for the system {system}",
)
KIND_MISMATCH = define(
    "receive.kind_mismatch",
    "Yêu cầu khai báo gói tin loại {declared} nhưng nội dung là gói tin loại {actual}",
    "The request declares a {declared} package but the content is a {actual} package",
)
LOOP_DETECTED = define(
    "receive.loop_detected",
    "Gói tin đã đi qua trục {hub} (có TraceHeader của trục); "
    "không chuyển tiếp lại để tránh vòng lặp",
    "The package has already passed through hub {hub} (it carries the hub's TraceHeader); "
    "it is not forwarded again, to avoid a loop",
)
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    """A parsed package and what receiving it established.

    ``parsed.tree`` is the one mutable part: the seal stage appends to it in place, after
    verification (edxml.signature: pass the tree you already have).
    """

    parsed: Parsed
    kind: Kind
    #: ``From``, canonical through the directory's aliases; authorised for the system.
    sender: str
    sha256: str
    size: int

    @property
    def package(self) -> Package:
        return self.parsed.package


def receive(submission: Submission, ctx: Context, trail: Trail) -> Received:
    """Size, hash, hardened parse, kind check, sender authorisation (architecture.md §5)."""
    size = submission.size
    limit = submission.limits.max_package_bytes
    # Hash before anything can fail, so a rejection is traced with its hash; but never read
    # an oversized upload in full.
    digest = _sha256(submission) if size <= limit else None
    with trail.stage(RECEIVE, system_id=submission.system_id, size=size, sha256=digest):
        if digest is None:
            raise PackageTooLarge(TOO_LARGE, size=size, limit=limit)
        source = submission.data if submission.data is not None else str(submission.path)
        parsed = read(source, limits=Limits(max_bytes=limit))
        package = parsed.package
        kind: Kind = "status" if isinstance(package, StatusPackage) else "edoc"
        if submission.declared_kind not in (None, kind):
            raise InvalidPackage(KIND_MISMATCH, declared=submission.declared_kind, actual=kind)
        sender = _authorise(package, submission, ctx)
        if submission.origin != "agency":
            _refuse_loop(package, ctx)
        trail.record(
            RECEIVE,
            OK,
            system_id=submission.system_id,
            kind=kind,
            sender=sender,
            size=size,
            sha256=digest,
        )
    return Received(parsed, kind, sender, digest, size)


def _sha256(submission: Submission) -> str:
    if submission.data is not None:
        return hashlib.sha256(submission.data).hexdigest()
    h = hashlib.sha256()
    with open(str(submission.path), "rb") as fh:  # in chunks: bounded memory (§3.5)
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _authorise(package: Package, submission: Submission, ctx: Context) -> str:
    """An agency sends only as itself or the agencies its system is registered for (§5).

    A peer hub speaks for more agencies than it lists: a downlink hub for its whole subtree
    (``Directory.downlink_peer``), the upstream axis for any agency it delivers from (it
    authenticated its own systems, edxml.md §4.1; loops are caught by the TraceHeader check).
    """
    raw = package.from_.organ_id
    sender = ctx.directory.canonical(raw)
    if submission.origin == "uplink" and organ_or_none(raw) is not None:
        return sender
    allowed = {ctx.directory.canonical(s) for s in submission.senders}
    below_peer = (
        submission.origin == "downlink"
        and submission.peer is not None
        and ctx.directory.downlink_peer(sender) == submission.peer
    )
    if sender not in allowed and not below_peer:
        shown = sender if organ_or_none(raw) is not None else repr(raw[:48])
        system, trace = submission.system_id, {"sender": shown}
        raise NotAuthorized(SENDER_NOT_REGISTERED, sender=shown, system=system, trace=trace)
    return sender


def _refuse_loop(package: Package, ctx: Context) -> None:
    # A package a peer hands us that already carries our TraceHeader went round in a circle
    # (e.g. up to the axis and back down): forwarding it again would never end.
    if not isinstance(package, DocumentPackage):
        return  # statuses carry no TraceHeaderList of their own (edxml.md §2.1)
    hub = canonical_id(ctx.hub_organ_id)
    if any(canonical_id(t.organ_id or "") == hub for t in package.trace_headers):
        raise Unroutable(LOOP_DETECTED, hub=hub, trace={"hub": hub})


# -- what the store keeps about an accepted package -------------------------------------------


def dedup_key(received: Received, ctx: Context) -> str:
    """The stable key under which a second copy of this package finds the first (module doc)."""
    package = received.package
    if isinstance(package, StatusPackage):
        rf = package.response_for
        stamp = package.timestamp.isoformat() if package.timestamp is not None else ""
        target = ctx.directory.canonical(rf.organ_id or "")
        parts = [received.sender, target, rf.document_id or "", package.status_code, stamp]
        return "|".join([*parts, "status"])
    return f"{received.sender}|{package.document_id}|{int(package.business_type)}|edoc"


def message(
    received: Received,
    *,
    doc_id: str,
    blob_key: str,
    submission: Submission,
    ctx: Context,
    signature: str | None = None,
) -> Message:
    """The message row. A status has no DocumentId: it stores ``ResponseFor/DocumentId``.

    ``signature`` is the verify stage's verdict on the sender's signature (``verify.verdict``).
    """
    package = received.package
    business_type: int | None = None
    status_code = subject = code_notation = None
    due_date = None
    response_for: ResponseFor | None
    if isinstance(package, StatusPackage):
        response_for = package.response_for
        document_id = response_for.document_id or ""
        status_code = package.status_code
    else:
        # An edoc's first ResponseFor names the document a revoke/update/reply is about.
        response_for = package.response_for[0] if package.response_for else None
        document_id = package.document_id
        business_type = int(package.business_type)
        subject, code_notation = package.subject, str(package.code)
        due_date = package.due_date
    organ = response_for.organ_id if response_for is not None else None
    return Message(
        doc_id=doc_id,
        kind=received.kind,
        sender=received.sender,
        document_id=document_id,
        received_at=ctx.now,
        sha256=received.sha256,
        size=received.size,
        blob_key=blob_key,
        dedup_key=dedup_key(received, ctx),
        business_type=business_type,
        status_code=status_code,
        response_for_document_id=response_for.document_id if response_for else None,
        response_for_organ_id=ctx.directory.canonical(organ) if organ else None,
        subject=subject,
        code_notation=code_notation,
        system_id=submission.system_id,
        due_date=due_date,
        signature=signature,
    )


def status_event(received: Received, *, doc_id: str, ctx: Context) -> StatusEvent | None:
    """The business status a status package reports (architecture.md §3.6), else ``None``.

    ``recipient`` is the original document's recipient whose progress this is: the status's
    ``From`` for 01-06/15/16, ``ResponseFor/OrganId`` for 13 (edxml.md §2.2). ``doc_id`` is
    left ``None``: the shell fills it in from :func:`original` (see ``OriginalRef``).
    """
    package = received.package
    if not isinstance(package, StatusPackage):
        return None
    rf = package.response_for
    recall = package.status_code == StatusCode.RECALL_REQUEST
    recipient = ctx.directory.canonical(rf.organ_id or "") if recall else received.sender
    return StatusEvent(
        status_doc_id=doc_id,
        doc_id=None,
        recipient=recipient,
        from_organ=received.sender,
        code=package.status_code,
        at=package.timestamp or ctx.now,  # validation requires Timestamp; belt and braces
        description=package.description,
    )


def original(received: Received, ctx: Context) -> OriginalRef | None:
    """For a status: how the shell finds the document it is about (``OriginalRef``)."""
    package = received.package
    if not isinstance(package, StatusPackage) or not package.response_for.document_id:
        return None
    rf = package.response_for
    recall = package.status_code == StatusCode.RECALL_REQUEST
    sender = received.sender if recall else ctx.directory.canonical(rf.organ_id or "")
    return OriginalRef(sender=sender, document_id=rf.document_id or "")
