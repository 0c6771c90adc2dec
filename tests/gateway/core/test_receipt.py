"""Receipts: one signature, or one for a batch over its Merkle tree (gateway.core.receipt)."""

from __future__ import annotations

import hashlib

import pytest

from edxml.devpki import make_ca, make_leaf
from edxml.trust import SigningKey
from gateway.core import receipt as R


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return make_leaf(make_ca("Receipt CA"), "Hub", organ_id="00.53.W00").signing_key


def _payloads(n: int) -> list[dict[str, object]]:
    return [{"version": 1, "doc_id": f"d-{i}", "sha256": f"{i:02x}" * 32} for i in range(n)]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_the_tree_of_three_is_rfc_9162s() -> None:
    # MTH(a, b, c) = H(1 || H(1 || a || b) || c) with leaves H(0 || entry): the shape the spec
    # gives for a size that is not a power of two (the right subtree is the odd one).
    leaves = [_h(b"\x00" + R.canonical_json(p)) for p in _payloads(3)]
    assert R._root(leaves) == _h(b"\x01" + _h(b"\x01" + leaves[0] + leaves[1]) + leaves[2])
    assert R._path(2, leaves) == [_h(b"\x01" + leaves[0] + leaves[1])]
    assert R._path(0, leaves) == [leaves[1], leaves[2]]


@pytest.mark.parametrize("size", range(1, 18))
def test_every_leafs_path_folds_to_the_root(size: int) -> None:
    leaves = [_h(bytes([i])) for i in range(size)]
    root = R._root(leaves)
    for i in range(size):
        assert R._fold(leaves[i], i, size, R._path(i, leaves)) == root
        if size > 1:  # the same path from another place does not
            assert R._fold(leaves[i], (i + 1) % size, size, R._path(i, leaves)) != root


def test_one_receipt_alone_is_signed_plainly(key: SigningKey) -> None:
    (only,) = R.sign_receipts(_payloads(1), key)
    assert "batch" not in only
    assert only == {**R.sign_receipt(_payloads(1)[0], key), "signature": only["signature"]}
    assert R.verify_receipt(only, key.certificate)


def test_a_batch_shares_one_signature_and_each_receipt_verifies(key: SigningKey) -> None:
    signed = R.sign_receipts(_payloads(5), key)
    assert len({s["signature"] for s in signed}) == 1
    assert [s["batch"]["index"] for s in signed] == list(range(5))
    for one in signed:
        assert R.verify_receipt(one, key.certificate)
        assert R.verify_receipt(one)  # with the certificate it carries
    forged = {**signed[0], "receipt": {**signed[0]["receipt"], "doc_id": "d-9"}}
    assert not R.verify_receipt(forged, key.certificate)
    wrong_root = {**signed[1], "batch": {**signed[1]["batch"], "root": "00" * 32}}
    assert not R.verify_receipt(wrong_root, key.certificate)
    no_batch = {k: v for k, v in signed[2].items() if k != "batch"}
    assert not R.verify_receipt(no_batch, key.certificate)  # the signature is not over it
    garbage = {**signed[3], "batch": {"size": "5", "index": 3, "root": "x", "path": ["zz"]}}
    assert not R.verify_receipt(garbage, key.certificate)
