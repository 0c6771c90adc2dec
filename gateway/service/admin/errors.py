"""The admin console's refusals (``admin.*``), registered in the core's one catalogue.

Each is raised as :class:`gateway.service.hub.Refused` carrying a problem document, like
every other use case, so the console pages, the ``/api/admin/v1`` JSON API and the CLI
render the same code and the same bilingual text.
"""

from __future__ import annotations

from typing import Any

from gateway.core.errors import Conflict, GatewayError, NotFound, Reason, SenderError, define
from gateway.service.hub import Refused

__all__ = [
    "BAD_RANGE",
    "IS_MERGED",
    "MERGE_CYCLE",
    "NOT_CONFIRMED",
    "REASON_REQUIRED",
    "REPLAY_NOT_DEAD",
    "REPLAY_NOT_FOUND",
    "REPLAY_RECIPIENT_LOCKED",
    "REPLAY_RECIPIENT_MERGED",
    "REPLAY_TOO_MANY",
    "UNKNOWN_AGENCY",
    "UNKNOWN_SUCCESSOR",
    "conflict",
    "invalid",
    "not_found",
]

REASON_REQUIRED = define(
    "admin.reason_required",
    "Cần ghi lý do cho thao tác {action} (được lưu vào nhật ký vết)",
    "A reason is required for {action} (it is kept in the trace)",
)
REPLAY_NOT_FOUND = define(
    "admin.replay.not_found",
    "Không có lượt chuyển {delivery_id}",
    "There is no delivery {delivery_id}",
)
REPLAY_NOT_DEAD = define(
    "admin.replay.not_dead",
    "Lượt chuyển {delivery_id} đang ở trạng thái {state}, không phải thư chết; chỉ gửi lại "
    "được thư chết",
    "Delivery {delivery_id} is {state}, not dead-lettered; only dead letters can be replayed",
)
REPLAY_RECIPIENT_LOCKED = define(
    "admin.replay.recipient_locked",
    "Đơn vị nhận {recipient} đang bị khóa; mở khóa trước khi gửi lại",
    "The recipient {recipient} is locked; unlock it before replaying",
)
REPLAY_RECIPIENT_MERGED = define(
    "admin.replay.recipient_merged",
    "Đơn vị nhận {recipient} đã sáp nhập vào {successor}, bản sao này không gửi lại được; "
    "hãy đề nghị đơn vị gửi gửi lại văn bản",
    "The recipient {recipient} was merged into {successor}; this copy cannot be replayed, "
    "ask the sender to send the document again",
)
REPLAY_TOO_MANY = define(
    "admin.replay.too_many",
    "Mỗi lần chỉ gửi lại được tối đa {limit} lượt chuyển (đã chọn {count})",
    "At most {limit} deliveries can be replayed at once ({count} selected)",
)
UNKNOWN_AGENCY = define(
    "admin.directory.not_found",
    "Không có cơ quan {organ_id} trong danh bạ",
    "There is no agency {organ_id} in the directory",
)
UNKNOWN_SUCCESSOR = define(
    "admin.directory.successor_unknown",
    "Không có cơ quan kế thừa {successor} trong danh bạ",
    "unknown successor {successor}: it is not in the directory",
)
MERGE_CYCLE = define(
    "admin.directory.merge_cycle",
    "Sáp nhập {organ_id} vào {successor} tạo ra chuỗi sáp nhập không kết thúc ({chain})",
    "Merging {organ_id} into {successor} would make a merger chain that never ends ({chain})",
)
IS_MERGED = define(
    "admin.directory.is_merged",
    "{organ_id} đã sáp nhập vào {successor}; văn bản gửi tới đơn vị này được chuyển cho đơn vị "
    "kế thừa, không khóa hay mở khóa được",
    "{organ_id} is merged into {successor}; its mail goes to the successor and it cannot be "
    "locked or unlocked",
)
NOT_CONFIRMED = define(
    "admin.directory.not_confirmed",
    "Chưa xác nhận: nhập đúng mã {organ_id} để {action}",
    "Not confirmed: type the organ id {organ_id} to {action}",
)
BAD_RANGE = define(
    "admin.stats.bad_range",
    "Khoảng thời gian {since} – {until} không hợp lệ (từ 1 đến {days} ngày)",
    "The date range {since} – {until} is not valid (1 to {days} days)",
)


def _refuse(kind: type[GatewayError], reason: Reason, **params: object) -> Refused:
    # The parameters fill the message templates; none is called issues or trace.
    make: Any = kind
    return Refused.of(make(reason, **params))


def invalid(reason: Reason, **params: object) -> Refused:
    """400: the request itself is wrong (a missing reason, a bad range)."""
    return _refuse(SenderError, reason, **params)


def not_found(reason: Reason, **params: object) -> Refused:
    return _refuse(NotFound, reason, **params)


def conflict(reason: Reason, **params: object) -> Refused:
    """409: the request contradicts the current state (replaying a delivered copy)."""
    return _refuse(Conflict, reason, **params)
