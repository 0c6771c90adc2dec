"""The directory in the console, and its JSON twins (issue 5, item 5).

::

    GET  /console/directory                     ?parent=ORGAN (one level of the tree), ?q=
    GET  /console/directory/systems             agency systems and their agencies
    GET  /console/directory/{organ_id}          one agency: path, aliases, children, systems
    GET  /console/directory/{organ_id}/confirm  ?action=lock|unlock|merge&successor=   operator
    POST /console/directory/{organ_id}/{action} confirm (the organ id typed), reason,
                                                successor (merge)                     operator
    GET  /api/admin/v1/directory                ?parent=, ?q=
    GET  /api/admin/v1/directory/{organ_id}
    POST /api/admin/v1/directory/{organ_id}/{action}  {"confirm", "reason", "successor"}
    GET  /api/admin/v1/systems

Every change goes through ``gateway.service.admin.directory`` (the CLI's code too): one
transaction with its ``admin.agency_*`` trace event naming the admin, address and reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.service.admin.directory import agency_json
from gateway.service.admin.errors import REASON_REQUIRED, invalid
from gateway.service.hub import Refused
from gateway.store.base import Agency
from gateway.web.console import errors
from gateway.web.console.access import redirect, require
from gateway.web.console.i18n import messages
from gateway.web.console.ops import OPS, audit
from gateway.web.console.render import render

__all__ = ["setup"]

_ACTIONS = ("lock", "unlock", "merge")

messages(
    {
        "dir.title": ("Danh bạ cơ quan", "Agency directory"),
        "dir.top": ("Cấp cao nhất", "Top level"),
        "dir.search": (
            "Tìm theo mã, mã cũ hoặc tên (có dấu hoặc không dấu)",
            "Search by id, alias or name (with or without accents)",
        ),
        "dir.search_submit": ("Tìm", "Search"),
        "dir.results": ("Kết quả tìm kiếm", "Search results"),
        "dir.organ_id": ("Mã định danh", "Organ id"),
        "dir.name": ("Tên", "Name"),
        "dir.tier": ("Cấp", "Level"),
        "dir.host": ("Nơi nhận", "Hosted"),
        "dir.state": ("Trạng thái", "State"),
        "dir.children": ("Đơn vị trực thuộc", "Agencies under it"),
        "dir.aliases": ("Mã khác (bí danh)", "Aliases"),
        "dir.systems": ("Hệ thống QLVB kết nối", "Connected systems"),
        "dir.systems_title": ("Hệ thống QLVB và đơn vị của chúng", "Systems and their agencies"),
        "dir.system": ("Hệ thống", "System"),
        "dir.agencies": ("Đơn vị", "Agencies"),
        "dir.revoked": ("đã thu hồi", "revoked"),
        "dir.merged_in": ("Đơn vị đã sáp nhập vào đây", "Merged into this one"),
        "dir.successor": ("Đơn vị kế thừa", "Successor"),
        "dir.waiting": ("Văn bản đang chờ chuyển tới", "Copies waiting to be delivered to it"),
        "dir.none": ("Không có đơn vị nào.", "No agencies."),
        "dir.open": ("Mở", "Open"),
        "dir.lock": ("Khóa", "Lock"),
        "dir.unlock": ("Mở khóa", "Unlock"),
        "dir.reactivate": ("Kích hoạt lại (hủy sáp nhập)", "Reactivate (undo the merge)"),
        "dir.merge": ("Sáp nhập vào…", "Merge into…"),
        "dir.confirm_title": ("Xác nhận: {action} {organ_id}", "Confirm: {action} {organ_id}"),
        "dir.effect_lock": (
            "Trục sẽ từ chối mọi văn bản mới gửi tới đơn vị này (route.recipient_locked) cho "
            "tới khi mở khóa. Văn bản đã nhận vẫn được giữ.",
            "The hub will refuse every new document to this agency (route.recipient_locked) "
            "until it is unlocked. Documents already accepted are kept.",
        ),
        "dir.effect_unlock": (
            "Đơn vị nhận văn bản trở lại. Nếu đơn vị đã sáp nhập, việc sáp nhập bị hủy.",
            "The agency receives documents again. If it was merged, the merge is undone.",
        ),
        "dir.effect_merge": (
            "Từ nay văn bản gửi tới đơn vị này được chuyển cho đơn vị kế thừa (ghi vết "
            "route/rerouted).",
            "From now on documents to this agency go to the successor (traced as route/rerouted).",
        ),
        "dir.effect_delay": (
            "Các nút của trục áp dụng thay đổi trong vài giây (directory_refresh_seconds).",
            "The hub's nodes apply the change within seconds (directory_refresh_seconds).",
        ),
        "dir.type_to_confirm": ("Nhập mã {organ_id} để xác nhận", "Type {organ_id} to confirm"),
        "dir.reason": ("Lý do (lưu vào nhật ký vết)", "Reason (kept in the trace)"),
        "dir.successor_id": ("Mã đơn vị kế thừa", "Successor organ id"),
        "dir.do": ("Xác nhận", "Confirm"),
        "dir.cancel": ("Hủy", "Cancel"),
        "dir.changed": ("Đã cập nhật: {organ_id} → {state}", "Updated: {organ_id} → {state}"),
        "dir.state_active": ("hoạt động", "active"),
        "dir.state_locked": ("bị khóa", "locked"),
        "dir.state_merged": ("đã sáp nhập", "merged"),
        "dir.tier_central": ("trung ương", "central"),
        "dir.tier_province": ("tỉnh", "province"),
        "dir.tier_district": ("huyện / sở", "district"),
        "dir.tier_commune": ("xã", "commune"),
        "dir.tier_other": ("khác", "other"),
    }
)


def _action(request: web.Request, value: str | None) -> str:
    if value not in _ACTIONS:
        raise Refused(errors.problem(errors.BAD_QUERY, reason=f"action={value}"))
    return value


@require("viewer")
async def tree_page(request: web.Request) -> web.StreamResponse:
    """The agency directory, one level of the tree at a time, or a search."""
    ops = request.app[OPS].directory
    q = request.query.get("q", "").strip()
    parent = request.query.get("parent", "").strip() or None
    view = await ops.view(parent) if parent and not q else None
    if q:
        nodes = []
    elif view is None:
        nodes = await ops.children(None)
    else:
        nodes = list(view.children)
    context: dict[str, Any] = {
        "active": "directory",
        "q": q,
        "parent": view,
        "nodes": nodes,
        "found": await ops.search(q) if q else [],
    }
    return render(request, "directory.html", context)


@require("viewer")
async def tree_api(request: web.Request) -> web.StreamResponse:
    """The agency directory, one level of the tree at a time, or a search (JSON)."""
    ops = request.app[OPS].directory
    q = request.query.get("q", "").strip()
    if q:
        return web.json_response(
            {"q": q, "agencies": [agency_json(a) for a in await ops.search(q)]}
        )
    parent = request.query.get("parent", "").strip() or None
    nodes = await ops.children(parent)
    return web.json_response(
        {
            "parent": parent,
            "agencies": [{**agency_json(n.agency), "children": n.children} for n in nodes],
        }
    )


@require("viewer")
async def agency_page(request: web.Request) -> web.StreamResponse:
    """One agency: its place in the tree, aliases, systems and mergers."""
    view = await request.app[OPS].directory.view(request.match_info["organ_id"])
    return render(request, "agency.html", {"active": "directory", "v": view})


@require("viewer")
async def agency_api(request: web.Request) -> web.StreamResponse:
    """One agency: its place in the tree, aliases, systems and mergers (JSON)."""
    view = await request.app[OPS].directory.view(request.match_info["organ_id"])
    return web.json_response(view.as_json())


@require("operator")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    """The confirmation step of a lock, unlock or merge."""
    action = _action(request, request.query.get("action"))
    view = await request.app[OPS].directory.view(request.match_info["organ_id"])
    return render(
        request,
        "agency_confirm.html",
        {
            "active": "directory",
            "v": view,
            "action": action,
            "successor": request.query.get("successor", ""),
        },
    )


async def _change(request: web.Request, action: str, values: dict[str, Any]) -> Agency:
    ops = request.app[OPS].directory
    organ_id = request.match_info["organ_id"]
    reason = str(values.get("reason") or "").strip()
    if not reason:
        raise invalid(REASON_REQUIRED, action=action)
    confirm = str(values.get("confirm") or "")
    who = audit(request)
    if action == "lock":
        return await ops.lock(organ_id, confirm=confirm, reason=reason, audit=who)
    if action == "unlock":
        return await ops.unlock(organ_id, confirm=confirm, reason=reason, audit=who)
    successor = str(values.get("successor") or "").strip()
    if not successor:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="successor"))
    return await ops.merge(organ_id, successor, confirm=confirm, reason=reason, audit=who)


@require("operator")
async def change_form(request: web.Request) -> web.StreamResponse:
    """Lock, unlock or merge an agency (confirmed, with a reason)."""
    action = _action(request, request.match_info["action"])
    form = await request.post()
    agency = await _change(request, action, dict(form))
    return redirect(f"/console/directory/{agency.organ_id}?changed={agency.state}")


@require("operator")
async def change_api(request: web.Request) -> web.StreamResponse:
    """Lock, unlock or merge an agency (confirmed, with a reason) (JSON)."""
    action = _action(request, request.match_info["action"])
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(errors.problem(errors.BAD_QUERY, reason="a JSON object"))
    return web.json_response(agency_json(await _change(request, action, body)))


async def _systems(request: web.Request) -> list[dict[str, Any]]:
    systems = await request.app[OPS].directory.systems()
    return [
        {
            "system_id": s.system_id,
            "name": s.name,
            "revoked": s.revoked,
            "agencies": list(s.agencies),
            "auth": [n for n, v in (("token", s.token_sha256), ("cert", s.cert_sha256)) if v],
            "signature_policy": s.signature_policy,
            "validation_mode": s.validation_mode,
            "cert_expires_at": s.cert_expires_at.isoformat() if s.cert_expires_at else None,
        }
        for s in systems
    ]


@require("viewer")
async def systems_page(request: web.Request) -> web.StreamResponse:
    """Agency systems and the agencies each may act for."""
    return render(
        request, "systems.html", {"active": "directory", "systems": await _systems(request)}
    )


@require("viewer")
async def systems_api(request: web.Request) -> web.StreamResponse:
    """Agency systems and the agencies each may act for (JSON)."""
    return web.json_response({"systems": await _systems(request)})


def setup(app: web.Application) -> None:
    from gateway.web.console import ops

    ops.setup(app)
    app.router.add_get("/console/directory", tree_page)
    app.router.add_get("/console/directory/systems", systems_page)
    app.router.add_get("/console/directory/{organ_id}", agency_page)
    app.router.add_get("/console/directory/{organ_id}/confirm", confirm_page)
    app.router.add_post("/console/directory/{organ_id}/{action}", change_form)
    app.router.add_get("/api/admin/v1/directory", tree_api)
    app.router.add_get("/api/admin/v1/systems", systems_api)
    app.router.add_get("/api/admin/v1/directory/{organ_id}", agency_api)
    app.router.add_post("/api/admin/v1/directory/{organ_id}/{action}", change_api)
