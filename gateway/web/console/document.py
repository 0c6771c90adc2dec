"""One document's page: its timeline across hops, deliveries and status progress, signatures,
attachments, raw package and the check of its trace chain (issue 5, item 3).

Routes (the JSON twins under ``/api/admin/v1`` return the same facts)::

    GET /console/documents/{doc_id}                          viewer
    GET /console/documents/{doc_id}/raw                      operator: the sealed package
    GET /console/documents/{doc_id}/attachments/{number}     operator: one attachment, as
                                                             the real file (zip unwrapped)
    GET /api/admin/v1/documents/{doc_id}                     viewer
    GET /api/admin/v1/documents/{doc_id}/raw                 operator
    GET /api/admin/v1/documents/{doc_id}/attachments/{number} operator

A download hands out document content, so it is an audited admin action: an
``admin.download`` trace event under the document's DocId names who took what.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.blobs import BlobError
from gateway.service.hub import Refused, Tracking
from gateway.store.base import Message
from gateway.web.api import package_response
from gateway.web.console import dossier, errors
from gateway.web.console.access import record, require
from gateway.web.console.i18n import messages
from gateway.web.console.render import render
from gateway.web.state import HUB, SETTINGS, STORE, TRUST

__all__ = ["setup"]

messages(
    {
        "doc.title": ("Văn bản {doc_id}", "Document {doc_id}"),
        "doc.facts": ("Thông tin chung", "Summary"),
        "doc.kind": ("Loại", "Kind"),
        "doc.received": ("Trục nhận lúc", "Received by the hub"),
        "doc.size": ("Kích thước", "Size"),
        "doc.system": ("Hệ thống gửi", "Sending system"),
        "doc.signature_verdict": ("Chữ ký của đơn vị gửi", "Sender's signature"),
        "doc.original": ("Văn bản gốc", "Original document"),
        "doc.promulgated": ("Ngày ban hành", "Promulgated"),
        "doc.signer": ("Người ký", "Signed by"),
        "doc.due": ("Hạn xử lý", "Due date"),
        "doc.hops": ("Hành trình qua các trục", "Hops across hubs"),
        "doc.hop": ("Trục / đơn vị", "Hub / agency"),
        "doc.hop_time": ("Thời điểm (TraceHeader)", "Time (TraceHeader)"),
        "doc.latency": ("Độ trễ", "Latency"),
        "doc.no_hops": ("Gói tin không có TraceHeader.", "The package has no TraceHeader."),
        "doc.timeline": ("Diễn biến tại trục này", "Timeline on this hub"),
        "doc.stage": ("Bước", "Stage"),
        "doc.outcome": ("Kết quả", "Outcome"),
        "doc.node": ("Nút", "Node"),
        "doc.detail": ("Chi tiết", "Detail"),
        "doc.since_previous": ("+ từ bước trước", "+ since previous"),
        "doc.chain_ok": (
            "Chuỗi băm của {count} sự kiện vết khớp với các sự kiện liền kề.",
            "The hash chain of {count} trace events checks out against their neighbours.",
        ),
        "doc.chain_broken": (
            "Chuỗi vết bị phá vỡ tại sự kiện {seq}: {reason}",
            "The trace chain is broken at entry {seq}: {reason}",
        ),
        "doc.deliveries": (
            "Nơi nhận: chuyển giao và tiến độ xử lý",
            "Recipients: delivery and progress",
        ),
        "doc.recipient": ("Đơn vị nhận", "Recipient"),
        "doc.route": ("Tuyến", "Route"),
        "doc.state": ("Trạng thái", "State"),
        "doc.attempts": ("Lần thử", "Attempts"),
        "doc.to_inbox": ("Tới hộp thư sau", "In the inbox after"),
        "doc.to_ack": ("Xác nhận sau", "Acknowledged after"),
        "doc.last_error": ("Lỗi gần nhất", "Last error"),
        "doc.not_delivered_here": ("(không chuyển qua trục này)", "(not delivered by this hub)"),
        "doc.statuses": ("Các gói tin trạng thái", "Status packages"),
        "doc.signatures": ("Chữ ký số", "Signatures"),
        "doc.sig_role": ("Vai trò", "Role"),
        "doc.sig_signer": ("Người/đơn vị ký", "Signer"),
        "doc.sig_cert": ("Chứng thư số", "Certificate"),
        "doc.sig_result": ("Kiểm tra", "Check"),
        "doc.sig_sender": ("chữ ký đơn vị gửi", "sender's signature"),
        "doc.sig_seal": ("niêm phong của trục", "hub seal"),
        "doc.sig_valid": ("hợp lệ", "valid"),
        "doc.sig_placeholder": (
            "chữ ký giả lập (không kiểm tra được)",
            "placeholder (cannot be verified)",
        ),
        "doc.sig_invalid": ("không hợp lệ", "invalid"),
        "doc.sig_expires": ("hết hạn {when}", "expires {when}"),
        "doc.no_signatures": ("Gói tin không có chữ ký.", "The package carries no signature."),
        "doc.attachments": ("Tệp đính kèm", "Attachments"),
        "doc.att_name": ("Tên tệp", "File name"),
        "doc.att_claimed": ("Khai báo", "Declared"),
        "doc.att_real": ("Thực tế", "Real"),
        "doc.att_size": ("Dung lượng", "Size"),
        "doc.att_unzipped": ("đã giải nén gói zip vận chuyển", "transport zip unwrapped"),
        "doc.att_mismatch": ("khai báo sai kiểu", "declared type is wrong"),
        "doc.no_attachments": ("Không có tệp đính kèm.", "No attachments."),
        "doc.raw": (
            "Gói tin gốc (nội dung tệp đính kèm được lược bớt)",
            "Raw package (attachment payloads elided)",
        ),
        "doc.raw_truncated": (
            "… (đã cắt bớt; tải xuống để xem đầy đủ)",
            "… (truncated; download for all of it)",
        ),
        "doc.download_raw": ("Tải gói tin đầy đủ", "Download the whole package"),
        "doc.package_error": (
            "Không đọc được gói tin: {error}",
            "The package cannot be read: {error}",
        ),
        "doc.verified_at": (
            "Kiểm tra theo thời điểm trục nhận gói tin, với danh sách CA tin cậy của trục.",
            "Checked as at the time the hub received the package, against the hub's trusted CAs.",
        ),
    }
)


async def _load(request: web.Request) -> tuple[Tracking, Any]:
    doc_id = request.match_info["doc_id"]
    hub = request.app[HUB]
    store = request.app[STORE]
    try:
        tracking = await hub.track(None, doc_id)
    except Refused:
        raise Refused(
            errors.problem(errors.NOT_FOUND, what=f"văn bản {doc_id} / document {doc_id}")
        ) from None
    trace = await store.trace_for(doc_id)
    chain = await store.verify_document_trace(doc_id)
    m = tracking.message
    try:
        body: bytes | Path = await hub.packages.body(m.blob_key)
    except BlobError:
        body = hub.blobs.path(m.blob_key)  # missing: inspect_package says so
    package = await asyncio.to_thread(
        dossier.inspect_package,
        body,
        request.app[TRUST],
        hub.directory,
        received_at=m.received_at,
        max_bytes=request.app[SETTINGS].max_package_bytes,
    )
    views = dossier.deliveries(
        m.received_at, tracking.deliveries, tracking.progress, tracking.statuses, hub.directory
    )
    return tracking, {
        "message": m,
        "original": tracking.original,
        "sender_name": _name(request, m.sender),
        "recipients": views,
        "statuses": tracking.statuses,
        "timeline": dossier.timeline(trace),
        "chain": chain,
        "package": package,
    }


def _name(request: web.Request, organ_id: str) -> str | None:
    agency = request.app[HUB].directory.resolve(organ_id)
    return agency.name if agency else None


@require("viewer")
async def page(request: web.Request) -> web.StreamResponse:
    """One document: timeline, hops, deliveries, progress, signatures, attachments, raw."""
    _tracking, view = await _load(request)
    return render(
        request,
        "document.html",
        {**view, "active": "documents", "codes": dossier.PROGRESS_CODES},
    )


@require("viewer")
async def page_json(request: web.Request) -> web.StreamResponse:
    """One document's facts (JSON): what the console page shows."""
    _tracking, view = await _load(request)
    return web.json_response(_jsonable(view), dumps=_dumps)


async def _get_message(request: web.Request) -> Message:
    doc_id = request.match_info["doc_id"]
    message = await request.app[STORE].get_message(doc_id)
    if message is None:
        raise Refused(
            errors.problem(errors.NOT_FOUND, what=f"văn bản {doc_id} / document {doc_id}")
        )
    return message


def _disposition(name: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@require("operator")
async def raw(request: web.Request) -> web.StreamResponse:
    """The sealed package as stored (operators; audited)."""
    message = await _get_message(request)
    body = await _package(request, message)
    size = len(body) if isinstance(body, bytes) else body.stat().st_size
    await record(
        request,
        "admin.download",
        {"what": "package", "sha256": message.sha256, "size": size},
        doc_id=message.doc_id,
    )
    return package_response(
        body,
        {
            "Content-Type": "application/xml",
            "Content-Disposition": _disposition(f"{message.doc_id}.edxml"),
        },
    )


async def _package(request: web.Request, message: Message) -> bytes | Path:
    """The sealed package's bytes or file; a clear problem if it is gone."""
    try:
        return await request.app[HUB].packages.body(message.blob_key)
    except BlobError:
        raise Refused(
            errors.problem(errors.PACKAGE_MISSING, doc_id=message.doc_id, blob_key=message.blob_key)
        ) from None


@require("operator")
async def attachment(request: web.Request) -> web.StreamResponse:
    """One attachment as the real file it contains (operators; audited)."""
    message = await _get_message(request)
    try:
        number = int(request.match_info["number"])
    except ValueError:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="number")) from None
    body = await _package(request, message)
    found = await asyncio.to_thread(
        dossier.attachment_file, body, number, request.app[SETTINGS].max_package_bytes
    )
    if found is None:
        raise Refused(
            errors.problem(
                errors.NOT_FOUND,
                what=f"tệp đính kèm {number} / attachment {number} ({message.doc_id})",
            )
        )
    name, media_type, data = found
    await record(
        request,
        "admin.download",
        {
            "what": "attachment",
            "number": number,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        },
        doc_id=message.doc_id,
    )
    return web.Response(
        body=data,
        headers={"Content-Type": media_type, "Content-Disposition": _disposition(name)},
    )


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value  # enums (DeliveryState)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def setup(app: web.Application) -> None:
    for prefix, view in (("/console", page), ("/api/admin/v1", page_json)):
        app.router.add_get(prefix + "/documents/{doc_id}", view)
        app.router.add_get(prefix + "/documents/{doc_id}/raw", raw)
        app.router.add_get(prefix + "/documents/{doc_id}/attachments/{number}", attachment)
