"""The national-axis door: the calls of the VDXP SDK (vdxp-wire.md), served as the axis does.

A document-management system built on the axis SDK (SDKVXP 2.0.1 and its .NET twin) connects
by changing only its endpoint (``http://<hub>:8080``), systemId (its ``edxgw systems`` id)
and secret (``edxgw systems add`` prints it). Paths are the SDK's, at the root::

    POST /sendEdoc             raw body or multipart ``file_doc``; messagetype edoc|status
    POST /getReceivedEdocList  POST /getEdoc        POST /updateStatus   POST /getSentEdocList
    POST /getAgenciesList      POST /getAgenciesListQD20                 POST /getSynchronizeUnit
    POST /registerAgency       POST /deleteAgency
    GET  /countReceiveEdoc     GET  /countReceiveStatus                  GET  /downloadEdoc

Every call is authenticated here (:func:`authenticate`: the system by ``XroadVnpt-systemid``,
the HMAC of ``XroadVnpt-sign-header`` with its secret, every signed value against the header
actually sent); the use cases are :class:`gateway.service.vdxp.Axis` over the one Hub.

Answers are the SDK's JSON (``status``, ``ErrorCode``, ``ErrorDesc``, call fields) with HTTP
200, refusals included, as the SDK reads them; only the hub's own faults are 500/503. A refusal
also names its stable code in the ``Edxgw-Error-Code`` header and in ``ErrorDesc`` (Vietnamese,
then English, then the code), and ``Edxgw-Doc-Id`` when it was traced under a DocId.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.core import vdxp
from gateway.core.errors import GatewayError, NotAuthorized, Problem, Unauthenticated
from gateway.core.vdxp import Call, CallPath
from gateway.core.vdxp_door import NO_SECRET, UNKNOWN_SYSTEM, bad_parameter
from gateway.service.hub import Refused
from gateway.service.vdxp import Axis, message_type
from gateway.store.base import System
from gateway.store.errors import StoreError
from gateway.web.api import package_response, read_package
from gateway.web.auth import SYSTEM_REVOKED
from gateway.web.problems import INTERNAL
from gateway.web.state import HUB, SETTINGS, STORE

__all__ = ["ERROR_CODE_HEADER", "authenticate", "openapi_paths", "routes", "setup"]

log = logging.getLogger(__name__)

#: Where a refusal's stable code travels (the SDK reads only the JSON; people and the
#: project's own client, adapters/vdxp/client.py, read this).
ERROR_CODE_HEADER = "Edxgw-Error-Code"
_B64_CHUNK = 3 * 256 * 1024  # a multiple of 3: base64 of each chunk concatenates cleanly

routes = web.RouteTableDef()

Handler = Callable[[web.Request, System, Call], Awaitable[web.StreamResponse]]


async def authenticate(request: web.Request) -> tuple[System, Call]:
    """The calling system and its verified parameters, or :class:`Refused`.

    Order: the system must exist and hold a secret; the HMAC and the signed values must
    match (:func:`gateway.core.vdxp.verify`); only then is a revoked system told so.
    """
    try:
        call = vdxp.parse_headers(request.headers)
        system_id = call.system_id
        if system_id is None or not system_id.strip():
            raise NotAuthorized(vdxp.MISSING_HEADER, header=vdxp.PREFIX + "systemid")
        system = await request.app[STORE].get_system(system_id)
        if system is None:
            raise Unauthenticated(UNKNOWN_SYSTEM, system=system_id[:64])
        if not system.secret:
            raise Unauthenticated(NO_SECRET, system=system.system_id)
        skew = request.app[SETTINGS].vdxp_max_clock_skew_seconds
        vdxp.verify(
            call,
            system.secret,
            now=request.app[HUB].clock(),
            freshness=timedelta(seconds=skew) if skew else None,
        )
        if system.revoked:
            raise NotAuthorized(SYSTEM_REVOKED, system=system.system_id)
    except GatewayError as error:
        log.warning(
            "vdxp %s refused: %s (systemid %r)",
            request.path,
            error.code,
            request.headers.get("XroadVnpt-systemid", "")[:64],
        )
        raise Refused.of(error) from None
    return system, call


def _door(path: CallPath) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``path`` (POST, and GET for the 2.0.1 extras), authenticated,
    with every failure answered in the protocol instead of a problem document."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def serve(request: web.Request) -> web.StreamResponse:
            try:
                system, call = await authenticate(request)
                return await handler(request, system, call)
            except Refused as refused:
                return failure(refused.problem, refused.doc_id)
            except web.HTTPException:
                raise  # aiohttp's own answers (a body over client_max_size)
            except StoreError as exc:
                log.warning("store refused vdxp %s: %s", request.path, exc)
                retry = {"Retry-After": "5"} if exc.retryable else None
                return failure(_store_problem(exc), headers=retry)
            except Exception:
                incident = secrets.token_hex(4)
                log.exception("incident %s on vdxp %s", incident, request.path)
                return failure(_internal(incident))

        methods = ("GET", "POST") if path.is_get else ("POST",)
        for method in methods:
            routes.route(method, path.value)(serve)
        return handler

    return register


def answer(
    body: dict[str, object], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def failure(
    problem: Problem, doc_id: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """A FAIL answer: the axis's ErrorCode table (``vdxp.failure``), the code in a header."""
    body = vdxp.failure(problem)
    body["ErrorDesc"] = f"{problem.message_vi} / {problem.message_en} ({problem.code})"
    extra = {ERROR_CODE_HEADER: problem.code, **(headers or {})}
    if doc_id:
        extra["Edxgw-Doc-Id"] = doc_id
    # The hub's faults keep their 5xx (a retry may work); the caller's mistakes are 200 + FAIL.
    status = problem.http_status if problem.fault != "sender" else 200
    return answer(body, status=status, headers=extra)


def _axis(request: web.Request) -> Axis:
    return Axis(request.app[HUB])


# -- documents and statuses -----------------------------------------------------------------------


@_door(CallPath.SEND_EDOC)
async def send_edoc(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    data, path = await read_package(request, system)
    try:
        receipt = await _axis(request).send(system, call, data=data, path=path)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    return answer(vdxp.ok(DocId=receipt.doc_id), headers={"Edxgw-Doc-Id": receipt.doc_id})


@_door(CallPath.GET_RECEIVED_EDOC_LIST)
async def get_received_edoc_list(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    kind = message_type(call)
    assert kind is not None
    return answer(vdxp.ok(data=await _axis(request).received(system, kind)))


@_door(CallPath.COUNT_RECEIVE_EDOC)
async def count_receive_edoc(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    return answer(vdxp.ok(count=await _axis(request).count(system, "edoc")))


@_door(CallPath.COUNT_RECEIVE_STATUS)
async def count_receive_status(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    return answer(vdxp.ok(count=await _axis(request).count(system, "status")))


@_door(CallPath.GET_EDOC)
async def get_edoc(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    _, message, body = await _axis(request).fetch(system, _doc_id(call))
    if isinstance(body, bytes):
        data = base64.b64encode(body).decode("ascii")
        return answer(vdxp.ok(data=data), headers={"Edxgw-Doc-Id": message.doc_id})
    return await _stream_base64(request, body, message.doc_id)


@_door(CallPath.DOWNLOAD_EDOC)
async def download_edoc(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    doc_id = _doc_id(call)
    _, message, body = await _axis(request).fetch(system, doc_id)
    return package_response(
        body,
        {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{doc_id}.edxml"',
            "Edxgw-Doc-Id": message.doc_id,
        },
    )


@_door(CallPath.UPDATE_STATUS)
async def update_status(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    # The SDK spells it docid here (vdxp-wire.md); ask for that spelling first.
    doc_id = _param(call, "docid")
    status = _param(call, "status")
    await _axis(request).update_status(system, doc_id, status, call.param("description"))
    return answer(vdxp.ok())


@_door(CallPath.GET_SENT_EDOC_LIST)
async def get_sent_edoc_list(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    return answer(vdxp.ok(data=await _axis(request).sent(system, _doc_id(call))))


# -- directory ------------------------------------------------------------------------------------


@_door(CallPath.GET_AGENCIES_LIST)
async def get_agencies_list(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    return answer(vdxp.ok(data=await _axis(request).agencies()))


@_door(CallPath.GET_AGENCIES_LIST_QD20)
async def get_agencies_list_qd20(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    return answer(vdxp.ok(data=await _axis(request).agencies_qd20()))


@_door(CallPath.GET_SYNCHRONIZE_UNIT)
async def get_synchronize_unit(
    request: web.Request, system: System, call: Call
) -> web.StreamResponse:
    return answer(vdxp.ok(data=await _axis(request).units()))


@_door(CallPath.REGISTER_AGENCY)
async def register_agency(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    raw = await request.read() if request.can_read_body else b""
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        shown = raw[:64].decode("utf-8", "replace")
        raise Refused.of(bad_parameter("body", shown, "a JSON object {id, pcode, code, name, ...}"))
    await _axis(request).register(system, body)
    return answer(vdxp.ok())


@_door(CallPath.DELETE_AGENCY)
async def delete_agency(request: web.Request, system: System, call: Call) -> web.StreamResponse:
    await _axis(request).unregister(system, _param(call, "AgencyCode"))
    return answer(vdxp.ok())


# -- helpers --------------------------------------------------------------------------------------


def _param(call: Call, name: str) -> str:
    value = call.param(name)
    if value is None or not value.strip():
        raise Refused.of(NotAuthorized(vdxp.MISSING_HEADER, header=vdxp.PREFIX + name))
    return value.strip()


def _doc_id(call: Call) -> str:
    return _param(call, "docId")


async def _stream_base64(request: web.Request, path: Path, doc_id: str) -> web.StreamResponse:
    """``{"status":"OK",...,"data":"<base64>"}`` written chunk by chunk (invariant §3.5: a
    64 MiB package is never held, nor its 85 MiB of base64)."""
    head = json.dumps(vdxp.ok(data=""), ensure_ascii=False)
    before, _, after = head.rpartition('""')  # data is the last field: split around its value
    size = path.stat().st_size
    prefix, suffix = (before + '"').encode(), ('"' + after).encode()
    response = web.StreamResponse(
        headers={"Content-Type": "application/json; charset=utf-8", "Edxgw-Doc-Id": doc_id}
    )
    response.content_length = len(prefix) + 4 * ((size + 2) // 3) + len(suffix)
    await response.prepare(request)
    await response.write(prefix)
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, _B64_CHUNK):
            await response.write(base64.b64encode(chunk))
    await response.write(suffix)
    await response.write_eof()
    return response


def _store_problem(exc: StoreError) -> Problem:
    return Problem(
        code=exc.code,
        http_status=503 if exc.retryable else 500,
        retryable=exc.retryable,
        message_vi=f"Kho dữ liệu của trục tạm thời không phục vụ được ({exc.code})",
        message_en=f"The hub's store cannot serve the request right now ({exc.code})",
        fault="local",
    )


def _internal(incident: str) -> Problem:
    return Problem(
        code=INTERNAL.code,
        http_status=500,
        retryable=True,
        message_vi=INTERNAL.vi.format(incident=incident),
        message_en=INTERNAL.en.format(incident=incident),
        fault="local",
    )


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------

_SIGNED = ("systemid", "timestamp", "Content-Type", "sign-header-key", "sign-header", "hash-header")
_PARAMS: dict[CallPath, tuple[str, ...]] = {
    CallPath.SEND_EDOC: ("from", "servicetype", "messagetype", "hash-file"),
    CallPath.GET_RECEIVED_EDOC_LIST: ("servicetype", "messagetype"),
    CallPath.GET_EDOC: ("docId",),
    CallPath.UPDATE_STATUS: ("docid", "status"),
    CallPath.GET_SENT_EDOC_LIST: ("servicetype", "messagetype", "docId"),
    CallPath.DELETE_AGENCY: ("AgencyCode",),
    CallPath.COUNT_RECEIVE_EDOC: ("servicetype", "messagetype"),
    CallPath.COUNT_RECEIVE_STATUS: ("servicetype", "messagetype"),
    CallPath.DOWNLOAD_EDOC: ("docId",),
}
_SUMMARIES: dict[CallPath, str] = {
    CallPath.SEND_EDOC: "VDXP: send a document or status package / Gửi gói tin",
    CallPath.GET_RECEIVED_EDOC_LIST: "VDXP: items not yet done / Danh sách văn bản đến",
    CallPath.GET_EDOC: "VDXP: one item, base64 in data / Tải văn bản",
    CallPath.UPDATE_STATUS: "VDXP: done | fail | processing / Cập nhật trạng thái nhận",
    CallPath.GET_SENT_EDOC_LIST: "VDXP: per recipient, what became of a DocId / Văn bản đã gửi",
    CallPath.GET_AGENCIES_LIST: "VDXP: the directory / Danh sách đơn vị",
    CallPath.GET_AGENCIES_LIST_QD20: "VDXP: agencies by QĐ 20/2020 code / Mã QĐ 20",
    CallPath.GET_SYNCHRONIZE_UNIT: "VDXP: directory sync / Đồng bộ đơn vị",
    CallPath.REGISTER_AGENCY: "VDXP: register an agency under the system / Đăng ký đơn vị",
    CallPath.DELETE_AGENCY: "VDXP: unregister an agency / Hủy đăng ký đơn vị",
    CallPath.COUNT_RECEIVE_EDOC: "VDXP: documents waiting / Số văn bản chờ nhận",
    CallPath.COUNT_RECEIVE_STATUS: "VDXP: statuses waiting / Số trạng thái chờ nhận",
    CallPath.DOWNLOAD_EDOC: "VDXP: one item as a file / Tải tệp văn bản",
}


def openapi_paths() -> dict[str, Any]:
    """The VDXP calls for ``/openapi.json``: not REST, but listed with their header
    parameters. They carry no bearer token: the XroadVnpt-* HMAC headers authenticate."""
    paths: dict[str, Any] = {}
    for path in CallPath:
        headers = [
            {
                "name": vdxp.PREFIX + name,
                "in": "header",
                "required": name in _SIGNED,
                "schema": {"type": "string"},
            }
            for name in (*_SIGNED[:1], *_PARAMS.get(path, ()), *_SIGNED[1:])
        ]
        operation = {
            "summary": _SUMMARIES[path],
            "description": "National-axis (VDXP) protocol, authenticated by the HMAC-SHA256 "
            "XroadVnpt-hash-header of the system's secret (README: Connecting an existing "
            "document-management system). Answers are JSON {status, ErrorCode, ErrorDesc, "
            "...} with HTTP 200, refusals included; the stable code is in Edxgw-Error-Code.",
            "tags": ["vdxp"],
            "security": [],
            "parameters": headers,
            "responses": {
                "200": {"description": "OK or FAIL answer", "content": {"application/json": {}}}
            },
        }
        methods = ("get", "post") if path.is_get else ("post",)
        paths[path.value] = {method: operation for method in methods}
    return paths
