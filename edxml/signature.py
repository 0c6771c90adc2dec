"""Sign, seal and verify edXML packages with detached XML signatures (architecture.md §5).

Design (the invariants a receiver can rely on)
-----------------------------------------------

- **Shape.** Every signature is a *detached* XMLDSig ``ds:Signature``
  (``http://www.w3.org/2000/09/xmldsig#``) appended to ``edXMLHeader`` after
  ``TraceHeaderList`` and after any signature already there. Its References point at
  ``Id``-attributed elements of the package; it never covers itself or another signature.
- **Algorithms.** Exclusive c14n (``http://www.w3.org/2001/10/xml-exc-c14n#``) for SignedInfo and
  for every reference: signxml's default inclusive c14n 1.1 stops verifying once the signature
  sits inside the edXML default-namespace context. RSA-SHA256 for RSA keys, ECDSA-SHA256 for
  P-256 keys (SHA-384 for P-384); SHA-256 digests; ``KeyInfo/X509Data`` carries the signing
  certificate first, then any intermediates.
- **What a sender signature covers** (:func:`sign`): ``MessageHeader``, every ``TraceHeader``
  present at signing time, ``Bussiness``, ``edXMLBody`` and ``AttachmentEncoded`` (each when
  present). **A hub seal** (:func:`seal`) first appends a ``TraceHeader`` (the hub's OrganId and
  ``yyyy/MM/dd HH:mm:ss`` Asia/Ho_Chi_Minh time) after the last existing TraceHeader, so
  TraceHeaders stay before ``Bussiness`` as in the official samples, then signs the same set
  plus its new TraceHeader. A status package has no TraceHeaderList: a seal creates one right
  after ``MessageHeader``. Signatures reference individual TraceHeaders, never the
  TraceHeaderList container: a later hop that appends a TraceHeader and its own seal leaves
  every earlier signature valid, while changing or removing an earlier TraceHeader, the
  MessageHeader, Bussiness, the body or the attachments breaks them.
- **Ids.** Plain unqualified ``Id`` attributes, added at signing time where missing:
  ``MessageHeader``, ``TraceHeader-1``, ``TraceHeader-2``…, ``Bussiness``, ``edXMLBody``,
  ``AttachmentEncoded`` (suffixed ``-2``, ``-3``… if the value is taken). An existing ``Id`` is
  kept. Ids must be unique in the whole document; a duplicate fails verification.
- **Verification of signature n** runs signxml on the document (a copy without the other
  ``ds:Signature`` elements when there are several; they lie outside every referenced element)
  with the signature location pinned to ``edXMLHeader`` and the number of references pinned
  (``expect_references``). Before that, each reference must resolve to exactly one element, at
  its expected position (MessageHeader under edXMLEnvelope/edXMLHeader, TraceHeader and
  Bussiness under its TraceHeaderList, edXMLBody under edXMLEnvelope, AttachmentEncoded under
  the root); each required part present in the package must be covered (MessageHeader,
  Bussiness, edXMLBody, AttachmentEncoded) and the covered TraceHeaders must be the first *k*.
  Moving a signed element and planting a forged one in its place, duplicate Ids, or references
  to anything else therefore fail (signature wrapping), as does content added after signing.
- **Trust** (:mod:`edxml.trust`): the signing certificate must chain to a trusted CA, be within
  its validity period at the verification time, allow digitalSignature/nonRepudiation and not
  be revoked by a CRL of its issuer. The organ id is read from the subject's serialNumber.
- **Kinds and roles.** Children of ``edXMLHeader`` named ``Signature`` or ``DigitalSignature``
  are signatures, numbered from 1 in document order. An empty one is ``empty`` (the .NET SDK's
  ``<edXML:DigitalSignature/>``); one outside the XMLDSig namespace, carrying the samples' static
  DigestValue ``FwgIqsSYJshUS2+wlOM61L+q7Aw=`` or without a decodable certificate is a
  ``placeholder``; the rest are ``xmldsig``. The first xmldsig signature is the sender's, later
  ones are seals. (A hub sealing an unsigned package therefore appears as the sender: compare
  ``signer_organ_id`` with ``MessageHeader/From`` through the directory.)
- **Policy** (:class:`SignaturePolicy`): ``strict`` needs a valid sender signature and every
  xmldsig signature valid; ``lenient`` rejects only real signatures that fail (tampering,
  wrapping, untrusted certificate) and records placeholders, absence and signatures in an
  unsupported profile as findings; ``off`` checks nothing.

Inputs: :func:`sign` and :func:`seal` change an lxml tree in place; the other functions take an
element, an ElementTree or bytes (parsed by :mod:`edxml.safexml`). Pass the tree you already
have: serialising and re-parsing a 367 KB package costs as much as the XML work itself.

Known limit: a node that re-serialises the package (the national axis drops unknown attributes)
removes the ``Id`` attributes and so invalidates the signatures; verify before such a hop.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from edxml.errors import Code, FormatError, Issue, Severity, SignatureError, define
from edxml.model import VN_TZ
from edxml.safexml import parse_xml
from edxml.trust import (
    SigningKey,
    TrustStore,
    certificate_organ_id,
    fingerprint,
    is_development_certificate,
    subject_text,
)

__all__ = [
    "PLACEHOLDER_DIGEST",
    "SIGNATURE_INCOMPLETE",
    "SIGNATURE_INVALID",
    "SIGNATURE_MALFORMED",
    "SIGNATURE_MISSING",
    "SIGNATURE_NOT_PACKAGE",
    "SIGNATURE_PLACEHOLDER",
    "SIGNATURE_UNSUPPORTED",
    "SIGNATURE_WRAPPING",
    "SignatureInfo",
    "SignatureKind",
    "SignaturePolicy",
    "SignatureReport",
    "SignatureRole",
    "SigningKey",
    "TrustStore",
    "VerificationResult",
    "cross_check",
    "inspect_signatures",
    "is_development_certificate",
    "seal",
    "sign",
    "verify_package",
    "verify_signatures",
]

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
#: DigestValue of the static placeholder signature in every official VPCP sample (edxml.md §1.5).
PLACEHOLDER_DIGEST = "FwgIqsSYJshUS2+wlOM61L+q7Aw="
_SIGNATURE_METHODS = frozenset(
    f"{_MORE}{kind}-sha{bits}" for kind in ("rsa", "ecdsa") for bits in (256, 384, 512)
)
_DIGESTS = frozenset({_SHA256, f"{_MORE}sha384", "http://www.w3.org/2001/04/xmlenc#sha512"})

SIGNATURE_MISSING = define(
    "edxml.signature_missing",
    "Gói tin không có chữ ký số nào trong edXMLHeader",
    "The package carries no signature in edXMLHeader",
)
SIGNATURE_PLACEHOLDER = define(
    "edxml.signature_placeholder",
    "Chữ ký số thứ {index} không phải chữ ký thật (loại {kind}), không thể kiểm tra",
    "Signature {index} is not a real signature (kind {kind}) and cannot be verified",
)
SIGNATURE_INVALID = define(
    "edxml.signature_invalid",
    "Chữ ký số thứ {index} không hợp lệ: gói tin đã bị sửa sau khi ký hoặc chữ ký bị giả mạo "
    "({reason})",
    "Signature {index} is invalid: the package was changed after signing or the signature is "
    "forged ({reason})",
)
SIGNATURE_WRAPPING = define(
    "edxml.signature_wrapping",
    "Chữ ký số thứ {index} tham chiếu phần tử sai vị trí, trùng Id hoặc ngoài phạm vi cho phép "
    "({reason}); nghi tấn công bọc chữ ký",
    "Signature {index} references a misplaced, duplicated or unexpected element ({reason}); "
    "possible signature wrapping",
)
SIGNATURE_INCOMPLETE = define(
    "edxml.signature_incomplete",
    "Chữ ký số thứ {index} không bao phủ phần tử bắt buộc {element}",
    "Signature {index} does not cover the required element {element}",
)
SIGNATURE_MALFORMED = define(
    "edxml.signature_malformed",
    "Chữ ký số thứ {index} không đúng cấu trúc XMLDSig ({reason})",
    "Signature {index} is not well-formed XMLDSig ({reason})",
)
SIGNATURE_UNSUPPORTED = define(
    "edxml.signature_unsupported",
    "Chữ ký số thứ {index} dùng thuật toán hoặc cách ký không được hỗ trợ ({reason})",
    "Signature {index} uses an unsupported algorithm or signing profile ({reason})",
)
SIGNATURE_NOT_PACKAGE = define(
    "edxml.signature_not_package",
    "Không thể ký hoặc kiểm tra chữ ký: gói tin edXML thiếu {element}",
    "Cannot sign or verify: the edXML package lacks {element}",
)
Tree = etree._Element | etree._ElementTree
Document = Tree | bytes
_Index = dict[str, list[etree._Element]]


class SignatureKind(enum.StrEnum):
    XMLDSIG = "xmldsig"
    PLACEHOLDER = "placeholder"
    EMPTY = "empty"


class SignatureRole(enum.StrEnum):
    SENDER = "sender"
    SEAL = "seal"


class SignaturePolicy(enum.StrEnum):
    """How much signature a package needs (architecture.md §5); a per-peer setting."""

    STRICT = "strict"
    LENIENT = "lenient"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What a signature says about itself, without any trust decision.

    ``index`` counts the Signature/DigitalSignature children of edXMLHeader from 1;
    ``references`` names the covered elements (``MessageHeader``, ``TraceHeader[1]``, …, or the
    raw URI when it does not resolve to a signable part). Certificate fields are ``None`` for
    placeholders; ``signer_organ_id`` is the subject's serialNumber.
    """

    index: int
    kind: SignatureKind
    role: SignatureRole | None = None
    signer_subject: str | None = None
    signer_organ_id: str | None = None
    fingerprint: str | None = None
    not_after: dt.datetime | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignatureReport(SignatureInfo):
    """:class:`SignatureInfo` plus the verdict; ``failure`` says why ``valid`` is False."""

    valid: bool = False
    failure: Issue | None = None


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """An accepted package's signatures: every report, and the non-fatal findings."""

    policy: SignaturePolicy
    reports: tuple[SignatureReport, ...] = ()
    findings: tuple[Issue, ...] = ()

    @property
    def sender(self) -> SignatureReport | None:
        """The valid sender signature, if any."""
        return next((r for r in self.reports if r.role is SignatureRole.SENDER and r.valid), None)

    @property
    def seals(self) -> tuple[SignatureReport, ...]:
        return tuple(r for r in self.reports if r.role is SignatureRole.SEAL)


# --- public operations -------------------------------------------------------------------


def sign(doc: Tree, key: SigningKey) -> None:
    """Add the sender's signature to ``doc`` in place (Ids are added where missing)."""
    layout = _layout(_tree_root(doc))
    if any(_classify(el)[0] is SignatureKind.XMLDSIG for el in layout.signatures):
        raise ValueError("the package already carries an XML signature: use seal() to add one")
    index = _id_index(layout.root)
    _refuse_duplicates(layout, index=index)
    _sign_layout(layout, key, index)


def seal(doc: Tree, key: SigningKey, organ_id: str, at: dt.datetime | None = None) -> None:
    """Append the hub's TraceHeader (``organ_id``, time ``at``) and seal ``doc`` in place."""
    if key.organ_id not in (None, organ_id):
        raise ValueError(f"sealing as {organ_id} with the certificate of {key.organ_id}")
    stamp = _aware(at or dt.datetime.now(VN_TZ)).astimezone(VN_TZ).strftime("%Y/%m/%d %H:%M:%S")
    root = _tree_root(doc)
    layout = _layout(root)
    index = _id_index(root)
    _refuse_duplicates(layout, index=index)  # before anything is changed
    trace_list = layout.trace_list
    if trace_list is None:  # status packages have none (edxml.md §2.1): add it after the header
        trace_list = _new_child(layout.header, layout.message_header, "TraceHeaderList")
        trace_list.text = layout.message_header.tail
    after = layout.trace_headers[-1] if layout.trace_headers else None
    trace_header = _new_child(trace_list, after, "TraceHeader")  # before Bussiness if first
    for name, text in (("OrganId", organ_id), ("Timestamp", stamp)):
        child = _new_child(trace_header, None if len(trace_header) == 0 else trace_header[-1], name)
        child.text = text
    if after is not None:  # copy the sample's indentation
        trace_header.text = after.text
        for new, old in zip(trace_header, after, strict=False):
            new.tail = old.tail
    _sign_layout(_layout(root), key, index)  # the TraceHeader added no Id


def inspect_signatures(doc: Document) -> tuple[SignatureInfo, ...]:
    """Classify every signature of ``doc`` and read its certificate; no trust decision."""
    root = _root(doc)
    return tuple(info for info, _, _ in _inspect(_layout(root), _id_index(root)))


def verify_signatures(
    doc: Document, trust: TrustStore, at: dt.datetime | None = None
) -> tuple[SignatureReport, ...]:
    """Verify every signature of ``doc``; never raises for a bad signature, only reports it."""
    when = _aware(at) if at is not None else None
    root = _root(doc)
    layout, index = _layout(root), _id_index(root)
    reports = []
    for info, el, certs in _inspect(layout, index):
        failure: Issue | None
        if info.kind is not SignatureKind.XMLDSIG:
            failure = Issue.of(SIGNATURE_PLACEHOLDER, index=info.index, kind=info.kind.value)
        else:
            try:
                _verify_one(layout, index, el, info, certs)
                trust.validate(certs, when)
                failure = None
            except SignatureError as exc:
                failure = exc.issue
        if failure is not None:
            failure = dataclasses.replace(failure, path=_path(el), line=_line(el))
        fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(SignatureInfo)}
        reports.append(SignatureReport(**fields, valid=failure is None, failure=failure))
    return tuple(reports)


def verify_package(
    doc: Document,
    trust: TrustStore,
    *,
    policy: SignaturePolicy = SignaturePolicy.LENIENT,
    at: dt.datetime | None = None,
) -> VerificationResult:
    """Apply ``policy``; raises :class:`SignatureError` carrying every error when rejected."""
    if policy is SignaturePolicy.OFF:
        return VerificationResult(policy)
    strict = policy is SignaturePolicy.STRICT
    reports = verify_signatures(doc, trust, at)
    real = any(r.kind is SignatureKind.XMLDSIG for r in reports)
    errors: list[Issue] = []
    findings: list[Issue] = []
    for report in reports:
        if report.failure is None:
            continue
        if report.kind is SignatureKind.XMLDSIG:
            # A real signature that fails is tampering or forgery whatever the policy; one we
            # cannot check (foreign profile, SHA-1) is no better than a placeholder.
            fatal = strict or report.failure.code != SIGNATURE_UNSUPPORTED.code
        else:  # placeholders count against a package only when nothing real was signed
            fatal = strict and not real
        (errors if fatal else findings).append(report.failure)
    if not reports:
        (errors if strict else findings).append(Issue.of(SIGNATURE_MISSING, "edXMLHeader"))
    if errors:
        raise SignatureError(errors[0], issues=tuple(errors))
    warnings = tuple(dataclasses.replace(i, severity=Severity.WARNING) for i in findings)
    return VerificationResult(policy, reports, warnings)


# --- package layout and Ids --------------------------------------------------------------


@dataclass(slots=True)
class _Layout:
    """The elements of a package that signatures care about, found by local name."""

    root: etree._Element
    envelope: etree._Element
    header: etree._Element
    message_header: etree._Element
    trace_list: etree._Element | None
    trace_headers: list[etree._Element]
    bussiness: etree._Element | None
    body: etree._Element | None
    attachments: etree._Element | None
    signatures: list[etree._Element]
    duplicates: list[str]

    def parts(self) -> list[tuple[etree._Element, str, str]]:
        """Signable parts in document order: (element, report name, Id it would get)."""
        parts = [(self.message_header, "MessageHeader", "MessageHeader")]
        parts += [
            (th, f"TraceHeader[{i}]", f"TraceHeader-{i}")
            for i, th in enumerate(self.trace_headers, 1)
        ]
        for el, name in (
            (self.bussiness, "Bussiness"),
            (self.body, "edXMLBody"),
            (self.attachments, "AttachmentEncoded"),
        ):
            if el is not None:
                parts.append((el, name, name))
        return parts

    def required(self) -> list[etree._Element]:
        """Parts every signature must cover when present (TraceHeaders are checked apart)."""
        parts = (self.message_header, self.bussiness, self.body, self.attachments)
        return [el for el in parts if el is not None]

    def name_of(self, el: etree._Element) -> str | None:
        """How reports call a signable part; None for any other element, wherever it sits."""
        return next((name for part, name, _ in self.parts() if part is el), None)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(parent: etree._Element | None, *names: str) -> list[etree._Element]:
    return [] if parent is None else [c for c in parent if _local(c.tag) in names]


def _layout(root: etree._Element) -> _Layout:
    duplicates: list[str] = []

    def one(parent: etree._Element | None, *names: str) -> etree._Element | None:
        found = _children(parent, *names)
        if len(found) > 1:
            duplicates.append(names[0])
        return found[0] if found else None

    if _local(root.tag) != "edXML":
        raise FormatError(SIGNATURE_NOT_PACKAGE, _local(root.tag), element="edXML (root)")
    envelope = one(root, "edXMLEnvelope")
    header = one(envelope, "edXMLHeader")
    message_header = one(header, "MessageHeader")
    if envelope is None or header is None or message_header is None:
        raise FormatError(SIGNATURE_NOT_PACKAGE, "edXML", element="edXMLHeader/MessageHeader")
    trace_list = one(header, "TraceHeaderList")
    return _Layout(
        root=root,
        envelope=envelope,
        header=header,
        message_header=message_header,
        trace_list=trace_list,
        trace_headers=_children(trace_list, "TraceHeader"),
        bussiness=one(trace_list, "Bussiness", "Business"),
        body=one(envelope, "edXMLBody"),
        attachments=one(root, "AttachmentEncoded"),
        signatures=_children(header, "Signature", "DigitalSignature"),
        duplicates=duplicates,
    )


def _id_index(root: etree._Element) -> _Index:
    """Every ``Id`` value in the document, matched as signxml does (``local-name() = 'Id'``)."""
    index: _Index = {}
    found = cast(list[Any], _ID_ATTRIBUTES(root))  # attribute values, in document order
    for attribute in found:
        index.setdefault(str(attribute), []).append(attribute.getparent())
    return index


#: Every attribute named Id in any namespace (libxml2 walks the tree, not Python).
_ID_ATTRIBUTES = etree.XPath("//@*[local-name() = 'Id']")


def _refuse_duplicates(
    layout: _Layout, number: int | None = None, index: _Index | None = None
) -> None:
    """Two MessageHeaders (or, with ``index``, two elements with a part's Id) make "the" signed
    element ambiguous: never sign or accept such a package."""
    number = number or len(layout.signatures) + 1  # when signing: the signature to be added
    if layout.duplicates:
        reason = f"duplicate {', '.join(layout.duplicates)}"
        raise _error(SIGNATURE_WRAPPING, number, reason=reason)
    for el, _, _ in layout.parts():
        value = el.get("Id")
        if index is not None and value is not None and len(index.get(value, ())) > 1:
            raise _error(SIGNATURE_WRAPPING, number, reason=f"Id {value} occurs twice")


def _new_child(parent: etree._Element, after: etree._Element | None, name: str) -> etree._Element:
    """A new element in ``parent``'s namespace, right after ``after`` (or first)."""
    ns = etree.QName(parent).namespace
    el = parent.makeelement(f"{{{ns}}}{name}" if ns else name)
    parent.insert(0 if after is None else parent.index(after) + 1, el)
    el.tail = parent.text if after is None else after.tail
    return el


def _sign_layout(layout: _Layout, key: SigningKey, index: _Index) -> None:
    """Give the parts their Ids and append a signature over them.

    ``index`` holds the document's Ids as they are; _refuse_duplicates has made sure that no
    part shares its Id with another element, so each part is what its Id references, and a
    new Id is one nobody has.
    """
    taken: set[str] = set(index)
    parts = []
    for el, _, wanted in layout.parts():
        value = el.get("Id")
        if value is None:
            value, n = wanted, 2
            while value in taken:
                value, n = f"{wanted}-{n}", n + 1
            el.set("Id", value)
            taken.add(value)
        parts.append((value, el))
    signature = _make_signature(parts, key)
    # After TraceHeaderList and any earlier signature (or MessageHeader in a status package).
    header = layout.header
    before = [layout.message_header, *layout.signatures]
    before += [layout.trace_list] if layout.trace_list is not None else []
    last = header[max(header.index(el) for el in before)]
    header.insert(header.index(last) + 1, signature)
    signature.tail = last.tail
    if header.text is not None and not header.text.strip():
        last.tail = header.text  # keep the samples' indentation


def _ds(parent: etree._Element, name: str, algorithm: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{DS}}}{name}")
    if algorithm is not None:
        el.set("Algorithm", algorithm)
    return el


def _make_signature(targets: list[tuple[str, etree._Element]], key: SigningKey) -> etree._Element:
    """A detached ds:Signature over ``targets`` in our profile, each element c14n'd once.

    The mirror image of :func:`_check_digests_and_value`. Not signxml's signer: it serialises
    and re-parses the whole document before resolving each reference (≈1.3 ms of Python per
    seal at 10 KiB, and a failure on the >10 MB text nodes of large scans); see
    :func:`cross_check` for signxml's independent verdict on what this writes.
    """
    private = key.key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        bits = {256: 256, 384: 384}[private.curve.key_size]
        method, algorithm = f"{_MORE}ecdsa-sha{bits}", _HASHES[f"sha{bits}"][1]
    else:
        method, algorithm = f"{_MORE}rsa-sha256", hashes.SHA256
    sig = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = _ds(sig, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", EXC_C14N)
    _ds(signed_info, "SignatureMethod", method)
    for id_value, element in targets:
        ref = _ds(signed_info, "Reference")
        ref.set("URI", f"#{id_value}")
        _ds(_ds(ref, "Transforms"), "Transform", EXC_C14N)
        _ds(ref, "DigestMethod", _SHA256)
        digest = hashlib.sha256(_c14n(element, None)).digest()
        _ds(ref, "DigestValue").text = base64.b64encode(digest).decode("ascii")
    data = _c14n(signed_info, None)  # exclusive c14n: the same bytes once inserted
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s_ = decode_dss_signature(private.sign(data, ec.ECDSA(algorithm())))
        size = (private.curve.key_size + 7) // 8
        raw = r.to_bytes(size) + s_.to_bytes(size)  # XMLDSig ECDSA is r || s (RFC 4050)
    else:
        raw = private.sign(data, padding.PKCS1v15(), algorithm())
    _ds(sig, "SignatureValue").text = base64.b64encode(raw).decode("ascii")
    x509_data = _ds(_ds(sig, "KeyInfo"), "X509Data")
    for cert in (key.certificate, *key.chain):
        _ds(x509_data, "X509Certificate").text = _certificate_text(cert)
    return sig


@functools.lru_cache(maxsize=64)
def _certificate_text(cert: x509.Certificate) -> str:
    """The base64 of a certificate's DER, as KeyInfo carries it (the hub's, every seal)."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def cross_check(doc: Document, number: int) -> None:
    """Verify signature ``number`` (from 1) with signxml, an independent XMLDSig implementation.

    A second opinion for interoperability questions ("is it their signature or our
    verifier?"): cryptography only, no trust decision. Raises :class:`SignatureError`.
    """
    from signxml.verifier import SignatureConfiguration, XMLVerifier  # slow: only on demand

    root = copy.deepcopy(_root(doc))
    layout = _layout(root)
    infos = list(_inspect(layout, _id_index(root)))
    mine = [el for info, el, _ in infos if info.index == number]
    certs = [c for info, _, c in infos if info.index == number]
    if not mine or not certs or not certs[0]:
        raise _error(SIGNATURE_MALFORMED, number, reason="no such XMLDSig signature")
    for other in list(layout.signatures):
        if other is not mine[0] and other.tag == mine[0].tag:
            layout.header.remove(other)
    count = len(mine[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"))
    config = SignatureConfiguration(
        location=f"./{layout.envelope.tag}/{layout.header.tag}/",
        expect_references=count,
        verification_time=certs[0][0].not_valid_before_utc,
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    with _crypto_errors(number):  # huge_tree: signxml's default parser refuses >10 MB texts
        XMLVerifier().verify(
            root, x509_cert=certs[0][0], expect_config=config, id_attribute="Id", parser=parser
        )


# --- inspection --------------------------------------------------------------------------


def _classify(el: etree._Element) -> tuple[SignatureKind, tuple[x509.Certificate, ...]]:
    if len(el) == 0 and not (el.text or "").strip():
        return SignatureKind.EMPTY, ()
    if el.tag != f"{{{DS}}}Signature":
        return SignatureKind.PLACEHOLDER, ()
    if any((d.text or "").strip() == PLACEHOLDER_DIGEST for d in el.iter(f"{{{DS}}}DigestValue")):
        return SignatureKind.PLACEHOLDER, ()
    texts = [
        "".join((c.text or "").split())
        for c in el.iterfind(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    ]
    try:
        certs = tuple(_certificate(t) for t in texts)
    except ValueError:  # binascii.Error too: the samples' truncated "MIIFqTCCBJG"
        return SignatureKind.PLACEHOLDER, ()
    return (SignatureKind.XMLDSIG, certs) if certs else (SignatureKind.PLACEHOLDER, ())


@functools.lru_cache(maxsize=512)
def _certificate(text: str) -> x509.Certificate:
    """A KeyInfo certificate from its base64 text: the same few agency and hub certificates
    come with every package, parsed once (a bad one raises every time: not cached)."""
    return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))


@functools.lru_cache(maxsize=512)
def _signer_facts(cert: x509.Certificate) -> tuple[str, str | None, str, dt.datetime]:
    """Subject, organ id, fingerprint and end of validity of a signing certificate."""
    return (
        subject_text(cert),
        certificate_organ_id(cert),
        fingerprint(cert),
        cert.not_valid_after_utc,
    )


def _reference_uris(signature: etree._Element) -> list[str]:
    refs = signature.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    return [r.get("URI") or "" for r in refs]


def _inspect(
    layout: _Layout, index: _Index
) -> Iterator[tuple[SignatureInfo, etree._Element, tuple[x509.Certificate, ...]]]:
    role: SignatureRole | None = None
    for number, el in enumerate(layout.signatures, 1):
        kind, certs = _classify(el)
        if kind is not SignatureKind.XMLDSIG:
            yield SignatureInfo(number, kind), el, certs
            continue
        role = SignatureRole.SENDER if role is None else SignatureRole.SEAL
        names = []
        for uri in _reference_uris(el):
            found = index.get(uri[1:], []) if uri.startswith("#") else []
            names.append((layout.name_of(found[0]) if len(found) == 1 else None) or uri)
        subject, organ_id, print_, not_after = _signer_facts(certs[0])
        info = SignatureInfo(number, kind, role, subject, organ_id, print_)
        info = dataclasses.replace(info, not_after=not_after, references=tuple(names))
        yield info, el, certs


def _path(el: etree._Element) -> str:
    return f"edXML/edXMLEnvelope/edXMLHeader/{_local(el.tag)}"


def _line(el: etree._Element) -> int | None:
    line: object = el.sourceline  # lxml-stubs type it loosely
    return line if isinstance(line, int) else None


# --- verification ------------------------------------------------------------------------


def _error(code: Code, number: int, **params: object) -> SignatureError:
    vi, en = code.render(index=number, **params)
    return SignatureError(Issue(code.code, vi, en))


def _verify_one(
    layout: _Layout,
    index: _Index,
    signature: etree._Element,
    info: SignatureInfo,
    certs: tuple[x509.Certificate, ...],
) -> None:
    """Raise SignatureError unless ``signature`` is well placed and cryptographically intact."""
    number = info.index
    _refuse_duplicates(layout, number)
    _check_profile(signature, number)
    expected = _check_references(layout, index, _reference_uris(signature), number, info.role)
    count = len(signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"))
    if count != expected:  # defence in depth: the check above already accounts for each one
        raise _error(
            SIGNATURE_INVALID, number, reason=f"{count} references where {expected} were expected"
        )
    with _crypto_errors(number):
        _check_digests_and_value(signature, index, certs[0], number)


# Hash functions by the XMLDSig algorithm URI suffix; only those our profile admits.
_HASHES: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "sha256": ("sha256", hashes.SHA256),
    "sha384": ("sha384", hashes.SHA384),
    "sha512": ("sha512", hashes.SHA512),
}


def _c14n(el: etree._Element, transform: etree._Element | None) -> bytes:
    """Exclusive c14n of one element in its document context (no comments)."""
    prefixes = None
    if transform is not None:
        inc = transform.find("{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces")
        if inc is not None:
            prefixes = (inc.get("PrefixList") or "").split() or None
    return bytes(
        etree.tostring(
            el, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes
        )
    )


def _hash_of(uri: str | None) -> tuple[str, type[hashes.HashAlgorithm]]:
    # "...#sha256", "...#rsa-sha256", "...#ecdsa-sha256" all end in the hash name.
    return _HASHES[(uri or "").rsplit("-", 1)[-1].rsplit("#", 1)[-1]]


def _check_digests_and_value(
    signature: etree._Element, index: _Index, cert: x509.Certificate, number: int
) -> None:
    """The XMLDSig core validation (digests, then SignatureValue) for our pinned profile.

    Done here rather than through signxml's verifier: that one re-serialises and re-parses
    the whole document for every reference (25 parses per 5-reference signature; about
    3.8 ms of a 5.6 ms receive path at 10 KiB when measured). Here each referenced element
    is canonicalised once, in place. The profile (exclusive c14n, one transform, SHA-2,
    RSA/ECDSA) and the reference targets were checked before; :func:`_make_signature` writes
    the same profile, and the tests cross-check both against signxml's verifier.
    """
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    value = signature.find(f"{{{DS}}}SignatureValue")
    if signed_info is None or value is None:  # _check_profile ran: cannot happen
        raise _error(SIGNATURE_MALFORMED, number, reason="no SignedInfo/SignatureValue")
    for ref in signed_info.iterfind(f"{{{DS}}}Reference"):
        uri = ref.get("URI") or ""
        (target,) = index[uri[1:]]  # unique and well placed: _check_references ran
        name, _ = _hash_of(ref.find(f"{{{DS}}}DigestMethod").get("Algorithm"))  # type: ignore[union-attr]
        digest = hashlib.new(name, _c14n(target, ref.find(f"{{{DS}}}Transforms/*"))).digest()
        expected = base64.b64decode(ref.findtext(f"{{{DS}}}DigestValue") or "", validate=False)
        if not hmac.compare_digest(digest, expected):
            raise _error(SIGNATURE_INVALID, number, reason=f"digest of {uri} does not match")
    method = signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm") or ""  # type: ignore[union-attr]
    _, algorithm = _hash_of(method)
    data = _c14n(signed_info, signed_info.find(f"{{{DS}}}CanonicalizationMethod"))
    raw = base64.b64decode("".join((value.text or "").split()), validate=True)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and "#rsa-" in method:
        key.verify(raw, data, padding.PKCS1v15(), algorithm())
    elif isinstance(key, ec.EllipticCurvePublicKey) and "ecdsa-" in method:
        # XMLDSig carries ECDSA as r || s of the curve's size (RFC 4050), not DER.
        size = (key.curve.key_size + 7) // 8
        if len(raw) != 2 * size:
            raise _error(SIGNATURE_INVALID, number, reason="ECDSA value has the wrong length")
        der = encode_dss_signature(int.from_bytes(raw[:size]), int.from_bytes(raw[size:]))
        key.verify(der, data, ec.ECDSA(algorithm()))
    else:
        raise _error(SIGNATURE_UNSUPPORTED, number, reason=f"{method} with this key type")


def _check_profile(signature: etree._Element, number: int) -> None:
    """Our profile only (exc-c14n, RSA/ECDSA with SHA-2, SHA-2 digests): else SignatureError."""

    def need(parent: etree._Element, name: str) -> etree._Element:
        found = parent.find(f"{{{DS}}}{name}")
        if found is None:
            raise _error(SIGNATURE_MALFORMED, number, reason=f"no {name}")
        return found

    def check(el: etree._Element, allowed: set[str]) -> None:
        if el.get("Algorithm") not in allowed:
            reason = f"{_local(el.tag)} {el.get('Algorithm')}"
            raise _error(SIGNATURE_UNSUPPORTED, number, reason=reason)

    def only(el: etree._Element, allowed: tuple[str, ...]) -> None:
        # The XMLDSig schema's structure, for the subset our profile uses (ds:Object is legal
        # but never referenced: a reference into it fails as wrapping; no
        # Manifest): anything else is not a signature we produce or can judge.
        names = [_local(c.tag) for c in el if isinstance(c.tag, str)]
        if any(n not in allowed for n in names) or any(
            isinstance(c.tag, str) and etree.QName(c).namespace != DS for c in el
        ):
            raise _error(
                SIGNATURE_MALFORMED, number, reason=f"unexpected child of {_local(el.tag)}"
            )

    only(signature, ("SignedInfo", "SignatureValue", "KeyInfo", "Object"))
    signed_info = need(signature, "SignedInfo")
    only(signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"))
    need(signature, "SignatureValue")
    check(need(signed_info, "CanonicalizationMethod"), {EXC_C14N})
    check(need(signed_info, "SignatureMethod"), set(_SIGNATURE_METHODS))
    references = signed_info.findall(f"{{{DS}}}Reference")
    if not references:
        raise _error(SIGNATURE_MALFORMED, number, reason="no Reference")
    for ref in references:
        only(ref, ("Transforms", "DigestMethod", "DigestValue"))
        transforms = ref.findall(f"{{{DS}}}Transforms/*")
        if len(transforms) != 1:  # no enveloped-signature, XPath or base64 transforms
            raise _error(SIGNATURE_UNSUPPORTED, number, reason=f"{len(transforms)} Transforms")
        check(transforms[0], {EXC_C14N})
        check(need(ref, "DigestMethod"), set(_DIGESTS))
        need(ref, "DigestValue")


def _check_references(
    layout: _Layout, index: _Index, uris: list[str], number: int, role: SignatureRole | None
) -> int:
    """Each URI → one element at its expected place; returns the pinned reference count."""
    covered: list[etree._Element] = []
    for uri in uris:
        found = index.get(uri[1:], []) if uri.startswith("#") else []
        if not uri.startswith("#") or uri.startswith("#xpointer(") or len(found) > 1:
            reason = f"{uri!r}: not a unique same-document #Id reference"
            raise _error(SIGNATURE_WRAPPING, number, reason=reason)
        if not found:
            raise _error(SIGNATURE_INVALID, number, reason=f"the signed element {uri} is gone")
        el = found[0]
        if layout.name_of(el) is None:
            reason = f"{uri} resolves to {_local(el.tag)} outside its expected place"
            raise _error(SIGNATURE_WRAPPING, number, reason=reason)
        if any(el is c for c in covered):
            raise _error(SIGNATURE_WRAPPING, number, reason=f"{uri} is referenced twice")
        covered.append(el)
    for el in layout.required():
        if not any(el is c for c in covered):
            raise _error(SIGNATURE_INCOMPLETE, number, element=layout.name_of(el))
    # The covered TraceHeaders must be the first k: those present when this signature was made.
    k = sum(1 for th in layout.trace_headers if any(th is c for c in covered))
    if role is SignatureRole.SEAL and k == 0:  # a seal covers the TraceHeader its hub appended
        raise _error(SIGNATURE_INCOMPLETE, number, element="TraceHeader")
    for i, th in enumerate(layout.trace_headers[:k], 1):
        if not any(th is c for c in covered):
            raise _error(SIGNATURE_INCOMPLETE, number, element=f"TraceHeader[{i}]")
    return len(layout.required()) + k


@contextmanager
def _crypto_errors(number: int) -> Iterator[None]:
    """The one place where lxml/cryptography/base64 verification exceptions become codes."""
    try:
        yield
    except cryptography.exceptions.InvalidSignature as exc:
        raise _error(SIGNATURE_INVALID, number, reason=_short(exc) or "bad SignatureValue") from exc
    except (etree.LxmlError, ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise _error(SIGNATURE_MALFORMED, number, reason=_short(exc)) from exc


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# --- input -------------------------------------------------------------------------------


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return when


def _tree_root(doc: Tree) -> etree._Element:
    if isinstance(doc, etree._ElementTree):
        return doc.getroot()
    if isinstance(doc, etree._Element):
        return doc.getroottree().getroot()
    raise TypeError("sign() and seal() work in place on an lxml tree, not on bytes")


def _root(doc: Document) -> etree._Element:
    # Bytes go through the one hardened parser (DTDs, entities, size and depth limits).
    return parse_xml(doc).getroot() if isinstance(doc, bytes) else _tree_root(doc)
