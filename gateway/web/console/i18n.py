"""The console's message catalogue, Vietnamese first with English beside it, and ``t()``.

Vietnamese is the default; ``?lang=en`` (or ``?lang=vi``) on any console URL switches and is
remembered in the ``edxgw_lang`` cookie. Every key exists in both languages: :func:`messages`
refuses a catalogue where one is missing, as ``gateway.core.errors.define`` refuses a clash.
Feature modules register their own keys at import time::

    from gateway.web.console.i18n import messages
    messages({
        "dead.title": ("Thư chết", "Dead letters"),
        "dead.replayed": ("Đã gửi lại {count} lượt chuyển", "{count} deliveries replayed"),
    })

and templates call ``t("dead.title")`` / ``t("dead.replayed", count=3)`` (``str.format``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aiohttp import web

__all__ = ["COOKIE", "LANGUAGES", "LANG_KEY", "language", "messages", "t", "translate"]

LANGUAGES: Final = ("vi", "en")
COOKIE: Final = "edxgw_lang"
LANG_KEY = web.RequestKey("edxgw_console_lang", str)

_CATALOGUE: dict[str, tuple[str, str]] = {}


def messages(entries: Mapping[str, tuple[str, str]]) -> None:
    """Register ``key: (vietnamese, english)`` pairs; a key registered twice must not change."""
    for key, pair in entries.items():
        if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
            raise ValueError(f"message {key!r} needs a Vietnamese and an English text")
        if _CATALOGUE.setdefault(key, pair) != pair:
            raise ValueError(f"message {key!r} registered twice with different texts")


def catalogue() -> dict[str, tuple[str, str]]:
    """Every registered key (for tests)."""
    return dict(_CATALOGUE)


def language(request: web.Request) -> str:
    """``?lang=`` first, then the cookie, then Vietnamese."""
    chosen: str | None = request.get(LANG_KEY)
    if chosen:
        return chosen
    for candidate in (request.query.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return "vi"


def translate(lang: str, key: str, **params: object) -> str:
    """The text of ``key`` in ``lang``; an unknown key shows itself (and a test catches it)."""
    pair = _CATALOGUE.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text


def t(request: web.Request, key: str, **params: object) -> str:
    """The text of ``key`` in the request's language."""
    return translate(language(request), key, **params)


messages(
    {
        # layout and navigation
        "app.title": ("Bảng điều khiển trục liên thông", "Exchange hub console"),
        "nav.search": ("Tra cứu", "Search"),
        "nav.documents": ("Văn bản", "Documents"),
        "nav.dead_letters": ("Thư lỗi", "Dead letters"),
        "nav.directory": ("Danh bạ", "Directory"),
        "nav.statistics": ("Thống kê", "Statistics"),
        "nav.health": ("Tình trạng", "Health"),
        "nav.logout": ("Đăng xuất", "Log out"),
        "nav.language": ("English", "Tiếng Việt"),
        "role.viewer": ("xem", "viewer"),
        "role.operator": ("vận hành", "operator"),
        "common.signed_in_as": ("Đăng nhập: {name} ({role})", "Signed in: {name} ({role})"),
        "common.none": ("(không có)", "(none)"),
        "common.yes": ("có", "yes"),
        "common.no": ("không", "no"),
        "common.next": ("Trang sau →", "Next page →"),
        "common.first": ("← Trang đầu", "← First page"),
        "common.download": ("Tải xuống", "Download"),
        "common.operators_only": ("chỉ vai trò vận hành", "operators only"),
        "common.time_zone": ("Giờ Việt Nam (UTC+7)", "Vietnam time (UTC+7)"),
        # login
        "login.title": ("Đăng nhập", "Sign in"),
        "login.username": ("Tên đăng nhập", "Username"),
        "login.password": ("Mật khẩu", "Password"),
        "login.submit": ("Đăng nhập", "Sign in"),
        "login.logged_out": ("Đã đăng xuất.", "Logged out."),
        "login.hint": (
            "Tài khoản do quản trị hệ thống cấp bằng lệnh edxgw admins add.",
            "Accounts are created with edxgw admins add.",
        ),
        # errors
        "error.title": ("Không thực hiện được", "Not possible"),
        "error.code": ("Mã lỗi", "Error code"),
        "error.back": ("Quay lại", "Go back"),
        # delivery states (gateway/store/lifecycle.py)
        "state.pending": ("chờ gửi", "pending"),
        "state.queued": ("đã xếp hàng", "queued"),
        "state.retrying": ("đang thử lại", "retrying"),
        "state.delivered": ("đã tới hộp thư", "delivered"),
        "state.done": ("đã nhận", "done"),
        "state.failed": ("bên nhận báo lỗi", "failed"),
        "state.dead": ("thư lỗi", "dead"),
        # status codes (QCVN 102 §status)
        "status.01": ("01 Đã đến", "01 Arrived"),
        "status.02": ("02 Từ chối", "02 Refused"),
        "status.03": ("03 Đã tiếp nhận", "03 Received"),
        "status.04": ("04 Đã phân công", "04 Assigned"),
        "status.05": ("05 Đang xử lý", "05 In progress"),
        "status.06": ("06 Hoàn thành", "06 Completed"),
        "status.13": ("13 Đề nghị thu hồi", "13 Recall requested"),
        "status.15": ("15 Đồng ý thu hồi", "15 Recall accepted"),
        "status.16": ("16 Từ chối thu hồi", "16 Recall refused"),
        # business types (BussinessDocType)
        "business.0": ("0 Văn bản mới", "0 New"),
        "business.1": ("1 Thu hồi", "1 Revoke"),
        "business.2": ("2 Cập nhật", "2 Update"),
        "business.3": ("3 Thay thế", "3 Replace"),
        "kind.edoc": ("văn bản", "document"),
        "kind.status": ("trạng thái", "status"),
    }
)
