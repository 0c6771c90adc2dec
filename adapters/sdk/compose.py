"""Build (and sign) the packages an agency sends, from simple inputs; pure and synchronous.

A thin, friendlier layer over :mod:`edxml.compose` and :func:`edxml.signature.sign`::

    from adapters.sdk import compose

    out = compose.document(
        sender="000.21.31.H53", recipients=["000.00.31.H53"],
        subject="V/v triển khai liên thông", code="12/UBND-VP", signer="Nguyễn Văn A",
        files=["cv12.pdf", compose.File("phu-luc.txt", b"...")], key=agency_key)
    out.data          # canonical, signed edXML bytes, ready for Client.submit
    out.package       # the edxml.DocumentPackage they encode

    st = compose.status(received_document, code="03", comment="Đã tiếp nhận", key=key)

Codes a status may carry: 01–06, 13 (recall request, sender → recipient), 15/16 (recall or
update agreed/refused) — QCVN 102 and edxml.md §2.2. The date and the DocumentId
(``<sender>,<yyyy/MM/dd>,<number>/<notation>``) are fixed at composition: keep ``out.data``
and re-send *those bytes* after a failure, so the gateway recognises the package as the same
one (same sender, DocumentId and business type → same DocId, no second delivery).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edxml
from adapters.sdk.errors import UsageError
from adapters.sdk.models import Received
from edxml.attachments import sniff_type
from edxml.build import build_tree, serialize
from edxml.compose import attachment_from_file, document_from_mapping, new_document, new_status
from edxml.model import (
    Attachment,
    DocumentPackage,
    Organization,
    Package,
    ResponseFor,
    StaffInfo,
    StatusCode,
)
from edxml.safexml import parse_xml
from edxml.signature import SignatureKind, inspect_signatures, sign
from edxml.trust import SigningKey

__all__ = [
    "STATUS_CODES",
    "File",
    "Outgoing",
    "document",
    "from_description",
    "sign_package",
    "status",
]

#: Every status code a package may carry, with its Vietnamese name.
STATUS_CODES: Mapping[str, str] = {c.value: c.name_vi for c in StatusCode}


@dataclass(frozen=True, slots=True)
class File:
    """An attachment from memory (a path works as well wherever files are taken)."""

    name: str
    data: bytes = field(repr=False)
    content_type: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A package ready to submit: its exact bytes, and what they encode."""

    data: bytes = field(repr=False)
    package: Package = field(repr=False)
    #: Organ id of the certificate that signed it; None for an unsigned package.
    signed_by: str | None = None

    @property
    def kind(self) -> str:
        return self.package.kind

    @property
    def sender(self) -> str:
        return self.package.from_.organ_id

    @property
    def document_id(self) -> str:
        p = self.package
        return p.document_id if isinstance(p, DocumentPackage) else p.response_for.document_id or ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


FileLike = str | os.PathLike[str] | File | Attachment


def _attachments(files: Iterable[FileLike]) -> list[Attachment]:
    out: list[Attachment] = []
    for n, f in enumerate(files, 1):
        cid = str(n)
        if isinstance(f, Attachment):
            out.append(f)
        elif isinstance(f, File):
            ctype = f.content_type or sniff_type(f.data, f.name)[0]
            out.append(Attachment(cid, f.name, ctype, f.data, f.description or f.name))
        else:
            path = Path(f)
            if not path.is_file():
                raise UsageError(f"attachment not found: {path}", f"không tìm thấy tệp: {path}")
            out.append(attachment_from_file(path, cid))
    return out


def _code(code: str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(code, tuple):
        return code
    number, sep, notation = code.partition("/")
    if not sep or not number or not notation:
        raise UsageError(
            f"code must be 'number/notation' (e.g. '12/UBND-VP'), not {code!r}",
            f"số ký hiệu phải có dạng 'số/ký hiệu' (ví dụ '12/UBND-VP'), không phải {code!r}",
        )
    return number, notation


def _response_for(original: DocumentPackage | Received) -> ResponseFor:
    doc = original.document if isinstance(original, Received) else original
    return ResponseFor(
        organ_id=doc.from_.organ_id,
        code=str(doc.code),
        promulgation_date=doc.promulgation.date,
        document_id=doc.document_id,
    )


def sign_package(data: bytes | Package, key: SigningKey | None) -> Outgoing:
    """The canonical bytes of a package, signed with ``key`` when given.

    Bytes that already carry a real XML signature are returned as they are (signing again
    would fail); bytes without one are signed in place, keeping the sender's layout.
    """
    if isinstance(data, bytes):
        tree = parse_xml(data)
        package = edxml.read_tree(tree).package
        real = any(s.kind is SignatureKind.XMLDSIG for s in inspect_signatures(tree))
        if key is None or real:
            return Outgoing(data, package, _signer(tree) if real else None)
    else:
        package = data
        tree = build_tree(package)
        if key is None:
            return Outgoing(serialize(tree), package, None)
    _check_key(key, package)
    sign(tree, key)
    return Outgoing(serialize(tree), package, key.organ_id)


def _signer(tree: Any) -> str | None:
    for info in inspect_signatures(tree):
        if info.kind is SignatureKind.XMLDSIG:
            return info.signer_organ_id
    return None


def _check_key(key: SigningKey, package: Package) -> None:
    if key.organ_id and key.organ_id != package.from_.organ_id:
        raise UsageError(
            f"the signing certificate is {key.organ_id}'s, the package is from "
            f"{package.from_.organ_id}",
            f"chứng thư ký là của {key.organ_id}, gói tin gửi từ {package.from_.organ_id}",
        )


def document(
    *,
    sender: str | Organization,
    recipients: Iterable[str | Organization],
    subject: str,
    code: str | tuple[str, str],
    signer: str,
    files: Iterable[FileLike] = (),
    key: SigningKey | None = None,
    date: dt.date | None = None,
    place: str | None = None,
    type_name: str = "Công văn",
    signer_position: str | None = None,
    signer_competence: str | None = None,
    content: str | None = None,
    due_date: dt.date | None = None,
    priority: int = 0,
    to_places: Iterable[str] = (),
    document_id: str | None = None,
    business_type: int = 0,
    reason: str | None = None,
    revises: DocumentPackage | Received | None = None,
    answers: Iterable[DocumentPackage | Received] = (),
    staff: StaffInfo | None = None,
    steering_type: int | None = None,
    now: dt.datetime | None = None,
) -> Outgoing:
    """A document package (``code`` "number/notation"; ``date`` the promulgation date,
    default today); signed when ``key`` is given.

    ``revises`` names the document that a revocation (``business_type=1``), update (2) or
    replacement (3) changes; ``answers`` the documents this one replies to (ResponseFor).
    """
    if business_type not in (0, 1, 2, 3):
        raise UsageError(
            f"business_type is 0 (new), 1 (revoke), 2 (update) or 3 (replace), not {business_type}",
            f"business_type là 0 (mới), 1 (thu hồi), 2 (cập nhật) hoặc 3 (thay thế), "
            f"không phải {business_type}",
        )
    if business_type and revises is None:
        raise UsageError(
            "a revocation, update or replacement needs revises= (the original document)",
            "văn bản thu hồi/cập nhật/thay thế cần revises= (văn bản gốc)",
        )
    recipients = list(recipients)
    if not recipients:
        raise UsageError(
            "a document needs at least one recipient", "văn bản cần ít nhất một nơi nhận"
        )
    number, notation = _code(code)
    response_for = [_response_for(d) for d in answers]
    if revises is not None:
        response_for.insert(0, _response_for(revises))
    package = new_document(
        sender=sender,
        recipients=recipients,
        subject=subject,
        code_number=number,
        code_notation=notation,
        signer=signer,
        files=_attachments(files),
        promulgation_date=date,
        place=place,
        type_name=type_name,
        signer_position=signer_position,
        signer_competence=signer_competence,
        content=content,
        due_date=due_date,
        priority=priority,
        to_places=to_places,
        document_id=document_id,
        business_type=business_type,
        business_reason=reason,
        business_document_id=(
            (revises.document if isinstance(revises, Received) else revises).document_id
            if revises is not None
            else None
        ),
        response_for=response_for,
        staff=staff,
        steering_type=steering_type,
        now=now,
    )
    return sign_package(package, key)


def status(
    original: DocumentPackage | Received | bytes,
    *,
    code: str | StatusCode,
    sender: str | None = None,
    comment: str | None = None,
    recipient: str | None = None,
    staff: StaffInfo | None = None,
    key: SigningKey | None = None,
    now: dt.datetime | None = None,
) -> Outgoing:
    """A status about ``original`` (a document received — or, for 13, one sent).

    ``sender`` defaults to the agency that received ``original`` (a :class:`Received` knows
    it; a package addressed to one agency too), and for 13 to ``original``'s sender, then
    ``recipient`` (whom the recall is asked of) is required. 01–06, 15 and 16 go back to the
    original's sender.
    """
    value = str(code.value if isinstance(code, StatusCode) else code).zfill(2)
    if value not in STATUS_CODES:
        raise UsageError(
            f"status code must be one of {', '.join(STATUS_CODES)}, not {code!r}",
            f"mã trạng thái phải là một trong {', '.join(STATUS_CODES)}, không phải {code!r}",
        )
    received = original if isinstance(original, Received) else None
    if isinstance(original, bytes):
        parsed = edxml.parse(original)
        if not isinstance(parsed, DocumentPackage):
            raise UsageError(
                "a status is about a document package, not a status",
                "trạng thái phải là về một văn bản, không phải về một trạng thái",
            )
        doc = parsed
    else:
        doc = original.document if isinstance(original, Received) else original
    if value == StatusCode.RECALL_REQUEST:
        if not recipient:
            raise UsageError(
                "status 13 (recall) needs recipient= (the agency asked to give it back)",
                "trạng thái 13 (lấy lại) cần recipient= (đơn vị được yêu cầu trả lại)",
            )
        sender = sender or doc.from_.organ_id
    elif sender is None:
        if received is not None and received.recipient:
            sender = received.recipient
        elif len(doc.to) == 1:
            sender = doc.to[0].organ_id
        else:
            raise UsageError(
                "say which recipient agency reports the status: sender=",
                "hãy cho biết đơn vị nhận nào báo trạng thái: sender=",
            )
    package = new_status(
        doc,
        sender=sender,
        code=value,
        description=comment,
        staff=staff,
        recipient=recipient,
        now=now,
    )
    return sign_package(package, key)


def from_description(
    description: Mapping[str, Any], base: Path, key: SigningKey | None = None
) -> Outgoing:
    """A document from a TOML-style description (the ``edxml new`` format, README), with
    file paths relative to ``base``; raises :class:`edxml.FormatError`
    (``edxml.bad_description``) for a bad one."""
    return sign_package(document_from_mapping(description, base), key)
