"""Semantic validation: each rule, its code, its path, and its severity in both modes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile

import pytest

import edxml
from edxml.model import DocumentPackage, StatusPackage
from edxml.validate import Mode, Policy
from tests.edxml.test_parse_variants import PDF, base_package

LENIENT, STRICT = Mode.LENIENT, Mode.STRICT


def report(package: edxml.Package, mode: Mode = LENIENT, **kw: object) -> edxml.Report:
    return edxml.validate(edxml.read(edxml.build(package)), mode=mode, **kw)  # type: ignore[arg-type]


def codes(rep: edxml.Report, severity: str = "error") -> set[str]:
    items = rep.errors if severity == "error" else rep.warnings
    return {i.code for i in items}


def doc(**changes: object) -> DocumentPackage:
    return dataclasses.replace(base_package(), **changes)  # type: ignore[arg-type]


def test_the_base_package_is_valid_in_both_modes() -> None:
    assert report(doc()).issues == ()
    assert report(doc(), STRICT).issues == ()


@pytest.mark.parametrize(
    ("business", "missing"),
    [
        (edxml.Bussiness(2, "Cập nhật"), "BussinessDocumentInfo"),
        (edxml.Bussiness(3, "Thay thế"), "ReplacementInfoList"),
    ],
)
def test_business_types_need_their_data_in_both_modes(
    business: edxml.Bussiness, missing: str
) -> None:
    for mode in (LENIENT, STRICT):
        rep = report(doc(business=business), mode)
        (issue,) = [i for i in rep.errors if i.code == "edxml.business_data"]
        assert missing in issue.message_en and issue.path.endswith("/Bussiness")


def test_unknown_business_type_is_an_error() -> None:
    assert "edxml.business_type" in codes(report(doc(business=edxml.Bussiness(7))))


def test_announced_attachment_without_payload_is_an_error() -> None:
    rep = report(doc(attachments=()))
    (issue,) = [i for i in rep.errors if i.code == "edxml.attachment_missing"]
    assert "Reference[1]" in issue.path and "cv12.pdf" in issue.message_vi


def test_unlisted_and_duplicate_attachments() -> None:
    extra = edxml.Attachment("2", "phu-luc.pdf", "application/pdf", PDF)
    rep = report(doc(attachments=(base_package().attachments[0], extra)))
    assert "edxml.attachment_unlisted" in codes(rep, "warning")
    assert "edxml.attachment_unlisted" in codes(report(doc(attachments=(
        base_package().attachments[0], extra)), STRICT))  # fmt: skip
    dup = doc(attachments=(base_package().attachments[0],) * 2)
    assert "edxml.attachment_duplicate" in codes(report(dup))


def test_text_corrupted_pdf_warns_leniently_and_fails_strictly() -> None:
    corrupted = b"%PDF-1.4\n%\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\n" + (
        b"stream \xef\xbf\xbd\xef\xbf\xbd endstream\n" * 10
    )
    package = doc(attachments=(edxml.Attachment("1", "cv12.pdf", "application/pdf", corrupted),))
    lenient = report(package)
    assert lenient.ok and "edxml.attachment_text_corrupted" in codes(lenient, "warning")
    assert "edxml.attachment_text_corrupted" in codes(report(package, STRICT))
    # An intact PDF with a binary comment line is not flagged.
    assert "edxml.attachment_text_corrupted" not in codes(report(doc()), "warning")


def test_corrupt_transport_zip_is_an_error() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.pdf", PDF)
    broken = buf.getvalue()[:40]  # truncated: the central directory is gone
    package = doc(attachments=(edxml.Attachment("1", "cv12.pdf", "application/zip", broken),))
    assert "edxml.attachment_bad_zip" in codes(report(package))


def test_lying_content_type_warns() -> None:
    package = doc(attachments=(edxml.Attachment("1", "cv12.pdf", "application/msword", PDF),))
    rep = report(package)
    assert rep.ok and "edxml.attachment_type_mismatch" in codes(rep, "warning")


def test_required_fields_and_recipients() -> None:
    rep = report(doc(subject="", document_id="", to=()))
    paths = {i.path for i in rep.errors if i.code == "edxml.required"}
    assert {p.rsplit("/", 1)[-1] for p in paths} >= {"Subject", "DocumentId", "To"}


def test_organ_id_forms() -> None:
    sandbox = doc(to=(edxml.Organization("vxp.saas.02"),))
    assert "edxml.organ_id_form" in codes(report(sandbox), "warning")
    assert "edxml.organ_id_form" in codes(report(sandbox, STRICT))
    garbage = doc(to=(edxml.Organization("UBND xã <An Thạnh>"),))
    assert "edxml.organ_id_invalid" in codes(report(garbage))


def test_dates_must_be_plausible() -> None:
    future = doc(promulgation=edxml.PromulgationInfo("Bến Cầu", dt.date(2999, 1, 1)))
    assert "edxml.date_out_of_range" in codes(report(future), "warning")
    assert "edxml.date_out_of_range" in codes(report(future, STRICT))


def test_field_lengths_only_bind_in_strict_mode() -> None:
    long_subject = doc(subject="V/v " + "rất dài " * 80)
    assert report(long_subject).ok
    assert "edxml.too_long" in codes(report(long_subject, STRICT))


def test_size_limits_apply_in_every_mode() -> None:
    policy = Policy(max_attachment_bytes=100, max_recipients=1)
    rep = report(doc(to=base_package().to * 2), policy=policy)
    assert "edxml.size_limit" in codes(rep)


def status(code: str, description: str | None = "Lý do") -> StatusPackage:
    return StatusPackage(
        from_=edxml.Organization("000.21.31.H53"),
        response_for=edxml.ResponseFor("000.00.31.H53", "12/UBND-VP", dt.date(2026, 11, 20),
                                       "000.00.31.H53,2026/11/20,12/UBND-VP"),
        status_code=code,
        timestamp=dt.datetime(2026, 11, 20, 9, 0, tzinfo=edxml.VN_TZ),
        description=description,
    )  # fmt: skip


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06", "13", "15", "16"])
def test_every_qcvn_status_code_is_accepted(code: str) -> None:
    assert report(status(code), STRICT).ok


@pytest.mark.parametrize("code", ["00", "07", "12", "14", "-1", ""])
def test_other_status_codes_are_refused_in_both_modes(code: str) -> None:
    for mode in (LENIENT, STRICT):
        assert "edxml.status_code" in codes(report(status(code), mode))


def test_status_needs_its_routing_and_correlation_keys() -> None:
    bare = dataclasses.replace(status("03"), response_for=edxml.ResponseFor())
    missing = {i.path.rsplit("/", 2)[-2:][1] for i in report(bare).errors
               if i.code == "edxml.required"}  # fmt: skip
    assert {"OrganId", "DocumentId"} <= missing  # routing key and correlation key


def test_rejection_without_reason_is_not_canonical() -> None:
    assert report(status("02", None)).ok
    assert not report(status("02", None), STRICT).ok


def test_check_raises_with_every_error() -> None:
    data = edxml.build(doc(subject="", attachments=()))
    with pytest.raises(edxml.ValidationError) as info:
        edxml.check(data)
    found = {i.code for i in info.value.issues}
    assert {"edxml.required", "edxml.attachment_missing"} <= found
    assert all(i.message_vi and i.message_en for i in info.value.issues)


def test_rich_schema_reports_name_the_element() -> None:
    text = edxml.build(doc()).decode().replace("<edXML:Subject>", "<edXML:Subjekt>")
    text = text.replace("</edXML:Subject>", "</edXML:Subjekt>")
    parsed = edxml.read(text.encode())
    fast = [i for i in edxml.validate(parsed, mode=STRICT).errors if i.code == "edxml.schema"]
    rich = [i for i in edxml.validate(parsed, mode=STRICT, rich=True).errors
            if i.code == "edxml.schema"]  # fmt: skip
    assert fast and rich
    assert "Subjekt" in fast[0].message_en and "Subjekt" in rich[0].message_en
