"""Statistics in the console: charts (Chart.js), tables, CSV export, JSON (issue 5, item 6).

::

    GET /console/statistics                ?since=YYYY-MM-DD&until=YYYY-MM-DD (Vietnam days)
    GET /console/statistics/export.csv     ?table=daily|electronic|times|overdue&since=&until=
    GET /api/admin/v1/statistics           the same figures as JSON
    GET /api/admin/v1/statistics/export.csv

The definitions of every figure are in ``gateway.service.admin.stats`` (and the README). The
page hands its figures to ``static/stats.js`` as a JSON data block (``type=application/json``
is data, not script, so the Content-Security-Policy's "no inline script" holds), and the
script draws them with the vendored Chart.js (``static/vendor/chartjs``).
"""

from __future__ import annotations

import json

from aiohttp import web

from gateway.service.admin.stats import CSV_TABLES, LEVELS, Report, tier, to_csv
from gateway.service.hub import Refused
from gateway.web.console import errors
from gateway.web.console.access import record, require
from gateway.web.console.i18n import language as lang_of
from gateway.web.console.i18n import messages, translate
from gateway.web.console.ops import OPS
from gateway.web.console.render import render

__all__ = ["setup"]

messages(
    {
        "stats.title": ("Thống kê", "Statistics"),
        "stats.since": ("Từ ngày", "From"),
        "stats.until": ("Đến ngày", "To"),
        "stats.show": ("Xem", "Show"),
        "stats.documents": ("Văn bản gửi", "Documents sent"),
        "stats.fully": ("Liên thông hoàn toàn điện tử", "Exchanged fully electronically"),
        "stats.fully_def": (
            "Văn bản có chữ ký số của đơn vị gửi được trục xác thực và mọi bản đều đã chuyển "
            "tới đơn vị nhận bằng điện tử.",
            "Documents whose sender's digital signature the hub verified and whose every copy "
            "was handed over electronically.",
        ),
        "stats.signed": ("Có chữ ký số hợp lệ", "Validly signed"),
        "stats.handed_over": ("Đã chuyển hết", "All copies handed over"),
        "stats.unknown": ("Chưa rõ (nhận trước khi ghi chữ ký)", "Unknown (before verdicts)"),
        "stats.overdue": ("Quá hạn xử lý", "Overdue"),
        "stats.per_day_level": ("Văn bản gửi mỗi ngày theo cấp", "Documents sent per day by level"),
        "stats.per_agency": ("Theo đơn vị", "Per agency"),
        "stats.share_chart": (
            "Tỷ lệ liên thông hoàn toàn điện tử theo đơn vị gửi",
            "Share exchanged fully electronically, per sender",
        ),
        "stats.times": ("Thời gian xử lý (trung vị, giờ)", "Processing times (median, hours)"),
        "stats.times_def": (
            "Từ lúc trục nhận văn bản tới trạng thái 03 (đã nhận) và 06 (hoàn thành) đầu tiên "
            "của đơn vị nhận, theo giờ của trục.",
            "From the hub accepting the document to the recipient's first 03 (received) and "
            "06 (completed), by the hub's clock.",
        ),
        "stats.to_03": ("Tới 03 (giờ)", "To 03 (hours)"),
        "stats.to_06": ("Tới 06 (giờ)", "To 06 (hours)"),
        "stats.copies": ("Số bản", "Copies"),
        "stats.waiting_03": ("Chưa có 03", "No 03 yet"),
        "stats.waiting_06": ("Chưa có 06", "No 06 yet"),
        "stats.agency": ("Đơn vị", "Agency"),
        "stats.level": ("Cấp", "Level"),
        "stats.sent": ("Gửi", "Sent"),
        "stats.received": ("Nhận", "Received"),
        "stats.share": ("Tỷ lệ", "Share"),
        "stats.overdue_title": ("Văn bản quá hạn xử lý ({n})", "Overdue documents ({n})"),
        "stats.overdue_def": (
            "Hạn xử lý (DueDate) đã qua mà đơn vị nhận chưa báo 06, chưa từ chối (02) và văn "
            "bản chưa được thu hồi.",
            "DueDate has passed and the recipient has not reported 06, refused (02), nor had "
            "the document recalled.",
        ),
        "stats.due": ("Hạn xử lý", "Due"),
        "stats.days_late": ("Trễ (ngày)", "Days late"),
        "stats.progress": ("Tiến độ", "Progress"),
        "stats.csv": ("Tải CSV", "Download CSV"),
        "stats.queues": (
            "Độ sâu hàng đợi và độ trễ outbox: xem trang Tình trạng",
            "Queue depths and outbox lag: see the Health page",
        ),
        "stats.none": ("Không có số liệu trong khoảng này.", "No figures in this range."),
        "stats.level_central": ("Trung ương", "Central"),
        "stats.level_province": ("Tỉnh", "Province"),
        "stats.level_district": ("Huyện / sở", "District"),
        "stats.level_commune": ("Xã", "Commune"),
        "stats.level_other": ("Khác", "Other"),
    }
)


async def _report(request: web.Request, *, overdue_limit: int = 100) -> Report:
    stats = request.app[OPS].statistics
    window = stats.window(request.query.get("since") or None, request.query.get("until") or None)
    return await stats.report(window, overdue_limit=overdue_limit)


@require("viewer")
async def page(request: web.Request) -> web.StreamResponse:
    """Documents per day, electronic share, processing times, overdue documents."""
    report = await _report(request)
    lang = lang_of(request)
    data = report.as_json()
    chart = {
        "days": [d.isoformat() for d in report.window.days],
        "levels": [
            {"key": level, "label": translate(lang, f"stats.level_{level}")} for level in LEVELS
        ],
        "per_day_level": data["per_day_level"],
        "electronic": data["electronic"],
        "times": data["processing_times"],
        "labels": {
            "documents": translate(lang, "stats.documents"),
            "share": translate(lang, "stats.share"),
            "to_03": translate(lang, "stats.to_03"),
            "to_06": translate(lang, "stats.to_06"),
        },
    }
    # The data block is JSON inside <script type="application/json">: "</" must not end it.
    blob = json.dumps(chart, ensure_ascii=False).replace("</", "<\\/")
    return render(
        request,
        "statistics.html",
        {
            "active": "statistics",
            "r": report,
            "data": data,
            "chart_json": blob,
            "tables": CSV_TABLES,
            "tier": tier,
            "since": report.window.since.isoformat(),
            "until": report.window.until.isoformat(),
        },
    )


@require("viewer")
async def api(request: web.Request) -> web.StreamResponse:
    """Documents per day, electronic share, processing times, overdue documents (JSON)."""
    return web.json_response((await _report(request)).as_json())


@require("viewer")
async def export(request: web.Request) -> web.StreamResponse:
    """One table of the statistics as CSV (UTF-8 with BOM)."""
    table = request.query.get("table", "")
    if table not in CSV_TABLES:
        raise Refused(errors.problem(errors.BAD_QUERY, reason=f"table={table}"))
    report = await _report(request, overdue_limit=1000)
    await record(
        request,
        "admin.stats_export",
        {
            "table": table,
            "since": report.window.since.isoformat(),
            "until": report.window.until.isoformat(),
        },
    )
    name = f"edxgw-{table}-{report.window.since}-{report.window.until}.csv"
    return web.Response(
        body=to_csv(report, table).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def setup(app: web.Application) -> None:
    from gateway.web.console import ops

    ops.setup(app)
    app.router.add_get("/console/statistics", page)
    app.router.add_get("/console/statistics/export.csv", export)
    app.router.add_get("/api/admin/v1/statistics", api)
    app.router.add_get("/api/admin/v1/statistics/export.csv", export)
