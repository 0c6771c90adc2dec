"""Every official VPCP sample gets the outcome its README lists (samples/vpcp-official)."""

from __future__ import annotations

import datetime as dt

import pytest

import edxml
from edxml.attachments import sniff
from tests.edxml.conftest import SAMPLES

STATUS_FILES = {
    "status.edxml": "01",
    "status_inbox_01.edxml": "01",
    "status_rejection_02.edxml": "02",
    "status_acceptance_03.edxml": "03",
    "status_assignment_04.edxml": "04",
    "status_processing_05.edxml": "05",
    "status_finish_06.edxml": "06",
    "status_cancellation_13.edxml": "13",
    "status_change-acceptance_15.edxml": "15",
    "status_change-rejection_16.edxml": "16",
}
DOCUMENT_FILES = {
    "edoc_new.edxml": 0,
    "edoc_revocation.edxml": 1,
    "edoc_update.edxml": 2,
    "edoc_replacement.edxml": 3,
}


@pytest.mark.parametrize(("name", "business_type"), sorted(DOCUMENT_FILES.items()))
def test_document_samples_accepted(name: str, business_type: int) -> None:
    parsed, report = edxml.check(SAMPLES / name)
    package = parsed.package
    assert isinstance(package, edxml.DocumentPackage)
    assert report.ok
    assert package.business_type == business_type
    assert package.to and package.from_.organ_id
    assert package.subject.startswith("V/v kết nối")


@pytest.mark.parametrize(("name", "code"), sorted(STATUS_FILES.items()))
def test_status_samples_accepted(name: str, code: str) -> None:
    parsed, report = edxml.check(SAMPLES / name)
    package = parsed.package
    assert isinstance(package, edxml.StatusPackage)
    assert report.ok
    assert package.status_code == code
    assert package.response_for.organ_id  # statuses are routed to ResponseFor/OrganId
    assert package.timestamp is not None and package.timestamp.tzinfo is not None


def test_edoc_new_attachment_is_a_zip_behind_a_doc_name() -> None:
    package = edxml.parse(SAMPLES / "edoc_new.edxml")
    assert isinstance(package, edxml.DocumentPackage)
    (att,) = package.attachments
    assert att.content_id == "209" and att.content_type == "application/zip"
    assert att.name == "1896_QD-TTg_m_294779.doc"
    real = sniff(att)
    assert real.unzipped and real.entry_name and real.entry_name.endswith(".edxml")
    # The bytes inside are an edXML (XML) file, whatever the .doc name says.
    assert real.content_type == "application/xml"
    assert real.name == "1896_QD-TTg_m_294779.xml"
    assert len(real.data) == 388347


def test_edoc_new_fields() -> None:
    package = edxml.parse(SAMPLES / "edoc_new.edxml")
    assert isinstance(package, edxml.DocumentPackage)
    assert package.from_.organ_id == "000.00.00.A80"
    assert [t.organ_id for t in package.to] == ["28.22.H17"]
    assert package.code == edxml.Code("74fass22", "VPCP-TTĐT")
    assert package.promulgation.date == dt.date(2019, 1, 16)
    assert package.other_info is not None and package.other_info.direction is False
    assert package.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")
    assert package.trace_headers[0].organ_id == "000.00.00.G22"
    assert package.business is not None and package.business.staff is not None
    assert package.business.staff.staff == "Nguyễn Thị Ngọc Trâm"
    assert len(package.signatures) == 1  # the static placeholder, kept verbatim


def test_update_and_replacement_carry_their_business_data() -> None:
    update = edxml.parse(SAMPLES / "edoc_update.edxml")
    assert isinstance(update, edxml.DocumentPackage) and update.business is not None
    info = update.business.document_info
    assert info is not None
    assert [(r.organ_id, r.receiver_type) for r in info.receivers] == [
        ("000.00.00.H41", 0),
        ("000.00.00.H14", 1),
    ]
    replacement = edxml.parse(SAMPLES / "edoc_replacement.edxml")
    assert isinstance(replacement, edxml.DocumentPackage) and replacement.business is not None
    assert len(replacement.business.replacements) == 2
    assert replacement.business.replacements[0].organ_ids == ("000.00.00.H41", "000.00.00.H14")
    revocation = edxml.parse(SAMPLES / "edoc_revocation.edxml")
    assert isinstance(revocation, edxml.DocumentPackage)
    assert revocation.response_for[0].document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"


def test_malformed_test_package_rejected_with_line_and_column() -> None:
    with pytest.raises(edxml.XmlError) as info:
        edxml.check(SAMPLES / "edoc.edxml")
    err = info.value
    assert err.code == "edxml.not_well_formed"
    assert err.line is not None and err.line > 1
    assert err.column is not None
    assert "line" in str(err)


def test_strict_mode_is_stricter_on_samples() -> None:
    """The samples are accepted leniently; strict mode finds their non-canonical parts
    (placeholder dates like 2014/02/30 aside, at least the status samples' field order)."""
    _, lenient = edxml.check(SAMPLES / "status_cancellation_13.edxml")
    parsed = edxml.read(SAMPLES / "status_cancellation_13.edxml")
    strict = edxml.validate(parsed, mode=edxml.Mode.STRICT)
    assert len(strict.errors) >= len(lenient.errors)


def test_error_catalogue_is_complete_and_bilingual() -> None:
    from edxml.errors import catalogue

    codes = {c.code: c for c in catalogue()}
    # One code from each defining module, so a module left out of catalogue() is noticed.
    for code in (
        "edxml.attachment_bad_base64",
        "edxml.invalid_text",
        "edxml.bad_description",
        "edxml.organ_id_invalid",
        "edxml.legacy_format",
        "edxml.external_entity",
        "edxml.signature_wrapping",
        "edxml.certificate_revoked",
        "edxml.status_code",
    ):
        assert code in codes, code
    for c in codes.values():
        assert c.vi.strip() and c.en.strip() and c.vi != c.en, c.code
