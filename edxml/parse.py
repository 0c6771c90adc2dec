"""The tolerant reader: any real-world spelling of an edXML package in, one model value out.

Children are looked up by *local name*, case-insensitively, never by position or prefix,
as both SDK parsers do (edxml.md §1.4, §5.1 quirks 1-2): prefixed, default or mixed
namespaces; any child order; ``Bussiness``/``Business``; ``Manifest``/``edXMLManifest``;
``ContentId`` with or without ``cid:``; empty or placeholder values. Every deviation from the
canonical form that was tolerated is recorded as a *finding* so that validation can turn it
into a warning (lenient) or an error (strict). Elements nobody models are kept as
:class:`~edxml.model.Extension` values.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from lxml import etree

from edxml import dates
from edxml.attachments import decode_base64
from edxml.errors import Code as ErrorCode
from edxml.errors import FormatError, Issue, Severity, Text, define
from edxml.model import (
    Attachment,
    Bussiness,
    BussinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    Extension,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    Reference,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)
from edxml.safexml import Limits, parse_xml

__all__ = ["LEGACY_NS", "NS", "Parsed", "parse", "read", "read_tree"]

#: The QCVN 102:2016 namespace (edxml.md §1.1).
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: The pre-QCVN "512" edXML and Bkav SOAP hub namespace (edxml.md §1.1).
LEGACY_NS = "http://www.e-doc.vn/Schema/"
_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"

NOT_EDXML = define(
    "edxml.not_edxml",
    "Tài liệu XML không phải gói tin edXML (phần tử gốc: {root})",
    "The XML document is not an edXML package (root element: {root})",
)
LEGACY = define(
    "edxml.legacy_format",
    "Định dạng edXML cũ (không gian tên {ns}) không được hỗ trợ; hãy gửi theo QCVN 102:2016",
    "Unsupported legacy edXML format (namespace {ns}); send QCVN 102:2016 edXML instead",
)
MISSING = define(
    "edxml.missing_element",
    "Thiếu phần tử bắt buộc {element}",
    "Required element {element} is missing",
)
BAD_VALUE = define(
    "edxml.bad_value",
    "Giá trị không hợp lệ trong {element}: {value!r} (cần {expected})",
    "Invalid value in {element}: {value!r} (expected {expected})",
)
NON_CANONICAL = define(
    "edxml.non_canonical",
    "Cách viết không chuẩn tại {element}: {detail}",
    "Non-canonical spelling at {element}: {detail}",
)
PLACEHOLDER = define(
    "edxml.placeholder_value",
    "Giá trị giữ chỗ {value!r} trong {element} được coi là trống",
    "Placeholder value {value!r} in {element} is treated as empty",
)

# Values that mean "nothing" in identifier, date and number fields (edxml.md §5.1).
_PLACEHOLDERS = frozenset({"null", "n/a", "na", "none", "nil", "-", "undefined"})
# Spelling variants a reader must accept; the canonical spelling comes first.
_ALIASES = {
    "business": "bussiness",
    "businessdoctype": "bussinessdoctype",
    "businessdocreason": "bussinessdocreason",
    "businessdocumentinfo": "bussinessdocumentinfo",
    "manifest": "edxmlmanifest",
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed package with the tree it came from (for signatures) and the findings."""

    package: Package
    tree: etree._ElementTree
    findings: tuple[Issue, ...] = ()


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _norm(name: str) -> str:
    name = name.lower()
    return _ALIASES.get(name, name)


class _Node:
    """An element with its children indexed by normalised local name; tracks what was used."""

    __slots__ = ("el", "kids", "path", "used")

    def __init__(self, el: etree._Element, path: str) -> None:
        self.el = el
        self.path = path
        self.kids: dict[str, list[etree._Element]] = {}
        for child in el:
            name = _local(child)
            if name:
                self.kids.setdefault(_norm(name), []).append(child)
        self.used: set[str] = set()

    def all(self, name: str) -> list[etree._Element]:
        self.used.add(name)
        return self.kids.get(name, [])

    def one(self, name: str) -> etree._Element | None:
        found = self.all(name)
        return found[0] if found else None

    def node(self, name: str, label: str) -> _Node | None:
        el = self.one(name)
        return _Node(el, f"{self.path}/{label}") if el is not None else None

    def unused(self) -> Iterator[etree._Element]:
        for name, els in self.kids.items():
            if name not in self.used:
                yield from els


T = TypeVar("T")


class _Reader:
    """Walks one package, collecting findings; one instance per package (not shared)."""

    def __init__(self) -> None:
        self.findings: list[Issue] = []

    def note(
        self, code: ErrorCode, path: str, el: etree._Element | None = None, **params: Any
    ) -> None:
        line = _line(el) if el is not None else None
        self.findings.append(Issue.of(code, path, severity=Severity.WARNING, line=line, **params))

    # -- leaf values ------------------------------------------------------------------------
    def text(self, node: _Node, name: str, label: str) -> str | None:
        el = node.one(name)
        if el is None:
            return None
        value = (el.text or "").strip()
        return value or None

    def texts(self, node: _Node, name: str) -> tuple[str, ...]:
        out = []
        for el in node.all(name):
            value = (el.text or "").strip()
            if value:
                out.append(value)
        return tuple(out)

    def ident(self, node: _Node, name: str, label: str) -> str | None:
        """An identifier: placeholders like ``null`` (seen in 2025 axis output) mean absent."""
        value = self.text(node, name, label)
        if value is not None and value.lower() in _PLACEHOLDERS:
            self.note(
                PLACEHOLDER, f"{node.path}/{label}", node.one(name), value=value, element=label
            )
            return None
        return value

    def convert(
        self,
        node: _Node,
        name: str,
        label: str,
        fn: Callable[[str], T | None],
        expected: str | Text,
    ) -> T | None:
        value = self.ident(node, name, label)
        if value is None:
            return None
        result = fn(value)
        if result is None:
            self.note(
                BAD_VALUE,
                f"{node.path}/{label}",
                node.one(name),
                element=label,
                value=value,
                expected=expected,
            )
        return result

    def integer(self, node: _Node, name: str, label: str) -> int | None:
        def to_int(v: str) -> int | None:
            try:
                return int(v)
            except ValueError:
                return None

        return self.convert(node, name, label, to_int, Text("số nguyên", "an integer"))

    def date(self, node: _Node, name: str, label: str) -> dt.date | None:
        def to_date(v: str) -> dt.date | None:
            got = dates.parse_date(v)
            if got is None:
                return None
            if not got[1]:
                self.note(
                    NON_CANONICAL,
                    f"{node.path}/{label}",
                    node.one(name),
                    element=label,
                    detail=Text(
                        f"ngày {v!r} không theo dạng yyyy/MM/dd", f"date {v!r} is not yyyy/MM/dd"
                    ),
                )
            return got[0]

        return self.convert(node, name, label, to_date, "yyyy/MM/dd")

    def timestamp(self, node: _Node, name: str, label: str) -> dt.datetime | None:
        def to_ts(v: str) -> dt.datetime | None:
            got = dates.parse_timestamp(v)
            if got is None:
                return None
            if not got[1]:
                self.note(
                    NON_CANONICAL,
                    f"{node.path}/{label}",
                    node.one(name),
                    element=label,
                    detail=Text(
                        f"thời điểm {v!r} không theo dạng yyyy/MM/dd HH:mm:ss",
                        f"timestamp {v!r} is not yyyy/MM/dd HH:mm:ss",
                    ),
                )
            return got[0]

        return self.convert(node, name, label, to_ts, "yyyy/MM/dd HH:mm:ss")

    def boolean(self, node: _Node, name: str, label: str) -> bool | None:
        def to_bool(v: str) -> bool | None:
            return {"true": True, "1": True, "false": False, "0": False}.get(v.lower())

        return self.convert(node, name, label, to_bool, Text("true hoặc false", "true or false"))

    def extensions(self, node: _Node) -> tuple[Extension, ...]:
        return tuple(_extension(el) for el in node.unused())

    def spelling(self, node: _Node, name: str, canonical: str) -> None:
        """Record ``Business`` & co. so strict mode can refuse what lenient mode accepts."""
        for el in node.all(name):
            actual = etree.QName(el).localname
            if actual != canonical:
                self.note(
                    NON_CANONICAL,
                    f"{node.path}/{actual}",
                    el,
                    element=actual,
                    detail=Text(
                        f"viết {actual!r} thay vì {canonical!r}",
                        f"spelled {actual!r} instead of {canonical!r}",
                    ),
                )

    # -- structures ------------------------------------------------------------------------
    def organization(self, node: _Node) -> Organization:
        return Organization(
            organ_id=self.ident(node, "organid", "OrganId") or "",
            organization_in_charge=self.text(node, "organizationincharge", "OrganizationInCharge"),
            organ_name=self.text(node, "organname", "OrganName"),
            organ_add=self.text(node, "organadd", "OrganAdd"),
            email=self.text(node, "email", "Email"),
            telephone=self.text(node, "telephone", "Telephone"),
            fax=self.text(node, "fax", "Fax"),
            website=self.text(node, "website", "Website"),
            extensions=self.extensions(node),
        )

    def response_for(self, node: _Node) -> ResponseFor:
        return ResponseFor(
            organ_id=self.ident(node, "organid", "OrganId"),
            code=self.text(node, "code", "Code"),
            promulgation_date=self.date(node, "promulgationdate", "PromulgationDate"),
            document_id=self.text(node, "documentid", "DocumentId"),
        )

    def staff(self, node: _Node) -> StaffInfo:
        return StaffInfo(
            department=self.text(node, "department", "Department"),
            department_id=self.text(node, "departmentid", "DepartmentId"),
            staff=self.text(node, "staff", "Staff"),
            staff_id=self.text(node, "staffid", "StaffId"),
            email=self.text(node, "email", "Email"),
            mobile=self.text(node, "mobile", "Mobile"),
        )

    def each(self, node: _Node, name: str, label: str) -> Iterator[_Node]:
        for i, el in enumerate(node.all(name), 1):
            yield _Node(el, f"{node.path}/{label}[{i}]")

    def other_info(self, node: _Node) -> OtherInfo:
        appendixes = node.node("appendixes", "Appendixes")
        return OtherInfo(
            priority=self.integer(node, "priority", "Priority"),
            sphere_of_promulgation=self.text(node, "sphereofpromulgation", "SphereOfPromulgation"),
            typer_notation=self.text(node, "typernotation", "TyperNotation"),
            promulgation_amount=self.integer(node, "promulgationamount", "PromulgationAmount"),
            page_amount=self.integer(node, "pageamount", "PageAmount"),
            direction=self.boolean(node, "direction", "Direction"),
            appendixes=self.texts(appendixes, "appendix") if appendixes else (),
            extensions=self.extensions(node),
        )

    def business(self, node: _Node) -> Bussiness:
        self.spelling(node, "bussinessdoctype", "BussinessDocType")
        self.spelling(node, "bussinessdocreason", "BussinessDocReason")
        self.spelling(node, "bussinessdocumentinfo", "BussinessDocumentInfo")
        info = None
        info_node = node.node("bussinessdocumentinfo", "BussinessDocumentInfo")
        if info_node is not None:
            receivers = []
            rlist = info_node.node("receiverlist", "ReceiverList")
            if rlist is not None:
                for rn in self.each(rlist, "receiver", "Receiver"):
                    rtype = self.integer(rn, "receivertype", "ReceiverType")
                    receivers.append(
                        Receiver(
                            organ_id=self.ident(rn, "organid", "OrganId") or "",
                            receiver_type=rtype if rtype is not None else 1,
                        )
                    )
            info = BussinessDocumentInfo(
                document_info=self.text(info_node, "documentinfo", "DocumentInfo"),
                document_receiver=self.text(info_node, "documentreceiver", "DocumentReceiver"),
                receivers=tuple(receivers),
            )
        replacements = []
        rep_list = node.node("replacementinfolist", "ReplacementInfoList")
        if rep_list is not None:
            for rn in self.each(rep_list, "replacementinfo", "ReplacementInfo"):
                ids = rn.node("organidlist", "OrganIdList")
                replacements.append(
                    ReplacementInfo(
                        document_id=self.text(rn, "documentid", "DocumentId") or "",
                        organ_ids=self.texts(ids, "organid") if ids else (),
                    )
                )
        staff = node.node("staffinfo", "StaffInfo")
        doc_type = self.integer(node, "bussinessdoctype", "BussinessDocType")
        return Bussiness(
            doc_type=doc_type if doc_type is not None else 0,
            reason=self.text(node, "bussinessdocreason", "BussinessDocReason"),
            document_id=self.text(node, "documentid", "DocumentId"),
            paper=self.integer(node, "paper", "Paper"),
            document_info=info,
            replacements=tuple(replacements),
            staff=self.staff(staff) if staff else None,
            extensions=self.extensions(node),
        )

    def references(self, body: _Node | None) -> tuple[Reference, ...]:
        if body is None:
            return ()
        manifest = body.node("edxmlmanifest", "edXMLManifest")
        if manifest is None:
            return ()
        self.spelling(body, "edxmlmanifest", "edXMLManifest")
        refs = []
        for rn in self.each(manifest, "reference", "Reference"):
            cid = self.text(rn, "contentid", "ContentId")
            if cid is None:  # .NET/SwA packages point with xlink:href="cid:..."
                cid = rn.el.get("{http://www.w3.org/1999/xlink}href") or rn.el.get("href")
            refs.append(
                Reference(
                    content_id=_strip_cid(cid or ""),
                    content_type=self.text(rn, "contenttype", "ContentType"),
                    description=self.text(rn, "description", "Description"),
                    attachment_name=self.text(rn, "attachmentname", "AttachmentName"),
                )
            )
        return tuple(refs)

    def attachments(self, encoded: _Node | None) -> tuple[Attachment, ...]:
        if encoded is None:
            return ()
        out = []
        for an in self.each(encoded, "attachment", "Attachment"):
            cid = _strip_cid(self.text(an, "contentid", "ContentId") or "")
            payload = an.one("contenttransferencoded")
            data = b""
            if payload is not None:
                try:
                    data = decode_base64(payload.text or "", cid)
                except FormatError as exc:
                    self.findings.append(
                        Issue(
                            exc.code,
                            exc.message_vi,
                            exc.message_en,
                            f"{an.path}/ContentTransferEncoded",
                            Severity.ERROR,
                            _line(payload),
                        )
                    )
            out.append(
                Attachment(
                    content_id=cid,
                    name=self.text(an, "attachmentname", "AttachmentName"),
                    content_type=self.text(an, "contenttype", "ContentType"),
                    data=data,
                    description=self.text(an, "description", "Description"),
                    extensions=self.extensions(an),
                )
            )
        return tuple(out)


def _line(el: etree._Element) -> int | None:
    line: object = el.sourceline  # lxml-stubs type it loosely
    return line if isinstance(line, int) else None


def _strip_cid(value: str) -> str:
    value = value.strip()
    if value[:4].lower() == "cid:":
        value = value[4:]
    return value.strip("<>")


def _extension(el: etree._Element) -> Extension:
    """Serialize a foreign element on its own, with only the namespaces it uses."""
    clone = copy.deepcopy(el)
    clone.tail = None
    etree.cleanup_namespaces(clone)
    return Extension(etree.tostring(clone, encoding="unicode"))


def _require(node: _Node | None, path: str) -> _Node:
    if node is None:
        raise FormatError(MISSING, path, element=path)
    return node


def _find_envelope(root: etree._Element) -> tuple[etree._Element, etree._Element | None]:
    """(edXMLEnvelope, AttachmentEncoded or None); also accepts a bare envelope root."""
    ns = etree.QName(root).namespace or ""
    name = _local(root)
    if ns == LEGACY_NS or any(v == LEGACY_NS for v in root.nsmap.values()):
        raise FormatError(LEGACY, "/", ns=LEGACY_NS)
    if ns == _SOAP_NS:
        raise FormatError(LEGACY, "/", ns=f"{_SOAP_NS} (SOAP)")
    if name == "edxmlenvelope":  # some producers drop the edXML wrapper (edxml.md §5.1)
        return root, None
    if name != "edxml":
        raise FormatError(NOT_EDXML, "/", root=etree.QName(root).localname)
    node = _Node(root, "/edXML")
    envelope = node.one("edxmlenvelope")
    if envelope is None:
        raise FormatError(MISSING, "/edXML", element="/edXML/edXMLEnvelope")
    return envelope, node.one("attachmentencoded")


def read_tree(tree: etree._ElementTree) -> Parsed:
    """Read a package from an already (safely) parsed tree."""
    root = tree.getroot()
    envelope_el, encoded_el = _find_envelope(root)
    envelope = _Node(envelope_el, "/edXML/edXMLEnvelope")
    header = _require(envelope.node("edxmlheader", "edXMLHeader"), envelope.path + "/edXMLHeader")
    mh = _require(header.node("messageheader", "MessageHeader"), header.path + "/MessageHeader")
    reader = _Reader()
    package: Package
    if mh.one("statuscode") is not None:
        package = _status(reader, mh)
    else:
        package = _document(reader, envelope, header, mh, encoded_el)
    return Parsed(package, tree, tuple(reader.findings))


def _status(r: _Reader, mh: _Node) -> StatusPackage:
    from_ = _require(mh.node("from", "From"), mh.path + "/From")
    rf = mh.node("responsefor", "ResponseFor")
    staff = mh.node("staffinfo", "StaffInfo")
    code = r.text(mh, "statuscode", "StatusCode") or ""
    if code.isdigit() and len(code) == 1:  # "1" for "01": seen from integer-typed producers
        r.note(
            NON_CANONICAL,
            mh.path + "/StatusCode",
            mh.one("statuscode"),
            element="StatusCode",
            detail=Text(
                f"mã trạng thái {code!r} không đủ hai chữ số",
                f"status code {code!r} is not two digits",
            ),
        )
        code = code.zfill(2)
    return StatusPackage(
        from_=r.organization(from_),
        response_for=r.response_for(rf) if rf else ResponseFor(),
        status_code=code,
        timestamp=r.timestamp(mh, "timestamp", "Timestamp"),
        staff=r.staff(staff) if staff else None,
        description=r.text(mh, "description", "Description"),
        extensions=r.extensions(mh),
    )


def _document(
    r: _Reader,
    envelope: _Node,
    header: _Node,
    mh: _Node,
    encoded_el: etree._Element | None,
) -> DocumentPackage:
    from_ = _require(mh.node("from", "From"), mh.path + "/From")
    code = mh.node("code", "Code")
    prom = mh.node("promulgationinfo", "PromulgationInfo")
    dtype = mh.node("documenttype", "DocumentType")
    signer = mh.node("signerinfo", "SignerInfo")
    other = mh.node("otherinfo", "OtherInfo")
    to_places = mh.node("toplaces", "ToPlaces")
    trace_list = header.node("traceheaderlist", "TraceHeaderList")
    traces: list[TraceHeader] = []
    business = None
    if trace_list is not None:
        for tn in r.each(trace_list, "traceheader", "TraceHeader"):
            traces.append(
                TraceHeader(
                    organ_id=r.ident(tn, "organid", "OrganId"),
                    timestamp=r.timestamp(tn, "timestamp", "Timestamp"),
                )
            )
        r.spelling(trace_list, "bussiness", "Bussiness")
        bn = trace_list.node("bussiness", "Bussiness")
        business = r.business(bn) if bn is not None else None
    signatures = tuple(
        _extension(el) for name in ("signature", "digitalsignature") for el in header.all(name)
    )
    body = envelope.node("edxmlbody", "edXMLBody")
    encoded = _Node(encoded_el, "/edXML/AttachmentEncoded") if encoded_el is not None else None
    if encoded is None:  # tolerate AttachmentEncoded misplaced inside the envelope
        encoded = envelope.node("attachmentencoded", "AttachmentEncoded")
    return DocumentPackage(
        from_=r.organization(from_),
        to=tuple(r.organization(n) for n in r.each(mh, "to", "To")),
        document_id=r.text(mh, "documentid", "DocumentId") or "",
        code=Code(
            number=(r.text(code, "codenumber", "CodeNumber") or "") if code else "",
            notation=(r.text(code, "codenotation", "CodeNotation") or "") if code else "",
        ),
        promulgation=PromulgationInfo(
            place=r.text(prom, "place", "Place"),
            date=r.date(prom, "promulgationdate", "PromulgationDate"),
        )
        if prom
        else PromulgationInfo(),
        document_type=DocumentType(
            type=r.integer(dtype, "type", "Type"),
            type_detail=r.integer(dtype, "typedetail", "TypeDetail"),
            type_name=r.text(dtype, "typename", "TypeName"),
        )
        if dtype
        else DocumentType(),
        subject=r.text(mh, "subject", "Subject") or "",
        signer=SignerInfo(
            competence=r.text(signer, "competence", "Competence"),
            position=r.text(signer, "position", "Position"),
            full_name=r.text(signer, "fullname", "FullName"),
        )
        if signer
        else SignerInfo(),
        content=r.text(mh, "content", "Content"),
        due_date=r.date(mh, "duedate", "DueDate"),
        to_places=r.texts(to_places, "place") if to_places else (),
        other_info=r.other_info(other) if other else None,
        response_for=tuple(r.response_for(n) for n in r.each(mh, "responsefor", "ResponseFor")),
        steering_type=r.integer(mh, "steeringtype", "SteeringType"),
        trace_headers=tuple(traces),
        business=business,
        references=r.references(body),
        attachments=r.attachments(encoded),
        extensions=r.extensions(mh),
        signatures=signatures,
    )


def read(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    *,
    limits: Limits | None = None,
) -> Parsed:
    """Parse untrusted input (bytes, a path, or a binary file) into a :class:`Parsed`.

    Raises :class:`~edxml.errors.XmlError` for bad or hostile XML and
    :class:`~edxml.errors.FormatError` for XML that is not a readable edXML package.
    """
    tree = parse_xml(source, limits) if limits is not None else parse_xml(source)
    return read_tree(tree)


def parse(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    *,
    limits: Limits | None = None,
) -> Package:
    """Parse untrusted input into a :class:`DocumentPackage` or :class:`StatusPackage`."""
    return read(source, limits=limits).package
