"""Regenerate the development PKI in this directory (DEVELOPMENT AND TESTS ONLY, never production).

Run ``python certs/dev/generate.py`` (any Python with ``cryptography``): every file below is
rewritten with fresh keys under the same name. Subjects carry ``O=edxml-gateway DEVELOPMENT
ONLY`` (``edxml.trust.DEVELOPMENT_MARKER``: the gateway refuses such certificates in production
mode) and the organ id in ``serialNumber`` (what ``edxml.trust.certificate_organ_id`` reads).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
#: Must equal edxml.trust.DEVELOPMENT_MARKER (kept literal so this script needs no edxml).
MARKER = "edxml-gateway DEVELOPMENT ONLY"
VALIDITY = dt.timedelta(days=3653)  # ten years, leap days included
HUB = ("00.53.W00", "Trục liên thông văn bản tỉnh Tây Ninh (demo)")
AGENCIES = {
    "000.00.00.G22": "Văn phòng Chính phủ",
    "000.00.00.H41": "UBND tỉnh Nghệ An",
    "000.00.00.H14": "Cơ quan thử nghiệm 000.00.00.H14",
    "000.00.00.A80": "Cơ quan thử nghiệm 000.00.00.A80",
    "000.00.31.H53": "UBND huyện Bến Cầu",
    "000.21.31.H53": "UBND xã An Thạnh",
}
#: An older certificate of this agency, listed in ca.crl (keyCompromise), to try revocation.
REVOKED = ("000.00.00.A80", "Cơ quan thử nghiệm A80 (chứng thư đã thu hồi)")


def name(common_name: str, organ_id: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, MARKER),
    ]
    if organ_id is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, organ_id))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def usage(**flags: bool) -> x509.KeyUsage:
    fields = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{f: flags.get(f, False) for f in fields})


def write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    now: dt.datetime,
    extended: list[x509.ObjectIdentifier],
    *,
    tls_names: tuple[str, ...] = (),
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # digitalSignature + nonRepudiation for XML signatures; keyEncipherment for RSA TLS.
            usage(digital_signature=True, content_commitment=True, key_encipherment=True),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if tls_names:
        san: list[x509.GeneralName] = []
        for entry in tls_names:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                san.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def main() -> None:
    # Backdated a day so a skewed clock in a container still accepts the material.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = name("edxml-gateway Development CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_key(HERE / "ca.key", ca_key)
    write_cert(HERE / "ca.crt", ca_cert)

    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    hub_id, hub_name = HUB
    key, cert = issue(
        ca_key,
        ca_cert,
        name(hub_name, hub_id),
        now,
        server,
        tls_names=("localhost", "127.0.0.1", "::1"),
    )
    write_key(HERE / "gateway.key", key)
    write_cert(HERE / "gateway.crt", cert)

    for organ_id, agency in AGENCIES.items():
        key, cert = issue(ca_key, ca_cert, name(agency, organ_id), now, client)
        write_key(HERE / f"agency-{organ_id}.key", key)
        write_cert(HERE / f"agency-{organ_id}.crt", cert)

    key, revoked = issue(ca_key, ca_cert, name(REVOKED[1], REVOKED[0]), now, client)
    write_key(HERE / "revoked.key", key)
    write_cert(HERE / "revoked.crt", revoked)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(revoked.serial_number)
        .revocation_date(now)
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + VALIDITY)  # a real CA publishes daily; dev material must not go stale
        .add_revoked_certificate(entry)
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (HERE / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    print(f"wrote development PKI to {HERE} (valid until {(now + VALIDITY).date()})")


if __name__ == "__main__":
    main()
