"""Frozen, typed values for edXML document and status packages (QCVN 102:2016, edxml.md §1-2).

The model is what a package *means*, independent of how it was spelled on the wire: prefixes,
child order, ``Bussiness``/``Business``, ``cid:`` prefixes and date formats are gone after
parsing. Optional elements are ``None`` (absent or empty), repeated ones are tuples. Dates are
``datetime.date``; timestamps are timezone-aware in Asia/Ho_Chi_Minh (UTC+07:00, edxml.md §1.7).
Unknown extension elements are kept verbatim as :class:`Extension` values on the container
where they appeared, and written back by the builder.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

__all__ = [
    "VN_TZ",
    "Attachment",
    "BusinessDocType",
    "Bussiness",
    "BussinessDocumentInfo",
    "Code",
    "DocumentPackage",
    "DocumentType",
    "Extension",
    "Organization",
    "OtherInfo",
    "Package",
    "PromulgationInfo",
    "Receiver",
    "Reference",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusPackage",
    "TraceHeader",
]

#: edXML carries no zone; every producer means Vietnam local time (edxml.md §1.7).
VN_TZ = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class Extension:
    """An element this library does not model, kept as serialized XML (namespaces included)."""

    xml: str

    @property
    def tag(self) -> str:
        """Local name of the element, for display."""
        head = self.xml.lstrip()[1:].split(None, 1)[0].split(">", 1)[0].rstrip("/")
        return head.rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class Organization:
    """``From``, ``To`` and status ``From`` (edxml.md §1.2, the 8-child Organization type)."""

    organ_id: str
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class Code:
    """Số và ký hiệu văn bản: CodeNumber is not always numeric ("74fass22" in official data)."""

    number: str
    notation: str

    def __str__(self) -> str:
        return f"{self.number}/{self.notation}"


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    place: str | None = None
    date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class DocumentType:
    """``Type`` is any int in the wild (1 in samples, 18 from .NET); trust ``type_name``."""

    type: int | None = None
    type_detail: int | None = None
    type_name: str | None = None


@dataclass(frozen=True, slots=True)
class SignerInfo:
    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """``OtherInfo``; ``direction`` is the VNPT-library extension seen in official samples."""

    priority: int | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """The document answered (edoc) or whose progress is reported (status). ``code`` is one
    string ``number/notation`` here, unlike MessageHeader/Code (edxml.md §1.2)."""

    organ_id: str | None = None
    code: str | None = None
    promulgation_date: dt.date | None = None
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One hop of the routing trace; the axis appends some without OrganId (edxml.md §1.3)."""

    organ_id: str | None = None
    timestamp: dt.datetime | None = None


class BusinessDocType(enum.IntEnum):
    """``BussinessDocType`` (edxml.md §1.2): what the package does to an earlier document."""

    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


@dataclass(frozen=True, slots=True)
class Receiver:
    """A ReceiverList entry of an update: ``receiver_type`` 0 removed, 1 added."""

    organ_id: str
    receiver_type: int


@dataclass(frozen=True, slots=True)
class BussinessDocumentInfo:
    """Required by business type 2 (update): which parts changed and the receiver changes."""

    document_info: str | None = None
    document_receiver: str | None = None
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """Required by business type 3 (replace): the replaced document and who had received it."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StaffInfo:
    department: str | None = None
    department_id: str | None = None
    staff: str | None = None
    staff_id: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True)
class Bussiness:
    """``TraceHeaderList/Bussiness`` (sic, the spelling every SDK writes)."""

    doc_type: int = BusinessDocType.NEW
    reason: str | None = None
    document_id: str | None = None
    paper: int | None = None
    document_info: BussinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()
    staff: StaffInfo | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest entry; ``content_id`` is stored without the ``cid:`` prefix."""

    content_id: str
    content_type: str | None = None
    description: str | None = None
    attachment_name: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """An ``AttachmentEncoded/Attachment``: the decoded payload bytes as the sender sent them.

    ``content_type`` and ``name`` are what the sender *claimed*; use
    :func:`edxml.attachments.sniff` for the real file (payloads are often zipped behind a lying
    content type, edxml.md §1.6).
    """

    content_id: str
    name: str | None = None
    content_type: str | None = None
    data: bytes = b""
    description: str | None = None
    extensions: tuple[Extension, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:  # the payload can be megabytes: never print it
        return (
            f"Attachment(content_id={self.content_id!r}, name={self.name!r}, "
            f"content_type={self.content_type!r}, size={len(self.data)})"
        )


@dataclass(frozen=True, slots=True)
class DocumentPackage:
    """A document package ("gói tin văn bản", messagetype ``edoc``)."""

    from_: Organization
    to: tuple[Organization, ...]
    document_id: str
    code: Code
    promulgation: PromulgationInfo
    document_type: DocumentType
    subject: str
    signer: SignerInfo
    content: str | None = None
    due_date: dt.date | None = None
    to_places: tuple[str, ...] = ()
    other_info: OtherInfo | None = None
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: int | None = None
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Bussiness | None = None
    references: tuple[Reference, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    #: Extension elements of MessageHeader (ResponseForTask, ApplicationType, ...).
    extensions: tuple[Extension, ...] = ()
    #: Serialized ``Signature``/``DigitalSignature`` elements of edXMLHeader, kept verbatim;
    #: see :mod:`edxml.signature` to verify them.
    signatures: tuple[Extension, ...] = ()

    @property
    def kind(self) -> str:
        return "edoc"

    @property
    def business_type(self) -> int:
        """BussinessDocType, 0 (new) when the package carries no Bussiness element."""
        return self.business.doc_type if self.business is not None else BusinessDocType.NEW


class StatusCode(enum.StrEnum):
    """edXML status codes (edxml.md §2.2). No others exist; 07-12 and 14 are unused."""

    RECEIVED = "01"  # Đã đến
    REJECTED = "02"  # Từ chối tiếp nhận
    ACCEPTED = "03"  # Đã tiếp nhận
    ASSIGNED = "04"  # Phân công
    PROCESSING = "05"  # Đang xử lý
    COMPLETED = "06"  # Hoàn thành
    RECALL_REQUEST = "13"  # Lấy lại / thu hồi (sender → receiver)
    CHANGE_ACCEPTED = "15"  # Đồng ý lấy lại / cập nhật
    CHANGE_REJECTED = "16"  # Từ chối lấy lại / cập nhật

    @property
    def name_vi(self) -> str:
        return _STATUS_VI[self]


_STATUS_VI = {
    StatusCode.RECEIVED: "Đã đến",
    StatusCode.REJECTED: "Từ chối tiếp nhận",
    StatusCode.ACCEPTED: "Đã tiếp nhận",
    StatusCode.ASSIGNED: "Phân công xử lý",
    StatusCode.PROCESSING: "Đang xử lý",
    StatusCode.COMPLETED: "Hoàn thành",
    StatusCode.RECALL_REQUEST: "Yêu cầu lấy lại",
    StatusCode.CHANGE_ACCEPTED: "Đồng ý lấy lại/cập nhật",
    StatusCode.CHANGE_REJECTED: "Từ chối lấy lại/cập nhật",
}


@dataclass(frozen=True, slots=True)
class StatusPackage:
    """A status package ("gói tin trạng thái", messagetype ``status``, edxml.md §2.1).

    ``status_code`` is kept as the two-digit string that was sent, so that a package with an
    unknown code can still be parsed and then refused by validation with a clear message.
    """

    from_: Organization
    response_for: ResponseFor
    status_code: str
    timestamp: dt.datetime | None = None
    staff: StaffInfo | None = None
    description: str | None = None
    extensions: tuple[Extension, ...] = ()

    @property
    def kind(self) -> str:
        return "status"

    @property
    def code(self) -> StatusCode | None:
        """The status as an enum, ``None`` when the code is not one of QCVN 102's."""
        try:
            return StatusCode(self.status_code)
        except ValueError:
            return None


Package = DocumentPackage | StatusPackage
