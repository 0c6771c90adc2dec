"""Read and check the signed receipt the gateway returns for every accepted package.

The receipt is the hub's signed promise "this package, with this SHA-256, was committed under
this DocId at this time" (README, "The REST API"); keep it, it settles disputes::

    {"receipt": {"version": 1, "doc_id": ..., "sha256": ..., "size": ..., "received_at": ...,
                 "hub": "00.53.W00", "node": "node-1", "kind": "edoc", "sender": ...,
                 "document_id": ...},
     "alg": "RS256" | "ES256" | "ES384",
     "signature": base64 of the signature over canonical_json(receipt),
     "certificate": PEM of the hub certificate}

``canonical_json`` is UTF-8 JSON with sorted keys, no insignificant white space, non-ASCII
as is. Receipts of packages the gateway processed together may share one signature: such a
receipt has ``"batch": {"size", "index", "root", "path"}`` and its signature covers
``canonical_json({"type": "edxgw.receipt-batch", "batch_root": root, "batch_size": size})``,
where ``root`` is the RFC 9162 Merkle root the audit ``path`` leads to from the leaf
``SHA-256(0x00 || canonical_json(receipt))``. This module checks both kinds with
``cryptography`` alone: the SDK does not depend on the gateway's code, only on this
documented wire format (tests sign with the gateway's ``gateway.core.receipt`` and verify
here, so the two cannot drift apart).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from adapters.sdk.errors import ProtocolError

__all__ = ["Receipt", "canonical_json", "verify_signed_receipt"]


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_signed_receipt(
    signed: Mapping[str, Any], certificate: x509.Certificate | None = None
) -> bool:
    """True when the signature over ``signed["receipt"]`` verifies with ``certificate``
    (default: the certificate inside the receipt, which proves integrity only)."""
    try:
        cert = certificate or x509.load_pem_x509_certificate(str(signed["certificate"]).encode())
        data = _covered(signed)
        signature = base64.b64decode(str(signed["signature"]), validate=True)
        public = cert.public_key()
        alg = signed["alg"]
        if alg == "RS256" and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg in ("ES256", "ES384") and isinstance(public, ec.EllipticCurvePublicKey):
            digest = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
            public.verify(signature, data, ec.ECDSA(digest))
        else:
            return False
    except (InvalidSignature, KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def _covered(signed: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers; ValueError when a batch proof does not lead to its root."""
    batch = signed.get("batch")
    if batch is None:
        return canonical_json(signed["receipt"])
    size, index, path = batch["size"], batch["index"], batch["path"]
    if not (isinstance(size, int) and isinstance(index, int) and 0 <= index < size):
        raise ValueError("bad batch size or index")
    # RFC 9162 §2.1.3.2: fold the audit path from the leaf up to the root.
    node = hashlib.sha256(b"\x00" + canonical_json(signed["receipt"])).digest()
    fn, sn = index, size - 1
    for sibling in (bytes.fromhex(h) for h in path):
        if sn == 0:
            raise ValueError("the batch path is too long")
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or node.hex() != batch["root"]:
        raise ValueError("the receipt is not in the batch its signature covers")
    statement = {"type": "edxgw.receipt-batch", "batch_root": node.hex(), "batch_size": size}
    return canonical_json(statement)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt's statements, typed; ``signed`` is the whole object as received (archive it:
    :meth:`to_json` / :meth:`from_json`)."""

    doc_id: str
    sha256: str
    size: int
    received_at: datetime
    hub: str
    node: str
    kind: str
    sender: str
    document_id: str
    version: int
    signed: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_signed(cls, signed: Mapping[str, Any]) -> Receipt:
        try:
            r = signed["receipt"]
            return cls(
                doc_id=str(r["doc_id"]),
                sha256=str(r["sha256"]),
                size=int(r["size"]),
                received_at=datetime.fromisoformat(str(r["received_at"])),
                hub=str(r["hub"]),
                node=str(r["node"]),
                kind=str(r["kind"]),
                sender=str(r["sender"]),
                document_id=str(r["document_id"]),
                version=int(r["version"]),
                signed=dict(signed),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(
                f"the receipt is not in the documented form: {exc!r}",
                f"biên nhận không đúng định dạng: {exc!r}",
            ) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(
                f"the receipt is not JSON: {exc}", "biên nhận không phải JSON"
            ) from None
        if not isinstance(value, dict):
            raise ProtocolError("the receipt is not a JSON object", "biên nhận không phải JSON")
        return cls.from_signed(value)

    def to_json(self) -> str:
        return json.dumps(dict(self.signed), ensure_ascii=False, indent=2, sort_keys=True)

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate the receipt carries (compare it with the hub's before trusting)."""
        return x509.load_pem_x509_certificate(str(self.signed["certificate"]).encode())

    def verify(self, certificate: x509.Certificate | None = None) -> bool:
        """True when the hub's signature verifies with ``certificate`` (the hub certificate you
        trust); without one, with the receipt's own certificate (integrity only)."""
        return verify_signed_receipt(self.signed, certificate)
