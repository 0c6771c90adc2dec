"""The webhook signature scheme, both sides: table-driven, no network."""

from __future__ import annotations

import hashlib
import hmac
import io

import pytest

from adapters.webhook import WebhookError, sign, signature_header, verify
from adapters.webhook.signature import sign_file

SECRET = "s3cret-from-edxgw"
BODY = b"<edXMLEnvelope>...</edXMLEnvelope>"
NOW = 1_763_712_000


def headers(mac: str | None = None, ts: int = NOW, delivery: str = "d-1") -> dict[str, str]:
    return {
        "Edxgw-Timestamp": str(ts),
        "Edxgw-Delivery-Id": delivery,
        "Edxgw-Signature": signature_header(mac or sign(SECRET, ts, delivery, BODY)),
    }


def test_the_mac_is_hmac_sha256_over_timestamp_delivery_and_body() -> None:
    # What a receiver in another language recomputes (README, signature.py docstring).
    expected = hmac.new(SECRET.encode(), f"{NOW}.d-1.".encode() + BODY, hashlib.sha256)
    assert sign(SECRET, NOW, "d-1", BODY) == expected.hexdigest()
    mac, sha, size = sign_file(SECRET, NOW, "d-1", io.BytesIO(BODY))
    assert (mac, sha, size) == (expected.hexdigest(), hashlib.sha256(BODY).hexdigest(), len(BODY))


def test_a_genuine_push_verifies() -> None:
    verified = verify(SECRET, headers(), BODY, now=lambda: NOW + 10)
    assert (verified.delivery_id, verified.timestamp) == ("d-1", NOW)


def test_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in headers().items()}
    assert verify(SECRET, lowered, BODY, now=lambda: NOW).delivery_id == "d-1"


def test_rotation_accepts_either_secret_and_several_signatures() -> None:
    old = sign("old", NOW, "d-1", BODY)
    new = sign(SECRET, NOW, "d-1", BODY)
    both = {**headers(), "Edxgw-Signature": signature_header(old, new)}
    assert verify(["old"], both, BODY, now=lambda: NOW).delivery_id == "d-1"
    assert verify([SECRET], both, BODY, now=lambda: NOW).delivery_id == "d-1"
    assert verify(["other", "old"], headers(old), BODY, now=lambda: NOW).delivery_id == "d-1"


@pytest.mark.parametrize(
    ("case", "hdrs", "body", "code"),
    [
        ("wrong secret", headers(sign("other", NOW, "d-1", BODY)), BODY, "signature_invalid"),
        ("body altered", headers(), BODY + b" ", "signature_invalid"),
        (
            "delivery id swapped",
            {**headers(), "Edxgw-Delivery-Id": "d-2"},
            BODY,
            "signature_invalid",
        ),
        (
            "timestamp changed",
            {**headers(), "Edxgw-Timestamp": str(NOW + 1)},
            BODY,
            "signature_invalid",
        ),
        ("replayed an hour later", headers(ts=NOW - 3600), BODY, "timestamp_stale"),
        ("from the future", headers(ts=NOW + 3600), BODY, "timestamp_stale"),
        (
            "no signature",
            {"Edxgw-Timestamp": str(NOW), "Edxgw-Delivery-Id": "d"},
            BODY,
            "signature_missing",
        ),
        (
            "no timestamp",
            {k: v for k, v in headers().items() if k != "Edxgw-Timestamp"},
            BODY,
            "signature_missing",
        ),
        (
            "no delivery id",
            {k: v for k, v in headers().items() if k != "Edxgw-Delivery-Id"},
            BODY,
            "signature_missing",
        ),
        (
            "timestamp not a number",
            {**headers(), "Edxgw-Timestamp": "yesterday"},
            BODY,
            "signature_missing",
        ),
        (
            "unknown scheme only",
            {**headers(), "Edxgw-Signature": "v0=abc"},
            BODY,
            "signature_missing",
        ),
    ],
)
def test_refusals(case: str, hdrs: dict[str, str], body: bytes, code: str) -> None:
    with pytest.raises(WebhookError) as info:
        verify(SECRET, hdrs, body, now=lambda: NOW)
    assert info.value.code == f"webhook.{code}", case
    assert info.value.message_vi and info.value.message_en


def test_tolerance_is_configurable() -> None:
    late = headers(ts=NOW - 100)
    with pytest.raises(WebhookError):
        verify(SECRET, late, BODY, tolerance=60, now=lambda: NOW)
    assert verify(SECRET, late, BODY, tolerance=120, now=lambda: NOW).timestamp == NOW - 100
