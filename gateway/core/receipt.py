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

**Batched receipts.** Under load, packages queue up for a worker; the receipts of those
processed together (at most 8, within 20 ms) share one signature (:func:`sign_receipts`),
which saves a private-key operation per package. Such a receipt carries a ``batch`` member, and
the signature is then over the root of a Merkle tree of the batch's receipts (RFC 9162 §2.1:
leaf ``SHA-256(0x00 || canonical_json(receipt))``, node ``SHA-256(0x01 || left || right)``)::

    "batch": {"size": n, "index": i, "root": hex, "path": [hex, ...]},
    "signature": base64(sig over canonical_json(
        {"type": "edxgw.receipt-batch", "batch_root": hex, "batch_size": n}))

To verify: hash the receipt into its leaf, fold the audit ``path`` up by ``index`` and
``size`` (RFC 9162 §2.1.3.2), compare with ``root``, and check the signature over the
statement. A receipt alone has no ``batch`` and its signature is over the receipt itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from edxml.trust import SigningKey
from gateway.store.base import Message

__all__ = [
    "RECEIPT_VERSION",
    "canonical_json",
    "receipt_payload",
    "sign_receipt",
    "sign_receipts",
    "verify_receipt",
]

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


#: The ``type`` of the statement a batch's signature covers.
BATCH_STATEMENT = "edxgw.receipt-batch"


def sign_receipt(payload: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    alg, signature = _sign(canonical_json(payload), key)
    return {"receipt": dict(payload), "alg": alg, "signature": signature, "certificate": _pem(key)}


def sign_receipts(payloads: Sequence[Mapping[str, Any]], key: SigningKey) -> list[dict[str, Any]]:
    """Sign several receipts with one signature (module doc); one alone is signed plainly."""
    if len(payloads) <= 1:
        return [sign_receipt(p, key) for p in payloads]
    leaves = [_leaf(p) for p in payloads]
    root = _root(leaves)
    alg, signature = _sign(_statement(root, len(leaves)), key)
    pem = _pem(key)
    return [
        {
            "receipt": dict(payload),
            "alg": alg,
            "signature": signature,
            "certificate": pem,
            "batch": {
                "size": len(leaves),
                "index": i,
                "root": root.hex(),
                "path": [node.hex() for node in _path(i, leaves)],
            },
        }
        for i, payload in enumerate(payloads)
    ]


def _sign(data: bytes, key: SigningKey) -> tuple[str, str]:
    if isinstance(key.key, rsa.RSAPrivateKey):
        alg = "RS256"
        signature = key.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        digest: hashes.HashAlgorithm = (
            hashes.SHA384() if key.key.curve.name == "secp384r1" else hashes.SHA256()
        )
        alg = "ES384" if isinstance(digest, hashes.SHA384) else "ES256"
        signature = key.key.sign(data, ec.ECDSA(digest))
    return alg, base64.b64encode(signature).decode("ascii")


def _pem(key: SigningKey) -> str:
    return key.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


# -- the batch's Merkle tree (RFC 9162 §2.1) ------------------------------------------------------


def _leaf(payload: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_json(payload)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_root(leaves[:k]), _root(leaves[k:]))


def _path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index``, from the leaf up."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*_path(index, leaves[:k]), _root(leaves[k:])]
    return [*_path(index - k, leaves[k:]), _root(leaves[:k])]


def _fold(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` leads to from ``leaf`` (RFC 9162 §2.1.3.2), None if it cannot."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def _statement(root: bytes, size: int) -> bytes:
    return canonical_json({"type": BATCH_STATEMENT, "batch_root": root.hex(), "batch_size": size})


def _signed_bytes(signed: Mapping[str, Any]) -> bytes:
    """What the signature of ``signed`` covers; ValueError if its batch proof does not hold."""
    batch = signed.get("batch")
    if batch is None:
        return canonical_json(signed["receipt"])
    size, index = batch["size"], batch["index"]
    if not (isinstance(size, int) and isinstance(index, int)) or size > 1 << 16:
        raise ValueError("bad batch size or index")
    path = [bytes.fromhex(node) for node in batch["path"]]
    root = _fold(_leaf(signed["receipt"]), index, size, path)
    if root is None or root.hex() != batch["root"]:
        raise ValueError("the receipt is not in the batch its signature covers")
    return _statement(root, size)


def verify_receipt(signed: Mapping[str, Any], certificate: x509.Certificate | None = None) -> bool:
    """True when the signature over ``signed["receipt"]`` verifies with ``certificate``.

    Pass the hub certificate you trust; without one the receipt's own certificate is used,
    which proves integrity only (check that certificate against your trust anchors yourself).
    """
    try:
        cert = certificate or x509.load_pem_x509_certificate(signed["certificate"].encode())
        data = _signed_bytes(signed)
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
    except (InvalidSignature, KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")
