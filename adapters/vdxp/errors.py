"""The uplink's stable codes (``uplink.*``): why a package waits, is retried or dead-lettered.

They are registered in the gateway's one catalogue (``gateway.core.errors.define``), listed in
the README, and appear as a delivery's ``last_error``, in dead-letter reasons, in the trace
and in :class:`~adapters.vdxp.status.UplinkStatus`::

    code                          raised as          what happens to the package
    uplink.unavailable            EffectDeferred     stays in P.uplink (no attempt counted)
    uplink.unauthorized           EffectDeferred     stays in P.uplink until the secret is fixed
    uplink.upstream_error         EffectFailed(r)    retried with backoff (delay queues)
    uplink.sender_not_registered  EffectFailed(r)    registered again, retried with backoff
    uplink.misrouted              EffectFailed(r)    published again through P.route (a peer
                                                     queue was bound after it was routed)
    uplink.refused                EffectFailed       dead-lettered: the axis refuses it for good
    uplink.package_missing        EffectFailed       dead-lettered: the sealed blob is gone

(r) = retryable. Items this hub downloads and refuses are acknowledged ``fail`` upstream with
the refusal's own code (``edxml.*``, ``route.*``...), not one of these.
"""

from __future__ import annotations

from gateway.core.errors import Reason, define

__all__ = [
    "MISROUTED",
    "PACKAGE_MISSING",
    "REFUSED",
    "SENDER_NOT_REGISTERED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "UPSTREAM_ERROR",
    "render",
]

UNAVAILABLE = define(
    "uplink.unavailable",
    "Không kết nối được trục cấp trên {endpoint} ({reason}); trục giữ lại gói tin và thử lại sau",
    "The upstream axis {endpoint} cannot be reached ({reason}); the hub keeps the packages and "
    "tries again",
)
UNAUTHORIZED = define(
    "uplink.unauthorized",
    "Trục cấp trên {endpoint} từ chối thông tin xác thực của hệ thống {system} "
    "(ErrorCode {error_code}); kiểm tra uplink_system_id và uplink_secret",
    "The upstream axis {endpoint} refuses the credentials of system {system} "
    "(ErrorCode {error_code}); check uplink_system_id and uplink_secret",
)
UPSTREAM_ERROR = define(
    "uplink.upstream_error",
    "Trục cấp trên gặp lỗi khi nhận gói tin (ErrorCode {error_code}: {desc}); sẽ gửi lại sau",
    "The upstream axis failed to take the package (ErrorCode {error_code}: {desc}); it is sent "
    "again later",
)
SENDER_NOT_REGISTERED = define(
    "uplink.sender_not_registered",
    "Trục cấp trên chưa ghi nhận đơn vị gửi {sender} thuộc hệ thống {system}; đã đăng ký lại, "
    "gói tin sẽ được gửi lại",
    "The upstream axis does not know the sending agency {sender} under system {system}; it was "
    "registered again and the package is sent again",
)
MISROUTED = define(
    "uplink.misrouted",
    "Lượt chuyển {delivery_id} ({route}) lọt vào hàng đợi lên trục trên; được định tuyến lại",
    "Delivery {delivery_id} ({route}) reached the uplink queue; it is routed again",
)
REFUSED = define(
    "uplink.refused",
    "Trục cấp trên từ chối gói tin (ErrorCode {error_code}: {desc})",
    "The upstream axis refuses the package (ErrorCode {error_code}: {desc})",
)
PACKAGE_MISSING = define(
    "uplink.package_missing",
    "Không còn gói tin đã niêm phong của văn bản {doc_id} trong kho tệp ({blob_key})",
    "The sealed package of document {doc_id} is missing from the blob store ({blob_key})",
)

_SHOWN = 160  # the upstream's ErrorDesc is echoed, cut short


def render(reason: Reason, /, **params: object) -> tuple[str, str]:
    """The Vietnamese and English text of ``reason`` (long upstream text cut short)."""
    values = {k: _cut(str(v)) for k, v in params.items()}
    return reason.vi.format(**values), reason.en.format(**values)


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
