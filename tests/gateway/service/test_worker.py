"""The worker's part after the core (gateway/service/worker.py): where the sealed bytes go."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.core import Context, CountingIds, Directory, Keys
from gateway.core.receipt import verify_receipt
from gateway.core.values import Accepted
from gateway.service.worker import run
from tests.gateway.core.factories import (
    AGENCIES,
    ALIASES,
    CERTS,
    HUB,
    NOW,
    agency_key,
    document,
    submission,
)

SENDER = "000.21.31.H53"  # a commune with a dev certificate


@pytest.fixture(scope="module")
def ctx() -> Context:
    keys = Keys.from_files(
        key_file=CERTS / "gateway.key",
        cert_file=CERTS / "gateway.crt",
        ca_files=[CERTS / "ca.crt"],
        crl_files=[CERTS / "ca.crl"],
    )
    return Context(
        node="node-1",
        hub_organ_id=HUB,
        keys=keys,
        directory=Directory(AGENCIES, ALIASES),
        now=NOW,
        ids=CountingIds("id"),
    )


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _package() -> bytes:
    return document(SENDER, ["000.00.31.H53"], signed_by=agency_key(SENDER))


def test_a_small_package_comes_back_to_be_committed_with_the_store(
    ctx: Context, tmp_path: Path
) -> None:
    outcome = run(submission(_package(), SENDER), ctx, str(tmp_path), inline_limit=1 << 20)
    result = outcome.result
    assert isinstance(result, Accepted)
    assert result.sealed  # for Store.accept(sealed=...)
    assert result.message.blob_key == "sha256/" + hashlib.sha256(result.sealed).hexdigest()
    assert _files(tmp_path) == []  # no blob file, no fsync
    assert outcome.receipt is not None
    assert verify_receipt(outcome.receipt, ctx.keys.signing_key.certificate)


@pytest.mark.parametrize("limit", [0, 100])
def test_a_package_over_the_limit_is_a_blob_file(ctx: Context, tmp_path: Path, limit: int) -> None:
    outcome = run(submission(_package(), SENDER), ctx, str(tmp_path), inline_limit=limit)
    result = outcome.result
    assert isinstance(result, Accepted)
    assert result.sealed == b""  # not pickled back: it is on disk
    [blob] = _files(tmp_path)
    assert blob.name == result.message.blob_key.split("/")[1]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
