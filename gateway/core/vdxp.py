"""Encode and decode the national axis (VDXP) protocol: signed XroadVnpt-* headers, JSON answers.

A sans-io codec in the manner of h11, used on both sides (vdxp-wire.md, edxml.md §4.2-4.3):
the gateway's VDXP API parses and authenticates incoming calls (:func:`parse_headers`,
:func:`verify`, :func:`match_hash_file`) and answers them (:func:`ok`, :func:`fail`,
:func:`failure` and the list-item helpers); the uplink client builds outgoing calls
(:func:`sign`). Parameters travel as request headers ``XroadVnpt-<name>``; the signature is
HMAC-SHA256 with the system's secret over the exact ``XroadVnpt-sign-header`` JSON string.

:func:`verify` raises :class:`~gateway.core.errors.NotAuthorized` (403) with one of::

    vdxp.missing_header          systemid, sign-header, sign-header-key or hash-header absent
                                 (timestamp too when a freshness window is set)
    vdxp.duplicate_header        the same header spelled the same way twice, different values
    vdxp.bad_signature           the HMAC does not match the sign-header string
    vdxp.sign_header_invalid     sign-header is no JSON object of XroadVnpt-* names to strings
    vdxp.system_mismatch         systemid unsigned, or different from the signed one
    vdxp.signed_value_mismatch   a signed value differs from the header sent, or a name of
                                 sign-header-key is missing from the JSON
    vdxp.unsigned_header         a parameter header was sent that the JSON does not cover
    vdxp.bad_timestamp, .stale   only with a freshness window (off by default)

``vdxp.hash_file_mismatch`` is for the shell to raise as InvalidPackage when
:func:`match_hash_file` finds no match. FAIL answers carry a string ``ErrorCode`` from one
small, stable table (:func:`failure`)::

    "0"   success
    "-1"  anything else, including our own faults (the caller may retry later)
    "-2"  authentication failed: vdxp.* (but those below), auth.*, other 401
    "-3"  not allowed (403: sender not registered for the system, not your inbox;
          vdxp.agency_hosted_elsewhere, vdxp.agency_merged, vdxp.agency_taken)
    "-4"  not found (404, vdxp.agency_not_registered)
    "-5"  package refused: edxml.*, vdxp.hash_file_mismatch, vdxp.bad_parameter,
          other 400/413/422
    "-6"  conflict (409: acknowledged before, not delivered yet)
    "-7"  unroutable: route.*, receive.loop_detected

List items format times as ``dd/MM/yyyy HH:mm:ss`` in Vietnam time (UTC+7). The SDK reads
them as opaque strings and neither vdxp-wire.md nor edxml.md §4 fixes a format, so this is
our choice, in the style of the legacy TraceHeader (edxml.md §1.7).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import TypeAlias

from gateway.core.errors import GatewayError, NotAuthorized, Problem, define

__all__ = [
    "BAD_SIGNATURE",
    "BAD_TIMESTAMP",
    "DUPLICATE_HEADER",
    "HASH_FILE_MISMATCH",
    "MISSING_HEADER",
    "PREFIX",
    "SERVICE_TYPE",
    "SIGNED_VALUE_MISMATCH",
    "SIGN_HEADER_INVALID",
    "STALE",
    "SYSTEM_MISMATCH",
    "UNSIGNED_HEADER",
    "USER_AGENT",
    "VERSION",
    "VN_TZ",
    "Call",
    "CallPath",
    "Item",
    "MessageType",
    "UpdateStatus",
    "agency_item",
    "agency_qd20_item",
    "check_hash_file",
    "fail",
    "failure",
    "format_time",
    "format_timestamp",
    "lossy_hex",
    "match_hash_file",
    "ok",
    "parse_headers",
    "parse_timestamp",
    "received_item",
    "sent_item",
    "sign",
    "strip_trailing_crlf",
    "unit_item",
    "verify",
]


class CallPath(enum.StrEnum):
    """The calls (vdxp-wire.md "Calls"): all POST except the 2.0.1 extras in :attr:`is_get`."""

    SEND_EDOC = "/sendEdoc"
    GET_RECEIVED_EDOC_LIST = "/getReceivedEdocList"
    GET_EDOC = "/getEdoc"
    UPDATE_STATUS = "/updateStatus"
    GET_SENT_EDOC_LIST = "/getSentEdocList"
    GET_AGENCIES_LIST = "/getAgenciesList"
    GET_AGENCIES_LIST_QD20 = "/getAgenciesListQD20"
    GET_SYNCHRONIZE_UNIT = "/getSynchronizeUnit"
    REGISTER_AGENCY = "/registerAgency"
    DELETE_AGENCY = "/deleteAgency"
    COUNT_RECEIVE_EDOC = "/countReceiveEdoc"
    COUNT_RECEIVE_STATUS = "/countReceiveStatus"
    DOWNLOAD_EDOC = "/downloadEdoc"

    @property
    def is_get(self) -> bool:
        return self in (
            CallPath.COUNT_RECEIVE_EDOC,
            CallPath.COUNT_RECEIVE_STATUS,
            CallPath.DOWNLOAD_EDOC,
        )


class MessageType(enum.StrEnum):
    """``XroadVnpt-messagetype``: a document package or a status package (edxml.md §1, §2)."""

    EDOC = "edoc"
    STATUS = "status"


class UpdateStatus(enum.StrEnum):
    """updateStatus values: transport acknowledgement, not business status (edxml.md §2.4)."""

    DONE = "done"
    FAIL = "fail"
    PROCESSING = "processing"


SERVICE_TYPE = "eDoc"
PREFIX = "XroadVnpt-"
VERSION = "3.0.201608"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

_SYSTEM_ID = "systemid"
_TIMESTAMP = "timestamp"
_CONTENT_TYPE = "Content-Type"
_SIGN_HEADER = "sign-header"
_SIGN_HEADER_KEY = "sign-header-key"
_HASH_HEADER = "hash-header"
_VERSION = "version"
# Headers about the signature itself: never inside it (edxml.md §4.3 steps 3-6).
_UNSIGNED = frozenset({_SIGN_HEADER, _SIGN_HEADER_KEY, _HASH_HEADER, _VERSION})
_RESERVED = frozenset({_SYSTEM_ID, _TIMESTAMP, _CONTENT_TYPE.lower()}) | _UNSIGNED
_SHOWN = 64  # echo at most this much of a caller's text in a message

MISSING_HEADER = define(
    "vdxp.missing_header",
    "Thiếu tiêu đề {header} trong yêu cầu",
    "The request lacks the header {header}",
)
DUPLICATE_HEADER = define(
    "vdxp.duplicate_header",
    "Tiêu đề {header} được gửi nhiều lần với các giá trị khác nhau",
    "The header {header} was sent several times with different values",
)
BAD_SIGNATURE = define(
    "vdxp.bad_signature",
    "XroadVnpt-hash-header không khớp với khóa bí mật của hệ thống {system}",
    "XroadVnpt-hash-header does not match the secret of system {system}",
)
SIGN_HEADER_INVALID = define(
    "vdxp.sign_header_invalid",
    "XroadVnpt-sign-header không phải đối tượng JSON ánh xạ tiêu đề XroadVnpt-* sang chuỗi",
    "XroadVnpt-sign-header is not a JSON object mapping XroadVnpt-* headers to strings",
)
SYSTEM_MISMATCH = define(
    "vdxp.system_mismatch",
    "XroadVnpt-systemid {sent} khác với systemid đã ký {signed}",
    "XroadVnpt-systemid {sent} differs from the signed systemid {signed}",
)
SIGNED_VALUE_MISMATCH = define(
    "vdxp.signed_value_mismatch",
    "Giá trị đã ký của {header} không có hoặc khác với tiêu đề thực gửi",
    "The signed value of {header} is missing or differs from the header actually sent",
)
UNSIGNED_HEADER = define(
    "vdxp.unsigned_header",
    "Tiêu đề {header} được gửi nhưng không được ký trong XroadVnpt-sign-header",
    "The header {header} was sent but is not signed in XroadVnpt-sign-header",
)
BAD_TIMESTAMP = define(
    "vdxp.bad_timestamp",
    "Không đọc được XroadVnpt-timestamp {timestamp} (mẫu ddMMyyyy'T'HHmmss+SSSS)",
    "XroadVnpt-timestamp {timestamp} does not parse (pattern ddMMyyyy'T'HHmmss+SSSS)",
)
STALE = define(
    "vdxp.stale",
    "XroadVnpt-timestamp {timestamp} lệch quá {window} so với giờ của trục",
    "XroadVnpt-timestamp {timestamp} is more than {window} away from the hub's clock",
)
HASH_FILE_MISMATCH = define(
    "vdxp.hash_file_mismatch",
    "XroadVnpt-hash-file không khớp với SHA-256 của tệp gửi lên",
    "XroadVnpt-hash-file does not match the SHA-256 of the uploaded file",
)


@dataclass(frozen=True, slots=True)
class Call:
    """The ``XroadVnpt-*`` headers of one request, as received (nothing checked yet)."""

    #: (name without the prefix, exactly as spelled, value), in the order received.
    headers: tuple[tuple[str, str], ...]
    #: Every name lower-cased; where two spellings disagree, the first received.
    params: Mapping[str, str]

    @property
    def system_id(self) -> str | None:
        return self.params.get(_SYSTEM_ID)

    @property
    def timestamp(self) -> str | None:
        return self.params.get(_TIMESTAMP)

    @property
    def sign_header(self) -> str | None:
        return self.params.get(_SIGN_HEADER)

    @property
    def sign_header_key(self) -> str | None:
        return self.params.get(_SIGN_HEADER_KEY)

    @property
    def hash_header(self) -> str | None:
        return self.params.get(_HASH_HEADER)

    def param(self, name: str) -> str | None:
        """The value sent as ``name``: that exact spelling first, else any case.

        Ask with the call's own spelling (``docId`` on getEdoc, ``docid`` on updateStatus): an
        SDK instance re-sends the parameters of its earlier calls (edxml.md §4.3), so after
        updateStatus(A) a getEdoc(B) carries both ``docid: A`` and ``docId: B``.
        """
        for spelled, value in self.headers:
            if spelled == name:
                return value
        return self.params.get(name.lower())


def parse_headers(headers: Mapping[str, str]) -> Call:
    """Collect the ``XroadVnpt-*`` headers, names matched case-insensitively.

    ``headers`` may be a multidict (aiohttp's ``CIMultiDictProxy``): every item is read.
    """
    seen: dict[str, str] = {}
    params: dict[str, str] = {}
    for key, value in headers.items():
        if not key.lower().startswith(PREFIX.lower()):
            continue
        name = key[len(PREFIX) :]
        if seen.setdefault(name, value) != value:
            raise NotAuthorized(DUPLICATE_HEADER, header=_show(key))
        params.setdefault(name.lower(), value)
    return Call(headers=tuple(seen.items()), params=MappingProxyType(params))


_TIMESTAMP_RE = re.compile(r"(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{1,4})")


def parse_timestamp(text: str) -> datetime | None:
    """Read ``ddMMyyyy'T'HHmmss+SSSS`` (``+SSSS`` = milliseconds) as Vietnam time, or None."""
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if match is None:
        return None
    day, month, year, hour, minute, second, millis = map(int, match.groups())
    if millis > 999:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, VN_TZ)
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    """The SDK's ``XroadVnpt-timestamp`` (Java ``SSSS`` pads milliseconds to four digits)."""
    local = _vietnam(moment)
    return f"{local:%d%m%Y}T{local:%H%M%S}+{local.microsecond // 1000:04d}"


def format_time(moment: datetime | None) -> str:
    """A list item's time, ``dd/MM/yyyy HH:mm:ss`` in Vietnam time; ``""`` when not yet."""
    return "" if moment is None else f"{_vietnam(moment):%d/%m/%Y %H:%M:%S}"


def verify(
    call: Call,
    secret: str,
    *,
    now: datetime | None = None,
    freshness: timedelta | None = None,
) -> None:
    """Authenticate ``call`` with the secret of ``call.system_id``, or raise NotAuthorized.

    The HMAC alone proves only that the JSON came from the secret's holder: the headers the
    server then reads must be the ones signed (vdxp-wire.md), in both directions.
    """
    system_id = _required(call, _SYSTEM_ID)
    sign_header = _required(call, _SIGN_HEADER)
    key_list = _required(call, _SIGN_HEADER_KEY)
    claimed = _required(call, _HASH_HEADER)
    expected = hmac.new(_utf8(secret), _utf8(sign_header), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), _utf8(claimed.strip().lower())):
        raise NotAuthorized(BAD_SIGNATURE, system=_show(system_id))
    signed = _signed_values(sign_header)
    by_name = {name.lower(): value for name, value in signed}
    signed_system = by_name.get(_SYSTEM_ID)
    if signed_system != system_id:
        sent = _show(system_id)
        raise NotAuthorized(SYSTEM_MISMATCH, sent=sent, signed=_show(signed_system or "-"))
    # sign-header-key names the parameters; one listed but absent from the JSON is unsigned.
    for name in filter(None, (n.strip() for n in key_list.split(";"))):
        if name.lower() not in by_name:
            raise NotAuthorized(SIGNED_VALUE_MISMATCH, header=_show(PREFIX + name))
    # Each signed value is the one sent under that spelling, or under any spelling when the
    # exact one is absent (a proxy, or HTTP/2, may re-case header names).
    for name, value in signed:
        exact = [v for n, v in call.headers if n == name]
        spelled = exact or [v for n, v in call.headers if n.lower() == name.lower()]
        if value not in spelled:
            raise NotAuthorized(SIGNED_VALUE_MISMATCH, header=_show(PREFIX + name))
    # And every parameter sent is signed with that value, whatever its spelling: otherwise
    # ``XroadVnpt-DOCID: other`` next to a signed ``docid`` could reach param("docId").
    signed_pairs = {(name.lower(), value) for name, value in signed}
    for name, value in call.headers:
        if name.lower() not in _UNSIGNED and (name.lower(), value) not in signed_pairs:
            raise NotAuthorized(UNSIGNED_HEADER, header=_show(PREFIX + name))
    if freshness is not None:
        _check_fresh(call.timestamp, _vietnam(now or datetime.now(UTC)), freshness)


def sign(
    system_id: str,
    secret: str,
    params: Mapping[str, str],
    *,
    content_type: str,
    timestamp: datetime,
) -> dict[str, str]:
    """Every header the SDK sends for one call with ``params``, signed with ``secret``.

    Byte-for-byte like SDKVXP 2.0.1 (edxml.md §4.3): its parameters live in a Java
    ``HashMap`` filled with timestamp, systemid, Content-Type and then the call's parameters,
    and it emits them in that map's iteration order; this reproduces the three captures of
    vdxp-wire.md, e.g. ``...;timestamp;Content-Type;status`` on updateStatus.
    """
    for name in params:
        if name.lower() in _RESERVED:
            raise ValueError(f"{name!r} is set by sign() itself, not a call parameter")
    entries = {
        _TIMESTAMP: format_timestamp(timestamp),
        _SYSTEM_ID: system_id,
        _CONTENT_TYPE: content_type,
        **params,
    }
    names = _java_hashmap_order(list(entries))
    sign_header = json.dumps(
        {PREFIX + name: entries[name] for name in names},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = hmac.new(_utf8(secret), _utf8(sign_header), hashlib.sha256).hexdigest()
    return {
        _CONTENT_TYPE: content_type,
        **{PREFIX + name: entries[name] for name in names},
        PREFIX + _SIGN_HEADER_KEY: ";".join(names),
        PREFIX + _SIGN_HEADER: sign_header,
        PREFIX + _HASH_HEADER: digest,
        "User-Agent": USER_AGENT,
        PREFIX + _VERSION: VERSION,
    }


def lossy_hex(digest: bytes) -> str:
    """The SDK's ``hash-file`` hex: each byte without zero padding (0x06 → ``6``)."""
    return "".join(f"{byte:x}" for byte in digest)


def check_hash_file(claimed: str, body_sha256: bytes) -> bool:
    """Whether ``claimed`` is the digest in the SDK's lossy hex or in full hex (any case).

    Lossy hex is ambiguous (``1`` ``23`` vs ``12`` ``3``), but finding another file whose
    digest collides in that form is still a second-preimage search on a weakened 256-bit
    hash, and the HMAC already authenticates the caller.
    """
    text = claimed.strip().lower()
    return text in (lossy_hex(body_sha256), body_sha256.hex())


def strip_trailing_crlf(body: bytes) -> bytes:
    """``body`` without the one CRLF that SDK 2.0.1 appends to a raw sendEdoc body."""
    return body[:-2] if body.endswith(b"\r\n") else body


def match_hash_file(claimed: str, body: bytes) -> bytes | None:
    """The file that ``hash-file`` describes: ``body`` as sent or minus its trailing CRLF.

    In the capture (vdxp-wire.md) the 367,852-byte body is ``edoc_new.edxml`` (367,850
    bytes, no final newline) plus CRLF, and hash-file is the digest of the file *without*
    it; a multipart part (older SDKs) or a file that really ends in CRLF matches as sent.
    None when neither does (the shell answers ``vdxp.hash_file_mismatch``).
    """
    if check_hash_file(claimed, hashlib.sha256(body).digest()):
        return body
    stripped = strip_trailing_crlf(body)
    if stripped is not body and check_hash_file(claimed, hashlib.sha256(stripped).digest()):
        return stripped
    return None


def ok(**fields: object) -> dict[str, object]:
    """A success answer: ``status``, ``ErrorCode`` ``"0"``, ``ErrorDesc`` and ``fields``."""
    return _answer("OK", "0", "Thanh cong", fields)


def fail(code: str, desc: str, **fields: object) -> dict[str, object]:
    """A refusal: ``{"status": "FAIL", "ErrorCode": code, "ErrorDesc": desc, ...}``."""
    return _answer("FAIL", code, desc, fields)


_BY_CODE = {
    "receive.loop_detected": "-7",
    HASH_FILE_MISMATCH.code: "-5",
    # The door's refusals that are not about authentication (gateway/core/vdxp_door.py).
    "vdxp.bad_parameter": "-5",
    "vdxp.agency_hosted_elsewhere": "-3",
    "vdxp.agency_merged": "-3",
    "vdxp.agency_taken": "-3",
    "vdxp.agency_not_registered": "-4",
}
_BY_STAGE = {"vdxp": "-2", "auth": "-2", "edxml": "-5", "route": "-7"}
_BY_STATUS = {400: "-5", 401: "-2", 403: "-3", 404: "-4", 409: "-6", 413: "-5", 422: "-5"}


def failure(error: GatewayError | Problem) -> dict[str, object]:
    """The FAIL answer for a core error: ErrorCode from the module's table, Vietnamese desc."""
    problem = error.problem() if isinstance(error, GatewayError) else error
    stage = problem.code.partition(".")[0]
    if problem.fault != "sender":
        code = "-1"  # ours (route.merge_loop, sign.failed): the caller may retry later
    elif problem.code in _BY_CODE:
        code = _BY_CODE[problem.code]
    else:
        code = _BY_STAGE.get(stage) or _BY_STATUS.get(problem.http_status, "-1")
    return fail(code, problem.message_vi)


#: A ``data`` entry of a list answer, JSON-ready.
Item: TypeAlias = dict[str, str | int | bool | None]


def received_item(
    *,
    doc_id: str,
    sender: str,
    recipient: str,
    status: str,
    status_desc: str,
    created: datetime,
    updated: datetime | None,
    message_type: str,
    service_type: str = SERVICE_TYPE,
) -> Item:
    """One ``data`` entry of getReceivedEdocList (``from``/``to`` are agency codes)."""
    return {
        "docId": doc_id,
        "from": sender,
        "to": recipient,
        "status": status,
        "status_desc": status_desc,
        "created_time": format_time(created),
        "updated_time": format_time(updated),
        "serviceType": service_type,
        "messageType": message_type,
    }


def sent_item(
    *,
    message_type: str,
    from_code: str,
    to_code: str,
    sender_doc_id: str,
    receiver_doc_id: str,
    send_status: str,
    send_status_desc: str,
    receive_status: str,
    receive_status_desc: str,
    sent: datetime,
    received: datetime | None,
    title: str,
    notation: str,
    service_type: str = SERVICE_TYPE,
) -> Item:
    """One ``data`` entry of getSentEdocList: one delivery of something this system sent."""
    return {
        "serviceType": service_type,
        "messageType": message_type,
        "fromCode": from_code,
        "toCode": to_code,
        "senderDocId": sender_doc_id,
        "receiverDocId": receiver_doc_id,
        "sendStatus": send_status,
        "sendStatusDesc": send_status_desc,
        "receiveStatus": receive_status,
        "receiveStatusDesc": receive_status_desc,
        "sentTime": format_time(sent),
        "receivedTime": format_time(received),
        "title": title,
        "notation": notation,
    }


def agency_item(
    *, id: int | str, pid: int | str | None, code: str, name: str, mail: str, old_code: str = ""
) -> Item:
    """One ``data`` entry of getAgenciesList (``oldCode`` is read by SDK 2.0.1)."""
    return {"id": id, "pid": pid, "code": code, "name": name, "mail": mail, "oldCode": old_code}


def agency_qd20_item(*, id: int | str, code: str, name: str, mail: str, code102: str) -> Item:
    """One ``data`` entry of getAgenciesListQD20: a QĐ 20 code with its QCVN 102 code."""
    return {"id": id, "code": code, "name": name, "mail": mail, "code102": code102}


def unit_item(
    *,
    id: int | str,
    pid: int | str | None,
    code: str,
    name: str,
    mail: str,
    center_code: str,
    version: int,
    deleted: bool,
    modified: datetime | None,
    is_agency: bool,
) -> Item:
    """One ``data`` entry of getSynchronizeUnit (incremental directory sync)."""
    return {
        "id": id,
        "pid": pid,
        "code": code,
        "name": name,
        "mail": mail,
        "centerCode": center_code,
        "version": version,
        "deleted": deleted,
        "modifyDate": format_time(modified),
        "isAgency": is_agency,
    }


def _answer(status: str, code: str, desc: str, fields: Mapping[str, object]) -> dict[str, object]:
    answer: dict[str, object] = {"status": status, "ErrorCode": code, "ErrorDesc": desc}
    if clash := answer.keys() & fields.keys():
        raise ValueError(f"fields {sorted(clash)} are set by the answer itself")
    return {**answer, **fields}


def _signed_values(sign_header: str) -> list[tuple[str, str]]:
    """The (name without prefix, value) pairs of the sign-header JSON object, or raise."""
    try:
        # Objects decode to tuples of pairs, arrays to lists: only a top-level object passes.
        decoded = json.loads(sign_header, object_pairs_hook=tuple)
    except (ValueError, RecursionError):
        raise NotAuthorized(SIGN_HEADER_INVALID) from None
    if not isinstance(decoded, tuple):
        raise NotAuthorized(SIGN_HEADER_INVALID)
    signed: dict[str, str] = {}
    for key, value in decoded:
        # The same name twice would let the JSON mean different things to different readers.
        if not (isinstance(value, str) and key.lower().startswith(PREFIX.lower())):
            raise NotAuthorized(SIGN_HEADER_INVALID)
        if signed.setdefault(key[len(PREFIX) :], value) != value:
            raise NotAuthorized(SIGN_HEADER_INVALID)
    return list(signed.items())


def _required(call: Call, name: str) -> str:
    value = call.params.get(name)
    if value is None:
        raise NotAuthorized(MISSING_HEADER, header=PREFIX + name)
    return value


def _check_fresh(text: str | None, now: datetime, window: timedelta) -> None:
    if text is None:
        raise NotAuthorized(MISSING_HEADER, header=PREFIX + _TIMESTAMP)
    moment = parse_timestamp(text)
    if moment is None:
        raise NotAuthorized(BAD_TIMESTAMP, timestamp=_show(text))
    if abs(now - moment) > window:
        raise NotAuthorized(STALE, timestamp=text, window=window)


def _java_hashmap_order(names: list[str]) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` filled with ``names`` in this order.

    Buckets by ``(h ^ h >>> 16) & (capacity - 1)`` with h = ``String.hashCode``; within a
    bucket, insertion order (a resize splits chains keeping it). Capacity starts at 16 and
    doubles past a 0.75 load. Tree bins (8+ keys in one bucket) are not modelled.
    """
    capacity = 16
    while len(names) > capacity * 3 // 4:
        capacity *= 2

    def bucket(name: str) -> int:
        units = name.encode("utf-16-be")
        h = 0
        for i in range(0, len(units), 2):
            h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(names, key=bucket)  # stable: insertion order within a bucket


def _vietnam(moment: datetime) -> datetime:
    # A naive time is taken as Vietnam time already (edxml.md §1.7: no zone, Asia/Ho_Chi_Minh).
    return moment.replace(tzinfo=VN_TZ) if moment.tzinfo is None else moment.astimezone(VN_TZ)


def _utf8(text: str) -> bytes:
    # An HTTP server may hand non-UTF-8 header bytes over as surrogate escapes: give them back.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _show(text: str) -> str:
    """Caller text echoed in a message, cut short (a header may be kilobytes long)."""
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
