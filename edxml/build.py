"""The canonical writer: a model value out, in exactly the layout of the official VPCP samples.

Why byte-level control: some receivers look elements up by the literal qualified name
(``edXML:StatusCode``, a .NET ``GetElementsByTagName`` client) and one integrator saw output
rejected once children lost the ``edXML:`` prefix (edxml.md §5.1 quirk 1). So the writer emits
text directly, as the VNPT Java library does: root ``edXML`` declaring the default namespace,
``edXML:edXMLEnvelope`` declaring the prefix, ``edXML:`` on every envelope descendant,
unprefixed ``AttachmentEncoded``/``Attachment`` children with a prefixed, self-declaring
``edXML:ContentTransferEncoded``; child order as the VNPT Java library writes it (edxml.md
§1.4); ``Bussiness`` spelling; ``yyyy/MM/dd`` dates; ``cid:`` content ids. It is also several
times faster than building an lxml tree and serializing it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from lxml import etree

from edxml.attachments import encode_base64
from edxml.dates import format_date, format_timestamp
from edxml.errors import FormatError, define
from edxml.model import (
    Attachment,
    Bussiness,
    DocumentPackage,
    Extension,
    Organization,
    OtherInfo,
    Package,
    Reference,
    ResponseFor,
    StaffInfo,
    StatusPackage,
)
from edxml.parse import NS

__all__ = ["build", "build_tree", "serialize"]

INVALID_TEXT = define(
    "edxml.invalid_text",
    "Trường {field} chứa ký tự không hợp lệ trong XML (U+{codepoint:04X})",
    "Field {field} contains a character not allowed in XML (U+{codepoint:04X})",
)

# XML 1.0 Char production: everything else cannot be written at all.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _esc(value: str, field: str) -> str:
    bad = _INVALID_XML.search(value)
    if bad:
        raise FormatError(INVALID_TEXT, field, field=field, codepoint=ord(bad.group()))
    return value.translate(_ESCAPES)


class _Writer:
    """Appends indented lines; ``p`` is the element prefix in force (``edXML:`` or none)."""

    def __init__(self) -> None:
        self.out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']

    def leaf(self, depth: int, p: str, name: str, value: str | None) -> None:
        if value is None:
            return
        self.out.append(f"{'  ' * depth}<{p}{name}>{_esc(value, name)}</{p}{name}>")

    def open(self, depth: int, p: str, name: str, attrs: str = "") -> None:
        self.out.append(f"{'  ' * depth}<{p}{name}{attrs}>")

    def close(self, depth: int, p: str, name: str) -> None:
        self.out.append(f"{'  ' * depth}</{p}{name}>")

    def raw(self, depth: int, extensions: Iterable[Extension]) -> None:
        for ext in extensions:
            self.out.append(f"{'  ' * depth}{ext.xml}")

    def text(self) -> str:
        return "\n".join(self.out) + "\n"


def _int(value: int | None) -> str | None:
    return None if value is None else str(int(value))


def _date(value: dt.date | None) -> str | None:
    return None if value is None else format_date(value)


def _ts(value: dt.datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


_P = "edXML:"


def _organization(w: _Writer, d: int, name: str, org: Organization) -> None:
    w.open(d, _P, name)
    w.leaf(d + 1, _P, "OrganId", org.organ_id)
    w.leaf(d + 1, _P, "OrganizationInCharge", org.organization_in_charge)
    w.leaf(d + 1, _P, "OrganName", org.organ_name)
    w.leaf(d + 1, _P, "OrganAdd", org.organ_add)
    w.leaf(d + 1, _P, "Email", org.email)
    w.leaf(d + 1, _P, "Telephone", org.telephone)
    w.leaf(d + 1, _P, "Fax", org.fax)
    w.leaf(d + 1, _P, "Website", org.website)
    w.raw(d + 1, org.extensions)
    w.close(d, _P, name)


def _response_for(w: _Writer, d: int, rf: ResponseFor) -> None:
    # Order of the official document samples: OrganId, Code, DocumentId, PromulgationDate.
    w.open(d, _P, "ResponseFor")
    w.leaf(d + 1, _P, "OrganId", rf.organ_id)
    w.leaf(d + 1, _P, "Code", rf.code)
    w.leaf(d + 1, _P, "DocumentId", rf.document_id)
    w.leaf(d + 1, _P, "PromulgationDate", _date(rf.promulgation_date))
    w.close(d, _P, "ResponseFor")


def _staff(w: _Writer, d: int, staff: StaffInfo) -> None:
    w.open(d, _P, "StaffInfo")
    w.leaf(d + 1, _P, "Department", staff.department)
    w.leaf(d + 1, _P, "DepartmentId", staff.department_id)
    w.leaf(d + 1, _P, "Staff", staff.staff)
    w.leaf(d + 1, _P, "StaffId", staff.staff_id)
    w.leaf(d + 1, _P, "Email", staff.email)
    w.leaf(d + 1, _P, "Mobile", staff.mobile)
    w.close(d, _P, "StaffInfo")


def _other_info(w: _Writer, d: int, info: OtherInfo) -> None:
    w.open(d, _P, "OtherInfo")
    w.leaf(d + 1, _P, "Priority", _int(info.priority))
    w.leaf(d + 1, _P, "SphereOfPromulgation", info.sphere_of_promulgation)
    w.leaf(d + 1, _P, "TyperNotation", info.typer_notation)
    w.leaf(d + 1, _P, "PromulgationAmount", _int(info.promulgation_amount))
    w.leaf(d + 1, _P, "PageAmount", _int(info.page_amount))
    if info.direction is not None:
        w.leaf(d + 1, _P, "Direction", "true" if info.direction else "false")
    if info.appendixes:
        w.open(d + 1, _P, "Appendixes")
        for appendix in info.appendixes:
            w.leaf(d + 2, _P, "Appendix", appendix)
        w.close(d + 1, _P, "Appendixes")
    w.raw(d + 1, info.extensions)
    w.close(d, _P, "OtherInfo")


def _business(w: _Writer, d: int, b: Bussiness) -> None:
    w.open(d, _P, "Bussiness")
    w.leaf(d + 1, _P, "DocumentId", b.document_id)
    w.leaf(d + 1, _P, "BussinessDocType", str(int(b.doc_type)))
    w.leaf(d + 1, _P, "BussinessDocReason", b.reason)
    w.leaf(d + 1, _P, "Paper", _int(b.paper))
    if b.document_info is not None:
        info = b.document_info
        w.open(d + 1, _P, "BussinessDocumentInfo")
        w.leaf(d + 2, _P, "DocumentInfo", info.document_info)
        w.leaf(d + 2, _P, "DocumentReceiver", info.document_receiver)
        if info.receivers:
            w.open(d + 2, _P, "ReceiverList")
            for rcv in info.receivers:
                w.open(d + 3, _P, "Receiver")
                w.leaf(d + 4, _P, "OrganId", rcv.organ_id)
                w.leaf(d + 4, _P, "ReceiverType", str(int(rcv.receiver_type)))
                w.close(d + 3, _P, "Receiver")
            w.close(d + 2, _P, "ReceiverList")
        w.close(d + 1, _P, "BussinessDocumentInfo")
    if b.replacements:
        w.open(d + 1, _P, "ReplacementInfoList")
        for rep in b.replacements:
            w.open(d + 2, _P, "ReplacementInfo")
            w.leaf(d + 3, _P, "DocumentId", rep.document_id)
            w.open(d + 3, _P, "OrganIdList")
            for organ_id in rep.organ_ids:
                w.leaf(d + 4, _P, "OrganId", organ_id)
            w.close(d + 3, _P, "OrganIdList")
            w.close(d + 2, _P, "ReplacementInfo")
        w.close(d + 1, _P, "ReplacementInfoList")
    if b.staff is not None:
        _staff(w, d + 1, b.staff)
    w.raw(d + 1, b.extensions)
    w.close(d, _P, "Bussiness")


def _reference(w: _Writer, d: int, ref: Reference) -> None:
    w.open(d, _P, "Reference")
    w.leaf(d + 1, _P, "ContentId", f"cid:{ref.content_id}")
    w.leaf(d + 1, _P, "ContentType", ref.content_type)
    w.leaf(d + 1, _P, "Description", ref.description)
    w.leaf(d + 1, _P, "AttachmentName", ref.attachment_name)
    w.close(d, _P, "Reference")


def _attachment(w: _Writer, d: int, att: Attachment) -> None:
    # Unprefixed (default edXML namespace) as in the samples; only the payload is prefixed.
    w.open(d, "", "Attachment")
    w.leaf(d + 1, "", "ContentId", f"cid:{att.content_id}")
    w.leaf(d + 1, "", "AttachmentName", att.name)
    w.leaf(d + 1, "", "Description", att.description)
    w.leaf(d + 1, "", "ContentType", att.content_type)
    w.raw(d + 1, att.extensions)
    w.out.append(
        f'{"  " * (d + 1)}<edXML:ContentTransferEncoded xmlns:edXML="{NS}">'
        f"{encode_base64(att.data)}</edXML:ContentTransferEncoded>"
    )
    w.close(d, "", "Attachment")


def _envelope_open(w: _Writer) -> None:
    w.out.append(f'<edXML xmlns="{NS}">')
    w.open(1, _P, "edXMLEnvelope", f' xmlns:edXML="{NS}"')
    w.open(2, _P, "edXMLHeader")
    w.open(3, _P, "MessageHeader")


def _document(w: _Writer, p: DocumentPackage) -> None:
    _envelope_open(w)
    d = 4
    _organization(w, d, "From", p.from_)
    for to in p.to:
        _organization(w, d, "To", to)
    w.leaf(d, _P, "DocumentId", p.document_id)
    w.open(d, _P, "Code")
    w.leaf(d + 1, _P, "CodeNumber", p.code.number)
    w.leaf(d + 1, _P, "CodeNotation", p.code.notation)
    w.close(d, _P, "Code")
    w.open(d, _P, "PromulgationInfo")
    w.leaf(d + 1, _P, "Place", p.promulgation.place)
    w.leaf(d + 1, _P, "PromulgationDate", _date(p.promulgation.date))
    w.close(d, _P, "PromulgationInfo")
    w.open(d, _P, "DocumentType")
    w.leaf(d + 1, _P, "Type", _int(p.document_type.type))
    w.leaf(d + 1, _P, "TypeDetail", _int(p.document_type.type_detail))
    w.leaf(d + 1, _P, "TypeName", p.document_type.type_name)
    w.close(d, _P, "DocumentType")
    w.leaf(d, _P, "Subject", p.subject)
    w.leaf(d, _P, "Content", p.content)
    w.open(d, _P, "SignerInfo")
    w.leaf(d + 1, _P, "Competence", p.signer.competence)
    w.leaf(d + 1, _P, "Position", p.signer.position)
    w.leaf(d + 1, _P, "FullName", p.signer.full_name)
    w.close(d, _P, "SignerInfo")
    w.leaf(d, _P, "DueDate", _date(p.due_date))
    if p.other_info is not None:
        _other_info(w, d, p.other_info)
    for rf in p.response_for:
        _response_for(w, d, rf)
    w.leaf(d, _P, "SteeringType", _int(p.steering_type))
    w.raw(d, p.extensions)  # ResponseForTask, ApplicationType, ... (VNPT order)
    if p.to_places:
        w.open(d, _P, "ToPlaces")
        for place in p.to_places:
            w.leaf(d + 1, _P, "Place", place)
        w.close(d, _P, "ToPlaces")
    w.close(3, _P, "MessageHeader")
    w.open(3, _P, "TraceHeaderList")
    for th in p.trace_headers:
        w.open(4, _P, "TraceHeader")
        w.leaf(5, _P, "OrganId", th.organ_id)
        w.leaf(5, _P, "Timestamp", _ts(th.timestamp))
        w.close(4, _P, "TraceHeader")
    if p.business is not None:
        _business(w, 4, p.business)
    w.close(3, _P, "TraceHeaderList")
    w.raw(3, p.signatures)
    w.close(2, _P, "edXMLHeader")
    w.open(2, _P, "edXMLBody")
    w.open(3, _P, "edXMLManifest", ' version="1.0"')
    for ref in p.references:
        _reference(w, 4, ref)
    w.close(3, _P, "edXMLManifest")
    w.close(2, _P, "edXMLBody")
    w.close(1, _P, "edXMLEnvelope")
    if p.attachments:
        w.open(1, "", "AttachmentEncoded")
        for att in p.attachments:
            _attachment(w, 2, att)
        w.close(1, "", "AttachmentEncoded")
    w.out.append("</edXML>")


def _status(w: _Writer, p: StatusPackage) -> None:
    _envelope_open(w)
    d = 4
    _organization(w, d, "From", p.from_)
    _response_for(w, d, p.response_for)
    if p.staff is not None:
        _staff(w, d, p.staff)
    w.leaf(d, _P, "StatusCode", p.status_code)
    w.leaf(d, _P, "Description", p.description)
    w.leaf(d, _P, "Timestamp", _ts(p.timestamp))
    w.raw(d, p.extensions)
    w.close(3, _P, "MessageHeader")
    w.close(2, _P, "edXMLHeader")
    w.close(1, _P, "edXMLEnvelope")
    w.out.append("</edXML>")


def build(package: Package) -> bytes:
    """The package as canonical edXML bytes (UTF-8, with an XML declaration)."""
    w = _Writer()
    if isinstance(package, StatusPackage):
        _status(w, package)
    else:
        _document(w, package)
    return w.text().encode("utf-8")


def build_tree(package: Package) -> etree._ElementTree:
    """The canonical package as an lxml tree (for signing before sending)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.ElementTree(etree.fromstring(build(package), parser))


def serialize(tree: etree._ElementTree | etree._Element) -> bytes:
    """A (signed, sealed) tree back to bytes, as received plus what was appended.

    No re-indentation and no namespace clean-up: either would change the bytes that
    signatures cover (exclusive c14n tolerates declarations, not text changes).
    """
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
