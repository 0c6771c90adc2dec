"""Validation in two layers — the project's XSD, then semantic rules — in lenient or strict mode.

Lenient (the default) is what a hub must accept from the wild: a deviation from the canonical
form is a *warning*, and only what makes a package unusable or dangerous is an *error* (no
sender or recipient, an attachment that is announced but missing or does not decode, a status
code QCVN 102 does not know, an update without its receiver list...). Strict accepts the
canonical form only: every warning becomes an error. Every issue has a stable code, the element
path and a Vietnamese and English message.

The XSD (``edxml/schemas/``) runs through lxml on the hot path (the attachment payload is typed
``xs:string`` there: typing it ``xs:base64Binary`` costs ~75x, performance.md; payloads are
decoded and checked here instead). ``rich=True`` re-runs a failing schema check through
xmlschema for reports that name the expected content — 20-400x slower, so never by default.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, BinaryIO, cast

from lxml import etree

from edxml.attachments import looks_text_corrupted, sniff
from edxml.errors import Code, FormatError, Issue, Severity, Text, ValidationError, define
from edxml.model import VN_TZ, DocumentPackage, Organization, StatusCode, StatusPackage
from edxml.organ import OrganIdForm, parse_organ_id
from edxml.parse import Parsed, read
from edxml.safexml import Limits

__all__ = ["Mode", "Policy", "Report", "check", "validate"]

SCHEMA = define(
    "edxml.schema",
    "Không đúng lược đồ edXML chuẩn tại {path}: {detail}",
    "Does not match the canonical edXML schema at {path}: {detail}",
)
REQUIRED = define(
    "edxml.required",
    "Thiếu thông tin bắt buộc: {field}",
    "Required information is missing: {field}",
)
ORGAN_FORM = define(
    "edxml.organ_id_form",
    "Mã định danh {value} tại {field} không theo QCVN 102:2016 hoặc QĐ 20/2020",
    "Agency id {value} in {field} is neither QCVN 102:2016 nor QĐ 20/2020 form",
)
DUPLICATE_TO = define(
    "edxml.duplicate_recipient",
    "Đơn vị nhận {value} bị lặp lại",
    "Recipient {value} is listed more than once",
)
DATE = define(
    "edxml.date_out_of_range",
    "Ngày {value} tại {field} không hợp lý ({detail})",
    "Date {value} in {field} is implausible ({detail})",
)
STATUS_CODE = define(
    "edxml.status_code",
    "Mã trạng thái {value} không thuộc QCVN 102 (01-06, 13, 15, 16)",
    "Status code {value} is not a QCVN 102 status (01-06, 13, 15, 16)",
)
BUSINESS_TYPE = define(
    "edxml.business_type",
    "Loại nghiệp vụ {value} không hợp lệ (0 mới, 1 thu hồi, 2 cập nhật, 3 thay thế)",
    "Business type {value} is invalid (0 new, 1 revoke, 2 update, 3 replace)",
)
BUSINESS_DATA = define(
    "edxml.business_data",
    "Văn bản loại nghiệp vụ {value} thiếu {field}",
    "A business type {value} document lacks {field}",
)
VALUE_RANGE = define(
    "edxml.value_range",
    "Giá trị {value} tại {field} nằm ngoài miền cho phép ({detail})",
    "Value {value} in {field} is out of range ({detail})",
)
MISSING_PAYLOAD = define(
    "edxml.attachment_missing",
    "Tệp đính kèm {value} được khai báo trong danh mục nhưng không có nội dung",
    "Attachment {value} is listed in the manifest but its payload is missing",
)
UNLISTED = define(
    "edxml.attachment_unlisted",
    "Tệp đính kèm {value} không có trong danh mục (edXMLManifest)",
    "Attachment {value} is not listed in the manifest (edXMLManifest)",
)
DUPLICATE_CID = define(
    "edxml.attachment_duplicate",
    "Mã tệp đính kèm {value} bị lặp lại",
    "Attachment content id {value} appears more than once",
)
EMPTY_PAYLOAD = define(
    "edxml.attachment_empty",
    "Tệp đính kèm {value} rỗng",
    "Attachment {value} is empty",
)
TYPE_MISMATCH = define(
    "edxml.attachment_type_mismatch",
    "Tệp đính kèm {value} khai báo kiểu {claimed} nhưng thực tế là {real}",
    "Attachment {value} claims type {claimed} but really is {real}",
)
CORRUPTED = define(
    "edxml.attachment_text_corrupted",
    "Tệp PDF {value} bị hỏng do chuyển đổi văn bản ({count} ký tự U+FFFD)",
    "PDF {value} was corrupted by a text conversion ({count} U+FFFD characters)",
)
TOO_LONG = define(
    "edxml.too_long",
    "Trường {field} dài {value} ký tự, vượt giới hạn {limit}",
    "Field {field} is {value} characters long, over the limit of {limit}",
)
SIZE = define(
    "edxml.size_limit",
    "Vượt giới hạn kích thước: {field} = {value} (tối đa {limit})",
    "Size limit exceeded: {field} = {value} (at most {limit})",
)


class Mode(enum.Enum):
    LENIENT = "lenient"
    STRICT = "strict"


@dataclass(frozen=True, slots=True)
class Policy:
    """Limits a hub enforces whatever the mode; the defaults fit scanned-PDF traffic."""

    max_package_bytes: int = 64 * 1024 * 1024
    max_attachments: int = 100
    max_attachment_bytes: int = 48 * 1024 * 1024
    max_recipients: int = 2000
    #: Tolerated clock skew for "not in the future" checks.
    future_slack: dt.timedelta = dt.timedelta(days=1)


# Field lengths of edxml.md §1.8 (they mirror implementations, not a verified QCVN table):
# enforced as errors in strict mode only ("enforce real limits only on your own output").
_LENGTHS: dict[str, int] = {
    "Subject": 500,
    "Content": 500,
    "DocumentId": 200,
    "OrganName": 200,
    "OrganizationInCharge": 500,
    "OrganAdd": 500,
    "Email": 100,
    "Telephone": 50,
    "Fax": 50,
    "Website": 100,
    "Place": 50,
    "TypeName": 100,
    "Competence": 100,
    "Position": 100,
    "FullName": 50,
    "SphereOfPromulgation": 100,
    "TyperNotation": 10,
    "ToPlaces/Place": 150,
    "AttachmentName": 500,
    "CodeNumber": 50,
    "CodeNotation": 50,
}
_SCHEMAS = {"edoc": "edxml-document.xsd", "status": "edxml-status.xsd"}
_MAX_SCHEMA_ISSUES = 20


@dataclass(frozen=True, slots=True)
class Report:
    """Everything validation found, errors and warnings, in document order."""

    mode: Mode
    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationError(self.errors[0], issues=self.errors)


@dataclass
class _Checker:
    mode: Mode
    policy: Policy
    issues: list[Issue] = field(default_factory=list)

    def add(self, code: Code, path: str, *, always: bool = False, **params: Any) -> None:
        """An error in strict mode; in lenient mode too when ``always``, else a warning."""
        severity = Severity.ERROR if always or self.mode is Mode.STRICT else Severity.WARNING
        self.issues.append(Issue.of(code, path, severity=severity, **params))

    def require(self, value: object, path: str, *, always: bool = False) -> bool:
        if value in (None, "", ()):
            self.add(REQUIRED, path, always=always, field=path)
            return False
        return True

    def length(self, value: str | None, path: str, key: str) -> None:
        limit = _LENGTHS.get(key)
        if value is not None and limit is not None and len(value) > limit:
            self.add(TOO_LONG, path, field=path, value=len(value), limit=limit)

    def organ(self, value: str, path: str, *, always: bool = True) -> None:
        if not self.require(value, path, always=always):
            return
        try:
            oid = parse_organ_id(value, path=path)
        except FormatError as exc:  # not even transport-acceptable: never routable
            self.issues.append(Issue(exc.code, exc.message_vi, exc.message_en, path))
            return
        if oid.form is OrganIdForm.OTHER:  # sandbox ids: fine on a test axis, not canonical
            self.add(ORGAN_FORM, path, value=value, field=path)

    def organization(self, org: Organization, path: str) -> None:
        self.organ(org.organ_id, f"{path}/OrganId")
        for key, value in (
            ("OrganName", org.organ_name),
            ("OrganAdd", org.organ_add),
            ("OrganizationInCharge", org.organization_in_charge),
            ("Email", org.email),
            ("Telephone", org.telephone),
            ("Fax", org.fax),
            ("Website", org.website),
        ):
            self.length(value, f"{path}/{key}", key)

    def date(self, value: dt.date | None, path: str, *, not_future: bool = True) -> None:
        if value is None:
            return
        today = dt.datetime.now(VN_TZ).date()
        if value.year < 1945:
            self.add(
                DATE,
                path,
                value=value.isoformat(),
                field=path,
                detail=Text("trước năm 1945", "before 1945"),
            )
        elif not_future and value > today + self.policy.future_slack:
            self.add(
                DATE,
                path,
                value=value.isoformat(),
                field=path,
                detail=Text("ở tương lai", "in the future"),
            )


def _document(c: _Checker, p: DocumentPackage, size: int | None) -> None:
    mh = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
    c.organization(p.from_, f"{mh}/From")
    if c.require(p.to, f"{mh}/To", always=True):
        for i, to in enumerate(p.to, 1):
            c.organization(to, f"{mh}/To[{i}]")
        if len(p.to) > c.policy.max_recipients:
            c.add(
                SIZE,
                f"{mh}/To",
                always=True,
                field="To",
                value=len(p.to),
                limit=c.policy.max_recipients,
            )
        for organ_id, n in Counter(t.organ_id for t in p.to if t.organ_id).items():
            if n > 1:
                c.add(DUPLICATE_TO, f"{mh}/To", value=organ_id)
    c.require(p.document_id, f"{mh}/DocumentId", always=True)
    c.length(p.document_id, f"{mh}/DocumentId", "DocumentId")
    c.require(p.subject, f"{mh}/Subject", always=True)
    c.length(p.subject, f"{mh}/Subject", "Subject")
    c.length(p.content, f"{mh}/Content", "Content")
    c.require(p.code.number, f"{mh}/Code/CodeNumber")
    c.require(p.code.notation, f"{mh}/Code/CodeNotation")
    c.length(p.code.number, f"{mh}/Code/CodeNumber", "CodeNumber")
    c.length(p.code.notation, f"{mh}/Code/CodeNotation", "CodeNotation")
    c.require(p.promulgation.date, f"{mh}/PromulgationInfo/PromulgationDate")
    c.date(p.promulgation.date, f"{mh}/PromulgationInfo/PromulgationDate")
    c.length(p.promulgation.place, f"{mh}/PromulgationInfo/Place", "Place")
    c.date(p.due_date, f"{mh}/DueDate", not_future=False)
    if p.due_date and p.promulgation.date and p.due_date < p.promulgation.date:
        c.add(
            DATE,
            f"{mh}/DueDate",
            value=p.due_date.isoformat(),
            field="DueDate",
            detail=Text("trước ngày ban hành", "before the promulgation date"),
        )
    c.require(p.document_type.type_name, f"{mh}/DocumentType/TypeName")
    c.length(p.document_type.type_name, f"{mh}/DocumentType/TypeName", "TypeName")
    c.require(p.signer.full_name, f"{mh}/SignerInfo/FullName")
    for key, value in (
        ("Competence", p.signer.competence),
        ("Position", p.signer.position),
        ("FullName", p.signer.full_name),
    ):
        c.length(value, f"{mh}/SignerInfo/{key}", key)
    for place in p.to_places:
        c.length(place, f"{mh}/ToPlaces/Place", "ToPlaces/Place")
    if p.other_info is not None:
        info = p.other_info
        if info.priority is not None and not 0 <= info.priority <= 4:
            c.add(
                VALUE_RANGE,
                f"{mh}/OtherInfo/Priority",
                value=info.priority,
                field="Priority",
                detail="0-4",
            )
        c.length(
            info.sphere_of_promulgation,
            f"{mh}/OtherInfo/SphereOfPromulgation",
            "SphereOfPromulgation",
        )
        c.length(info.typer_notation, f"{mh}/OtherInfo/TyperNotation", "TyperNotation")
    for i, rf in enumerate(p.response_for, 1):
        path = f"{mh}/ResponseFor[{i}]"
        if rf.organ_id:
            c.organ(rf.organ_id, f"{path}/OrganId", always=False)
        elif not (rf.document_id or rf.code):
            c.add(
                REQUIRED,
                path,
                field=Text(f"{path} (ResponseFor rỗng)", f"{path} (empty ResponseFor)"),
            )
        c.date(rf.promulgation_date, f"{path}/PromulgationDate")
    _trace(c, p)
    _attachments(c, p, size)


def _trace(c: _Checker, p: DocumentPackage) -> None:
    tl = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
    c.require(p.trace_headers, f"{tl}/TraceHeader")
    for i, th in enumerate(p.trace_headers, 1):
        c.require(th.organ_id, f"{tl}/TraceHeader[{i}]/OrganId")
        c.require(th.timestamp, f"{tl}/TraceHeader[{i}]/Timestamp")
    b = p.business
    if b is None:
        return
    bp = f"{tl}/Bussiness"
    if b.doc_type not in (0, 1, 2, 3):
        c.add(BUSINESS_TYPE, f"{bp}/BussinessDocType", always=True, value=b.doc_type)
        return
    # What a receiver needs to act on the business type (edxml.md §1.2 table, samples).
    if b.doc_type == 2 and b.document_info is None:
        c.add(BUSINESS_DATA, bp, always=True, value=2, field="BussinessDocumentInfo")
    if b.doc_type == 3 and not b.replacements:
        c.add(BUSINESS_DATA, bp, always=True, value=3, field="ReplacementInfoList")
    if b.doc_type == 1 and not (b.document_id or any(rf.document_id for rf in p.response_for)):
        c.add(BUSINESS_DATA, bp, value=1, field="DocumentId / ResponseFor")
    if b.paper is not None and b.paper not in (0, 1):
        c.add(
            VALUE_RANGE,
            f"{bp}/Paper",
            value=b.paper,
            field="Paper",
            detail=Text("0 hoặc 1", "0 or 1"),
        )
    if b.document_info is not None:
        for i, rcv in enumerate(b.document_info.receivers, 1):
            rp = f"{bp}/BussinessDocumentInfo/ReceiverList/Receiver[{i}]"
            c.organ(rcv.organ_id, f"{rp}/OrganId")
            if rcv.receiver_type not in (0, 1):
                c.add(
                    VALUE_RANGE,
                    f"{rp}/ReceiverType",
                    value=rcv.receiver_type,
                    field="ReceiverType",
                    detail=Text("0 bị bỏ, 1 được thêm", "0 removed, 1 added"),
                )
    for i, rep in enumerate(b.replacements, 1):
        rp = f"{bp}/ReplacementInfoList/ReplacementInfo[{i}]"
        c.require(rep.document_id, f"{rp}/DocumentId", always=True)
        c.require(rep.organ_ids, f"{rp}/OrganIdList")


def _attachments(c: _Checker, p: DocumentPackage, size: int | None) -> None:
    pol = c.policy
    if size is not None and size > pol.max_package_bytes:
        c.add(SIZE, "/", always=True, field="package", value=size, limit=pol.max_package_bytes)
    if len(p.attachments) > pol.max_attachments:
        c.add(
            SIZE,
            "/edXML/AttachmentEncoded",
            always=True,
            field="attachments",
            value=len(p.attachments),
            limit=pol.max_attachments,
        )
    ap = "/edXML/AttachmentEncoded/Attachment"
    counts = Counter(a.content_id for a in p.attachments)
    for cid, n in counts.items():
        if n > 1:
            c.add(DUPLICATE_CID, ap, always=True, value=cid)
    listed = {r.content_id for r in p.references}
    for i, ref in enumerate(p.references, 1):
        if ref.content_id not in counts:
            c.add(
                MISSING_PAYLOAD,
                f"/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[{i}]",
                always=True,
                value=ref.attachment_name or ref.content_id or i,
            )
    for i, att in enumerate(p.attachments, 1):
        path = f"{ap}[{i}]"
        label = att.name or att.content_id
        c.length(att.name, f"{path}/AttachmentName", "AttachmentName")
        if att.content_id not in listed:
            c.add(UNLISTED, path, value=label)
        if not att.data:
            c.add(EMPTY_PAYLOAD, path, value=label)
            continue
        if len(att.data) > pol.max_attachment_bytes:
            c.add(
                SIZE,
                path,
                always=True,
                field=label,
                value=len(att.data),
                limit=pol.max_attachment_bytes,
            )
            continue
        try:
            real = sniff(att)
        except FormatError as exc:  # corrupt transport zip, zip bomb: the payload is unusable
            c.issues.append(Issue(exc.code, exc.message_vi, exc.message_en, path))
            continue
        if real.type_mismatch:
            c.add(
                TYPE_MISMATCH, path, value=label, claimed=att.content_type, real=real.content_type
            )
        bad = looks_text_corrupted(real.data, real.content_type)
        if bad:  # lenient: a warning the hub records and reports as status 02; strict: error
            c.add(CORRUPTED, path, value=label, count=bad)


def _status(c: _Checker, p: StatusPackage) -> None:
    mh = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
    c.organization(p.from_, f"{mh}/From")
    rf = p.response_for
    c.organ(rf.organ_id or "", f"{mh}/ResponseFor/OrganId")  # the status is routed there
    c.require(rf.document_id, f"{mh}/ResponseFor/DocumentId", always=True)  # correlation key
    c.require(rf.code, f"{mh}/ResponseFor/Code")
    c.date(rf.promulgation_date, f"{mh}/ResponseFor/PromulgationDate")
    if p.code is None:
        c.add(STATUS_CODE, f"{mh}/StatusCode", always=True, value=p.status_code or "(empty)")
    elif p.code is StatusCode.REJECTED:
        c.require(p.description, f"{mh}/Description")  # a refusal must say why (vOffice rule)
    c.require(p.timestamp, f"{mh}/Timestamp")


@functools.cache
def _lxml_schema(kind: str) -> etree.XMLSchema:
    path = resources.files("edxml") / "schemas" / _SCHEMAS[kind]
    with resources.as_file(path) as real:
        return etree.XMLSchema(etree.parse(str(real)))


@functools.cache
def _xmlschema_schema(kind: str) -> Any:
    import xmlschema  # slow to import and to run: only for rich reports

    path = resources.files("edxml") / "schemas" / _SCHEMAS[kind]
    with resources.as_file(path) as real:
        return xmlschema.XMLSchema(str(real))


def _schema_issues(parsed: Parsed, c: _Checker, rich: bool) -> Iterator[Issue]:
    kind = parsed.package.kind
    schema = _lxml_schema(kind)
    if schema.validate(parsed.tree):
        return
    severity = Severity.ERROR if c.mode is Mode.STRICT else Severity.WARNING
    if rich:
        for n, err in enumerate(_xmlschema_schema(kind).iter_errors(parsed.tree)):
            if n >= _MAX_SCHEMA_ISSUES:
                break
            detail = err.reason or err.message
            vi, en = SCHEMA.render(path=err.path or "/", detail=detail)
            yield Issue(SCHEMA.code, vi, en, err.path or "", severity, err.sourceline)
        return
    entries: list[Any] = list(cast(Iterable[Any], schema.error_log))  # stubs: not Iterable
    for n, entry in enumerate(entries):
        if n >= _MAX_SCHEMA_ISSUES:
            break
        path = entry.path or "/"
        vi, en = SCHEMA.render(path=path, detail=entry.message)
        yield Issue(SCHEMA.code, vi, en, path, severity, entry.line, entry.column)


def validate(
    parsed: Parsed,
    *,
    mode: Mode = Mode.LENIENT,
    policy: Policy | None = None,
    size: int | None = None,
    schema: bool = True,
    rich: bool = False,
) -> Report:
    """Check a parsed package; ``size`` is the byte size of what was received, if known."""
    c = _Checker(mode, policy or Policy())
    for finding in parsed.findings:  # what the reader tolerated
        if mode is Mode.STRICT and finding.severity is Severity.WARNING:
            finding = Issue(
                finding.code,
                finding.message_vi,
                finding.message_en,
                finding.path,
                Severity.ERROR,
                finding.line,
                finding.column,
            )
        c.issues.append(finding)
    if schema:
        c.issues.extend(_schema_issues(parsed, c, rich))
    if isinstance(parsed.package, StatusPackage):
        _status(c, parsed.package)
    else:
        _document(c, parsed.package, size)
    return Report(mode, tuple(c.issues))


def check(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    *,
    mode: Mode = Mode.LENIENT,
    policy: Policy | None = None,
    limits: Limits | None = None,
) -> tuple[Parsed, Report]:
    """Read and validate; raise :class:`ValidationError` listing every error, if any."""
    size: int | None = None
    if isinstance(source, bytes):
        size = len(source)
    elif isinstance(source, str | os.PathLike):
        size = os.path.getsize(source)
    parsed = read(source, limits=limits)
    report = validate(parsed, mode=mode, policy=policy, size=size)
    report.raise_for_errors()
    return parsed, report
