"""Sign a pushed delivery (the gateway) and verify it (the agency's receiver): HMAC-SHA256.

The scheme, for receivers written in any language::

    Edxgw-Timestamp: 1763712000                 Unix time (seconds) when the hub signed
    Edxgw-Delivery-Id: 01JD...                  the delivery; also the de-duplication key
    Edxgw-Signature: v1=<64 hex>[, v1=<hex>]    HMAC-SHA256(secret, "<timestamp>.<delivery id>."
                                                             + body), lower-case hex

The secret is the one ``edxgw webhook set`` printed (UTF-8). Binding the timestamp and the
delivery id into the MAC means an eavesdropper can neither replay an old push as new (the
receiver refuses timestamps outside ``tolerance``, 5 minutes by default) nor pass one delivery
off as another. While a secret is being rotated the receiver may accept several secrets.
Pushes are at-least-once: a receiver stores each ``Edxgw-Delivery-Id`` once and answers 2xx to
a repeat. Compare in constant time (:func:`hmac.compare_digest`), as :func:`verify` does.

The scheme needs nothing but HMAC-SHA256 (``hmac``, ``hashlib`` here), so an agency's
developers can reimplement it in any stack; ``adapters.webhook.receiver`` wraps :func:`verify` in
an aiohttp handler.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from adapters.webhook.errors import (
    SIGNATURE_INVALID,
    SIGNATURE_MISSING,
    TIMESTAMP_STALE,
    WebhookError,
)

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "Verified",
    "sign",
    "sign_file",
    "signature_header",
    "verify",
]

TIMESTAMP_HEADER = "Edxgw-Timestamp"
DELIVERY_HEADER = "Edxgw-Delivery-Id"
SIGNATURE_HEADER = "Edxgw-Signature"
#: How far a receiver lets the hub's clock and its own drift apart (and how long a captured
#: push stays replayable, which de-duplication on the delivery id then absorbs).
TOLERANCE_SECONDS = 300
_SCHEME = "v1"
_CHUNK = 1024 * 1024


def _mac(secret: str, timestamp: int, delivery_id: str) -> hmac.HMAC:
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(f"{timestamp}.{delivery_id}.".encode())
    return mac


def sign(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """The hex HMAC of one push (what follows ``v1=``)."""
    mac = _mac(secret, timestamp, delivery_id)
    mac.update(body)
    return mac.hexdigest()


def sign_file(secret: str, timestamp: int, delivery_id: str, fh: BinaryIO) -> tuple[str, str, int]:
    """Sign a body read from ``fh`` in chunks; returns (hex HMAC, hex SHA-256, size).

    The gateway signs sealed packages of tens of MB without holding them in memory (invariant
    §3.5), and checks the SHA-256 against the claim check in the same pass.
    """
    mac = _mac(secret, timestamp, delivery_id)
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(_CHUNK):
        mac.update(chunk)
        digest.update(chunk)
        size += len(chunk)
    return mac.hexdigest(), digest.hexdigest(), size


def signature_header(*hex_macs: str) -> str:
    """``v1=<hex>`` (several while the hub signs with an old and a new secret)."""
    return ", ".join(f"{_SCHEME}={m}" for m in hex_macs)


@dataclass(frozen=True, slots=True)
class Verified:
    """A push whose signature checked out."""

    delivery_id: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; a plain dict from a framework may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None or not value.strip():
        raise WebhookError(SIGNATURE_MISSING, header=name)
    return value.strip()


def verify(
    secrets: str | Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
) -> Verified:
    """Check a received push; raise :class:`WebhookError` with the reason, else return it.

    ``secrets``: the endpoint's secret, or several during a rotation. ``headers``: the
    request's headers (any mapping; names are matched case-insensitively). ``body``: the raw
    request body, exactly as received (before any XML parsing or re-encoding).
    """
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    delivery_id = _header(headers, DELIVERY_HEADER)
    offered = [
        value.strip()
        for scheme, _, value in (
            part.strip().partition("=") for part in _header(headers, SIGNATURE_HEADER).split(",")
        )
        if scheme == _SCHEME and value.strip()
    ]
    if not raw_timestamp.isdigit():
        raise WebhookError(SIGNATURE_MISSING, header=TIMESTAMP_HEADER)
    if not offered:
        raise WebhookError(SIGNATURE_MISSING, header=SIGNATURE_HEADER)
    timestamp = int(raw_timestamp)
    expected = [sign(key, timestamp, delivery_id, body) for key in keys]
    # Every pair is compared (no early exit), in constant time per comparison.
    matched = False
    for mine in expected:
        for theirs in offered:
            matched |= hmac.compare_digest(mine, theirs.lower())
    if not matched:
        raise WebhookError(SIGNATURE_INVALID)
    # The age is checked after the MAC: an attacker cannot learn anything from the order, and
    # a receiver's log then says "stale" only for genuine (replayed or delayed) pushes.
    skew = abs(now() - timestamp)
    if skew > tolerance:
        raise WebhookError(TIMESTAMP_STALE, skew=int(skew), tolerance=tolerance)
    return Verified(delivery_id=delivery_id, timestamp=timestamp)
