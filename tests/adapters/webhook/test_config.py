"""Endpoint rules and what a receiver's HTTP status means: table-driven."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.webhook import WebhookError, check_endpoint, classify

ROOT = Path(__file__).resolve().parents[3]
CA = str(ROOT / "certs" / "dev" / "ca.crt")


@pytest.mark.parametrize(
    ("status", "delivered", "code", "retryable"),
    [
        (200, True, None, True),
        (202, True, None, True),
        (204, True, None, True),
        (301, False, "webhook.redirected", False),
        (307, False, "webhook.redirected", False),
        (400, False, "webhook.refused", False),
        (413, False, "webhook.refused", False),
        (415, False, "webhook.refused", False),
        (422, False, "webhook.refused", False),
        (401, False, "webhook.http_error", True),
        (404, False, "webhook.http_error", True),
        (408, False, "webhook.http_error", True),
        (429, False, "webhook.http_error", True),
        (500, False, "webhook.http_error", True),
        (503, False, "webhook.http_error", True),
    ],
)
def test_classify(status: int, delivered: bool, code: str | None, retryable: bool) -> None:
    verdict = classify(status)
    assert (verdict.delivered, verdict.code) == (delivered, code)
    if not delivered:
        assert verdict.retryable is retryable


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("https://qlvb.tinh.gov.vn/edxgw", {}),
        ("https://qlvb.tinh.gov.vn/edxgw", {"tls_client": True, "ca_file": CA}),
        ("http://127.0.0.1:8081/hook", {"production": True}),
        ("http://localhost/hook", {"production": True}),
        ("http://10.0.0.5/hook", {}),
        ("http://10.0.0.5/hook", {"production": True, "allow_http": True}),
        ("https://x.example/h", {"timeout_seconds": 600, "concurrency": 256}),
    ],
)
def test_usable_endpoints(url: str, options: dict[str, object]) -> None:
    check_endpoint(url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "options", "needle"),
    [
        ("ftp://x.example/h", {}, "absolute http(s)"),
        ("/relative/path", {}, "absolute http(s)"),
        ("https://user:pw@x.example/h", {}, "no user or password"),
        ("http://10.0.0.5/hook", {"production": True}, "https:// only"),
        ("http://x.example/h", {"tls_client": True}, "mTLS"),
        ("http://x.example/h", {"ca_file": CA}, "--ca only"),
        ("https://x.example/h", {"ca_file": "/nonexistent/ca.crt"}, "no CA file"),
        ("https://x.example/h", {"ca_file": str(ROOT / "README.md")}, "cannot load CA file"),
        ("https://x.example/h", {"timeout_seconds": 0}, "timeout"),
        ("https://x.example/h", {"concurrency": 0}, "concurrency"),
    ],
)
def test_unusable_endpoints(url: str, options: dict[str, object], needle: str) -> None:
    with pytest.raises(WebhookError) as info:
        check_endpoint(url, **options)  # type: ignore[arg-type]
    assert info.value.code == "webhook.bad_config"
    assert needle in info.value.message_en
