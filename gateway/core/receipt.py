"""Sign and check the acceptance receipt a sender gets for every accepted package.

The receipt is the hub's promise of invariant §3.1: "this package, with this SHA-256, was
committed under this DocId at this time". It is a small JSON object signed with the hub's
sealing key, so a sender can prove later what the hub accepted (a dispute over a lost document
is settled by the receipt, not by the hub's word)::

    {"receipt": {"doc_id": ..., "sha256": ..., "size": ..., "received_at": ...,
                 "hub": "00.53.W00", "node": "node-1", "kind": "edoc", "sender": ...,
                 "document_id": ..., "version": 1},
     "alg": "RS256" | "ES256" | "ES384",
     "signature": base64(sig over canonical_json(receipt)),
     "certificate": PEM of the hub's certificate}

``canonical_json`` is UTF-8 JSON with sorted keys, no insignificant white space and
non-ASCII kept as is; the verifier recomputes it from the ``receipt`` object it was given.
ECDSA signatures are DER-encoded (as ``cryptography`` produces them).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from edxml.trust import SigningKey
from gateway.store.base import Message

__all__ = ["RECEIPT_VERSION", "canonical_json", "receipt_payload", "sign_receipt", "verify_receipt"]

RECEIPT_VERSION = 1


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def receipt_payload(message: Message, *, hub: str, node: str, doc_id: str) -> dict[str, Any]:
    """What the receipt states; ``doc_id`` is the original's for a re-sent duplicate."""
    return {
        "version": RECEIPT_VERSION,
        "doc_id": doc_id,
        "sha256": message.sha256,
        "size": message.size,
        "received_at": _iso(message.received_at),
        "hub": hub,
        "node": node,
        "kind": message.kind,
        "sender": message.sender,
        "document_id": message.document_id,
    }


def sign_receipt(payload: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    data = canonical_json(payload)
    if isinstance(key.key, rsa.RSAPrivateKey):
        alg = "RS256"
        signature = key.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        digest: hashes.HashAlgorithm = (
            hashes.SHA384() if key.key.curve.name == "secp384r1" else hashes.SHA256()
        )
        alg = "ES384" if isinstance(digest, hashes.SHA384) else "ES256"
        signature = key.key.sign(data, ec.ECDSA(digest))
    pem = key.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return {
        "receipt": dict(payload),
        "alg": alg,
        "signature": base64.b64encode(signature).decode("ascii"),
        "certificate": pem,
    }


def verify_receipt(signed: Mapping[str, Any], certificate: x509.Certificate | None = None) -> bool:
    """True when the signature over ``signed["receipt"]`` verifies with ``certificate``.

    Pass the hub certificate you trust; without one the receipt's own certificate is used,
    which proves integrity only (check that certificate against your trust anchors yourself).
    """
    try:
        cert = certificate or x509.load_pem_x509_certificate(signed["certificate"].encode())
        data = canonical_json(signed["receipt"])
        signature = base64.b64decode(signed["signature"], validate=True)
        public = cert.public_key()
        alg = signed["alg"]
        if alg == "RS256" and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg in ("ES256", "ES384") and isinstance(public, ec.EllipticCurvePublicKey):
            digest = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
            public.verify(signature, data, ec.ECDSA(digest))
        else:
            return False
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")
