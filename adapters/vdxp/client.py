"""An async client of a VDXP-protocol axis: one method per call of vdxp-wire.md.

It speaks what the national axis SDK (SDKVXP 2.0.1) speaks, so it works against the national
axis, a provincial LGSP that mirrors it, and this gateway's own VDXP door
(:mod:`gateway.web.vdxp`). Signing and the answer formats come from the sans-io codec
:mod:`gateway.core.vdxp`; this module only does the HTTP.

    async with VdxpClient("http://hub:8080", "qlvb-tinh", secret) as axis:
        doc_id = await axis.send_edoc(package, sender="000.00.31.H53")
        for item in await axis.get_received_edoc_list(MessageType.EDOC):
            data = await axis.get_edoc(item.doc_id)
            await axis.update_status(item.doc_id, UpdateStatus.DONE)

Errors (one tree, as everywhere in the project)::

    VdxpError                  the axis answered FAIL, or not in the protocol
    └── VdxpUnavailable        no usable answer: connection refused, timeout, HTTP 5xx,
                               a body that is not the protocol's JSON; always retryable

``VdxpError.retryable`` is also true for ``ErrorCode "-1"`` (the axis's own fault, see
:func:`gateway.core.vdxp.failure`), so an uplink can back off on ``retryable`` alone.

Unlike the SDK, each call carries a fresh timestamp and only its own parameters (the SDK
re-sends the parameters of earlier calls and fixes the timestamp per instance, edxml.md §4.3):
both are accepted by every axis and the second keeps freshness windows usable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from gateway.core import vdxp
from gateway.core.vdxp import CallPath, MessageType, UpdateStatus

__all__ = [
    "ERROR_CODE_HEADER",
    "Agency",
    "AgencyQD20",
    "MessageType",
    "ReceivedItem",
    "SentItem",
    "Unit",
    "UpdateStatus",
    "VdxpClient",
    "VdxpError",
    "VdxpUnavailable",
]

#: The response header in which this gateway's VDXP door names its stable error code.
ERROR_CODE_HEADER = "Edxgw-Error-Code"
_JSON = "application/json"
_OCTET = "application/octet-stream"
_LARGE = 1024 * 1024
_MULTIPART = "multipart/form-data"


class VdxpError(Exception):
    """The axis refused the call (``status: FAIL``) or answered outside the protocol."""

    def __init__(
        self,
        path: str,
        error_code: str,
        desc: str,
        *,
        http_status: int | None = None,
        answer: Mapping[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        self.path = path
        #: The axis's ``ErrorCode`` (``"-2"`` authentication, ``"-3"`` not allowed, ...).
        self.error_code = error_code
        #: The axis's ``ErrorDesc``, as sent (Vietnamese, often without diacritics).
        self.desc = desc
        self.http_status = http_status
        #: The whole JSON answer when there was one.
        self.answer: Mapping[str, Any] = dict(answer or {})
        #: This gateway's stable code (``vdxp.bad_signature``...), from its ``Edxgw-Error-Code``
        #: response header; None from an axis that does not send one.
        self.code = code
        super().__init__(f"{path}: ErrorCode {error_code}: {desc}")

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (the axis's fault or an outage)."""
        return self.error_code == "-1" or (self.http_status or 0) >= 500


class VdxpUnavailable(VdxpError):
    """No answer in the protocol: connection, timeout, 5xx or garbage. Retry later."""

    @property
    def retryable(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class ReceivedItem:
    """One entry of getReceivedEdocList: an item waiting in this system's inbox."""

    doc_id: str
    sender: str
    recipient: str
    status: str
    status_desc: str
    created_time: str
    updated_time: str
    service_type: str
    message_type: str
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ReceivedItem:
        return cls(
            doc_id=_text(item, "docId"),
            sender=_text(item, "from"),
            recipient=_text(item, "to"),
            status=_text(item, "status"),
            status_desc=_text(item, "status_desc"),
            created_time=_text(item, "created_time"),
            updated_time=_text(item, "updated_time"),
            service_type=_text(item, "serviceType"),
            message_type=_text(item, "messageType"),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class SentItem:
    """One entry of getSentEdocList: one recipient's copy of something this system sent."""

    service_type: str
    message_type: str
    from_code: str
    to_code: str
    sender_doc_id: str
    receiver_doc_id: str
    send_status: str
    send_status_desc: str
    receive_status: str
    receive_status_desc: str
    sent_time: str
    received_time: str
    title: str
    notation: str
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> SentItem:
        return cls(
            service_type=_text(item, "serviceType"),
            message_type=_text(item, "messageType"),
            from_code=_text(item, "fromCode"),
            to_code=_text(item, "toCode"),
            sender_doc_id=_text(item, "senderDocId"),
            receiver_doc_id=_text(item, "receiverDocId"),
            send_status=_text(item, "sendStatus"),
            send_status_desc=_text(item, "sendStatusDesc"),
            receive_status=_text(item, "receiveStatus"),
            receive_status_desc=_text(item, "receiveStatusDesc"),
            sent_time=_text(item, "sentTime"),
            received_time=_text(item, "receivedTime"),
            title=_text(item, "title"),
            notation=_text(item, "notation"),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class Agency:
    """One entry of getAgenciesList."""

    id: str
    pid: str
    code: str
    name: str
    mail: str
    old_code: str
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Agency:
        return cls(
            id=_text(item, "id"),
            pid=_text(item, "pid"),
            code=_text(item, "code"),
            name=_text(item, "name"),
            mail=_text(item, "mail"),
            old_code=_text(item, "oldCode"),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class AgencyQD20:
    """One entry of getAgenciesListQD20: a QĐ 20/2020 code and its QCVN 102 code."""

    id: str
    code: str
    name: str
    mail: str
    code102: str
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> AgencyQD20:
        return cls(
            id=_text(item, "id"),
            code=_text(item, "code"),
            name=_text(item, "name"),
            mail=_text(item, "mail"),
            code102=_text(item, "code102"),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class Unit:
    """One entry of getSynchronizeUnit (incremental directory sync)."""

    id: str
    pid: str
    code: str
    name: str
    mail: str
    center_code: str
    version: int
    deleted: bool
    modify_date: str
    is_agency: bool
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Unit:
        return cls(
            id=_text(item, "id"),
            pid=_text(item, "pid"),
            code=_text(item, "code"),
            name=_text(item, "name"),
            mail=_text(item, "mail"),
            center_code=_text(item, "centerCode"),
            version=_int(item.get("version")),
            deleted=_bool(item.get("deleted")),
            modify_date=_text(item, "modifyDate"),
            is_agency=_bool(item.get("isAgency")),
            raw=item,
        )


class VdxpClient:
    """One system's connection to a VDXP axis: ``endpoint`` + systemId + secret.

    ``endpoint`` is the base URL the SDK is configured with (``http://hub:8080`` or
    ``http://10.0.0.5:8080/XrdAdapter/adapter``); each call POSTs (or GETs) ``endpoint +
    path``. Pass a ``session`` to share a connection pool; otherwise the client owns one and
    closes it in :meth:`close` / ``async with``.
    """

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- documents and statuses ----------------------------------------------------------

    async def send_edoc(
        self,
        package: bytes,
        *,
        sender: str,
        message_type: MessageType | str = MessageType.EDOC,
        to: Sequence[str] | None = None,
        multipart: bool = False,
        sdk_crlf: bool = False,
        lossy_hash: bool = True,
    ) -> str:
        """Send an edXML package as agency ``sender``; the axis's ``DocId`` of it.

        ``message_type`` is ``status`` for a status package. ``multipart`` sends the older
        SDKs' form (part ``file_doc``); ``sdk_crlf`` appends the CRLF SDK 2.0.1 appends to a
        raw body; ``lossy_hash`` writes ``hash-file`` the SDK's way (vdxp-wire.md quirks).
        """
        digest = hashlib.sha256(package).digest()
        params = {
            "from": sender,
            "servicetype": vdxp.SERVICE_TYPE,
            "messagetype": str(message_type),
            "hash-file": vdxp.lossy_hex(digest) if lossy_hash else digest.hex(),
        }
        if to is not None:
            params["to"] = json.dumps(list(to), separators=(",", ":"))
        answer: Mapping[str, Any]
        if multipart:
            form = aiohttp.FormData()
            form.add_field("file_doc", package, filename="edoc.edxml", content_type=_OCTET)
            answer = await self._json(CallPath.SEND_EDOC, params, form, content_type=_MULTIPART)
        else:
            body = package + b"\r\n" if sdk_crlf else package
            answer = await self._json(CallPath.SEND_EDOC, params, body, content_type=_OCTET)
        doc_id = answer.get("DocId")
        if not isinstance(doc_id, str) or not doc_id:
            raise VdxpError(CallPath.SEND_EDOC, "-1", "answer without DocId", answer=answer)
        return doc_id

    async def send_status(self, package: bytes, *, sender: str, **options: Any) -> str:
        """:meth:`send_edoc` with ``messagetype=status``."""
        return await self.send_edoc(
            package, sender=sender, message_type=MessageType.STATUS, **options
        )

    async def get_received_edoc_list(
        self, message_type: MessageType | str = MessageType.EDOC
    ) -> list[ReceivedItem]:
        """The items waiting for this system (until acknowledged ``done``)."""
        params = {"servicetype": vdxp.SERVICE_TYPE, "messagetype": str(message_type)}
        answer = await self._json(CallPath.GET_RECEIVED_EDOC_LIST, params, b"")
        return [
            ReceivedItem.from_json(item) for item in _data(CallPath.GET_RECEIVED_EDOC_LIST, answer)
        ]

    async def get_edoc(self, doc_id: str) -> bytes:
        """The edXML bytes of an inbox item (``data`` is base64 on the wire)."""
        params = {"docId": doc_id, "filePath": ""}
        answer = await self._json(CallPath.GET_EDOC, params, b"{}")
        data = answer.get("data")
        if not isinstance(data, str):
            raise VdxpError(CallPath.GET_EDOC, "-1", "answer without data", answer=answer)
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise VdxpError(CallPath.GET_EDOC, "-1", "data is not base64", answer=answer) from None

    async def download_edoc(self, doc_id: str) -> bytes:
        """The edXML bytes of an inbox item, as a plain download (SDK 2.0.1, GET)."""
        path = CallPath.DOWNLOAD_EDOC
        reply = await self._call(path, {"docId": doc_id}, None)
        if reply.content_type == _JSON or reply.status >= 400:
            # A refusal is the usual JSON answer; a JSON "file" would be no edXML either.
            answer = _decode(path, reply)
            _check(path, answer, reply)
            raise VdxpError(path, "-1", "a JSON answer instead of the file", answer=answer)
        return reply.body

    async def update_status(
        self, doc_id: str, status: UpdateStatus | str, *, description: str | None = None
    ) -> None:
        """Acknowledge an inbox item: ``done`` (stop listing it), ``fail`` or ``processing``."""
        params = {"docid": doc_id, "status": str(status)}
        if description:
            params["description"] = description  # .NET SDK (edxml.md §4.2)
        await self._json(CallPath.UPDATE_STATUS, params, b"{}")

    async def get_sent_edoc_list(
        self, doc_id: str, message_type: MessageType | str = MessageType.EDOC
    ) -> list[SentItem]:
        """Per recipient, what became of ``doc_id`` (the ``DocId`` sendEdoc returned)."""
        params = {
            "servicetype": vdxp.SERVICE_TYPE,
            "messagetype": str(message_type),
            "docId": doc_id,
        }
        answer = await self._json(CallPath.GET_SENT_EDOC_LIST, params, b"")
        return [SentItem.from_json(item) for item in _data(CallPath.GET_SENT_EDOC_LIST, answer)]

    async def count_receive_edoc(self) -> int:
        """How many document items wait for this system (SDK 2.0.1, GET)."""
        return await self._count(CallPath.COUNT_RECEIVE_EDOC, MessageType.EDOC)

    async def count_receive_status(self) -> int:
        """How many status items wait for this system (SDK 2.0.1, GET)."""
        return await self._count(CallPath.COUNT_RECEIVE_STATUS, MessageType.STATUS)

    # -- directory -----------------------------------------------------------------------

    async def get_agencies_list(self) -> list[Agency]:
        answer = await self._json(CallPath.GET_AGENCIES_LIST, {}, b"")
        return [Agency.from_json(item) for item in _data(CallPath.GET_AGENCIES_LIST, answer)]

    async def get_agencies_list_qd20(self) -> list[AgencyQD20]:
        answer = await self._json(CallPath.GET_AGENCIES_LIST_QD20, {}, b"")
        return [AgencyQD20.from_json(i) for i in _data(CallPath.GET_AGENCIES_LIST_QD20, answer)]

    async def get_synchronize_unit(self) -> list[Unit]:
        answer = await self._json(CallPath.GET_SYNCHRONIZE_UNIT, {}, b"")
        return [Unit.from_json(item) for item in _data(CallPath.GET_SYNCHRONIZE_UNIT, answer)]

    async def register_agency(
        self,
        code: str,
        name: str,
        *,
        pcode: str | None = None,
        id: str = "",
        mail: str = "",
        mobile: str = "",
        fax: str = "",
    ) -> None:
        """Register (or update) agency ``code`` under this system; ``pcode`` its parent."""
        body = {
            "id": id,
            "pcode": pcode if pcode is not None else self.system_id,
            "code": code,
            "name": name,
            "mail": mail,
            "mobile": mobile,
            "fax": fax,
        }
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await self._json(CallPath.REGISTER_AGENCY, {}, data)

    async def delete_agency(self, code: str) -> None:
        """Remove the registration of agency ``code`` under this system."""
        await self._json(CallPath.DELETE_AGENCY, {"AgencyCode": code}, b"")

    # -- the wire ------------------------------------------------------------------------

    async def call(
        self,
        path: CallPath | str,
        params: Mapping[str, str],
        body: bytes | aiohttp.FormData | None = b"",
        *,
        content_type: str = _JSON,
    ) -> Mapping[str, Any]:
        """Any call: signed ``params``, ``body``; the JSON answer (raises on FAIL)."""
        return await self._json(CallPath(path), params, body, content_type=content_type)

    async def _count(self, path: CallPath, message_type: MessageType) -> int:
        params = {"servicetype": vdxp.SERVICE_TYPE, "messagetype": str(message_type)}
        answer = await self._json(path, params, None)
        count = answer.get("count")
        if isinstance(count, bool) or not isinstance(count, int | str):
            raise VdxpError(path, "-1", "answer without count", answer=answer)
        try:
            return int(count)
        except ValueError:
            raise VdxpError(path, "-1", "count is not a number", answer=answer) from None

    async def _json(
        self,
        path: CallPath,
        params: Mapping[str, str],
        body: bytes | aiohttp.FormData | None,
        *,
        content_type: str = _JSON,
    ) -> Mapping[str, Any]:
        reply = await self._call(path, params, body, content_type=content_type)
        answer = _decode(path, reply)
        _check(path, answer, reply)
        return answer

    async def _call(
        self,
        path: CallPath,
        params: Mapping[str, str],
        body: bytes | aiohttp.FormData | None,
        *,
        content_type: str = _JSON,
    ) -> _Reply:
        headers = vdxp.sign(
            self.system_id,
            self._secret,
            params,
            content_type=content_type,
            timestamp=self._clock(),
        )
        if isinstance(body, aiohttp.FormData):
            del headers["Content-Type"]  # aiohttp writes it, with the multipart boundary
        method = "GET" if path.is_get else "POST"
        payload: bytes | io.BytesIO | aiohttp.FormData | None = body
        if isinstance(body, bytes) and len(body) > _LARGE:
            payload = io.BytesIO(body)  # aiohttp streams it instead of writing it in one go
        session = self._ensure_session()
        try:
            async with session.request(
                method,
                self.endpoint + path,
                headers=headers,
                data=payload if not path.is_get else None,
                timeout=self._timeout,
            ) as response:
                return _Reply(
                    body=await response.read(),
                    content_type=response.content_type,
                    status=response.status,
                    code=response.headers.get(ERROR_CODE_HEADER),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VdxpUnavailable(path, "-1", f"{type(exc).__name__}: {exc}") from exc

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


@dataclass(frozen=True, slots=True)
class _Reply:
    body: bytes
    content_type: str
    status: int
    code: str | None


def _decode(path: CallPath, reply: _Reply) -> Mapping[str, Any]:
    try:
        answer = json.loads(reply.body)
    except ValueError:
        answer = None
    status = reply.status
    if not isinstance(answer, dict):
        if status >= 500 or status < 400:
            raise VdxpUnavailable(
                path, "-1", f"HTTP {status}, not a JSON answer", http_status=status
            )
        # A 4xx page (wrong endpoint, a proxy's refusal): configuration, not an outage.
        raise VdxpError(path, "", f"HTTP {status}, not a JSON answer", http_status=status)
    return answer


def _check(path: CallPath, answer: Mapping[str, Any], reply: _Reply) -> None:
    status = reply.status
    error_code = str(answer.get("ErrorCode", "0" if status < 400 else "-1"))
    if answer.get("status", "OK") == "OK" and error_code == "0" and status < 400:
        return
    desc = str(answer.get("ErrorDesc", ""))
    kind = VdxpUnavailable if status >= 500 else VdxpError
    raise kind(path, error_code, desc, http_status=status, answer=answer, code=reply.code)


def _data(path: CallPath, answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = answer.get("data", [])
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise VdxpError(path, "-1", "data is not a list of objects", answer=answer)
    return data


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
