"""Signatures and seals over the official samples, trust decisions, and wrapping attacks."""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from edxml import trust
from edxml.errors import FormatError, Severity, SignatureError, XmlError
from edxml.signature import (
    SignatureKind,
    SignaturePolicy,
    SignatureReport,
    SignatureRole,
    cross_check,
    inspect_signatures,
    seal,
    sign,
    verify_package,
    verify_signatures,
)
from edxml.trust import (
    SigningKey,
    TrustStore,
    certificate_organ_id,
    is_development_certificate,
    load_certificates,
    load_crls,
)
from tests import pki

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "vpcp-official"
DEV = ROOT / "certs" / "dev"
DOCUMENTS = ["edoc_new", "edoc_revocation", "edoc_update", "edoc_replacement"]
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
E = f"{{{NS}}}"
STRICT, LENIENT, OFF = SignaturePolicy.STRICT, SignaturePolicy.LENIENT, SignaturePolicy.OFF


@dataclass(frozen=True)
class Pki:
    root: pki.Issued
    intermediate: pki.Issued
    agency_rsa: pki.Issued
    agency_ec: pki.Issued
    other_agency: pki.Issued
    hub_a: pki.Issued
    hub_b: pki.Issued
    expired: pki.Issued
    revoked: pki.Issued
    untrusted: pki.Issued
    no_usage: pki.Issued
    revoked_at: dt.datetime
    trust: TrustStore


@pytest.fixture(scope="session")
def p() -> Pki:
    now = pki.NOW
    root = pki.make_ca("edxml test root CA", kind="rsa")
    intermediate = pki.make_ca("edxml test issuing CA", root, path_length=0)
    revoked = pki.make_leaf(
        root, "UBND huyện Bến Cầu", "000.00.31.H53", not_before=now - dt.timedelta(days=10)
    )
    revoked_at = now - dt.timedelta(days=1)
    return Pki(
        root=root,
        intermediate=intermediate,
        agency_rsa=pki.make_leaf(root, "UBND xã Hòa Tiến", "000.00.00.A80", kind="rsa"),
        agency_ec=pki.make_leaf(intermediate, "UBND tỉnh Nghệ An", "000.00.00.H41"),
        other_agency=pki.make_leaf(root, "Văn phòng Chính phủ", "000.00.00.G22"),
        hub_a=pki.make_leaf(root, "Trục tỉnh Tây Ninh", "00.53.W00"),
        hub_b=pki.make_leaf(intermediate, "Trục tỉnh Nghệ An", "00.41.W00", kind="rsa"),
        expired=pki.make_leaf(
            root,
            "Expired",
            "000.00.00.H14",
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=30),
        ),
        revoked=revoked,
        untrusted=pki.make_leaf(pki.make_ca("Rogue CA"), "Rogue", "000.00.00.A80"),
        no_usage=pki.make_leaf(
            root,
            "Encryption only",
            "000.00.00.A80",
            usage=pki.key_usage(key_encipherment=True),
        ),
        revoked_at=revoked_at,
        trust=TrustStore(
            (root.cert,),
            (pki.make_crl(root, [(revoked.cert, revoked_at)]), pki.make_crl(intermediate)),
        ),
    )


def load(name: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.parse(str(SAMPLES / f"{name}.edxml"), parser).getroot()


def one(tree: etree._Element, path: str) -> etree._Element:
    """The single element at ``path`` (local names joined by '/', from the root)."""
    steps = "/".join(f"*[local-name()='{step}']" for step in path.split("/"))
    found = tree.xpath(f"/*/{steps}")
    assert isinstance(found, list)
    assert len(found) == 1, (path, len(found))
    el = found[0]
    assert isinstance(el, etree._Element)
    return el


def header(tree: etree._Element) -> etree._Element:
    return one(tree, "edXMLEnvelope/edXMLHeader")


def roundtrip(tree: etree._Element) -> etree._Element:
    """What the next hop sees: bytes on the wire, parsed again."""
    return etree.fromstring(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


def verdicts(reports: tuple[SignatureReport, ...]) -> list[tuple[str, str | None]]:
    return [(r.kind.value, r.failure.code if r.failure else None) for r in reports]


def signed(name: str, who: pki.Issued) -> etree._Element:
    tree = load(name)
    sign(tree, who.signing_key)
    return tree


def only_real(tree: etree._Element, p: Pki) -> SignatureReport:
    reports = [r for r in verify_signatures(tree, p.trust) if r.kind is SignatureKind.XMLDSIG]
    assert len(reports) == 1
    return reports[0]


# --- valid signatures --------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCUMENTS)
@pytest.mark.parametrize("signer", ["agency_rsa", "agency_ec"])
def test_sender_signature_over_official_samples(p: Pki, name: str, signer: str) -> None:
    who: pki.Issued = getattr(p, signer)
    tree = roundtrip(signed(name, who))

    reports = verify_signatures(tree, p.trust)

    # The static placeholder stays, is reported as such, and the real signature follows it.
    assert verdicts(reports) == [("placeholder", "edxml.signature_placeholder"), ("xmldsig", None)]
    sender = reports[1]
    assert sender.role is SignatureRole.SENDER
    assert sender.signer_organ_id == certificate_organ_id(who.cert)
    assert sender.references == (
        "MessageHeader",
        "TraceHeader[1]",
        "Bussiness",
        "edXMLBody",
        "AttachmentEncoded",
    )
    assert sender.not_after == who.cert.not_valid_after_utc
    result = verify_package(tree, p.trust, policy=STRICT)
    assert result.sender == sender
    assert [f.code for f in result.findings] == ["edxml.signature_placeholder"]
    assert all(f.severity is Severity.WARNING for f in result.findings)


def test_signature_layout_and_algorithms(p: Pki) -> None:
    tree = signed("edoc_new", p.agency_ec)
    children = [etree.QName(c).localname for c in header(tree)]
    assert children == ["MessageHeader", "TraceHeaderList", "Signature", "Signature"]
    sig = header(tree)[-1]
    assert sig.tag == f"{{{DS}}}Signature"
    algorithms = {el.get("Algorithm") for el in sig.iter() if el.get("Algorithm")}
    assert algorithms == {
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    }
    uris = [r.get("URI") for r in sig.iter(f"{{{DS}}}Reference")]
    assert uris == [
        "#MessageHeader",
        "#TraceHeader-1",
        "#Bussiness",
        "#edXMLBody",
        "#AttachmentEncoded",
    ]
    # KeyInfo: the signing certificate first, then the intermediate.
    sent = [c.text for c in sig.iter(f"{{{DS}}}X509Certificate")]
    expected = [p.agency_ec.cert, p.intermediate.cert]
    assert [load_certificates((t or "").encode())[0] for t in sent] == expected
    assert one(tree, "AttachmentEncoded").get("Id") == "AttachmentEncoded"


def test_rsa_key_signs_with_rsa_sha256(p: Pki) -> None:
    sig = header(signed("status", p.agency_rsa))[-1]
    method = sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    assert method is not None
    assert method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.mark.parametrize("name", ["status", "status_inbox_01", "status_rejection_02"])
def test_status_package_signature(p: Pki, name: str) -> None:
    tree = roundtrip(signed(name, p.agency_ec))
    report = only_real(tree, p)
    assert report.valid
    assert report.references == ("MessageHeader",)
    assert verify_package(tree, p.trust, policy=STRICT).sender == report


def test_bytes_input_and_element_inside_tree(p: Pki) -> None:
    tree = signed("status", p.agency_rsa)
    data = etree.tostring(tree)
    assert verify_package(data, p.trust, policy=STRICT).sender is not None
    # Any element of the tree (or the ElementTree) stands for its document.
    assert verify_package(header(tree), p.trust, policy=STRICT).sender is not None
    assert verify_package(tree.getroottree(), p.trust, policy=STRICT).sender is not None


def test_existing_ids_are_kept_and_taken_ids_avoided(p: Pki) -> None:
    tree = load("edoc_new")
    one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader").set("Id", "mh-1")
    extra = etree.SubElement(one(tree, "edXMLEnvelope"), f"{E}Note", Id="edXMLBody")
    sign(tree, p.agency_ec.signing_key)
    assert one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader").get("Id") == "mh-1"
    assert one(tree, "edXMLEnvelope/edXMLBody").get("Id") == "edXMLBody-2"
    assert extra.get("Id") == "edXMLBody"
    assert only_real(tree, p).valid


# --- tampering ---------------------------------------------------------------------------


def _subject(tree: etree._Element) -> None:
    one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader/Subject").text = "Giả mạo"


def _payload(tree: etree._Element) -> None:
    el = one(tree, "AttachmentEncoded/Attachment/ContentTransferEncoded")
    text = el.text or ""
    el.text = ("A" if text[100] != "A" else "B").join((text[:100], text[101:]))


def _business(tree: etree._Element) -> None:
    path = "edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/BussinessDocType"
    one(tree, path).text = "1"  # turn a new document into a revocation


def _trace(tree: etree._Element) -> None:
    path = "edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader/OrganId"
    one(tree, path).text = "000.00.00.G99"


def _drop_trace(tree: etree._Element) -> None:
    th = one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader")
    parent = th.getparent()
    assert parent is not None
    parent.remove(th)


def _id_attribute(tree: etree._Element) -> None:
    one(tree, "edXMLEnvelope/edXMLBody").set("Id", "edXMLBody-x")


def _manifest(tree: etree._Element) -> None:
    one(tree, "edXMLEnvelope/edXMLBody/edXMLManifest/Reference/ContentType").text = "text/plain"


@pytest.mark.parametrize(
    "tamper",
    [_subject, _payload, _business, _trace, _drop_trace, _id_attribute, _manifest],
    ids=lambda f: f.__name__.strip("_"),
)
def test_tampering_invalidates(p: Pki, tamper: object) -> None:
    tree = roundtrip(signed("edoc_new", p.agency_rsa))
    assert only_real(tree, p).valid
    assert callable(tamper)
    tamper(tree)

    report = only_real(tree, p)

    assert not report.valid
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_invalid"
    assert report.failure.path == "edXML/edXMLEnvelope/edXMLHeader/Signature"
    with pytest.raises(SignatureError) as raised:
        verify_package(tree, p.trust, policy=LENIENT)  # tampering is fatal even when lenient
    assert raised.value.code == "edxml.signature_invalid"


def test_content_added_after_signing_is_not_covered(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    body = copy.deepcopy(one(load("edoc_new"), "edXMLEnvelope/edXMLBody"))
    one(tree, "edXMLEnvelope").append(body)
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_incomplete"
    assert "edXMLBody" in report.failure.message_en


def test_swapped_certificate_is_invalid(p: Pki) -> None:
    tree = signed("edoc_update", p.agency_ec)
    cert = next(header(tree)[-1].iter(f"{{{DS}}}X509Certificate"))
    cert.text = "".join(p.other_agency.cert.public_bytes(Encoding.PEM).decode().splitlines()[1:-1])
    report = only_real(tree, p)
    assert report.signer_organ_id == "000.00.00.G22"  # what the forger claims…
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_invalid"  # …does not verify


# --- trust -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("expired", "edxml.certificate_expired"),
        ("revoked", "edxml.certificate_revoked"),
        ("untrusted", "edxml.certificate_untrusted"),
        ("no_usage", "edxml.certificate_key_usage"),
    ],
)
def test_certificate_problems(p: Pki, who: str, code: str) -> None:
    issued: pki.Issued = getattr(p, who)
    tree = signed("edoc_revocation", issued)
    report = only_real(tree, p)
    assert not report.valid
    assert report.failure is not None
    assert report.failure.code == code
    for policy in (LENIENT, STRICT):
        with pytest.raises(SignatureError) as raised:
            verify_package(tree, p.trust, policy=policy)
        assert raised.value.code == code


def test_verification_time_decides_validity_and_revocation(p: Pki) -> None:
    expired = signed("status", p.expired)
    at = pki.NOW - dt.timedelta(days=100)
    assert verify_package(expired, p.trust, policy=STRICT, at=at).sender is not None
    revoked = signed("status", p.revoked)
    before = p.revoked_at - dt.timedelta(days=2)
    assert verify_package(revoked, p.trust, policy=STRICT, at=before).sender is not None
    with pytest.raises(SignatureError, match="certificate_expired"):
        verify_package(revoked, p.trust, at=pki.NOW - dt.timedelta(days=365))
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_package(revoked, p.trust, at=dt.datetime(2024, 1, 1))


def test_missing_intermediate_is_untrusted(p: Pki) -> None:
    tree = load("status")
    sign(tree, SigningKey(p.agency_ec.key, p.agency_ec.cert))  # no chain in KeyInfo
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.certificate_untrusted"


def test_revoked_intermediate_and_forged_crl(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    revoked_ca = pki.make_crl(p.root, [(p.intermediate.cert, pki.NOW - dt.timedelta(hours=2))])
    with pytest.raises(SignatureError, match="certificate_revoked"):
        verify_package(tree, p.trust.with_crls(revoked_ca))
    forged = pki.make_crl(
        p.root, [(p.intermediate.cert, pki.NOW - dt.timedelta(hours=2))], signer=pki.new_key()
    )
    assert verify_package(tree, p.trust.with_crls(forged)).sender is not None


def test_issuer_must_be_a_ca_that_really_signed(p: Pki) -> None:
    # A leaf certificate used as a CA: right name, right signature, keyCertSign, but no cA flag.
    ku = pki.key_usage(digital_signature=True, key_cert_sign=True)
    leaf_as_ca = pki.make_leaf(p.root, "Not a CA", "000.00.00.H14", usage=ku)
    child = pki.make_leaf(leaf_as_ca, "Sub", "000.00.00.H14")
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        p.trust.validate([child.cert, *child.chain])
    # A CA whose KeyUsage does not allow certificate signing.
    crl_only = pki.make_ca("CRL signer", p.root, usage=pki.key_usage(crl_sign=True))
    child = pki.make_leaf(crl_only, "Sub", "000.00.00.H14")
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        p.trust.validate([child.cert, *child.chain])
    # A CA under the trusted root's *name* but with another key.
    impostor = pki.make_ca("edxml test root CA", kind="rsa")
    assert impostor.cert.subject == p.root.cert.subject
    forged = pki.make_leaf(impostor, "Forged", "000.00.00.G22")
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        p.trust.validate([forged.cert])
    # path_length=0 on the intermediate forbids another CA below it.
    sub_ca = pki.make_ca("Sub CA", p.intermediate)
    below = pki.make_leaf(sub_ca, "Below", "000.00.00.H14")
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        p.trust.validate([below.cert, *below.chain])
    assert p.trust.validate([p.agency_ec.cert, *p.agency_ec.chain])[-1] == p.root.cert


def test_remembered_verdicts_never_stand_in_for_another_certificate_or_crl(p: Pki) -> None:
    """trust.py remembers the cryptographic verdicts (certificate issued by, CRL signed by)
    per exact certificate and CRL: a look-alike with another key, or a new CRL, is checked
    afresh, and the time checks run every time."""
    chain = [p.agency_ec.cert, *p.agency_ec.chain]
    for _ in range(3):  # the second and third validations come from the remembered verdicts
        assert p.trust.validate(chain)[-1] == p.root.cert
    # A twin of the intermediate (same names, other keys): not remembered as valid.
    twin = pki.make_ca("edxml test issuing CA", pki.make_ca("edxml test root CA", kind="rsa"))
    assert twin.cert.subject == p.intermediate.cert.subject
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        p.trust.validate([p.agency_ec.cert, twin.cert])
    # A CRL published later (a new CRL, a new fingerprint) revokes what was valid a moment ago.
    revokes = pki.make_crl(p.root, [(p.intermediate.cert, pki.NOW - dt.timedelta(hours=1))])
    with pytest.raises(SignatureError, match="certificate_revoked"):
        p.trust.with_crls(revokes).validate(chain)
    # The same remembered path, at a time outside the certificates' validity: expired.
    with pytest.raises(SignatureError, match="certificate_expired"):
        p.trust.validate(chain, dt.datetime(2001, 1, 1, tzinfo=dt.UTC))


def test_a_crl_is_read_once_per_object_and_never_mistaken_for_another(p: Pki) -> None:
    """A CA's CRL can be megabytes: its fingerprint (what stands for it among the remembered
    verdicts) and its serials are worked out once per CRL object; another CRL is its own."""
    crl = pki.make_crl(p.root, [(p.revoked.cert, p.revoked_at)])
    facts = trust._crl_facts(crl)
    assert facts.fingerprint == crl.fingerprint(hashes.SHA256())
    assert facts.revoked == {p.revoked.cert.serial_number: p.revoked_at}
    assert trust._crl_facts(crl) is facts  # remembered, not hashed and read again
    again = load_crls(crl.public_bytes(Encoding.DER))[0]  # the same CRL, another object
    assert trust._crl_facts(again).fingerprint == facts.fingerprint
    other = trust._crl_facts(pki.make_crl(p.root))
    assert other.fingerprint != facts.fingerprint and other.revoked == {}


def test_trust_store_from_files(p: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(p.root.cert.public_bytes(Encoding.PEM))
    (tmp_path / "ca.der").write_bytes(p.intermediate.cert.public_bytes(Encoding.DER))
    crl = pki.make_crl(p.root, [(p.revoked.cert, p.revoked_at)])
    (tmp_path / "ca.crl").write_bytes(crl.public_bytes(Encoding.DER))
    store = TrustStore.from_files([tmp_path / "ca.pem", tmp_path / "ca.der"], [tmp_path / "ca.crl"])
    assert store.anchors == (p.root.cert, p.intermediate.cert)
    # The intermediate is now an anchor itself: the chain stops there.
    assert store.validate([p.agency_ec.cert]) == (p.agency_ec.cert, p.intermediate.cert)
    with pytest.raises(SignatureError, match="certificate_revoked"):
        store.validate([p.revoked.cert])
    # An anchor may be the signing certificate itself (pinning a peer's certificate).
    pinned = TrustStore((p.hub_a.cert,))
    assert pinned.validate([p.hub_a.cert]) == (p.hub_a.cert,)
    with pytest.raises(SignatureError, match="certificate_untrusted"):
        pinned.validate([p.agency_ec.cert, *p.agency_ec.chain])


# --- placeholders and policy -------------------------------------------------------------


@pytest.mark.parametrize("name", DOCUMENTS)
def test_placeholder_lenient_records_strict_rejects(p: Pki, name: str) -> None:
    tree = load(name)
    (info,) = inspect_signatures(tree)
    assert info.kind is SignatureKind.PLACEHOLDER
    assert info.role is None
    result = verify_package(tree, p.trust, policy=LENIENT)
    assert result.sender is None
    assert [f.code for f in result.findings] == ["edxml.signature_placeholder"]
    with pytest.raises(SignatureError) as raised:
        verify_package(tree, p.trust, policy=STRICT)
    assert raised.value.code == "edxml.signature_placeholder"
    assert "không phải chữ ký thật" in raised.value.message_vi
    assert verify_package(tree, p.trust, policy=OFF).reports == ()


def test_absent_signature(p: Pki) -> None:
    tree = load("status_finish_06")
    assert inspect_signatures(tree) == ()
    result = verify_package(tree, p.trust)
    assert [f.code for f in result.findings] == ["edxml.signature_missing"]
    with pytest.raises(SignatureError, match="signature_missing"):
        verify_package(tree, p.trust, policy=STRICT)


@pytest.mark.parametrize(
    "xml",
    [
        f'<edXML:DigitalSignature xmlns:edXML="{NS}"/>',
        f'<Signature xmlns="{NS}"></Signature>',
        f'<ds:Signature xmlns:ds="{DS}">  </ds:Signature>',
    ],
)
def test_empty_signatures(p: Pki, xml: str) -> None:
    tree = load("status")
    header(tree).append(etree.fromstring(xml))
    (report,) = verify_signatures(tree, p.trust)
    assert report.kind is SignatureKind.EMPTY
    assert not report.valid
    assert verify_package(tree, p.trust).findings[0].code == "edxml.signature_placeholder"
    with pytest.raises(SignatureError):
        verify_package(tree, p.trust, policy=STRICT)


def _in_edxml_namespace(sig: etree._Element) -> None:
    sig.tag = f"{E}Signature"  # as in the official samples; the content stays XMLDSig


def _placeholder_digest(sig: etree._Element) -> None:
    next(sig.iter(f"{{{DS}}}DigestValue")).text = "FwgIqsSYJshUS2+wlOM61L+q7Aw="


def _truncated_certificate(sig: etree._Element) -> None:
    next(sig.iter(f"{{{DS}}}X509Certificate")).text = "MIIFqTCCBJG"


def _no_certificate(sig: etree._Element) -> None:
    key_info = sig.find(f"{{{DS}}}KeyInfo")
    assert key_info is not None
    sig.remove(key_info)


@pytest.mark.parametrize(
    "spoil",
    [_in_edxml_namespace, _placeholder_digest, _truncated_certificate, _no_certificate],
    ids=lambda f: f.__name__.strip("_"),
)
def test_placeholder_classification(p: Pki, spoil: object) -> None:
    tree = signed("status", p.agency_ec)
    assert inspect_signatures(tree)[0].kind is SignatureKind.XMLDSIG
    assert callable(spoil)
    spoil(header(tree)[-1])
    (info,) = inspect_signatures(tree)
    assert info.kind is SignatureKind.PLACEHOLDER
    assert info.signer_subject is None
    assert [f.code for f in verify_package(tree, p.trust).findings] == [
        "edxml.signature_placeholder"
    ]


def test_duplicate_ids_refuse_signing(p: Pki) -> None:
    tree = load("status")
    one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader").set("Id", "x")
    etree.SubElement(one(tree, "edXMLEnvelope"), f"{E}Extra", Id="x")
    before = etree.tostring(tree)
    with pytest.raises(SignatureError, match="signature_wrapping"):
        sign(tree, p.agency_ec.signing_key)
    with pytest.raises(SignatureError, match="signature_wrapping"):
        seal(tree, p.hub_a.signing_key, "00.53.W00")
    assert etree.tostring(tree) == before  # refused before anything was changed


def _foreign_signature() -> etree._Element:
    """The real-looking rsa-sha1 enveloped signature of the malformed official test package."""
    text = (SAMPLES / "edoc.edxml").read_text(encoding="utf-8")
    match = re.search(
        r'<Signature xmlns="http://www\.w3\.org/2000/09/xmldsig#">.*?</Signature>', text, re.S
    )
    assert match is not None
    return etree.fromstring(match.group(0))


def test_foreign_profile_is_unsupported_not_fatal_when_lenient(p: Pki) -> None:
    tree = load("status")
    header(tree).append(_foreign_signature())
    (report,) = verify_signatures(tree, p.trust)
    assert report.kind is SignatureKind.XMLDSIG
    assert report.signer_subject is not None
    assert "TUẤN" in report.signer_subject
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_unsupported"
    assert [f.code for f in verify_package(tree, p.trust).findings] == [
        "edxml.signature_unsupported"
    ]
    with pytest.raises(SignatureError, match="signature_unsupported"):
        verify_package(tree, p.trust, policy=STRICT)


def _garbage(p: Pki) -> list[tuple[str, str, str | None]]:
    """(label, content of a ds:Signature, expected failure code or None for placeholder)."""
    cert = "".join(p.agency_ec.cert.public_bytes(Encoding.PEM).decode().splitlines()[1:-1])
    key_info = f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>"
    key_info += "</ds:X509Data></ds:KeyInfo>"
    exc = "http://www.w3.org/2001/10/xml-exc-c14n#"
    inclusive = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

    def signed_info(
        method: str = "ecdsa-sha256",
        uri: str = "#MessageHeader",
        extra: str = "",
        transforms: tuple[str, ...] = (exc,),
        c14n: str = exc,
    ) -> str:
        steps = "".join(f'<ds:Transform Algorithm="{t}"/>' for t in transforms)
        return (
            f'<ds:SignedInfo>{extra}<ds:CanonicalizationMethod Algorithm="{c14n}"/>'
            f'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#{method}"/>'
            f'<ds:Reference URI="{uri}"><ds:Transforms>{steps}</ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
            "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        )

    def full(**kwargs: str | tuple[str, ...]) -> str:
        return signed_info(**kwargs) + "<ds:SignatureValue>AAAA</ds:SignatureValue>" + key_info  # type: ignore[arg-type]

    bad_cert = "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>!!!</ds:X509Certificate>"
    enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    return [
        ("text only", "garbage <b>inside</b>", None),
        ("bad certificate", bad_cert + "</ds:X509Data></ds:KeyInfo>", None),
        ("no SignedInfo", key_info, "edxml.signature_malformed"),
        ("bad value", full(), "edxml.signature_invalid"),
        ("sha1", full(method="rsa-sha1"), "edxml.signature_unsupported"),
        ("inclusive c14n", full(c14n=inclusive), "edxml.signature_unsupported"),
        ("inclusive transform", full(transforms=(inclusive,)), "edxml.signature_unsupported"),
        ("enveloped", full(transforms=(enveloped, exc)), "edxml.signature_unsupported"),
        ("no transform", full(transforms=()), "edxml.signature_unsupported"),
        ("whole document", full(uri=""), "edxml.signature_wrapping"),
        ("xpointer", full(uri="#xpointer(/)"), "edxml.signature_wrapping"),
        ("dangling", full(uri="#nowhere"), "edxml.signature_invalid"),
        ("schema", full(extra="<ds:Junk/>"), "edxml.signature_malformed"),
        ("no value", signed_info() + key_info, "edxml.signature_malformed"),
    ]


def test_garbage_signatures_never_crash(p: Pki) -> None:
    for label, content, code in _garbage(p):
        tree = load("status")
        one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader").set("Id", "MessageHeader")
        header(tree).append(
            etree.fromstring(f'<ds:Signature xmlns:ds="{DS}">{content}</ds:Signature>')
        )
        (report,) = verify_signatures(tree, p.trust)
        assert not report.valid, label
        if code is None:
            assert report.kind is SignatureKind.PLACEHOLDER, label
        else:
            assert report.kind is SignatureKind.XMLDSIG, label
            assert report.failure is not None
            assert report.failure.code == code, (label, report.failure)


def test_unreadable_input(p: Pki) -> None:
    # Bytes are parsed by edxml.safexml: its codes, with the position of the fault.
    with pytest.raises(XmlError) as raised:
        inspect_signatures((SAMPLES / "edoc.edxml").read_bytes())
    assert raised.value.line is not None
    with pytest.raises(XmlError):
        inspect_signatures(b'<!DOCTYPE edXML [<!ENTITY x "y">]><edXML>&x;</edXML>')
    with pytest.raises(FormatError, match="signature_not_package"):
        inspect_signatures(b"<other/>")
    with pytest.raises(TypeError):
        sign(b"<edXML/>", p.agency_ec.signing_key)  # type: ignore[arg-type]


# --- hub seals ---------------------------------------------------------------------------


def multi_hop(p: Pki) -> etree._Element:
    tree = roundtrip(signed("edoc_new", p.agency_rsa))
    seal(tree, p.hub_a.signing_key, "00.53.W00", at=dt.datetime(2024, 1, 1, 17, 30, tzinfo=dt.UTC))
    tree = roundtrip(tree)
    seal(tree, p.hub_b.signing_key, "00.41.W00")
    return roundtrip(tree)


def test_multi_hop_seals_keep_every_signature_valid(p: Pki) -> None:
    tree = multi_hop(p)

    reports = verify_signatures(tree, p.trust)

    assert [(r.kind.value, r.role, r.valid) for r in reports] == [
        ("placeholder", None, False),
        ("xmldsig", SignatureRole.SENDER, True),
        ("xmldsig", SignatureRole.SEAL, True),
        ("xmldsig", SignatureRole.SEAL, True),
    ]
    assert [r.signer_organ_id for r in reports[1:]] == ["000.00.00.A80", "00.53.W00", "00.41.W00"]
    assert reports[2].references == (
        "MessageHeader",
        "TraceHeader[1]",
        "TraceHeader[2]",
        "Bussiness",
        "edXMLBody",
        "AttachmentEncoded",
    )
    assert "TraceHeader[3]" in reports[3].references
    # TraceHeaders stay before Bussiness, hub timestamps are Vietnam local time.
    trace_list = one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList")
    assert [etree.QName(c).localname for c in trace_list] == [
        "TraceHeader",
        "TraceHeader",
        "TraceHeader",
        "Bussiness",
    ]
    assert [c.get("Id") for c in trace_list][:3] == [
        "TraceHeader-1",
        "TraceHeader-2",
        "TraceHeader-3",
    ]
    assert trace_list[1].findtext(f"{E}OrganId") == "00.53.W00"
    assert trace_list[1].findtext(f"{E}Timestamp") == "2024/01/02 00:30:00"
    assert trace_list[1].prefix == "edXML"
    result = verify_package(tree, p.trust, policy=STRICT)
    assert result.sender == reports[1]
    assert result.seals == (reports[2], reports[3])


@pytest.mark.parametrize(
    ("position", "valid"),
    [
        (0, [False, False, False]),  # the sender's TraceHeader: everything breaks
        (1, [True, False, False]),  # hub A's: A and B break, the sender stays valid
        (2, [True, True, False]),  # hub B's: only B breaks
    ],
)
def test_multi_hop_tampering_breaks_the_right_signatures(
    p: Pki, position: int, valid: list[bool]
) -> None:
    tree = multi_hop(p)
    trace_list = one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList")
    trace_list[position][1].text = "2030/01/01 00:00:00"
    reports = [r for r in verify_signatures(tree, p.trust) if r.kind is SignatureKind.XMLDSIG]
    assert [r.valid for r in reports] == valid
    assert {r.failure.code for r in reports if r.failure} == {"edxml.signature_invalid"}


def test_multi_hop_message_header_tampering_breaks_all(p: Pki) -> None:
    tree = multi_hop(p)
    _subject(tree)
    reports = [r for r in verify_signatures(tree, p.trust) if r.kind is SignatureKind.XMLDSIG]
    assert [r.valid for r in reports] == [False, False, False]


def test_trace_header_inserted_before_earlier_ones_is_detected(p: Pki) -> None:
    tree = multi_hop(p)
    trace_list = one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList")
    forged = copy.deepcopy(trace_list[0])
    del forged.attrib["Id"]
    trace_list.insert(0, forged)
    reports = [r for r in verify_signatures(tree, p.trust) if r.kind is SignatureKind.XMLDSIG]
    assert {r.failure.code for r in reports if r.failure} == {"edxml.signature_incomplete"}
    assert not any(r.valid for r in reports)


def test_unsealed_trace_header_appended_later_is_tolerated(p: Pki) -> None:
    # The national axis appends a TraceHeader without sealing (edxml.md §1.3).
    tree = multi_hop(p)
    trace_list = one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList")
    axis = copy.deepcopy(trace_list[0])
    del axis.attrib["Id"]
    trace_list.insert(3, axis)
    reports = verify_signatures(tree, p.trust)
    assert [r.valid for r in reports][1:] == [True, True, True]


def test_seal_on_status_package_creates_trace_header_list(p: Pki) -> None:
    tree = load("status_acceptance_03")
    seal(tree, p.hub_a.signing_key, "00.53.W00")
    children = [etree.QName(c).localname for c in header(tree)]
    assert children == ["MessageHeader", "TraceHeaderList", "Signature"]
    tree = roundtrip(tree)
    (report,) = verify_signatures(tree, p.trust)
    assert report.valid
    assert report.role is SignatureRole.SENDER  # the first real signature is the sender's
    assert report.references == ("MessageHeader", "TraceHeader[1]")


def test_seal_and_sign_refuse_misuse(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    with pytest.raises(ValueError, match="already carries"):
        sign(tree, p.agency_ec.signing_key)
    with pytest.raises(ValueError, match=r"certificate of 00\.53\.W00"):
        seal(tree, p.hub_a.signing_key, "00.41.W00")
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(tree, p.hub_a.signing_key, "00.53.W00", at=dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="does not belong"):
        SigningKey(p.agency_ec.key, p.hub_a.cert)


def test_seal_without_trace_header_is_incomplete(p: Pki) -> None:
    # A second real signature that does not cover a TraceHeader is not a seal.
    tree = signed("edoc_new", p.agency_rsa)
    craft(tree, p.hub_a, ["MessageHeader", "Bussiness", "edXMLBody", "AttachmentEncoded"])
    reports = verify_signatures(tree, p.trust)
    assert reports[-1].role is SignatureRole.SEAL
    assert reports[-1].failure is not None
    assert reports[-1].failure.code == "edxml.signature_incomplete"


def test_reference_count_is_pinned_in_signxml(p: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: even if our own reference check miscounted, signxml must refuse.
    import edxml.signature as module

    tree = signed("status", p.agency_ec)
    real = module._check_references
    monkeypatch.setattr(module, "_check_references", lambda *a: real(*a) + 1)
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_invalid"
    assert "references" in report.failure.message_en


# --- signature wrapping ------------------------------------------------------------------


def craft(tree: etree._Element, who: pki.Issued, ids: list[str]) -> etree._Element:
    """A cryptographically valid signature over exactly ``ids``, made with signxml directly."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    sig = signer.sign(
        tree, key=who.key, cert=[who.cert, *who.chain], reference_uri=ids, id_attribute="Id"
    )
    header(tree).append(sig)
    return sig


def test_moved_message_header_with_forgery_in_place(p: Pki) -> None:
    tree = signed("edoc_new", p.agency_rsa)
    original = one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader")
    forged = copy.deepcopy(original)
    del forged.attrib["Id"]
    forged.find(f"{E}Subject").text = "Văn bản giả mạo"  # type: ignore[union-attr]
    original.addprevious(forged)
    etree.SubElement(one(tree, "edXMLEnvelope"), f"{E}Wrapper").append(original)
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"
    assert "outside its expected place" in report.failure.message_en


def test_moved_message_header_into_the_signature(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    original = one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader")
    forged = copy.deepcopy(original)
    del forged.attrib["Id"]
    original.addprevious(forged)
    etree.SubElement(header(tree)[-1], f"{{{DS}}}Object").append(original)
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"


def test_forgery_keeping_the_id_is_a_duplicate(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    original = one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader")
    forged = copy.deepcopy(original)
    original.addprevious(forged)
    etree.SubElement(one(tree, "edXMLEnvelope"), f"{E}Wrapper").append(original)
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"


def test_duplicate_id_anywhere_fails(p: Pki) -> None:
    tree = signed("edoc_new", p.agency_rsa)
    etree.SubElement(one(tree, "edXMLEnvelope"), f"{E}Extra", Id="AttachmentEncoded")
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"
    assert "not a unique" in report.failure.message_en


def test_duplicate_message_header_fails_and_refuses_signing(p: Pki) -> None:
    tree = signed("status", p.agency_ec)
    mh = one(tree, "edXMLEnvelope/edXMLHeader/MessageHeader")
    mh.addnext(etree.Element(f"{E}MessageHeader"))
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"
    with pytest.raises(SignatureError, match="signature_wrapping"):
        seal(tree, p.hub_a.signing_key, "00.53.W00")


def test_reference_outside_the_expected_set(p: Pki) -> None:
    tree = load("edoc_new")
    one(tree, "edXMLEnvelope/edXMLHeader/TraceHeaderList").set("Id", "list")
    for path, value in [
        ("edXMLEnvelope/edXMLHeader/MessageHeader", "MessageHeader"),
        ("edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness", "Bussiness"),
        ("edXMLEnvelope/edXMLBody", "edXMLBody"),
        ("AttachmentEncoded", "AttachmentEncoded"),
    ]:
        one(tree, path).set("Id", value)
    craft(
        tree, p.agency_ec, ["MessageHeader", "list", "Bussiness", "edXMLBody", "AttachmentEncoded"]
    )
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_wrapping"
    assert "TraceHeaderList" in report.failure.message_en


def test_signature_must_cover_attachments(p: Pki) -> None:
    tree = load("edoc_new")
    for path, value in [
        ("edXMLEnvelope/edXMLHeader/MessageHeader", "MessageHeader"),
        ("edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness", "Bussiness"),
        ("edXMLEnvelope/edXMLBody", "edXMLBody"),
    ]:
        one(tree, path).set("Id", value)
    craft(tree, p.agency_ec, ["MessageHeader", "Bussiness", "edXMLBody"])
    report = only_real(tree, p)
    assert report.failure is not None
    assert report.failure.code == "edxml.signature_incomplete"
    assert "AttachmentEncoded" in report.failure.message_en


def test_crafted_signature_with_the_expected_set_is_valid(p: Pki) -> None:
    # Control for the two tests above: the same construction over the right set verifies.
    tree = load("edoc_new")
    sign(tree, p.agency_rsa.signing_key)
    header(tree).remove(header(tree)[-1])
    craft(
        tree,
        p.agency_ec,
        ["MessageHeader", "TraceHeader-1", "Bussiness", "edXMLBody", "AttachmentEncoded"],
    )
    assert only_real(tree, p).valid


# --- certs/dev ---------------------------------------------------------------------------

DEV_AGENCIES = {
    "000.00.00.G22": "Văn phòng Chính phủ",
    "000.00.00.H41": "UBND tỉnh Nghệ An",
    "000.00.00.H14": None,
    "000.00.00.A80": None,
    "000.00.31.H53": "UBND huyện Bến Cầu",
    "000.21.31.H53": "UBND xã An Thạnh",
}


@pytest.fixture(scope="module")
def dev_trust() -> TrustStore:
    if not (DEV / "ca.crt").exists():
        pytest.fail("certs/dev is missing: run python certs/dev/generate.py")
    return TrustStore.from_files([DEV / "ca.crt"], [DEV / "ca.crl"])


def test_dev_certificates_are_marked_and_chain(dev_trust: TrustStore) -> None:
    (ca,) = dev_trust.anchors
    assert is_development_certificate(ca)
    for organ_id, agency in DEV_AGENCIES.items():
        (cert,) = load_certificates((DEV / f"agency-{organ_id}.crt").read_bytes())
        assert certificate_organ_id(cert) == organ_id
        assert is_development_certificate(cert)
        if agency is not None:
            assert agency in cert.subject.rfc4514_string()
        assert dev_trust.validate([cert])[-1] == ca
        assert cert.not_valid_after_utc - cert.not_valid_before_utc >= dt.timedelta(days=3650)
    assert not is_development_certificate(pki.make_ca("prod", org="Ban Cơ yếu Chính phủ").cert)


def test_dev_gateway_certificate_signs_and_serves_tls(dev_trust: TrustStore) -> None:
    key = SigningKey.from_pem_files(DEV / "gateway.key", DEV / "gateway.crt")
    assert key.organ_id == "00.53.W00"
    san = key.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1"}
    tree = load("edoc_new")
    sign(
        tree,
        SigningKey.from_pem_files(
            DEV / "agency-000.00.00.A80.key", DEV / "agency-000.00.00.A80.crt"
        ),
    )
    seal(tree, key, "00.53.W00")
    result = verify_package(roundtrip(tree), dev_trust, policy=STRICT)
    assert [r.signer_organ_id for r in result.reports if r.valid] == ["000.00.00.A80", "00.53.W00"]


def test_dev_crl_revokes_the_revoked_dev_certificate(dev_trust: TrustStore) -> None:
    (crl,) = load_crls((DEV / "ca.crl").read_bytes())
    (cert,) = load_certificates((DEV / "revoked.crt").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    with pytest.raises(SignatureError, match="certificate_revoked"):
        dev_trust.validate([cert])


# --- our single-pass verifier against signxml's ----------------------------------------


@pytest.mark.parametrize("signer", ["agency_rsa", "agency_ec"])
@pytest.mark.parametrize("tamper", [None, _subject, _payload, _business])
def test_verifier_agrees_with_signxml(p: Pki, signer: str, tamper: object) -> None:
    """edxml.signature writes and checks XMLDSig itself (signxml re-parses the document per
    reference); signxml, an independent implementation, must reach the same verdict."""
    tree = signed("edoc_update", getattr(p, signer))
    if tamper is not None:
        tamper(tree)  # type: ignore[operator]
    ours = only_real(tree, p).valid
    index = only_real(tree, p).index
    try:
        cross_check(tree, index)
        theirs = True
    except SignatureError:
        theirs = False
    assert ours == theirs == (tamper is None)


def test_signxml_verifies_every_hop(p: Pki) -> None:
    tree = signed("edoc_new", p.agency_rsa)
    seal(tree, p.hub_a.signing_key, certificate_organ_id(p.hub_a.cert) or "")
    seal(tree, p.hub_b.signing_key, certificate_organ_id(p.hub_b.cert) or "")
    reports = [r for r in verify_signatures(tree, p.trust) if r.kind is SignatureKind.XMLDSIG]
    assert [r.valid for r in reports] == [True, True, True]
    for report in reports:
        cross_check(tree, report.index)  # raises if signxml disagrees
