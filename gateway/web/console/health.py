"""The health page of the console and its JSON twin (issue 5, item 7).

::

    GET  /console/health                       store, broker, outbox lag, queue depths, links,
                                               certificates (30 days ahead), CRLs, trace chain
    POST /console/health/trace-check           verify the whole trace chain now     operator
    GET  /api/admin/v1/health
    POST /api/admin/v1/health/trace-check                                            operator

What each part means and where it comes from: ``gateway.service.admin.health``. ``/readyz``
stays the load balancer's one-word answer; this page is for people.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.console.access import record, redirect, require
from gateway.web.console.i18n import messages
from gateway.web.console.ops import OPS
from gateway.web.console.render import render

__all__ = ["setup"]

messages(
    {
        "health.title": ("Tình trạng hệ thống", "Health"),
        "health.overall": ("Tổng thể", "Overall"),
        "health.node": ("Nút", "Node"),
        "health.level_ok": ("bình thường", "ok"),
        "health.level_warning": ("cảnh báo", "warning"),
        "health.level_error": ("lỗi", "error"),
        "health.level_unknown": ("chưa rõ", "unknown"),
        "health.check_store": ("Kho dữ liệu", "Store"),
        "health.check_broker": ("RabbitMQ", "RabbitMQ"),
        "health.check_outbox": (
            "Outbox (chưa gửi / tuổi bản cũ nhất)",
            "Outbox (unpublished / oldest)",
        ),
        "health.check_dead_letters": ("Thư lỗi trong kho", "Dead letters (store)"),
        "health.check_dead_queue": ("Bản sao trong hàng đợi thư lỗi", "Copies in the dead queue"),
        "health.check_links": ("Kết nối trục trên / trục dưới", "Uplink / peer links"),
        "health.check_certificates": (
            "Chứng thư số (cảnh báo trước 30 ngày)",
            "Certificates (30 days ahead)",
        ),
        "health.check_crls": ("Danh sách thu hồi (CRL)", "Revocation lists (CRL)"),
        "health.check_trace": ("Chuỗi băm nhật ký vết", "Trace hash chain"),
        "health.queues": ("Hàng đợi", "Queues"),
        "health.queue": ("Hàng đợi", "Queue"),
        "health.role": ("Vai trò", "Role"),
        "health.messages": ("Thông điệp chờ", "Ready messages"),
        "health.consumers": ("Bên tiêu thụ", "Consumers"),
        "health.deliveries": ("Lượt chuyển theo trạng thái", "Deliveries by state"),
        "health.links": ("Kết nối", "Links"),
        "health.no_links": (
            "Chưa có bộ kết nối nào báo trạng thái (trục trên, trục dưới). Hàng đợi uplink và "
            "peer ở trên cho biết văn bản đang chờ.",
            "No link adapter has reported yet (uplink, downlink peers). The uplink and peer "
            "queues above show what is waiting.",
        ),
        "health.link": ("Kết nối", "Link"),
        "health.kind": ("Loại", "Kind"),
        "health.state": ("Trạng thái", "State"),
        "health.since": ("Từ", "Since"),
        "health.certificates": ("Chứng thư số", "Certificates"),
        "health.subject": ("Chủ thể", "Subject"),
        "health.expires": ("Hết hạn", "Expires"),
        "health.days_left": ("Còn (ngày)", "Days left"),
        "health.crls": ("Danh sách thu hồi", "Revocation lists"),
        "health.next_update": ("Cập nhật tiếp theo", "Next update"),
        "health.trace": ("Nhật ký vết", "Trace"),
        "health.trace_checked": (
            "Đã kiểm tra sự kiện {start} – {end} lúc {at}",
            "Checked entries {start} – {end} at {at}",
        ),
        "health.trace_full": ("(đã kiểm tra toàn bộ từ sự kiện 1)", "(whole chain from entry 1)"),
        "health.trace_partial": (
            "(khi khởi động chỉ kiểm tra 10 000 sự kiện gần nhất)",
            "(at start only the last 10,000 entries are checked)",
        ),
        "health.trace_broken": (
            "Chuỗi bị phá vỡ tại sự kiện {seq}: {reason}",
            "The chain is broken at entry {seq}: {reason}",
        ),
        "health.trace_check": ("Kiểm tra toàn bộ chuỗi ngay", "Verify the whole chain now"),
        "health.relay": ("Bộ chuyển outbox", "Outbox relay"),
        "health.refresh": ("Làm mới", "Refresh"),
    }
)


@require("viewer")
async def page(request: web.Request) -> web.StreamResponse:
    """Connectivity, lag, queues, links, certificates and the trace chain."""
    report = await request.app[OPS].health.report()
    return render(request, "health.html", {"active": "health", "h": report})


@require("viewer")
async def api(request: web.Request) -> web.StreamResponse:
    """Connectivity, lag, queues, links, certificates and the trace chain (JSON)."""
    report = await request.app[OPS].health.report()
    return web.json_response(report.as_json())


async def _check(request: web.Request) -> dict[str, object]:
    status = await request.app[OPS].trace.check(full=True)
    await record(
        request,
        "admin.trace_check",
        {
            "level": status.level,
            "checked_to": status.checked_to,
            "first_broken_seq": status.first_broken_seq,
        },
    )
    return {
        "level": status.level,
        "checked_from": status.checked_from,
        "checked_to": status.checked_to,
        "first_broken_seq": status.first_broken_seq,
        "reason": status.reason,
    }


@require("operator")
async def check_form(request: web.Request) -> web.StreamResponse:
    """Verify the whole trace chain now."""
    await _check(request)
    return redirect("/console/health")


@require("operator")
async def check_api(request: web.Request) -> web.StreamResponse:
    """Verify the whole trace chain now (JSON)."""
    return web.json_response(await _check(request))


def setup(app: web.Application) -> None:
    from gateway.web.console import ops

    ops.setup(app)
    app.router.add_get("/console/health", page)
    app.router.add_post("/console/health/trace-check", check_form)
    app.router.add_get("/api/admin/v1/health", api)
    app.router.add_post("/api/admin/v1/health/trace-check", check_api)
