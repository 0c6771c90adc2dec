"""Composing packages from simple inputs: a subject, recipients and files in; a package out.

This is what a document-management system (or the ``edxml new``/``edxml status`` commands)
needs to *send*: it fills in what QCVN 102 requires and the samples always carry — the
canonical DocumentId ``<issuer>,<yyyy/MM/dd>,<number>/<notation>`` (edxml.md §3.2), the
sender's TraceHeader, a Bussiness block, one manifest Reference per attachment — and for a
status, the ResponseFor block taken from the original document, with the direction of code 13
reversed (edxml.md §2.2).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edxml.errors import FormatError, define
from edxml.model import (
    VN_TZ,
    Attachment,
    Bussiness,
    Code,
    DocumentPackage,
    DocumentType,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Reference,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    TraceHeader,
)

__all__ = ["attachment_from_file", "document_from_mapping", "new_document", "new_status"]

BAD_DESCRIPTION = define(
    "edxml.bad_description",
    "Mô tả gói tin không hợp lệ: {detail}",
    "Invalid package description: {detail}",
)

# The VNPT library's labels for the formats it sends raw (edxml.md §1.6); real MIME types
# for everything else. Receivers sniff anyway.
_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def attachment_from_file(path: str | os.PathLike[str], content_id: str) -> Attachment:
    """An attachment carrying a file's bytes under its own name and MIME type."""
    p = Path(path)
    ext = p.suffix.lower()
    ctype = _TYPES.get(ext) or mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return Attachment(
        content_id=content_id,
        name=p.name,
        content_type=ctype,
        data=p.read_bytes(),
        description=p.name,
    )


def _org(value: str | Organization) -> Organization:
    return value if isinstance(value, Organization) else Organization(organ_id=value.strip())


def _now() -> dt.datetime:
    return dt.datetime.now(VN_TZ).replace(microsecond=0)


def new_document(
    *,
    sender: str | Organization,
    recipients: Iterable[str | Organization],
    subject: str,
    code_number: str,
    code_notation: str,
    signer: str,
    files: Iterable[str | os.PathLike[str] | Attachment] = (),
    promulgation_date: dt.date | None = None,
    place: str | None = None,
    type_name: str = "Công văn",
    type: int = 1,
    signer_position: str | None = None,
    signer_competence: str | None = None,
    content: str | None = None,
    due_date: dt.date | None = None,
    priority: int = 0,
    to_places: Iterable[str] = (),
    document_id: str | None = None,
    business_type: int = 0,
    business_reason: str | None = None,
    business_document_id: str | None = None,
    response_for: Iterable[ResponseFor] = (),
    staff: StaffInfo | None = None,
    steering_type: int | None = None,
    now: dt.datetime | None = None,
) -> DocumentPackage:
    """A new document package with everything a receiver expects filled in."""
    now = now or _now()
    sender_org = _org(sender)
    date = promulgation_date or now.date()
    atts: list[Attachment] = []
    for i, f in enumerate(files, 1):
        atts.append(f if isinstance(f, Attachment) else attachment_from_file(f, str(i)))
    refs = tuple(Reference(a.content_id, a.content_type, a.description, a.name) for a in atts)
    return DocumentPackage(
        from_=sender_org,
        to=tuple(_org(r) for r in recipients),
        document_id=document_id
        or f"{sender_org.organ_id},{date:%Y/%m/%d},{code_number}/{code_notation}",
        code=Code(code_number, code_notation),
        promulgation=PromulgationInfo(place, date),
        document_type=DocumentType(type, 0, type_name),
        subject=subject,
        signer=SignerInfo(signer_competence, signer_position, signer),
        content=content,
        due_date=due_date,
        to_places=tuple(to_places),
        other_info=OtherInfo(priority=priority),
        response_for=tuple(response_for),
        steering_type=steering_type,
        trace_headers=(TraceHeader(sender_org.organ_id, now),),
        business=Bussiness(
            business_type, business_reason, business_document_id, paper=0, staff=staff
        ),
        references=refs,
        attachments=tuple(atts),
    )


def new_status(
    original: DocumentPackage,
    *,
    sender: str | Organization,
    code: str | StatusCode,
    description: str | None = None,
    staff: StaffInfo | None = None,
    recipient: str | None = None,
    now: dt.datetime | None = None,
) -> StatusPackage:
    """A status about ``original`` from ``sender``.

    Statuses are routed to ``ResponseFor/OrganId``: the original sender for 01-06, 15 and 16;
    for 13 (a recall request) the *receiver*, so ``recipient`` is required then.
    """
    status = StatusCode(code)
    if status is StatusCode.RECALL_REQUEST:
        if not recipient:
            raise FormatError(
                BAD_DESCRIPTION, detail="status 13 needs the recipient to recall from"
            )
        target = recipient
    else:
        target = recipient or original.from_.organ_id
    return StatusPackage(
        from_=_org(sender),
        response_for=ResponseFor(
            organ_id=target,
            code=str(original.code),
            promulgation_date=original.promulgation.date,
            document_id=original.document_id,
        ),
        status_code=status.value,
        timestamp=now or _now(),
        staff=staff,
        description=description or status.name_vi,
    )


def _date(value: Any, key: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).replace("/", "-"))
    except ValueError:
        raise FormatError(BAD_DESCRIPTION, detail=f"{key} is not a date: {value!r}") from None


def _organization(value: Any, key: str) -> Organization:
    if isinstance(value, str):
        return Organization(organ_id=value)
    if isinstance(value, Mapping) and "organ_id" in value:
        known = {
            "organ_id",
            "organ_name",
            "organization_in_charge",
            "organ_add",
            "email",
            "telephone",
            "fax",
            "website",
        }
        extra = set(value) - known
        if extra:
            raise FormatError(BAD_DESCRIPTION, detail=f"unknown keys in {key}: {sorted(extra)}")
        fields: dict[str, Any] = {k: str(v) for k, v in value.items()}
        return Organization(**fields)
    raise FormatError(BAD_DESCRIPTION, detail=f"{key} must be an organ id or a table with organ_id")


def document_from_mapping(desc: Mapping[str, Any], base: Path) -> DocumentPackage:
    """A package from a TOML-style description; file paths are relative to ``base``.

    Keys: ``from``, ``to`` (list), ``subject``, ``code`` ("number/notation"), ``signer``
    (name or table with full_name/position/competence), optional ``date``, ``place``,
    ``type_name``, ``content``, ``due_date``, ``priority``, ``to_places``, ``document_id``,
    ``business_type``, ``reason``, ``files`` (list of paths).
    """
    missing = [k for k in ("from", "to", "subject", "code", "signer") if k not in desc]
    if missing:
        raise FormatError(BAD_DESCRIPTION, detail=f"missing keys: {', '.join(missing)}")
    number, sep, notation = str(desc["code"]).partition("/")
    if not sep:
        raise FormatError(BAD_DESCRIPTION, detail="code must be 'number/notation'")
    signer = desc["signer"]
    if isinstance(signer, str):
        signer = {"full_name": signer}
    recipients = desc["to"] if isinstance(desc["to"], list) else [desc["to"]]
    files = []
    for f in desc.get("files", []):
        path = (base / str(f)).resolve()
        if not path.is_file():
            raise FormatError(BAD_DESCRIPTION, detail=f"file not found: {f}")
        files.append(path)
    try:
        return new_document(
            sender=_organization(desc["from"], "from"),
            recipients=[_organization(r, "to") for r in recipients],
            subject=str(desc["subject"]),
            code_number=number,
            code_notation=notation,
            signer=str(signer.get("full_name", "")),
            signer_position=signer.get("position"),
            signer_competence=signer.get("competence"),
            files=files,
            promulgation_date=_date(desc.get("date"), "date"),
            place=desc.get("place"),
            type_name=str(desc.get("type_name", "Công văn")),
            type=int(desc.get("type", 1)),
            content=desc.get("content"),
            due_date=_date(desc.get("due_date"), "due_date"),
            priority=int(desc.get("priority", 0)),
            to_places=[str(p) for p in desc.get("to_places", [])],
            document_id=desc.get("document_id"),
            business_type=int(desc.get("business_type", 0)),
            business_reason=desc.get("reason"),
            business_document_id=desc.get("business_document_id"),
        )
    except (TypeError, ValueError) as exc:
        raise FormatError(BAD_DESCRIPTION, detail=str(exc)) from None
