"""The REST door for agency systems: submit packages, read and acknowledge the inbox, track.

Routes (the OpenAPI document at ``/openapi.json`` is the reference, ``openapi.py``)::

    POST /api/v1/packages                   raw edXML body or multipart (part ``package``)
    GET  /api/v1/inbox                      ?organ=&state=&kind=&since=&limit=&cursor=
    GET  /api/v1/inbox/{delivery_id}        the sealed package (application/xml)
    POST /api/v1/inbox/{delivery_id}/ack    {"result": "done" | "fail", "reason": "..."}
    GET  /api/v1/documents/{doc_id}         deliveries and status progress per recipient
    GET  /api/v1/me                         the calling system and its agencies
    GET  /api/v1/certificate                the hub certificate that signs receipts

Handlers only translate: they authenticate (``auth.py``), call :class:`~gateway.service.Hub`,
and render its answer or its refusal (``problems.py``). A package body is streamed: up to
``SPOOL_AT`` bytes in memory, larger ones to a spool file the worker reads (invariant §3.5),
and reading stops at the size limit (``receive.too_large``, 413).
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, web
from cryptography.hazmat.primitives import serialization

from gateway.core.errors import PackageTooLarge, Problem
from gateway.core.receive import TOO_LARGE
from gateway.core.trace import RECEIVE, REJECTED, event
from gateway.core.values import new_id
from gateway.service.hub import Refused, Tracking
from gateway.store.base import Delivery, InboxItem, Kind, Message, System
from gateway.store.errors import BadCursor, StoreError
from gateway.store.lifecycle import DeliveryState
from gateway.web.auth import authenticate
from gateway.web.problems import INTERNAL, problem_response, request_problem
from gateway.web.state import HUB, SETTINGS, SPOOL, STORE, TRUST

__all__ = ["SPOOL_AT", "package_response", "routes", "setup"]

log = logging.getLogger(__name__)

SPOOL_AT = 1024 * 1024  # bodies above this go to a spool file, not memory
_CHUNK = 256 * 1024
_KINDS: dict[str, Kind] = {"edoc": "edoc", "status": "status"}
_PACKAGE_PARTS = ("package", "file", "file_doc")  # file_doc: the older VDXP multipart form

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render :class:`Refused` as a problem document; never let a bug leak a traceback."""
    try:
        return await handler(request)
    except Refused as refused:
        # 503 means "nothing was accepted, send again": a draining node, a crashed worker.
        retry = {"Retry-After": "5"} if refused.problem.http_status == 503 else None
        return problem_response(refused.problem, refused.doc_id, headers=retry)
    except web.HTTPException:
        raise
    except BadCursor:
        # The caller's mistake (a cursor this hub never issued), not a failure of the store.
        return problem_response(
            request_problem(
                "cursor must be a next_cursor this hub returned",
                vi="cursor phải là next_cursor do trục trả về",
            )
        )
    except StoreError as exc:
        log.warning("store refused %s %s: %s", request.method, request.path, exc)
        problem = Problem(
            code=exc.code,
            http_status=503 if exc.retryable else 500,
            retryable=exc.retryable,
            message_vi=f"Kho dữ liệu của trục tạm thời không phục vụ được ({exc.code})",
            message_en=f"The hub's store cannot serve the request right now ({exc.code})",
            fault="local",
        )
        return problem_response(problem, headers={"Retry-After": "5"} if exc.retryable else None)
    except Exception:
        incident = secrets.token_hex(4)
        log.exception("incident %s on %s %s", incident, request.method, request.path)
        problem = Problem(
            code=INTERNAL.code,
            http_status=500,
            retryable=True,
            message_vi=INTERNAL.vi.format(incident=incident),
            message_en=INTERNAL.en.format(incident=incident),
            fault="local",
        )
        return problem_response(problem)


async def _system(request: web.Request) -> System:
    return await authenticate(request, request.app[STORE], request.app[TRUST])


# -- submit ---------------------------------------------------------------------------------


@routes.post("/api/v1/packages")
async def submit(request: web.Request) -> web.Response:
    system = await _system(request)
    hub = request.app[HUB]
    declared = request.query.get("kind")
    if declared is not None and declared not in _KINDS:
        raise Refused(request_problem(f"kind must be edoc or status, not {declared!r}"))
    data, path = await read_package(request, system)
    try:
        receipt = await hub.submit(
            hub.submission(
                system,
                data=data,
                path=str(path) if path else None,
                declared_kind=_KINDS.get(declared or ""),
            )
        )
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    m = receipt.message
    body = {
        "doc_id": receipt.doc_id,
        "duplicate": receipt.duplicate,
        "kind": m.kind,
        "sender": m.sender,
        "document_id": m.document_id,
        "sha256": m.sha256,
        "size": m.size,
        "received_at": _iso(m.received_at),
        "recipients": list(receipt.recipients),
        "warnings": list(receipt.warnings),
        "receipt": receipt.signed,
    }
    return _json(
        body,
        status=200 if receipt.duplicate else 202,
        headers={"Location": f"/api/v1/documents/{receipt.doc_id}"},
    )


async def read_package(request: web.Request, system: System) -> tuple[bytes | None, Path | None]:
    """The package bytes (small) or a spool file (large) from a raw or multipart body."""
    limit = request.app[HUB].limits.max_package_bytes
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise Refused(
                    request_problem(
                        "the multipart body has no 'package' part",
                        vi="nội dung multipart không có phần 'package'",
                    )
                )
            if isinstance(part, BodyPartReader) and (part.name in _PACKAGE_PARTS or part.filename):
                return await _collect(request, system, part.read_chunk, limit)
    if request.content_length is not None and request.content_length > limit:
        await _too_large(request, system, request.content_length, limit)
    return await _collect(request, system, request.content.read, limit)


async def _collect(
    request: web.Request,
    system: System,
    read: Callable[[int], Awaitable[bytes]],
    limit: int,
) -> tuple[bytes | None, Path | None]:
    chunks: list[bytes] = []
    size = 0
    spool: IO[bytes] | None = None
    try:
        while chunk := await read(_CHUNK):
            size += len(chunk)
            if size > limit:
                await _too_large(request, system, size, limit)
            if spool is None and size > SPOOL_AT:
                spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
                    dir=request.app[SPOOL], prefix="in-", suffix=".edxml", delete=False
                )
                spool.write(b"".join(chunks))
                chunks.clear()
            if spool is not None:
                spool.write(chunk)  # page cache: microseconds, no fsync (input, not output)
            else:
                chunks.append(chunk)
    except BaseException:
        if spool is not None:
            spool.close()
            Path(spool.name).unlink(missing_ok=True)
        raise
    if spool is not None:
        spool.close()
        return None, Path(spool.name)
    if not size:
        raise Refused(
            request_problem("the request has no package body", vi="yêu cầu không có gói tin")
        )
    return b"".join(chunks), None


async def _too_large(request: web.Request, system: System, size: int, limit: int) -> None:
    error = PackageTooLarge(TOO_LARGE, size=size, limit=limit)
    hub = request.app[HUB]
    # Like every rejected package, traced under a DocId the sender gets and can quote.
    doc_id = new_id()
    detail = {"code": error.code, "http_status": 413, "system_id": system.system_id, "size": size}
    await hub.store.append_trace(
        [event(hub.node, RECEIVE, REJECTED, doc_id, hub.clock(), **detail)]
    )
    raise Refused.of(error, doc_id)


# -- inbox ----------------------------------------------------------------------------------


@routes.get("/api/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    system = await _system(request)
    q = request.query
    state = _enum(q.get("state"), DeliveryState, "state")
    kind = q.get("kind")
    if kind is not None and kind not in _KINDS:
        raise Refused(request_problem(f"kind must be edoc or status, not {kind!r}"))
    since = _time(q.get("since"), "since")
    limit = _int(q.get("limit"), "limit", default=100, low=1, high=1000)
    page = await request.app[HUB].inbox(
        system,
        organs=q.getall("organ", []),
        state=state,
        kind=_KINDS.get(kind or ""),
        since=since,
        limit=limit,
        cursor=q.get("cursor"),
    )
    return _json(
        {"items": [_item(i) for i in page.items], "next_cursor": page.next_cursor},
    )


def package_response(body: bytes | Path, headers: dict[str, str]) -> web.StreamResponse:
    """A sealed package as the answer: the bytes the store keeps, or its file streamed."""
    if isinstance(body, bytes):
        return web.Response(body=body, headers=headers)
    return web.FileResponse(body, headers=headers)


@routes.get("/api/v1/inbox/{delivery_id}")
async def fetch(request: web.Request) -> web.StreamResponse:
    system = await _system(request)
    delivery, message, body = await request.app[HUB].fetch(
        system, request.match_info["delivery_id"]
    )
    return package_response(
        body,
        {
            "Content-Type": "application/xml",
            "Content-Disposition": f'attachment; filename="{message.doc_id}.edxml"',
            "Edxgw-Doc-Id": message.doc_id,
            "Edxgw-Delivery-Id": delivery.delivery_id,
            "Edxgw-Kind": message.kind,
            "Edxgw-Sender": message.sender,
            "Edxgw-Recipient": delivery.recipient,
        },
    )


@routes.post("/api/v1/inbox/{delivery_id}/ack")
async def acknowledge(request: web.Request) -> web.Response:
    system = await _system(request)
    body = await _json_body(request)
    result = body.get("result")
    if result not in ("done", "fail"):
        raise Refused(request_problem("result must be 'done' or 'fail'"))
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Refused(request_problem("reason must be a string"))
    delivery = await request.app[HUB].acknowledge(
        system, request.match_info["delivery_id"], ok=result == "done", reason=reason
    )
    return _json({"delivery_id": delivery.delivery_id, "state": delivery.state.value})


# -- tracking -------------------------------------------------------------------------------


@routes.get("/api/v1/documents/{doc_id}")
async def document(request: web.Request) -> web.Response:
    system = await _system(request)
    tracking = await request.app[HUB].track(system, request.match_info["doc_id"])
    return _json(tracking_json(tracking))


def tracking_json(t: Tracking) -> dict[str, Any]:
    progress = {p.recipient: p for p in t.progress}
    recipients = []
    for d in t.deliveries:
        p = progress.pop(d.recipient, None)
        recipients.append({**_delivery(d), "progress": _progress(p)})
    # Statuses from agencies we did not deliver to (another hub delivered): still shown.
    for recipient, p in sorted(progress.items()):
        recipients.append({"recipient": recipient, "route": None, "progress": _progress(p)})
    return {
        **_message(t.message),
        "original_doc_id": t.original.doc_id if t.original else None,
        "recipients": recipients,
        "statuses": [
            {
                "status_doc_id": s.status_doc_id,
                "recipient": s.recipient,
                "from": s.from_organ,
                "code": s.code,
                "at": _iso(s.at),
                "description": s.description,
                "recorded_at": _iso(s.recorded_at),
            }
            for s in t.statuses
        ],
    }


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    system = await _system(request)
    return _json(
        {
            "system_id": system.system_id,
            "name": system.name,
            "agencies": list(system.agencies),
            "validation_mode": system.validation_mode,
            "signature_policy": system.signature_policy,
        }
    )


@routes.get("/api/v1/certificate")
async def certificate(request: web.Request) -> web.Response:
    cert = request.app[HUB].keys.signing_key.certificate
    return web.Response(
        body=cert.public_bytes(serialization.Encoding.PEM),
        content_type="application/x-pem-file",
    )


def setup(app: web.Application) -> None:
    app.middlewares.append(refusals)
    app.add_routes(routes)
    _ = app[SETTINGS]  # wired by gateway.app before the routes


# -- rendering --------------------------------------------------------------------------------


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when is not None else None


def _message(m: Message) -> dict[str, Any]:
    return {
        "doc_id": m.doc_id,
        "kind": m.kind,
        "sender": m.sender,
        "document_id": m.document_id,
        "business_type": m.business_type,
        "status_code": m.status_code,
        "subject": m.subject,
        "code_notation": m.code_notation,
        "response_for": (
            {"organ_id": m.response_for_organ_id, "document_id": m.response_for_document_id}
            if m.response_for_document_id
            else None
        ),
        "received_at": _iso(m.received_at),
        "sha256": m.sha256,
        "size": m.size,
    }


def _delivery(d: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": d.delivery_id,
        "recipient": d.recipient,
        "route": d.route,
        "peer": d.peer,
        "state": d.state.value,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "delivered_at": _iso(d.delivered_at),
        "acked_at": _iso(d.acked_at),
    }


def _progress(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "level": p.level,
        "level_at": _iso(p.level_at),
        "change_state": p.change_state,
        "change_at": _iso(p.change_at),
        "last_code": p.last_code,
        "events": p.events,
    }


def _item(i: InboxItem) -> dict[str, Any]:
    return {**_message(i.message), **_delivery(i.delivery)}


# -- parameters -------------------------------------------------------------------------------


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused(request_problem("the body is not JSON")) from None
    if not isinstance(body, dict):
        raise Refused(request_problem("the body must be a JSON object"))
    return body


def _enum(value: str | None, kind: type[DeliveryState], name: str) -> DeliveryState | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(s.value for s in kind)
        raise Refused(request_problem(f"{name} must be one of {allowed}")) from None


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(request_problem(f"{name} must be an ISO 8601 time")) from None
    if when.tzinfo is None:
        raise Refused(request_problem(f"{name} needs a time zone (e.g. +07:00)"))
    return when


def _int(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise Refused(request_problem(f"{name} must be an integer")) from None
    if not low <= number <= high:
        raise Refused(request_problem(f"{name} must be between {low} and {high}"))
    return number
