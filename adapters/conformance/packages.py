"""The packages a conformance run sends: the official samples re-addressed, and generated ones.

Pure and synchronous (edxml only). The official VPCP samples (``tests/data/vpcp-official``, the
set every axis-connected DMS was tested against) carry organ ids, DocumentIds and placeholder
signatures of their own; to reach the agency under test each is re-addressed: ``From`` is the
kit's agency, ``To`` the agency, a fresh DocumentId and Code per run (so a re-run is never a
duplicate), a fresh TraceHeader, no signature (or the kit's own, when it has a key). Revisions
(update, replacement, revocation) are pointed at the run's own new document, so the agency can
correlate them. ``edoc.edxml`` is the set's deliberately broken package: not sent.

Generated packages cover what the samples do not: a PDF, several attachments with Vietnamese
file names, and a ~2 MiB scan (the gateway's large-body path).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edxml import parse
from edxml.build import build_tree, serialize
from edxml.compose import new_document
from edxml.model import (
    Attachment,
    BussinessDocumentInfo,
    Code,
    DocumentPackage,
    Organization,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    StatusPackage,
    TraceHeader,
)
from edxml.signature import sign
from edxml.trust import SigningKey

__all__ = [
    "KIT_NAME",
    "NEW_SAMPLE",
    "REVISION_SAMPLES",
    "STATUS_SAMPLES",
    "Outgoing",
    "default_samples",
    "generated",
    "missing_samples",
    "readdress_document",
    "readdress_status",
    "revision",
    "serialize_package",
]

KIT_NAME = "Bộ kiểm thử tích hợp edxgw (conformance)"
NEW_SAMPLE = "edoc_new.edxml"
REVISION_SAMPLES = ("edoc_update.edxml", "edoc_replacement.edxml", "edoc_revocation.edxml")
#: Statuses an agency receives about documents it sent (13/15/16 belong to the recall step).
STATUS_SAMPLES = (
    "status.edxml",
    "status_inbox_01.edxml",
    "status_rejection_02.edxml",
    "status_acceptance_03.edxml",
    "status_assignment_04.edxml",
    "status_processing_05.edxml",
    "status_finish_06.edxml",
)
_VN = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A package of the run, ready to submit."""

    name: str  # "edoc_new", "generated-pdf", ...
    data: bytes
    package: DocumentPackage | StatusPackage
    #: The agency is expected to answer with the run's statuses (01, 03, 06): new documents.
    expects_statuses: bool

    @property
    def document_id(self) -> str:
        p = self.package
        return p.document_id if isinstance(p, DocumentPackage) else p.response_for.document_id or ""


def default_samples() -> Path | None:
    """The samples folder of a source checkout, if this is one."""
    here = Path(__file__).resolve().parents[2] / "tests" / "data" / "vpcp-official"
    return here if here.is_dir() else None


def missing_samples(folder: Path) -> list[str]:
    wanted = (NEW_SAMPLE, *REVISION_SAMPLES, *STATUS_SAMPLES)
    return [name for name in wanted if not (folder / name).is_file()]


def serialize_package(package: DocumentPackage | StatusPackage, key: SigningKey | None) -> bytes:
    """Canonical bytes, signed by the kit's agency when it has a key."""
    tree = build_tree(package)
    if key is not None:
        sign(tree, key)
    return serialize(tree)


def _organization(organ_id: str, name: str | None = None) -> Organization:
    return Organization(organ_id=organ_id, organ_name=name)


def _document_id(sender: str, date: dt.date, code: Code) -> str:
    # The canonical form (edxml.md §3.2): issuer, promulgation date, number/notation.
    return f"{sender},{date:%Y/%m/%d},{code.number}/{code.notation}"


def readdress_document(
    sample: DocumentPackage,
    *,
    sender: str,
    recipient: str,
    number: str,
    now: dt.datetime,
) -> DocumentPackage:
    """A sample from the kit's agency to the agency under test, with a fresh identity."""
    date = now.astimezone(_VN).date()
    code = Code(number, sample.code.notation or "KIT")
    business = sample.business
    if business is not None and business.doc_type == 0:
        business = dataclasses.replace(business, document_id=None)
    return dataclasses.replace(
        sample,
        from_=_organization(sender, KIT_NAME),
        to=(_organization(recipient),),
        document_id=_document_id(sender, date, code),
        code=code,
        promulgation=PromulgationInfo(sample.promulgation.place, date),
        # The samples' DueDate (2018) would precede today's promulgation date.
        due_date=date + dt.timedelta(days=15) if sample.due_date else None,
        trace_headers=(TraceHeader(sender, now),),
        business=business,
        response_for=(),
        signatures=(),
    )


def revision(
    sample: DocumentPackage,
    original: DocumentPackage,
    *,
    sender: str,
    recipient: str,
    number: str,
    now: dt.datetime,
) -> DocumentPackage:
    """An update, replacement or revocation sample, pointed at the run's ``original``."""
    readdressed = readdress_document(
        sample, sender=sender, recipient=recipient, number=number, now=now
    )
    business = readdressed.business
    assert business is not None, "revision samples carry Bussiness"
    if business.doc_type == 2:  # update: who receives what changed
        info = business.document_info or BussinessDocumentInfo()
        business = dataclasses.replace(
            business,
            document_id=original.document_id,
            document_info=dataclasses.replace(info, receivers=(Receiver(recipient, 0),)),
        )
    elif business.doc_type == 3:  # replacement: which document, at whom
        business = dataclasses.replace(
            business, replacements=(ReplacementInfo(original.document_id, (recipient,)),)
        )
    else:
        business = dataclasses.replace(business, document_id=original.document_id)
    return dataclasses.replace(
        readdressed,
        business=business,
        response_for=(
            ResponseFor(
                organ_id=sender,
                code=str(original.code),
                promulgation_date=original.promulgation.date,
                document_id=original.document_id,
            ),
        ),
    )


def readdress_status(
    sample: StatusPackage,
    *,
    sender: str,
    recipient: str,
    number: str,
    now: dt.datetime,
) -> StatusPackage:
    """A status sample from the kit's agency to the agency under test.

    It is about a document of the agency's that the kit never saw (``<agency>,<date>,<n>/KIT``):
    a status may arrive about anything, and the agency's system must still take it in and
    acknowledge it (done, or fail if it cannot place it).
    """
    date = now.astimezone(_VN).date()
    code = Code(number, "KIT-TT")
    return dataclasses.replace(
        sample,
        from_=_organization(sender, KIT_NAME),
        response_for=ResponseFor(
            organ_id=recipient,
            code=str(code),
            promulgation_date=date,
            document_id=_document_id(recipient, date, code),
        ),
        timestamp=now,
    )


# -- generated packages -----------------------------------------------------------------------


def _pdf(text: str, padding: int = 0) -> bytes:
    """A small, valid PDF (one page of text), optionally padded with a binary stream."""
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if padding:
        blob = os.urandom(padding)  # an embedded "scan": incompressible, like real ones
        objects.append(b"<< /Length %d >>\nstream\n" % len(blob) + blob + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (
            len(objects) + 1,
            xref,
        )
    )
    return out.getvalue()


def _docx(text: str) -> bytes:
    """A minimal Word document (OOXML zip)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="xml" ContentType="application/'
            'xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxml'
            'formats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
            f"{text}</w:t></w:r></w:p></w:body></w:document>",
        )
    return out.getvalue()


_PDF = "application/pdf"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def generated(
    *, sender: str, recipient: str, run: str, now: dt.datetime, first: int = 1
) -> list[tuple[str, DocumentPackage]]:
    """The generated new documents of a run, named, numbered from ``first``."""
    specs: Sequence[tuple[str, str, tuple[Attachment, ...]]] = (
        (
            "generated-pdf",
            "V/v kiểm thử tích hợp: công văn một tệp PDF",
            (Attachment("1", "Công văn kiểm thử.pdf", _PDF, _pdf(f"edxgw conformance {run}")),),
        ),
        (
            "generated-attachments",
            "V/v kiểm thử tích hợp: nhiều tệp đính kèm, tên tiếng Việt",
            (
                Attachment("1", "Tờ trình số 1.pdf", _PDF, _pdf("To trinh")),
                Attachment("2", "Dự thảo quyết định.docx", _DOCX, _docx("Dự thảo quyết định")),
                Attachment("3", "Phụ lục – danh sách đơn vị.pdf", _PDF, _pdf("Phu luc")),
            ),
        ),
        (
            "generated-large",
            "V/v kiểm thử tích hợp: bản quét khoảng 2 MiB",
            (Attachment("1", "Bản quét văn bản.pdf", _PDF, _pdf("Scan", 2 * 1024 * 1024)),),
        ),
    )
    out = []
    for offset, (name, subject, files) in enumerate(specs):
        package = new_document(
            sender=_organization(sender, KIT_NAME),
            recipients=[recipient],
            subject=f"{subject} ({run})",
            code_number=f"{run}{first + offset}",
            code_notation="KIT-VP",
            signer="Người ký kiểm thử",
            signer_position="Chuyên viên",
            files=files,
            business_reason="Văn bản kiểm thử tích hợp",
            now=now,
        )
        out.append((name, package))
    return out


def read_sample(folder: Path, name: str) -> DocumentPackage | StatusPackage:
    return parse((folder / name).read_bytes())
