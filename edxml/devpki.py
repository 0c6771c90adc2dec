"""A throwaway PKI for tests and benchmarks: CAs, agency and hub certificates, CRLs, in memory.

Development only: every certificate it makes is refused by a gateway in production mode.

Every name carries ``O=edxml-gateway DEVELOPMENT ONLY`` (edxml.trust.DEVELOPMENT_MARKER) and the
organ id in the subject's serialNumber, like ``certs/dev/``. Keys are made fresh per session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edxml.trust import DEVELOPMENT_MARKER, SigningKey

__all__ = [
    "NOW",
    "Issued",
    "PrivateKey",
    "issuer_is_intermediate",
    "key_usage",
    "make_ca",
    "make_crl",
    "make_leaf",
    "name",
    "new_key",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organ_id: str | None = None, org: str = DEVELOPMENT_MARKER) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ]
    if organ_id is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, organ_id))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


@dataclass(frozen=True)
class Issued:
    """A certificate with its key and the chain to send with it (intermediates, no root)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.key, self.cert, self.chain)


def make_ca(
    common_name: str,
    issuer: Issued | None = None,
    *,
    kind: str = "ec",
    path_length: int | None = None,
    org: str = DEVELOPMENT_MARKER,
    usage: x509.KeyUsage | None = None,
) -> Issued:
    """A root CA (``issuer`` None) or an intermediate under ``issuer``."""
    key = new_key(kind)
    subject = name(common_name, org=org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=3650))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage or key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    chain = (issuer.cert, *issuer.chain) if issuer and issuer_is_intermediate(issuer) else ()
    return Issued(key, cert, chain)


def issuer_is_intermediate(ca: Issued) -> bool:
    return ca.cert.subject != ca.cert.issuer


def make_leaf(
    issuer: Issued,
    common_name: str,
    organ_id: str | None,
    *,
    kind: str = "ec",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    usage: x509.KeyUsage | None = None,
    san: Sequence[x509.GeneralName] = (),
) -> Issued:
    """An end-entity certificate; ``usage`` defaults to digitalSignature + nonRepudiation."""
    key = new_key(kind)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name, organ_id))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            usage or key_usage(digital_signature=True, content_commitment=True), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    chain = (issuer.cert, *issuer.chain) if issuer_is_intermediate(issuer) else ()
    return Issued(key, cert, chain)


def make_crl(
    issuer: Issued,
    revoked: Sequence[tuple[x509.Certificate, dt.datetime]] = (),
    *,
    signer: PrivateKey | None = None,
) -> x509.CertificateRevocationList:
    """A CRL of ``issuer`` listing ``(certificate, revocation time)`` pairs.

    ``signer`` signs it instead of the issuer's key (a forged CRL).
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=7))
    )
    for cert, when in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(when)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(signer or issuer.key, hashes.SHA256())


def key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})
