"""Search the message log: the console page, the documents list, and the JSON twin.

``GET /console/search`` (and ``GET /api/admin/v1/search``) take the same parameters, all
optional, all combined (AND); see ``gateway/store/search.py`` for how each one matches::

    doc_id, document_id, code, sender, recipient, q (subject words, with or without
    diacritics), kind (edoc|status), business_type (0-3), state (a delivery state),
    status (01-06, 13, 15, 16), from, to (YYYY-MM-DD in Vietnam time, both days included,
    or ISO 8601 times with a zone), limit (1-200, default 50), cursor (next page)

Sender and recipient may be written as any alias the directory knows. Pages are keyset
pages (``next_cursor``), newest first, so page 1000 costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

from aiohttp import web

from edxml.model import VN_TZ
from gateway.core.directory import canonical_id
from gateway.service.hub import Refused
from gateway.store.base import Delivery, Message, ProgressRow
from gateway.store.errors import BadCursor
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import STATUS_CODES, SearchPage, SearchQuery
from gateway.web.console import errors
from gateway.web.console.access import redirect, require
from gateway.web.console.i18n import messages
from gateway.web.console.render import render
from gateway.web.state import STORE

__all__ = ["FIELDS", "hit_json", "parse_query", "setup"]

#: The query parameters, in the order of the form.
FIELDS = (
    "q", "doc_id", "document_id", "code", "sender", "recipient", "kind", "business_type",
    "state", "status", "from", "to",
)  # fmt: skip
_DEFAULT_LIMIT = 50

messages(
    {
        "search.title": ("Tra cứu văn bản", "Search documents"),
        "search.q": (
            "Trích yếu (có dấu hoặc không dấu)",
            "Subject words (with or without accents)",
        ),
        "search.doc_id": ("Mã DocId của trục", "Hub DocId"),
        "search.document_id": ("DocumentId", "DocumentId"),
        "search.code": ("Số, ký hiệu", "Number/notation"),
        "search.sender": ("Đơn vị gửi", "Sender"),
        "search.recipient": ("Đơn vị nhận", "Recipient"),
        "search.kind": ("Loại gói tin", "Package kind"),
        "search.business_type": ("Loại nghiệp vụ", "Business type"),
        "search.state": ("Trạng thái chuyển", "Delivery state"),
        "search.status": ("Trạng thái xử lý", "Processing status"),
        "search.from": ("Nhận từ ngày", "Received from"),
        "search.to": ("đến ngày", "until"),
        "search.any": ("(tất cả)", "(any)"),
        "search.submit": ("Tìm", "Search"),
        "search.clear": ("Xóa điều kiện", "Clear"),
        "search.results": ("Kết quả", "Results"),
        "search.no_results": ("Không có văn bản nào khớp.", "No document matches."),
        "search.more": ("Còn nữa — xem trang sau.", "More on the next page."),
        "search.received": ("Thời điểm nhận", "Received"),
        "search.subject": ("Trích yếu", "Subject"),
        "search.recipients": ("Nơi nhận và trạng thái", "Recipients and state"),
        "search.open": ("Mở văn bản theo DocId", "Open a document by DocId"),
        "search.open_submit": ("Mở", "Open"),
        "documents.title": ("Văn bản mới nhận", "Latest documents"),
        "search.bad_date": ("{field}: ngày không hợp lệ {value}", "{field}: not a date {value}"),
        "search.bad_value": ("{field}: giá trị không hợp lệ {value}", "{field}: invalid {value}"),
        "search.bad_cursor": ("Trang không hợp lệ; hãy tìm lại", "Invalid page; search again"),
    }
)


@dataclass(frozen=True, slots=True)
class Parsed:
    query: SearchQuery
    values: dict[str, str]  # what the form shows back
    problems: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # i18n key, params


def _day_or_time(text: str, *, end: bool) -> datetime:
    """A Vietnam day (the end of a range includes it) or an ISO time with a zone."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime.combine(day, time(), tzinfo=VN_TZ)
        return start + timedelta(days=1) if end else start
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(text)
    return when


async def parse_query(request: web.Request, params: Mapping[str, str]) -> Parsed:
    """The :class:`SearchQuery` of request parameters, and what could not be used."""
    values = {name: params.get(name, "").strip() for name in FIELDS}
    problems: list[tuple[str, dict[str, str]]] = []
    store = request.app[STORE]

    async def organ(name: str) -> str | None:
        text = values[name]
        if not text:
            return None
        agency = await store.resolve(text)
        return agency.organ_id if agency is not None else canonical_id(text)

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        text = values[name]
        if not text:
            return None
        if text not in allowed:
            problems.append(("search.bad_value", {"field": name, "value": text}))
            return None
        return text

    def when(name: str, *, end: bool) -> datetime | None:
        text = values[name]
        if not text:
            return None
        try:
            return _day_or_time(text, end=end)
        except ValueError:
            problems.append(("search.bad_date", {"field": name, "value": text}))
            return None

    limit = _DEFAULT_LIMIT
    if params.get("limit"):
        try:
            limit = max(1, min(int(params["limit"]), 200))
        except ValueError:
            problems.append(("search.bad_value", {"field": "limit", "value": params["limit"]}))
    business = choice("business_type", ("0", "1", "2", "3"))
    state = choice("state", tuple(s.value for s in DeliveryState))
    query = SearchQuery(
        doc_id=values["doc_id"] or None,
        document_id=values["document_id"] or None,
        code=values["code"] or None,
        sender=await organ("sender"),
        recipient=await organ("recipient"),
        text=values["q"] or None,
        kind=cast(Literal["edoc", "status"] | None, choice("kind", ("edoc", "status"))),
        business_type=int(business) if business is not None else None,
        state=DeliveryState(state) if state is not None else None,
        status=choice("status", STATUS_CODES),
        received_from=when("from", end=False),
        received_to=when("to", end=True),
        limit=limit,
        cursor=params.get("cursor") or None,
    )
    return Parsed(query, values, problems)


async def _run(request: web.Request, parsed: Parsed) -> SearchPage:
    try:
        return await request.app[STORE].search_messages(parsed.query)
    except BadCursor:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="cursor")) from None


def _page_url(path: str, values: Mapping[str, str], cursor: str | None) -> str:
    query = {k: v for k, v in values.items() if v}
    if cursor:
        query["cursor"] = cursor
    return f"{path}?{urlencode(query)}" if query else path


async def _page(request: web.Request, *, template_active: str, path: str) -> web.StreamResponse:
    parsed = await parse_query(request, request.query)
    page = SearchPage(hits=[], next_cursor=None)
    status = 200
    if parsed.problems:
        status = 400
    else:
        try:
            page = await _run(request, parsed)
        except Refused:
            parsed.problems.append(("search.bad_cursor", {}))
            status = 400
    return render(
        request,
        "search.html",
        {
            "active": template_active,
            "path": path,
            "values": parsed.values,
            "problems": parsed.problems,
            "page": page,
            "next_url": _page_url(path, parsed.values, page.next_cursor)
            if page.next_cursor
            else None,
            "first_url": _page_url(path, parsed.values, None) if parsed.query.cursor else None,
            "states": [s.value for s in DeliveryState],
            "status_codes": STATUS_CODES,
            "title_key": "documents.title" if template_active == "documents" else "search.title",
        },
        status=status,
    )


@require("viewer")
async def search_page(request: web.Request) -> web.StreamResponse:
    """Search the message log (console page)."""
    return await _page(request, template_active="search", path="/console/search")


@require("viewer")
async def documents_page(request: web.Request) -> web.StreamResponse:
    """The latest documents, newest first, and a box to open one by DocId."""
    doc_id = request.query.get("open", "").strip()
    if doc_id:
        return redirect(f"/console/documents/{quote(doc_id, safe='')}")
    return await _page(request, template_active="documents", path="/console/documents")


@require("viewer")
async def search_api(request: web.Request) -> web.StreamResponse:
    """Search the message log (JSON); the parameters of ``/console/search``."""
    parsed = await parse_query(request, request.query)
    if parsed.problems:
        key, params = parsed.problems[0]
        reason = ", ".join(f"{k}={v}" for k, v in params.items()) or key
        raise Refused(errors.problem(errors.BAD_QUERY, reason=reason))
    page = await _run(request, parsed)
    return web.json_response(
        {"hits": [hit_json(h.message, h.deliveries, h.progress) for h in page.hits],
         "next_cursor": page.next_cursor}
    )  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value is not None else None


def hit_json(m: Message, deliveries: list[Delivery], progress: list[ProgressRow]) -> dict[str, Any]:
    levels = {p.recipient: p for p in progress}
    return {
        "doc_id": m.doc_id,
        "kind": m.kind,
        "sender": m.sender,
        "document_id": m.document_id,
        "code": m.code_notation,
        "subject": m.subject,
        "business_type": m.business_type,
        "status_code": m.status_code,
        "received_at": _iso(m.received_at),
        "size": m.size,
        "recipients": [
            {
                "recipient": d.recipient,
                "route": d.route,
                "state": d.state.value,
                "level": levels[d.recipient].level if d.recipient in levels else None,
                "change_state": (
                    levels[d.recipient].change_state if d.recipient in levels else None
                ),
            }
            for d in deliveries
        ],
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/console/search", search_page)
    app.router.add_get("/console/documents", documents_page)
    app.router.add_get("/api/admin/v1/search", search_api)
