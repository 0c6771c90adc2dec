"""A push endpoint's configuration: what ``edxgw webhook set`` accepts, and the receiver contract.

The endpoint itself is a :class:`gateway.store.WebhookEndpoint` row (migration 8), one per
local agency in ``push`` delivery mode. :func:`check_endpoint` refuses what cannot work before
it is stored: a URL that is not absolute http(s), credentials in the URL (they would end up in
logs), plain ``http://`` to another host in production (official documents in clear text), mTLS
over plain HTTP, a CA file that does not load, timeouts and concurrency out of range.

What the receiver answers decides what the hub does (:func:`classify`)::

    2xx                      delivered: the receiver has stored the package durably
    400, 413, 415, 422       refused for good: dead-lettered at once (webhook.refused)
    3xx                      dead-lettered: the hub never follows redirects (webhook.redirected)
    anything else            retried with exponential backoff, dead-lettered after
                             delivery_max_attempts (webhook.http_error)
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from adapters.webhook.errors import BAD_CONFIG, WebhookError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "DELIVERY_MODE",
    "PERMANENT_STATUSES",
    "Verdict",
    "check_endpoint",
    "classify",
]

#: The ``Agency.delivery_mode`` whose deliveries are pushed.
DELIVERY_MODE = "push"
DEFAULT_TIMEOUT = 30
DEFAULT_CONCURRENCY = 4
#: Answers that mean "this content will never be accepted": retrying cannot help.
PERMANENT_STATUSES = frozenset({400, 413, 415, 422})


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the hub reads a receiver's HTTP status."""

    delivered: bool
    code: str | None = None  # the failure code when not delivered
    retryable: bool = True


def classify(status: int) -> Verdict:
    """What an HTTP status from a receiver means (module doc)."""
    if 200 <= status < 300:
        return Verdict(delivered=True)
    if 300 <= status < 400:
        return Verdict(False, "webhook.redirected", retryable=False)
    if status in PERMANENT_STATUSES:
        return Verdict(False, "webhook.refused", retryable=False)
    return Verdict(False, "webhook.http_error", retryable=True)


def _bad(vi: str, en: str) -> WebhookError:
    return WebhookError(BAD_CONFIG, detail_vi=vi, detail_en=en)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(
    url: str,
    *,
    tls_client: bool = False,
    ca_file: str | None = None,
    timeout_seconds: int = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    production: bool = False,
    allow_http: bool = False,
) -> None:
    """Refuse an endpoint that cannot work (``webhook.bad_config``, module doc)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(
            f"địa chỉ phải là URL http(s) tuyệt đối, không phải {url!r}",
            f"the URL must be an absolute http(s) URL, not {url!r}",
        )
    if parts.username or parts.password:
        raise _bad(
            "không đặt tài khoản/mật khẩu trong URL (chúng sẽ lộ trong nhật ký)",
            "no user or password in the URL (they would end up in logs)",
        )
    if parts.scheme == "http":
        if tls_client:
            raise _bad("mTLS cần địa chỉ https://", "mTLS (--tls-client) needs an https:// URL")
        if production and not allow_http and not _loopback(parts.hostname):
            raise _bad(
                "khi vận hành, văn bản chỉ được đẩy qua https:// (hoặc dùng --allow-http nếu "
                "đường truyền đã được mã hóa ở lớp khác)",
                "in production documents are pushed over https:// only (--allow-http if the "
                "link is encrypted by other means)",
            )
    if ca_file is not None:
        if parts.scheme != "https":
            raise _bad("--ca chỉ dùng với https://", "--ca only applies to https:// URLs")
        if not Path(ca_file).is_file():
            raise _bad(f"không có tệp CA {ca_file}", f"no CA file {ca_file}")
        try:
            ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, ValueError) as exc:
            raise _bad(
                f"không nạp được tệp CA {ca_file}: {exc}", f"cannot load CA file {ca_file}: {exc}"
            ) from None
    if not 1 <= timeout_seconds <= 600:
        raise _bad("thời gian chờ phải từ 1 đến 600 giây", "the timeout must be 1-600 seconds")
    if not 1 <= concurrency <= 256:
        raise _bad("số lượt đẩy đồng thời phải từ 1 đến 256", "concurrency must be 1-256")
