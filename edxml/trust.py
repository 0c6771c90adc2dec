"""Certificates and keys: whose key signs (SigningKey) and whose signature to believe (TrustStore).

This is deliberately a small, offline path validator built on ``cryptography`` (no network, no
AIA fetching, no OCSP), because the chains are short (government CA → agency, sometimes one
intermediate) and the gateway must behave the same on an air-gapped box:

- **Chain.** The signing certificate must chain to a configured trust anchor. Intermediates come
  from the signature's ``KeyInfo/X509Data`` and are untrusted until they chain. Every issuer must
  be a CA (BasicConstraints ``cA=TRUE``, KeyUsage ``keyCertSign`` when present, path length
  respected) and must have signed the certificate below it
  (:meth:`~cryptography.x509.Certificate.verify_directly_issued_by`). A trust anchor may also be
  the signing certificate itself (pinning).
- **Validity.** Every certificate of the path, the anchor included, must be valid at the
  verification time (a parameter, default now).
- **Key usage.** When the signing certificate has a KeyUsage extension it must allow
  ``digitalSignature`` or ``nonRepudiation`` (contentCommitment).
- **Revocation.** A certificate is revoked when a CRL of its issuer (whose signature verifies
  with the issuer's key; CRLs that do not verify are ignored) lists its serial number with a
  revocation date at or before the verification time. Without a CRL for an issuer the check is
  soft: not listed means not revoked. Stale CRLs (past ``nextUpdate``) are still consulted.

Organ id convention: the agency's organ id (mã định danh, e.g. ``000.00.00.G22``, hub
``00.53.W00``) is carried in the certificate subject's **serialNumber** attribute
(OID 2.5.4.5) and read back by :func:`certificate_organ_id`. Development material made by
``certs/dev/generate.py`` or test fixtures carries ``O=edxml-gateway DEVELOPMENT ONLY`` in
subject and issuer (:func:`is_development_certificate`), so production mode can refuse it.

:class:`SigningKey` accepts RSA keys of at least 2048 bits and EC keys on P-256 or P-384.

Failures raise :class:`edxml.errors.SignatureError` with the ``edxml.certificate_*`` codes below.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from edxml.errors import SignatureError, define

__all__ = [
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_KEY_USAGE",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNTRUSTED",
    "DEVELOPMENT_MARKER",
    "SigningKey",
    "TrustStore",
    "certificate_organ_id",
    "fingerprint",
    "is_development_certificate",
    "load_certificates",
    "load_crls",
]

_E = TypeVar("_E", bound=x509.ExtensionType)

#: The ``O`` value every development certificate (subject and issuer) carries.
DEVELOPMENT_MARKER = "edxml-gateway DEVELOPMENT ONLY"

#: Subject attribute that carries the organ id (mã định danh) of the certificate holder.
ORGAN_ID_ATTRIBUTE = NameOID.SERIAL_NUMBER

#: Government chains are root → (intermediate) → agency; anything longer is suspicious.
MAX_CHAIN_LENGTH = 5

CERTIFICATE_UNTRUSTED = define(
    "edxml.certificate_untrusted",
    "Chứng thư số «{subject}» không được cấp bởi tổ chức chứng thực tin cậy ({reason})",
    "The certificate «{subject}» does not chain to a trusted certification authority ({reason})",
)
CERTIFICATE_EXPIRED = define(
    "edxml.certificate_expired",
    "Chứng thư số «{subject}» không có hiệu lực tại thời điểm {at} "
    "(hiệu lực từ {not_before} đến {not_after})",
    "The certificate «{subject}» is not valid at {at} (valid from {not_before} to {not_after})",
)
CERTIFICATE_REVOKED = define(
    "edxml.certificate_revoked",
    "Chứng thư số «{subject}» đã bị thu hồi từ {revoked_at}",
    "The certificate «{subject}» was revoked on {revoked_at}",
)
CERTIFICATE_KEY_USAGE = define(
    "edxml.certificate_key_usage",
    "Chứng thư số «{subject}» không được phép dùng để ký số "
    "(thiếu digitalSignature/nonRepudiation trong KeyUsage)",
    "The certificate «{subject}» may not be used for signing "
    "(KeyUsage lacks digitalSignature/nonRepudiation)",
)


def load_certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate in ``data``: a PEM bundle, one DER certificate, or bare base64 DER."""
    if b"-----BEGIN" in data:
        return tuple(x509.load_pem_x509_certificates(data))
    try:
        return (x509.load_der_x509_certificate(data),)
    except ValueError:
        # XMLDSig carries base64 DER without PEM armour.
        return (x509.load_der_x509_certificate(base64.b64decode(data)),)


def load_crls(data: bytes) -> tuple[x509.CertificateRevocationList, ...]:
    """Every CRL in ``data``: PEM (one or several blocks) or one DER CRL."""
    if b"-----BEGIN" not in data:
        return (x509.load_der_x509_crl(data),)
    end = b"-----END X509 CRL-----"
    blocks = [part + end for part in data.split(end) if b"-----BEGIN X509 CRL-----" in part]
    return tuple(x509.load_pem_x509_crl(block) for block in blocks)


def certificate_organ_id(cert: x509.Certificate) -> str | None:
    """The organ id from the subject's serialNumber attribute, or ``None``."""
    for attr in cert.subject.get_attributes_for_oid(ORGAN_ID_ATTRIBUTE):
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        if value.strip():
            return value.strip()
    return None


def is_development_certificate(cert: x509.Certificate) -> bool:
    """True for material from ``certs/dev/`` or test PKIs: refuse it in production mode."""
    return any(
        attr.value == DEVELOPMENT_MARKER
        for name in (cert.subject, cert.issuer)
        for attr in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER certificate, lowercase hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def subject_text(cert: x509.Certificate) -> str:
    """The subject as an RFC 4514 string (Vietnamese kept as is)."""
    try:
        return cert.subject.rfc4514_string({ORGAN_ID_ATTRIBUTE: "serialNumber"})
    except ValueError:  # a subject that cannot be rendered must not hide the real error
        return f"<serial {cert.serial_number:x}>"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with its certificate (and intermediates, sent in KeyInfo after it)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        mine = self.key.public_key().public_bytes(der, spki)
        if mine != self.certificate.public_key().public_bytes(der, spki):
            raise ValueError("the private key does not belong to the certificate")
        if isinstance(self.key, rsa.RSAPrivateKey) and self.key.key_size < 2048:
            raise ValueError("RSA keys shorter than 2048 bits are not accepted")
        if isinstance(self.key, ec.EllipticCurvePrivateKey) and self.key.curve.name not in (
            "secp256r1",
            "secp384r1",
        ):
            raise ValueError(f"unsupported EC curve {self.key.curve.name}: use P-256 or P-384")

    @classmethod
    def from_pem_files(
        cls,
        key_path: str | Path,
        cert_path: str | Path,
        chain_paths: Iterable[str | Path] = (),
        password: bytes | None = None,
    ) -> SigningKey:
        """Load a PEM key and certificate; extra certificates in ``cert_path`` join the chain."""
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"unsupported key type {type(key).__name__}: use RSA or EC")
        leaf, *rest = load_certificates(Path(cert_path).read_bytes())
        chain = [*rest, *(c for p in chain_paths for c in load_certificates(Path(p).read_bytes()))]
        return cls(key, leaf, tuple(chain))

    @property
    def organ_id(self) -> str | None:
        return certificate_organ_id(self.certificate)


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Trust anchors (CA certificates) and the CRLs known for them; immutable, picklable.

    Build it once at start-up (``TrustStore.from_files(...)``) and replace it when CRLs are
    refreshed (:meth:`with_crls`); it holds no open files and no mutable state.
    """

    anchors: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @classmethod
    def from_files(
        cls, ca_paths: Iterable[str | Path], crl_paths: Iterable[str | Path] = ()
    ) -> TrustStore:
        """Anchors from PEM/DER certificate files, CRLs from PEM/DER CRL files."""
        anchors = [c for p in ca_paths for c in load_certificates(Path(p).read_bytes())]
        crls = [c for p in crl_paths for c in load_crls(Path(p).read_bytes())]
        return cls(tuple(anchors), tuple(crls))

    def with_crls(self, *crls: x509.CertificateRevocationList) -> TrustStore:
        """A copy that also knows ``crls`` (e.g. after a periodic CRL download)."""
        return TrustStore(self.anchors, self.crls + crls)

    def validate(
        self, chain: Sequence[x509.Certificate], at: dt.datetime | None = None
    ) -> tuple[x509.Certificate, ...]:
        """Validate ``chain[0]`` (the signing certificate) using ``chain[1:]`` as intermediates.

        Returns the validated path, signing certificate first and anchor last; raises
        :class:`SignatureError` with an ``edxml.certificate_*`` code otherwise.
        """
        if not chain:
            raise ValueError("validate() needs at least the signing certificate")
        when = _aware(at) if at is not None else dt.datetime.now(dt.UTC)
        leaf = chain[0]
        key = (self.anchors, leaf, tuple(chain[1:]))
        path = _PATHS.get(key)
        if path is None:
            # Built from the certificates alone (issuers, constraints, remembered signature
            # verdicts): the same chain always builds the same path; failures are not kept.
            path = self._build_path(leaf, chain[1:])
            if len(_PATHS) >= _VERDICTS_MAX:
                _PATHS.clear()
            _PATHS[key] = path
        for cert in path:
            if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
                raise SignatureError(
                    CERTIFICATE_EXPIRED,
                    subject=subject_text(cert),
                    at=when.isoformat(timespec="seconds"),
                    not_before=cert.not_valid_before_utc.isoformat(timespec="seconds"),
                    not_after=cert.not_valid_after_utc.isoformat(timespec="seconds"),
                )
        for cert, issuer in itertools.pairwise(path):
            self._check_revocation(cert, issuer, when)
        if not _signing_usage(leaf):
            raise SignatureError(CERTIFICATE_KEY_USAGE, subject=subject_text(leaf))
        return path

    def _build_path(
        self, leaf: x509.Certificate, pool: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        if leaf in self.anchors:
            return (leaf,)
        path = [leaf]
        while len(path) < MAX_CHAIN_LENGTH:
            current = path[-1]
            anchor = _find_issuer(current, self.anchors, depth=len(path) - 1)
            if anchor is not None:
                return (*path, anchor)
            candidates = [c for c in pool if c not in path]
            issuer = _find_issuer(current, candidates, depth=len(path) - 1)
            if issuer is None:
                break
            path.append(issuer)
        raise SignatureError(
            CERTIFICATE_UNTRUSTED,
            subject=subject_text(leaf),
            reason=f"no trusted issuer for «{path[-1].issuer.rfc4514_string()}»",
        )

    def _check_revocation(
        self, cert: x509.Certificate, issuer: x509.Certificate, when: dt.datetime
    ) -> None:
        for crl in self.crls:
            facts = _crl_facts(crl)
            if facts.issuer != _subject(issuer) or not _crl_signed_by(crl, issuer):
                continue
            revoked_at = facts.revoked.get(cert.serial_number)
            if revoked_at is not None and revoked_at <= when:
                raise SignatureError(
                    CERTIFICATE_REVOKED,
                    subject=subject_text(cert),
                    revoked_at=revoked_at.isoformat(timespec="seconds"),
                )


#: (anchors, leaf, intermediates) -> the validated path: a hub sees the same few agency
#: chains thousands of times a day. Bounded: cleared when full.
_PATHS: dict[
    tuple[tuple[x509.Certificate, ...], x509.Certificate, tuple[x509.Certificate, ...]],
    tuple[x509.Certificate, ...],
] = {}


@functools.lru_cache(maxsize=1024)
def _subject(cert: x509.Certificate) -> x509.Name:
    return cert.subject  # a new Name object at every access otherwise


@functools.lru_cache(maxsize=1024)
def _signing_usage(cert: x509.Certificate) -> bool:
    """The certificate may sign documents (no KeyUsage extension: no restriction)."""
    usage = _extension(cert, x509.KeyUsage)
    return usage is None or usage.digital_signature or usage.content_commitment


def _find_issuer(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate], *, depth: int
) -> x509.Certificate | None:
    """The first candidate that is a CA allowed at this depth and really signed ``cert``.

    ``depth`` is the number of intermediate CA certificates between the leaf and the issuer.
    """
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        constraints = _extension(candidate, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            continue
        if constraints.path_length is not None and depth > constraints.path_length:
            continue
        usage = _extension(candidate, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            continue
        if _issued_by(cert, candidate):
            return candidate
    return None


#: Verdicts of the two signature checks a path needs, by what was checked. They are pure
#: functions of the bytes (the time checks stay per call), and a hub sees the same few
#: agency certificates and CRLs thousands of times a day: two RSA verifications saved per
#: package. Bounded: cleared when full, never stale (a new CRL has a new fingerprint).
_VERDICTS: dict[tuple[object, x509.Certificate], bool] = {}
_VERDICTS_MAX = 4096


def _remember(key: tuple[object, x509.Certificate], check: Callable[[], bool]) -> bool:
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = check()
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        _VERDICTS[key] = verdict
    return verdict


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    # The one place where cryptography's verification exceptions become a yes/no: a wrong
    # signature (InvalidSignature), a name mismatch or unsupported algorithm (ValueError), or
    # an unsupported issuer key type (TypeError) all mean "not issued by this candidate".
    def check() -> bool:
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return _remember((cert, issuer), check)  # certificates hash and compare by their DER


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    def check() -> bool:
        key = issuer.public_key()
        try:
            return crl.is_signature_valid(key)  # type: ignore[arg-type]  # X25519 etc. raise TypeError
        except (TypeError, ValueError):
            return False

    # A CRL object does not hash: its fingerprint stands for it.
    return _remember((_crl_facts(crl).fingerprint, issuer), check)


@dataclass(frozen=True, slots=True)
class _CrlFacts:
    """What every check needs of one CRL, worked out once per CRL object."""

    crl: x509.CertificateRevocationList  # held: its id is not reused while this entry lives
    fingerprint: bytes  # SHA-256 of the DER: what stands for the CRL among remembered verdicts
    issuer: x509.Name
    revoked: dict[int, dt.datetime]  # serial number -> revocation time (UTC)


#: id(crl) -> its facts. A CA's CRL can be megabytes with tens of thousands of entries, and
#: the same few CRL objects (a TrustStore's) are checked for every package: hashing it and
#: scanning it every time cost ~10 ms a package with a 1 MB CRL.
_CRL_FACTS: dict[int, _CrlFacts] = {}


def _crl_facts(crl: x509.CertificateRevocationList) -> _CrlFacts:
    known = _CRL_FACTS.get(id(crl))
    if known is not None and known.crl is crl:
        return known
    revoked: dict[int, dt.datetime] = {}
    for entry in crl:
        at = entry.revocation_date_utc
        known_at = revoked.get(entry.serial_number)
        if known_at is None or at < known_at:  # a serial listed twice: the earlier counts
            revoked[entry.serial_number] = at
    facts = _CrlFacts(crl, crl.fingerprint(hashes.SHA256()), crl.issuer, revoked)
    if len(_CRL_FACTS) >= 64:  # a hub knows a handful of CRLs; old ones are replaced ones
        _CRL_FACTS.clear()
    _CRL_FACTS[id(crl)] = facts
    return facts


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("verification time must be timezone-aware")
    return when.astimezone(dt.UTC)
