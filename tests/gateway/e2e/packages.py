"""Packages for the end-to-end tests, composed with edxml and signed where certs/dev has a key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from edxml import parse
from edxml.build import build_tree, serialize
from edxml.compose import new_document, new_status
from edxml.model import DocumentPackage, ResponseFor
from edxml.signature import sign
from tests.gateway.core.factories import CERTS, NOW, agency_key


def _signed(package: Any, sender: str) -> bytes:
    tree = build_tree(package)
    if (CERTS / f"agency-{sender}.key").exists():
        sign(tree, agency_key(sender))
    return serialize(tree)


def document(
    sender: str,
    to: Iterable[str],
    number: str = "1",
    *,
    business_type: int = 0,
    original: bytes | None = None,
    **fields: Any,
) -> bytes:
    """A document from ``sender`` to ``to``; with ``original`` it revises that document
    (business type 1 revoke, 2 update, 3 replace) and names it in ResponseFor."""
    response_for: tuple[ResponseFor, ...] = ()
    if original is not None:
        first = parse(original)
        assert isinstance(first, DocumentPackage)
        response_for = (
            ResponseFor(
                organ_id=first.from_.organ_id,
                code=str(first.code),
                promulgation_date=first.promulgation.date,
                document_id=first.document_id,
            ),
        )
    package = new_document(
        sender=sender,
        recipients=to,
        subject="V/v thử nghiệm liên thông văn bản điện tử",
        code_number=number,
        code_notation="UBND-VP",
        signer="Nguyễn Văn A",
        business_type=business_type,
        response_for=response_for,
        now=NOW - dt.timedelta(hours=1),
        **fields,
    )
    return _signed(package, sender)


def status(
    original: bytes, sender: str, code: str, *, recipient: str | None = None, minutes: int = 0
) -> bytes:
    """A status about ``original`` from ``sender`` (for 13, ``recipient`` is asked)."""
    first = parse(original)
    assert isinstance(first, DocumentPackage)
    package = new_status(
        first,
        sender=sender,
        code=code,
        recipient=recipient,
        now=NOW - dt.timedelta(minutes=50 - minutes),
    )
    return _signed(package, sender)
