"""Retries and dead letters in the console, and their JSON twins (issue 5, item 4).

::

    GET  /console/dead-letters                  ?state=dead|retrying&recipient=&doc_id=&cursor=
    GET  /console/dead-letters/{delivery_id}    one delivery: reason, attempt history, replay
    POST /console/dead-letters/replay           delivery_id (repeatable) or all=1 with the
                                                filters; reason (required)           operator
    GET  /console/dead-letters/queue            the copies in RabbitMQ's P.dead      operator
    POST /console/dead-letters/queue/tidy       remove the copies already handled    operator
    GET  /api/admin/v1/dead-letters             the same list as JSON
    GET  /api/admin/v1/dead-letters/{delivery_id}
    POST /api/admin/v1/dead-letters/replay      {"delivery_ids": [...] | "all": true,
                                                 "recipient", "doc_id", "reason"}    operator
    GET  /api/admin/v1/dead-letters/queue                                            operator
    POST /api/admin/v1/dead-letters/queue/tidy                                       operator

A replay keeps the delivery's ids and goes through the outbox
(``gateway.service.admin.deadletters``); each is traced as ``admin.replay`` with the admin,
address and reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.broker.inspect import DeadCopy, peek_dead
from gateway.core.directory import canonical_id
from gateway.service.admin.deadletters import VIEW_STATES, ReplayOutcome
from gateway.service.admin.errors import REASON_REQUIRED, invalid
from gateway.service.hub import Refused
from gateway.store.errors import BadCursor
from gateway.store.lifecycle import DeliveryState
from gateway.web.console import errors
from gateway.web.console.access import record, require
from gateway.web.console.i18n import messages
from gateway.web.console.ops import OPS, _broker, audit
from gateway.web.console.render import render
from gateway.web.state import STORE

__all__ = ["setup"]

_PEEK = 200

messages(
    {
        "dead.title": ("Thư lỗi và đang thử lại", "Dead letters and retries"),
        "dead.intro": (
            "Lượt chuyển không tới được đơn vị nhận. Gửi lại giữ nguyên mã DocId và mã lượt "
            "chuyển nên bên nhận không nhận trùng.",
            "Deliveries that did not reach their recipient. A replay keeps the DocId and the "
            "delivery id, so the receiver never gets a duplicate.",
        ),
        "dead.tab_dead": ("Thư lỗi ({n})", "Dead ({n})"),
        "dead.tab_retrying": ("Đang thử lại ({n})", "Retrying ({n})"),
        "dead.tab_all": ("Tất cả", "All"),
        "dead.delivery": ("Lượt chuyển", "Delivery"),
        "dead.recipient": ("Đơn vị nhận", "Recipient"),
        "dead.sender": ("Đơn vị gửi", "Sender"),
        "dead.document": ("Văn bản", "Document"),
        "dead.state": ("Trạng thái", "State"),
        "dead.attempts": ("Số lần lỗi", "Failed attempts"),
        "dead.reason": ("Lý do", "Reason"),
        "dead.changed": ("Cập nhật", "Changed"),
        "dead.next_attempt": ("Thử lại lúc", "Next attempt"),
        "dead.none": ("Không có lượt chuyển nào ở đây.", "Nothing here."),
        "dead.filter": ("Lọc", "Filter"),
        "dead.replay_reason": ("Lý do gửi lại (bắt buộc)", "Reason for the replay (required)"),
        "dead.replay_selected": ("Gửi lại các mục đã chọn", "Replay the selected"),
        "dead.replay_all": (
            "Gửi lại tất cả thư lỗi theo bộ lọc (tối đa {n})",
            "Replay every dead letter of this filter (up to {n})",
        ),
        "dead.replay_one": ("Gửi lại lượt chuyển này", "Replay this delivery"),
        "dead.confirm_replay": (
            "Gửi lại các lượt chuyển đã chọn qua hàng đợi?",
            "Replay the selected deliveries through the queue?",
        ),
        "dead.result_title": ("Kết quả gửi lại", "Replay results"),
        "dead.replayed": ("đã đưa vào hàng đợi gửi lại", "queued for replay"),
        "dead.refused": ("không gửi lại", "not replayed"),
        "dead.history": ("Lịch sử chuyển", "Delivery history"),
        "dead.no_history": ("Chưa có sự kiện nào.", "No events yet."),
        "dead.event": ("Sự kiện", "Event"),
        "dead.admin": ("Quản trị viên", "Administrator"),
        "dead.back": ("← Danh sách thư lỗi", "← Dead letters"),
        "dead.queue_title": ("Bản sao trong hàng đợi {queue}", "Copies in the queue {queue}"),
        "dead.queue_intro": (
            "RabbitMQ giữ bản sao của thông điệp bị từ chối. Khi lượt chuyển đã được gửi lại "
            "hoặc xử lý xong, bản sao không còn cần thiết.",
            "RabbitMQ keeps a copy of each rejected message. Once the delivery has been "
            "replayed or handled, the copy is no longer needed.",
        ),
        "dead.queue_link": ("Xem hàng đợi thư lỗi của RabbitMQ", "Inspect RabbitMQ's dead queue"),
        "dead.queue_died": ("Bị từ chối lúc", "Died at"),
        "dead.queue_in": ("Tại hàng đợi", "In queue"),
        "dead.queue_store": ("Trạng thái trong kho", "State in the store"),
        "dead.queue_stale": ("đã xử lý — có thể xóa", "handled — can be removed"),
        "dead.queue_tidy": ("Xóa các bản sao đã xử lý", "Remove the copies already handled"),
        "dead.queue_removed": ("đã xóa", "removed"),
        "dead.queue_empty": ("Hàng đợi trống.", "The queue is empty."),
    }
)


def _state(value: str | None) -> DeliveryState | None:
    if not value:
        return None
    try:
        state = DeliveryState(value)
    except ValueError:
        state = None
    if state not in VIEW_STATES:
        raise Refused(errors.problem(errors.BAD_QUERY, reason=f"state={value}"))
    return state


async def _page(request: web.Request) -> tuple[Any, dict[str, str]]:
    q = request.query
    values = {k: q.get(k, "").strip() for k in ("state", "recipient", "doc_id")}
    try:
        page = await request.app[OPS].dead_letters.page(
            state=_state(values["state"]),
            recipient=canonical_id(values["recipient"]) if values["recipient"] else None,
            doc_id=values["doc_id"] or None,
            limit=50,
            cursor=q.get("cursor") or None,
        )
    except BadCursor:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="cursor")) from None
    return page, values


@require("viewer")
async def list_page(request: web.Request) -> web.StreamResponse:
    """Dead letters and retrying deliveries, with reasons."""
    page, values = await _page(request)
    ops = request.app[OPS]
    return render(
        request,
        "deadletters.html",
        {
            "active": "dead_letters",
            "page": page,
            "values": values,
            "max_batch": ops.dead_letters.max_batch,
        },
    )


@require("viewer")
async def list_api(request: web.Request) -> web.StreamResponse:
    """Dead letters and retrying deliveries, with reasons (JSON)."""
    page, _ = await _page(request)
    return web.json_response(
        {
            "items": [p.as_json() for p in page.items],
            "next_cursor": page.next_cursor,
            "counts": dict(page.counts),
        }
    )


@require("viewer")
async def detail_page(request: web.Request) -> web.StreamResponse:
    """One delivery: its reason and attempt history."""
    parked = await request.app[OPS].dead_letters.get(request.match_info["delivery_id"])
    return render(request, "deadletter.html", {"active": "dead_letters", "p": parked})


@require("viewer")
async def detail_api(request: web.Request) -> web.StreamResponse:
    """One delivery: its reason and attempt history (JSON)."""
    parked = await request.app[OPS].dead_letters.get(request.match_info["delivery_id"])
    return web.json_response(parked.as_json())


async def _replay(request: web.Request, values: dict[str, Any]) -> list[ReplayOutcome]:
    service = request.app[OPS].dead_letters
    reason = str(values.get("reason") or "").strip()
    if not reason:
        raise invalid(REASON_REQUIRED, action="replay / gửi lại")
    if values.get("all"):
        recipient = str(values.get("recipient") or "").strip()
        return await service.replay_matching(
            reason=reason,
            audit=audit(request),
            recipient=canonical_id(recipient) if recipient else None,
            doc_id=str(values.get("doc_id") or "").strip() or None,
        )
    ids = [str(i).strip() for i in values.get("delivery_ids") or () if str(i).strip()]
    if not ids:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="delivery_id"))
    return await service.replay(ids, reason=reason, audit=audit(request))


@require("operator")
async def replay_form(request: web.Request) -> web.StreamResponse:
    """Replay dead deliveries (same ids, through the outbox)."""
    form = await request.post()
    outcomes = await _replay(
        request,
        {
            "reason": form.get("reason"),
            "all": form.get("all") == "1",
            "recipient": form.get("recipient"),
            "doc_id": form.get("doc_id"),
            "delivery_ids": form.getall("delivery_id", []),
        },
    )
    return render(
        request, "deadletters_result.html", {"active": "dead_letters", "outcomes": outcomes}
    )


@require("operator")
async def replay_api(request: web.Request) -> web.StreamResponse:
    """Replay dead deliveries (same ids, through the outbox) (JSON)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(errors.problem(errors.BAD_QUERY, reason="a JSON object"))
    outcomes = await _replay(request, body)
    return web.json_response(
        {
            "replayed": sum(o.replayed for o in outcomes),
            "refused": sum(not o.replayed for o in outcomes),
            "outcomes": [o.as_json() for o in outcomes],
        }
    )


async def _peek(request: web.Request, *, tidy: bool) -> tuple[str, list[dict[str, Any]]]:
    broker = _broker(request.app)
    if broker is None:
        raise Refused(errors.problem(errors.NOT_FOUND, what="RabbitMQ"))
    store = request.app[STORE]
    states: dict[str, str | None] = {}

    async def state_of(copy: DeadCopy) -> str | None:
        if copy.delivery_id is None:
            return None
        if copy.delivery_id not in states:
            delivery = await store.get_delivery(copy.delivery_id)
            states[copy.delivery_id] = None if delivery is None else delivery.state.value
        return states[copy.delivery_id]

    async def handled(copy: DeadCopy) -> bool:
        # Stale once the store has moved on: replayed (and maybe delivered) or answered.
        state = await state_of(copy)
        return state is not None and state != DeliveryState.DEAD.value

    copies = await peek_dead(broker, limit=_PEEK, discard=handled if tidy else None)
    rows = []
    for c in copies:
        state = await state_of(c)
        rows.append(
            {
                "delivery_id": c.delivery_id,
                "doc_id": c.doc_id,
                "queue": c.queue,
                "reason": c.reason,
                "count": c.count,
                "died_at": c.died_at,
                "store_state": state,
                "stale": state is not None and state != DeliveryState.DEAD.value,
                "discarded": c.discarded,
            }
        )
    if tidy:
        removed = [r["delivery_id"] for r in rows if r["discarded"]]
        await record(request, "admin.dead_queue_tidy", {"removed": len(removed)})
    return broker.topology.dead, rows


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "died_at": r["died_at"].isoformat() if r["died_at"] else None} for r in rows]


@require("operator")
async def queue_page(request: web.Request) -> web.StreamResponse:
    """The copies in RabbitMQ's dead-letter queue."""
    queue, rows = await _peek(request, tidy=False)
    return render(
        request, "deadqueue.html", {"active": "dead_letters", "queue": queue, "rows": rows}
    )


@require("operator")
async def queue_api(request: web.Request) -> web.StreamResponse:
    """The copies in RabbitMQ's dead-letter queue (JSON)."""
    queue, rows = await _peek(request, tidy=False)
    return web.json_response({"queue": queue, "copies": _json_rows(rows)})


@require("operator")
async def tidy_form(request: web.Request) -> web.StreamResponse:
    """Remove the dead-queue copies of deliveries already replayed or handled."""
    queue, rows = await _peek(request, tidy=True)
    return render(
        request, "deadqueue.html", {"active": "dead_letters", "queue": queue, "rows": rows}
    )


@require("operator")
async def tidy_api(request: web.Request) -> web.StreamResponse:
    """Remove the dead-queue copies of deliveries already replayed or handled (JSON)."""
    queue, rows = await _peek(request, tidy=True)
    removed = sum(1 for r in rows if r["discarded"])
    return web.json_response({"queue": queue, "removed": removed, "copies": _json_rows(rows)})


def setup(app: web.Application) -> None:
    from gateway.web.console import ops

    ops.setup(app)
    app.router.add_get("/console/dead-letters", list_page)
    app.router.add_post("/console/dead-letters/replay", replay_form)
    app.router.add_get("/console/dead-letters/queue", queue_page)
    app.router.add_post("/console/dead-letters/queue/tidy", tidy_form)
    app.router.add_get("/console/dead-letters/{delivery_id}", detail_page)
    app.router.add_get("/api/admin/v1/dead-letters", list_api)
    app.router.add_post("/api/admin/v1/dead-letters/replay", replay_api)
    app.router.add_get("/api/admin/v1/dead-letters/queue", queue_api)
    app.router.add_post("/api/admin/v1/dead-letters/queue/tidy", tidy_api)
    app.router.add_get("/api/admin/v1/dead-letters/{delivery_id}", detail_api)
