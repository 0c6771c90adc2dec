"""The hub's keys as picklable PEM bytes, loaded into cryptography objects once per process.

``SigningKey`` and ``TrustStore`` hold cryptography (Rust) objects that do not pickle, so a
:class:`Keys` value carries the PEM/DER *bytes* instead and loads them on first use through an
``lru_cache`` keyed on those bytes: the shell can send a ``Context`` to a process pool and each
worker parses the key and certificates once, not once per package. New bytes (a refreshed CRL,
a renewed certificate) are a new cache entry; the small ``maxsize`` drops the old ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from edxml.trust import SigningKey, TrustStore, load_certificates, load_crls

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Keys:
    """The hub's sealing key and certificate, and the trust anchors and CRLs it verifies with.

    ``ca_certs`` and ``crls`` hold one file's bytes each (PEM bundles or DER).
    """

    key_pem: bytes = field(repr=False)
    cert_pem: bytes
    chain_pem: bytes = b""
    password: bytes | None = field(default=None, repr=False)
    ca_certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()

    @classmethod
    def from_files(
        cls,
        *,
        key_file: str | Path,
        cert_file: str | Path,
        ca_files: Iterable[str | Path] = (),
        crl_files: Iterable[str | Path] = (),
        chain_files: Iterable[str | Path] = (),
        password: bytes | None = None,
    ) -> Keys:
        """Read the files once (at start-up, in the shell's process)."""
        return cls(
            key_pem=Path(key_file).read_bytes(),
            cert_pem=Path(cert_file).read_bytes(),
            chain_pem=b"".join(Path(p).read_bytes() for p in chain_files),
            password=password,
            ca_certs=tuple(Path(p).read_bytes() for p in ca_files),
            crls=tuple(Path(p).read_bytes() for p in crl_files),
        )

    @property
    def signing_key(self) -> SigningKey:
        return _signing_key(self.key_pem, self.cert_pem, self.chain_pem, self.password)

    @property
    def trust(self) -> TrustStore:
        return _trust(self.ca_certs, self.crls)


@functools.lru_cache(maxsize=4)
def _signing_key(
    key_pem: bytes, cert_pem: bytes, chain_pem: bytes, password: bytes | None
) -> SigningKey:
    key = serialization.load_pem_private_key(key_pem, password)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}: use RSA or EC")
    leaf, *rest = load_certificates(cert_pem)
    chain = (*rest, *(load_certificates(chain_pem) if chain_pem.strip() else ()))
    return SigningKey(key, leaf, chain)


@functools.lru_cache(maxsize=4)
def _trust(ca_certs: tuple[bytes, ...], crls: tuple[bytes, ...]) -> TrustStore:
    anchors = tuple(c for data in ca_certs for c in load_certificates(data))
    return TrustStore(anchors, tuple(c for data in crls for c in load_crls(data)))
