"""The kit's packages (re-addressed official samples, generated documents) and its report: pure."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import edxml
from adapters.conformance import Report, Step
from adapters.conformance import packages as P
from adapters.conformance.errors import STATUS_MISSING
from edxml.model import DocumentPackage, StatusPackage
from tests.gateway.core.factories import agency_key

KIT, AGENCY = "000.21.31.H53", "000.00.31.H53"
NOW = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
FOLDER = P.default_samples()
assert FOLDER is not None


def _new(number: str = "K1") -> DocumentPackage:
    sample = P.read_sample(FOLDER, P.NEW_SAMPLE)
    assert isinstance(sample, DocumentPackage)
    return P.readdress_document(sample, sender=KIT, recipient=AGENCY, number=number, now=NOW)


def _valid(package: DocumentPackage | StatusPackage, key: object = None) -> bytes:
    data = P.serialize_package(package, key)  # type: ignore[arg-type]
    _, report = edxml.check(data)
    assert not report.errors, report.errors
    assert not report.warnings, report.warnings
    return data


def test_the_samples_of_the_checkout_are_complete() -> None:
    assert P.missing_samples(FOLDER) == []


def test_a_readdressed_sample_is_the_kits_and_new() -> None:
    sample = P.read_sample(FOLDER, P.NEW_SAMPLE)
    new = _new("K7")
    assert (new.from_.organ_id, [t.organ_id for t in new.to]) == (KIT, [AGENCY])
    assert new.document_id == f"{KIT},2026/11/21,K7/{sample.code.notation}"  # type: ignore[union-attr]
    assert new.subject == sample.subject  # type: ignore[union-attr]
    assert new.attachments == sample.attachments  # type: ignore[union-attr]
    assert [t.organ_id for t in new.trace_headers] == [KIT]
    assert new.signatures == ()
    assert new.due_date is not None and new.due_date > new.promulgation.date  # type: ignore[operator]
    again = edxml.parse(_valid(new))
    assert isinstance(again, DocumentPackage) and again.document_id == new.document_id
    assert _new("K8").document_id != new.document_id  # a re-run is never a duplicate


@pytest.mark.parametrize(
    ("name", "doc_type"), list(zip(P.REVISION_SAMPLES, (2, 3, 1), strict=True))
)
def test_revisions_point_at_the_runs_document(name: str, doc_type: int) -> None:
    original = _new()
    sample = P.read_sample(FOLDER, name)
    assert isinstance(sample, DocumentPackage)
    revised = P.revision(sample, original, sender=KIT, recipient=AGENCY, number="K2", now=NOW)
    assert revised.business is not None and revised.business.doc_type == doc_type
    [ref] = revised.response_for
    assert (ref.organ_id, ref.document_id) == (KIT, original.document_id)
    if doc_type == 3:
        [replaced] = revised.business.replacements
        assert (replaced.document_id, replaced.organ_ids) == (original.document_id, (AGENCY,))
    elif doc_type == 2:
        assert revised.business.document_id == original.document_id
        info = revised.business.document_info
        assert info is not None and [r.organ_id for r in info.receivers] == [AGENCY]
    _valid(revised)


@pytest.mark.parametrize("name", P.STATUS_SAMPLES)
def test_status_samples_are_routed_to_the_agency(name: str) -> None:
    sample = P.read_sample(FOLDER, name)
    assert isinstance(sample, StatusPackage)
    status = P.readdress_status(sample, sender=KIT, recipient=AGENCY, number="K3", now=NOW)
    assert status.from_.organ_id == KIT
    assert status.response_for.organ_id == AGENCY  # statuses go to ResponseFor/OrganId
    assert status.status_code == sample.status_code
    assert status.response_for.document_id == f"{AGENCY},2026/11/21,K3/KIT-TT"
    _valid(status)


def test_generated_documents_are_valid_and_signable() -> None:
    docs = P.generated(sender=KIT, recipient=AGENCY, run="KABCDE", now=NOW, first=2)
    assert [name for name, _ in docs] == [
        "generated-pdf",
        "generated-attachments",
        "generated-large",
    ]
    assert [d.code.number for _, d in docs] == ["KABCDE2", "KABCDE3", "KABCDE4"]
    assert all(len(d.code.number) <= 11 for _, d in docs)  # edxml.md §1.8
    names = [a.name for a in docs[1][1].attachments]
    assert names == [
        "Tờ trình số 1.pdf",
        "Dự thảo quyết định.docx",
        "Phụ lục – danh sách đơn vị.pdf",
    ]
    large = _valid(docs[2][1])
    assert len(large) > 2 * 1024 * 1024
    signed = _valid(docs[0][1], agency_key(KIT))
    report = edxml.signature.verify_package(
        edxml.safexml.parse_xml(signed),
        edxml.trust.TrustStore.from_files([FOLDER.parents[2] / "certs/dev/ca.crt"]),
        policy=edxml.signature.SignaturePolicy.STRICT,
    )
    assert report.sender is not None and report.sender.signer_organ_id == KIT


def test_the_report() -> None:
    report = Report("title", {"gateway": "http://x"})
    report.add(Step.ok("connect", 0.123, "ok", "được"))
    report.add(Step.skip("recall x", "not sent", "không gửi"))
    assert report.passed
    report.add(
        Step.fail("status 06 d", 120.0, STATUS_MISSING, code="06", name="d", seconds=120, seen="01")
    )
    assert not report.passed
    text = report.text()
    assert "[PASS] connect" in text and "[SKIP] recall x" in text
    assert "[FAIL] status 06 d" in text and "[conformance.status_missing]" in text
    assert "Status 06 for d did not come within 120 s (received: 01)" in text
    assert "Không nhận được trạng thái 06 cho d trong 120 giây" in text
    assert text.rstrip().endswith("1 passed, 1 failed, 1 skipped / 1 đạt, 1 không đạt, 1 bỏ qua")
    body = json.loads(report.json())
    assert body["passed"] is False
    assert [s["passed"] for s in body["steps"]] == [True, None, False]
    assert Report("empty", {}).passed is False  # nothing checked is no pass
