"""The tolerant reader accepts every real-world variant of edxml.md §1.6, §1.7 and §5.1."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import zipfile

import pytest

import edxml
from edxml.attachments import sniff
from edxml.model import DocumentPackage, StatusPackage
from tests.edxml.conftest import SAMPLES

NS = edxml.NS
PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> stream\n"
    + bytes(range(256))
    + b"\nendstream endobj\n%%EOF\n"
)


def base_package() -> DocumentPackage:
    return DocumentPackage(
        from_=edxml.Organization("000.00.31.H53", organ_name="UBND huyện Bến Cầu"),
        to=(edxml.Organization("000.21.31.H53", organ_name="UBND xã An Thạnh"),),
        document_id="000.00.31.H53,2026/11/20,12/UBND-VP",
        code=edxml.Code("12", "UBND-VP"),
        promulgation=edxml.PromulgationInfo("Bến Cầu", dt.date(2026, 11, 20)),
        document_type=edxml.DocumentType(1, 0, "Công văn"),
        subject="V/v triển khai liên thông văn bản",
        signer=edxml.SignerInfo("TM. UBND", "Chủ tịch", "Nguyễn Văn A"),
        due_date=dt.date(2026, 12, 1),
        trace_headers=(
            edxml.TraceHeader(
                "000.00.31.H53", dt.datetime(2026, 11, 20, 8, 30, tzinfo=edxml.VN_TZ)
            ),
        ),
        business=edxml.Bussiness(0, "Văn bản điện tử mới"),
        references=(edxml.Reference("1", "application/pdf", None, "cv12.pdf"),),
        attachments=(edxml.Attachment("1", "cv12.pdf", "application/pdf", PDF),),
    )


def canonical() -> str:
    return edxml.build(base_package()).decode()


def parse_text(text: str) -> DocumentPackage:
    package = edxml.parse(text.encode("utf-8"))
    assert isinstance(package, DocumentPackage)
    return package


def test_default_namespace_without_prefixes() -> None:
    text = canonical().replace("edXML:", "").replace(f' xmlns:edXML="{NS}"', "")
    assert "edXML:" not in text
    assert parse_text(text) == base_package()


def test_mixed_prefixes() -> None:
    text = canonical().replace(
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}">',
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}" xmlns:q="{NS}">',
    )
    text = text.replace("<edXML:Subject>", "<q:Subject>").replace(
        "</edXML:Subject>", "</q:Subject>"
    )
    text = text.replace("<edXML:To>", "<To>").replace("</edXML:To>", "</To>")
    assert parse_text(text) == base_package()


def test_no_namespace_at_all() -> None:
    text = re.sub(r' xmlns(:edXML)?="[^"]*"', "", canonical()).replace("edXML:", "")
    assert parse_text(text) == base_package()


def test_any_child_order() -> None:
    """The .NET order puts DocumentId last and ToPlaces before OtherInfo (edxml.md §1.4)."""
    text = canonical()
    doc_id = re.search(r"\s*<edXML:DocumentId>[^<]*</edXML:DocumentId>", text)
    assert doc_id
    text = text.replace(doc_id.group(), "", 1)
    text = text.replace("</edXML:MessageHeader>", doc_id.group().strip() + "</edXML:MessageHeader>")
    # Bussiness before TraceHeader, as the axis returned in one package.
    trace = re.search(r"<edXML:TraceHeader>.*?</edXML:TraceHeader>", text, re.S)
    assert trace
    text = text.replace(trace.group(), "").replace(
        "</edXML:TraceHeaderList>", trace.group() + "</edXML:TraceHeaderList>"
    )
    assert parse_text(text) == base_package()


def test_business_spelling_and_manifest_variants() -> None:
    text = canonical().replace("Bussiness", "Business").replace("edXMLManifest", "Manifest")
    parsed = edxml.read(text.encode())
    assert parsed.package == base_package()
    codes = [f.code for f in parsed.findings]
    assert "edxml.non_canonical" in codes  # recorded, so strict mode can refuse it
    assert not edxml.validate(parsed).errors
    assert edxml.validate(parsed, mode=edxml.Mode.STRICT).errors


def test_content_id_with_and_without_cid_and_xlink_href() -> None:
    text = canonical().replace("<ContentId>cid:1</ContentId>", "<ContentId>1</ContentId>")
    text = text.replace("<edXML:ContentId>cid:1</edXML:ContentId>", "")
    text = text.replace(
        "<edXML:Reference>",
        '<edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:1">',
    )
    assert parse_text(text) == base_package()


def test_base64_with_line_breaks_and_missing_padding() -> None:
    encoded = base64.encodebytes(PDF).decode()  # 76-column lines
    assert "\n" in encoded.strip()
    text = canonical().replace(base64.b64encode(PDF).decode(), encoded.rstrip("=\n"))
    assert parse_text(text).attachments[0].data == PDF


def test_zipped_payload_behind_lying_content_type() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("5f0e2d8a-1111-2222-3333-444455556666.pdf", PDF)
    package = base_package()
    att = edxml.Attachment("1", "cv12.pdf", "application/pdf", buf.getvalue())
    package = _replace_attachments(package, att)
    parsed = parse_text(edxml.build(package).decode())
    real = sniff(parsed.attachments[0])
    assert real.unzipped and real.data == PDF
    assert real.content_type == "application/pdf" and real.name == "cv12.pdf"


def _replace_attachments(package: DocumentPackage, att: edxml.Attachment) -> DocumentPackage:
    import dataclasses

    return dataclasses.replace(package, attachments=(att,))


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("2026/11/20", dt.date(2026, 11, 20)),
        ("20/11/2026", dt.date(2026, 11, 20)),
        ("2026-11-20", dt.date(2026, 11, 20)),
        ("2026-11-20T00:00:00", dt.date(2026, 11, 20)),
        ("2026/11/20 00:00:00", dt.date(2026, 11, 20)),
    ],
)
def test_date_spellings(spelled: str, expected: dt.date) -> None:
    text = canonical().replace(
        "<edXML:PromulgationDate>2026/11/20<", f"<edXML:PromulgationDate>{spelled}<"
    )
    assert parse_text(text).promulgation.date == expected


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("2026/11/20 08:30:00", dt.datetime(2026, 11, 20, 8, 30)),
        ("20/11/2026 08:30:00", dt.datetime(2026, 11, 20, 8, 30)),
        ("2026-11-20T08:30:00", dt.datetime(2026, 11, 20, 8, 30)),
        ("2026-11-20T01:30:00Z", dt.datetime(2026, 11, 20, 8, 30)),
        ("2026/11/20", dt.datetime(2026, 11, 20, 0, 0)),  # date-only timestamp
    ],
)
def test_timestamp_spellings(spelled: str, expected: dt.datetime) -> None:
    text = canonical().replace(
        "<edXML:Timestamp>2026/11/20 08:30:00<", f"<edXML:Timestamp>{spelled}<"
    )
    ts = parse_text(text).trace_headers[0].timestamp
    assert ts == expected.replace(tzinfo=edxml.VN_TZ)


def test_empty_and_placeholder_elements() -> None:
    text = canonical().replace("<edXML:DueDate>2026/12/01</edXML:DueDate>", "<edXML:DueDate/>")
    text = text.replace("<edXML:SteeringType>", "<edXML:SteeringType>N/A</edXML:SteeringType><x>")
    text = text.replace("</edXML:DueDate>", "")
    text = text.replace("<edXML:SignerInfo>", "<edXML:ResponseFor/><edXML:SignerInfo>")
    text = text.replace("<x>", "")
    package = parse_text(text)
    assert package.due_date is None
    assert package.steering_type is None
    assert package.response_for == (edxml.ResponseFor(),)


@pytest.mark.parametrize("organ", ["", "<edXML:OrganId>null</edXML:OrganId>", "<edXML:OrganId/>"])
def test_trace_header_without_organ_id(organ: str) -> None:
    text = canonical().replace(
        "<edXML:TraceHeader>\n          <edXML:OrganId>000.00.31.H53</edXML:OrganId>",
        f"<edXML:TraceHeader>{organ}",
    )
    package = parse_text(text)
    assert package.trace_headers[0].organ_id is None
    assert package.trace_headers[0].timestamp is not None


def test_bom_and_no_xml_declaration() -> None:
    text = canonical().split("\n", 1)[1]
    assert not text.startswith("<?xml")
    package = edxml.parse(b"\xef\xbb\xbf" + text.encode())
    assert package == base_package()


def test_bare_envelope_root() -> None:
    status = edxml.parse(SAMPLES / "status_finish_06.edxml")
    text = edxml.build(status).decode()
    bare = re.search(r"<edXML:edXMLEnvelope.*</edXML:edXMLEnvelope>", text, re.S)
    assert bare
    again = edxml.parse(
        bare.group()
        .replace("<edXML:edXMLEnvelope ", f'<edXML:edXMLEnvelope xmlns="{NS}" ')
        .encode()
    )
    assert isinstance(again, StatusPackage) and again == status


def test_unknown_extension_elements_are_kept() -> None:
    text = canonical().replace(
        "<edXML:DueDate>",
        "<edXML:ResponseForTask><edXML:TaskCode>T-1</edXML:TaskCode>"
        '</edXML:ResponseForTask><v:Extra xmlns:v="urn:vendor">ok</v:Extra>'
        "<edXML:DueDate>",
    )
    package = parse_text(text)
    tags = [e.tag for e in package.extensions]
    assert tags == ["ResponseForTask", "Extra"]
    rebuilt = edxml.parse(edxml.build(package))
    assert rebuilt == package
    assert "T-1" in edxml.build(package).decode()


def test_legacy_namespace_is_a_clear_error() -> None:
    legacy = b'<?xml version="1.0"?><edXML xmlns="http://www.e-doc.vn/Schema/"><x/></edXML>'
    with pytest.raises(edxml.FormatError) as info:
        edxml.parse(legacy)
    assert info.value.code == "edxml.legacy_format"
    assert "legacy" in info.value.message_en and "QCVN 102" in info.value.message_vi


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (b"<html><body/></html>", "edxml.not_edxml"),
        (f'<edXML xmlns="{NS}"/>'.encode(), "edxml.missing_element"),
        (
            f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>'.encode(),
            "edxml.missing_element",
        ),
    ],
)
def test_not_an_edxml_package(xml: bytes, code: str) -> None:
    with pytest.raises(edxml.FormatError) as info:
        edxml.parse(xml)
    assert info.value.code == code


def test_bad_base64_is_an_error_even_in_lenient_mode() -> None:
    text = canonical().replace(base64.b64encode(PDF).decode(), "!!not base64!!")
    parsed = edxml.read(text.encode())
    report = edxml.validate(parsed)
    assert "edxml.attachment_bad_base64" in [e.code for e in report.errors]
