"""The admin console's refusals: stable ``admin.*`` codes with Vietnamese and English text.

They travel as :class:`gateway.service.hub.Refused` (a :class:`~gateway.core.errors.Problem`)
like every refusal of the REST door; the console renders them as an HTML page, the admin
JSON API (``/api/admin/v1``) as an RFC 9457 problem document::

    admin.login_required   401  no session, or it ended (idle, expired, logged out)
    admin.bad_credentials  401  wrong username or password (the same answer for both)
    admin.locked_out       429  too many failed logins of this username; wait
    admin.forbidden        403  the admin's role does not allow this (viewer vs operator)
    admin.csrf_failed      403  a state change without this session's CSRF token
    admin.bad_query        400  a search or form parameter that cannot be used
    admin.not_found        404  no such document, attachment or page
    admin.package_missing  500  the message row exists but its package file is gone
"""

from __future__ import annotations

from gateway.core.errors import Problem, Reason, define

__all__ = [
    "BAD_CREDENTIALS",
    "BAD_QUERY",
    "CSRF_FAILED",
    "FORBIDDEN",
    "LOCKED_OUT",
    "LOGIN_REQUIRED",
    "NOT_FOUND",
    "PACKAGE_MISSING",
    "problem",
]

LOGIN_REQUIRED = define(
    "admin.login_required",
    "Cần đăng nhập bảng điều khiển quản trị (phiên chưa có, đã hết hạn hoặc đã đăng xuất)",
    "Sign in to the admin console first (no session, or it expired or was logged out)",
)
BAD_CREDENTIALS = define(
    "admin.bad_credentials",
    "Tên đăng nhập hoặc mật khẩu không đúng",
    "Wrong username or password",
)
LOCKED_OUT = define(
    "admin.locked_out",
    "Tài khoản {username} tạm khóa sau {failures} lần đăng nhập sai; thử lại sau {minutes} phút",
    "The account {username} is locked after {failures} failed logins; try again in {minutes}"
    " minutes",
)
FORBIDDEN = define(
    "admin.forbidden",
    "Tài khoản {username} (vai trò {role}) không được làm việc này; cần vai trò {needed}",
    "The account {username} (role {role}) may not do this; it needs the role {needed}",
)
CSRF_FAILED = define(
    "admin.csrf_failed",
    "Yêu cầu thay đổi bị từ chối: thiếu hoặc sai mã chống giả mạo (CSRF); hãy tải lại trang",
    "The change is refused: its anti-forgery (CSRF) token is missing or wrong; reload the page",
)
BAD_QUERY = define(
    "admin.bad_query",
    "Tham số không hợp lệ: {reason}",
    "Invalid parameter: {reason}",
)
NOT_FOUND = define(
    "admin.not_found",
    "Không tìm thấy {what}",
    "There is no {what}",
)
PACKAGE_MISSING = define(
    "admin.package_missing",
    "Không tìm thấy tệp gói tin của văn bản {doc_id} trong kho tệp ({blob_key})",
    "The package file of document {doc_id} is missing from the blob store ({blob_key})",
)

_STATUS = {
    LOGIN_REQUIRED.code: 401,
    BAD_CREDENTIALS.code: 401,
    LOCKED_OUT.code: 429,
    FORBIDDEN.code: 403,
    CSRF_FAILED.code: 403,
    BAD_QUERY.code: 400,
    NOT_FOUND.code: 404,
    PACKAGE_MISSING.code: 500,
}


def problem(code: Reason, /, **params: object) -> Problem:
    """The problem value of an ``admin.*`` refusal, with its HTTP status."""
    status = _STATUS.get(code.code, 400)
    return Problem(
        code=code.code,
        http_status=status,
        retryable=status in (429, 503),
        message_vi=code.vi.format(**params),
        message_en=code.en.format(**params),
        fault="local" if status >= 500 else "sender",
    )
