"""Typed, frozen values for what the gateway answers: submissions, inbox items, tracking.

Each value is read from the JSON the REST API documents (``/openapi.json``); times are
timezone-aware ``datetime``; unknown fields are ignored (a newer gateway may add some), and
``raw`` keeps the JSON object as received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import edxml
from adapters.sdk.errors import ProtocolError
from adapters.sdk.receipts import Receipt
from edxml.model import DocumentPackage, Package, StatusPackage

__all__ = [
    "Acknowledged",
    "DeliveryState",
    "InboxItem",
    "InboxPage",
    "Me",
    "Progress",
    "Received",
    "RecipientTracking",
    "Route",
    "StatusEvent",
    "Submitted",
    "Tracking",
]

#: Where one delivery stands (the gateway's lifecycle, README "The REST API").
DeliveryState = Literal["pending", "queued", "retrying", "delivered", "done", "failed", "dead"]

_T = TypeVar("_T")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def read(kind: Callable[[Mapping[str, Any]], _T], value: Any, what: str) -> _T:
    """``kind(value)``, any malformation reported as :class:`ProtocolError`."""
    if not isinstance(value, Mapping):
        raise ProtocolError(
            f"the gateway's answer for {what} is not a JSON object",
            f"câu trả lời của trục cho {what} không phải đối tượng JSON",
        )
    try:
        return kind(value)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(
            f"the gateway's answer for {what} is not in the documented form: {exc!r}",
            f"câu trả lời của trục cho {what} không đúng định dạng: {exc!r}",
        ) from exc


@dataclass(frozen=True, slots=True)
class Route:
    """Where one recipient of a submitted package goes (``local``, ``downlink``, ``uplink``)."""

    recipient: str
    route: str | None
    delivery_id: str | None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Route:
        return cls(str(v["recipient"]), _opt(v.get("route")), _opt(v.get("delivery_id")))


@dataclass(frozen=True, slots=True)
class Submitted:
    """The gateway accepted a package (``duplicate``: it had accepted the same one before, and
    this is the original's DocId and receipt)."""

    doc_id: str
    duplicate: bool
    kind: str
    sender: str
    document_id: str
    sha256: str
    size: int
    received_at: datetime | None
    recipients: tuple[Route, ...]
    warnings: tuple[Mapping[str, Any], ...]
    receipt: Receipt
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Submitted:
        return cls(
            doc_id=str(v["doc_id"]),
            duplicate=bool(v["duplicate"]),
            kind=str(v["kind"]),
            sender=str(v["sender"]),
            document_id=str(v["document_id"]),
            sha256=str(v["sha256"]),
            size=int(v["size"]),
            received_at=_time(v.get("received_at")),
            recipients=tuple(Route.from_json(r) for r in v.get("recipients") or ()),
            warnings=tuple(v.get("warnings") or ()),
            receipt=Receipt.from_signed(v["receipt"]),
            raw=dict(v),
        )


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One delivery in the inbox of one of the system's agencies, with its message's facts."""

    delivery_id: str
    doc_id: str
    kind: str  # "edoc" or "status"
    sender: str
    recipient: str
    state: str
    document_id: str
    business_type: int | None
    status_code: str | None
    subject: str | None
    code_notation: str | None
    #: The document a status or revision is about: ``{"organ_id", "document_id"}``.
    response_for: Mapping[str, Any] | None
    received_at: datetime | None
    delivered_at: datetime | None
    acked_at: datetime | None
    sha256: str
    size: int
    attempts: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> InboxItem:
        bt = v.get("business_type")
        return cls(
            delivery_id=str(v["delivery_id"]),
            doc_id=str(v["doc_id"]),
            kind=str(v["kind"]),
            sender=str(v["sender"]),
            recipient=str(v["recipient"]),
            state=str(v["state"]),
            document_id=str(v["document_id"]),
            business_type=None if bt is None else int(bt),
            status_code=_opt(v.get("status_code")),
            subject=_opt(v.get("subject")),
            code_notation=_opt(v.get("code_notation")),
            response_for=v.get("response_for"),
            received_at=_time(v.get("received_at")),
            delivered_at=_time(v.get("delivered_at")),
            acked_at=_time(v.get("acked_at")),
            sha256=str(v["sha256"]),
            size=int(v["size"]),
            attempts=int(v.get("attempts") or 0),
            raw=dict(v),
        )


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: tuple[InboxItem, ...]
    #: Pass it back as ``cursor`` for the next page; None on the last page.
    next_cursor: str | None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> InboxPage:
        return cls(
            items=tuple(read(InboxItem.from_json, i, "inbox item") for i in v["items"]),
            next_cursor=_opt(v.get("next_cursor")),
        )


@dataclass(frozen=True, slots=True)
class Received:
    """A fetched inbox item: the sealed package bytes as delivered, and the package read from
    them (attachments decoded: ``package.attachments[i].data``)."""

    item: InboxItem | None
    delivery_id: str
    doc_id: str
    kind: str
    sender: str
    recipient: str
    data: bytes = field(repr=False)
    package: Package = field(repr=False)

    @property
    def document(self) -> DocumentPackage:
        """The document package (``kind == "edoc"``); ``TypeError`` for a status."""
        if not isinstance(self.package, DocumentPackage):
            raise TypeError(f"{self.doc_id} is a status package, not a document")
        return self.package

    @property
    def status(self) -> StatusPackage:
        """The status package (``kind == "status"``); ``TypeError`` for a document."""
        if not isinstance(self.package, StatusPackage):
            raise TypeError(f"{self.doc_id} is a document package, not a status")
        return self.package

    @classmethod
    def from_reply(
        cls, headers: Mapping[str, str], data: bytes, item: InboxItem | None, delivery_id: str
    ) -> Received:
        package = edxml.parse(data)
        return cls(
            item=item,
            delivery_id=headers.get("edxgw-delivery-id") or delivery_id,
            doc_id=headers.get("edxgw-doc-id") or (item.doc_id if item else ""),
            kind=headers.get("edxgw-kind") or package.kind,
            sender=headers.get("edxgw-sender") or package.from_.organ_id,
            recipient=headers.get("edxgw-recipient") or (item.recipient if item else ""),
            data=data,
            package=package,
        )


@dataclass(frozen=True, slots=True)
class Acknowledged:
    delivery_id: str
    state: str

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Acknowledged:
        return cls(str(v["delivery_id"]), str(v["state"]))


@dataclass(frozen=True, slots=True)
class Progress:
    """The monotonic business progress of one recipient (01 < 03 < 04 < 05 < 06; 02 final)
    and the recall/update state beside it (13 asked, 15 agreed, 16 refused)."""

    level: str | None
    level_at: datetime | None
    change_state: str | None
    change_at: datetime | None
    last_code: str | None
    events: int

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Progress:
        return cls(
            level=_opt(v.get("level")),
            level_at=_time(v.get("level_at")),
            change_state=_opt(v.get("change_state")),
            change_at=_time(v.get("change_at")),
            last_code=_opt(v.get("last_code")),
            events=int(v.get("events") or 0),
        )


@dataclass(frozen=True, slots=True)
class RecipientTracking:
    """One recipient of a tracked document: its delivery (None when another hub delivered)
    and its progress."""

    recipient: str
    route: str | None
    delivery_id: str | None
    state: str | None
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None
    progress: Progress | None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> RecipientTracking:
        p = v.get("progress")
        return cls(
            recipient=str(v["recipient"]),
            route=_opt(v.get("route")),
            delivery_id=_opt(v.get("delivery_id")),
            state=_opt(v.get("state")),
            attempts=int(v.get("attempts") or 0),
            last_error=_opt(v.get("last_error")),
            delivered_at=_time(v.get("delivered_at")),
            acked_at=_time(v.get("acked_at")),
            progress=Progress.from_json(p) if p else None,
        )


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One status reported about a tracked document, as it arrived."""

    status_doc_id: str
    recipient: str
    from_organ: str
    code: str
    at: datetime | None
    description: str | None
    recorded_at: datetime | None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> StatusEvent:
        return cls(
            status_doc_id=str(v["status_doc_id"]),
            recipient=str(v["recipient"]),
            from_organ=str(v["from"]),
            code=str(v["code"]),
            at=_time(v.get("at")),
            description=_opt(v.get("description")),
            recorded_at=_time(v.get("recorded_at")),
        )


@dataclass(frozen=True, slots=True)
class Tracking:
    """A document as its sender (or a recipient) may follow it: ``GET /api/v1/documents/{id}``."""

    doc_id: str
    kind: str
    sender: str
    document_id: str
    subject: str | None
    status_code: str | None
    original_doc_id: str | None
    received_at: datetime | None
    recipients: tuple[RecipientTracking, ...]
    statuses: tuple[StatusEvent, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def recipient(self, organ_id: str) -> RecipientTracking:
        for r in self.recipients:
            if r.recipient == organ_id:
                return r
        raise KeyError(organ_id)

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Tracking:
        return cls(
            doc_id=str(v["doc_id"]),
            kind=str(v["kind"]),
            sender=str(v["sender"]),
            document_id=str(v["document_id"]),
            subject=_opt(v.get("subject")),
            status_code=_opt(v.get("status_code")),
            original_doc_id=_opt(v.get("original_doc_id")),
            received_at=_time(v.get("received_at")),
            recipients=tuple(RecipientTracking.from_json(r) for r in v.get("recipients") or ()),
            statuses=tuple(StatusEvent.from_json(s) for s in v.get("statuses") or ()),
            raw=dict(v),
        )


@dataclass(frozen=True, slots=True)
class Me:
    """The calling system and the agencies it may send as and read for."""

    system_id: str
    name: str | None
    agencies: tuple[str, ...]
    validation_mode: str | None
    signature_policy: str | None

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> Me:
        return cls(
            system_id=str(v["system_id"]),
            name=_opt(v.get("name")),
            agencies=tuple(str(a) for a in v.get("agencies") or ()),
            validation_mode=_opt(v.get("validation_mode")),
            signature_policy=_opt(v.get("signature_policy")),
        )
