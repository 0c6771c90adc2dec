"""The webhook adapter's error codes, and its one exception for people and programs.

Codes are registered in the gateway's catalogue (``gateway.core.errors.define``), so the
README lists them with both languages. Three families::

    receiving side (adapters.webhook.signature.verify, for agency developers)
        webhook.signature_missing   a header of the signature scheme is absent or malformed
        webhook.signature_invalid   the HMAC does not match the body (wrong secret, altered)
        webhook.timestamp_stale     the timestamp is outside the tolerance (a replay?)
        webhook.not_edxml           the body is not XML (adapters.webhook.receiver, 400)
        webhook.receiver_failed     the receiver's own storage failed (receiver, 503)
    pushing side (adapters.webhook.sink: the consumer effect's failure codes, which become
    the delivery's last_error and the deliver/retry or deliver/dead_letter trace detail)
        webhook.not_configured      the agency is in push mode but has no endpoint   retry
        webhook.refused             the receiver answered 400/413/415/422            dead
        webhook.redirected          the receiver answered 3xx (never followed)       dead
        webhook.http_error          any other non-2xx answer (401, 404, 429, 5xx…)   retry
        webhook.timeout             no complete answer within the endpoint's timeout retry
        webhook.unreachable         DNS, connection refused or reset                 retry
        webhook.tls_failed          the TLS handshake failed (certificate, mTLS)     retry
        webhook.package_unreadable  the sealed package is missing or does not match  retry
    configuration (edxgw webhook set)
        webhook.bad_config          the URL, CA file, timeout or concurrency is unusable
"""

from __future__ import annotations

from gateway.core.errors import Reason, define

__all__ = [
    "BAD_CONFIG",
    "HTTP_ERROR",
    "NOT_CONFIGURED",
    "NOT_EDXML",
    "PACKAGE_UNREADABLE",
    "RECEIVER_FAILED",
    "REDIRECTED",
    "REFUSED",
    "SIGNATURE_INVALID",
    "SIGNATURE_MISSING",
    "TIMEOUT",
    "TIMESTAMP_STALE",
    "TLS_FAILED",
    "UNREACHABLE",
    "WebhookError",
]

SIGNATURE_MISSING = define(
    "webhook.signature_missing",
    "Thiếu hoặc sai dạng tiêu đề {header} của chữ ký webhook",
    "The webhook signature header {header} is missing or malformed",
)
SIGNATURE_INVALID = define(
    "webhook.signature_invalid",
    "Chữ ký HMAC của webhook không khớp với nội dung (sai khóa bí mật hoặc nội dung bị sửa)",
    "The webhook HMAC does not match the body (wrong secret, or the body was altered)",
)
TIMESTAMP_STALE = define(
    "webhook.timestamp_stale",
    "Thời điểm ký webhook lệch {skew} giây, quá giới hạn {tolerance} giây (có thể bị phát lại)",
    "The webhook timestamp is {skew} s off, beyond the {tolerance} s tolerance (a replay?)",
)
NOT_EDXML = define(
    "webhook.not_edxml",
    "Nội dung được đẩy tới không phải gói tin edXML",
    "The pushed body is not an edXML package",
)
RECEIVER_FAILED = define(
    "webhook.receiver_failed",
    "Hệ thống nhận chưa lưu được gói tin; trục sẽ gửi lại",
    "The receiver could not store the package; the hub will retry",
)
NOT_CONFIGURED = define(
    "webhook.not_configured",
    "Đơn vị {organ} nhận văn bản kiểu đẩy (push) nhưng chưa có địa chỉ webhook: "
    "edxgw webhook set {organ} --url ...",
    "Agency {organ} is in push mode but has no webhook endpoint: edxgw webhook set {organ} --url",
)
REFUSED = define(
    "webhook.refused",
    "Hệ thống nhận từ chối gói tin (HTTP {status}); không gửi lại",
    "The receiver refused the package (HTTP {status}); not retried",
)
REDIRECTED = define(
    "webhook.redirected",
    "Hệ thống nhận chuyển hướng (HTTP {status}); trục không đi theo chuyển hướng, "
    "hãy cấu hình đúng địa chỉ",
    "The receiver redirected (HTTP {status}); the hub does not follow redirects, "
    "configure the final URL",
)
HTTP_ERROR = define(
    "webhook.http_error",
    "Hệ thống nhận trả lời HTTP {status}; sẽ gửi lại",
    "The receiver answered HTTP {status}; will retry",
)
TIMEOUT = define(
    "webhook.timeout",
    "Hệ thống nhận không trả lời trong {seconds} giây; sẽ gửi lại",
    "The receiver did not answer within {seconds} s; will retry",
)
UNREACHABLE = define(
    "webhook.unreachable",
    "Không kết nối được tới hệ thống nhận ({reason}); sẽ gửi lại",
    "Cannot connect to the receiver ({reason}); will retry",
)
TLS_FAILED = define(
    "webhook.tls_failed",
    "Bắt tay TLS với hệ thống nhận thất bại ({reason}); sẽ gửi lại",
    "The TLS handshake with the receiver failed ({reason}); will retry",
)
PACKAGE_UNREADABLE = define(
    "webhook.package_unreadable",
    "Không đọc được gói tin đã niêm phong {blob_key} ({reason}); sẽ thử lại",
    "The sealed package {blob_key} cannot be read ({reason}); will retry",
)
BAD_CONFIG = define(
    "webhook.bad_config",
    "Cấu hình webhook không dùng được: {detail_vi}",
    "The webhook configuration is unusable: {detail_en}",
)


class WebhookError(Exception):
    """A refusal with a stable ``code`` and its message in Vietnamese and English."""

    def __init__(self, why: Reason, /, **params: object) -> None:
        self.code = why.code
        self.message_vi = why.vi.format(**params)
        self.message_en = why.en.format(**params)
        super().__init__(f"{self.code}: {self.message_en} / {self.message_vi}")
