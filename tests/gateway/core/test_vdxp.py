"""The VDXP codec against the SDK captures of vdxp-wire.md: verify, tamper, sign, answer."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from multidict import CIMultiDict

from gateway.core import vdxp
from gateway.core.acknowledge import ALREADY_ANSWERED, NOT_FOUND
from gateway.core.errors import (
    Conflict,
    DirectoryInconsistent,
    GatewayError,
    InvalidPackage,
    NotAuthorized,
    NotFound,
    Problem,
    Unroutable,
)
from gateway.core.receive import LOOP_DETECTED, SENDER_NOT_REGISTERED
from gateway.core.route import MERGE_LOOP, RECIPIENT_LOCKED
from gateway.core.vdxp import Call, CallPath, MessageType, UpdateStatus
from tests.gateway.core.factories import SAMPLES

SECRET = "test-secret-123"
TRUE_SHA256 = "3388e9f4b6af06cee5761c694e6adffbfc311dc71713c84d928d7d15eff43ac3"
HASH_FILE = "3388e9f4b6af6cee5761c694e6adffbfc311dc71713c84d928d7d15eff43ac3"

# vdxp-wire.md, verbatim (Content-Length and the like included: they must be ignored).
SEND_EDOC = {
    "Content-Type": "application/octet-stream",
    "XroadVnpt-systemid": "00.53.W00",
    "XroadVnpt-servicetype": "eDoc",
    "XroadVnpt-messagetype": "edoc",
    "XroadVnpt-hash-file": HASH_FILE,
    "XroadVnpt-from": "000.00.00.G22",
    "XroadVnpt-timestamp": "21112026T131206+0659",
    "XroadVnpt-Content-Type": "application/octet-stream",
    "XroadVnpt-sign-header-key": (
        "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type"
    ),
    "XroadVnpt-sign-header": (
        '{"XroadVnpt-systemid":"00.53.W00","XroadVnpt-servicetype":"eDoc",'
        '"XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":'
        '"3388e9f4b6af6cee5761c694e6adffbfc311dc71713c84d928d7d15eff43ac3",'
        '"XroadVnpt-from":"000.00.00.G22","XroadVnpt-timestamp":"21112026T131206+0659",'
        '"XroadVnpt-Content-Type":"application/octet-stream"}'
    ),
    "XroadVnpt-hash-header": "e85fbbdf711500e91d4bcb784d552cd19f9ae6d07bec2d6a61823e2f57a4b62a",
    "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
    "XroadVnpt-version": "3.0.201608",
    "Content-Length": "367852",
}
GET_RECEIVED = {
    "XroadVnpt-systemid": "00.53.W00",
    "XroadVnpt-servicetype": "eDoc",
    "XroadVnpt-messagetype": "edoc",
    "XroadVnpt-timestamp": "21112026T131207+0308",
    "Content-Type": "application/json",
    "XroadVnpt-Content-Type": "application/json",
    "XroadVnpt-sign-header-key": "systemid;servicetype;messagetype;timestamp;Content-Type",
    "XroadVnpt-sign-header": (
        '{"XroadVnpt-systemid":"00.53.W00","XroadVnpt-servicetype":"eDoc",'
        '"XroadVnpt-messagetype":"edoc","XroadVnpt-timestamp":"21112026T131207+0308",'
        '"XroadVnpt-Content-Type":"application/json"}'
    ),
    "XroadVnpt-hash-header": "1be27d6573d210a2ac08ed0e32d1479fcb53d4457b93a7651fd41f645ecc2a6e",
    "Content-Length": "0",
}
UPDATE_STATUS = {
    "XroadVnpt-systemid": "00.53.W00",
    "XroadVnpt-docid": "abc-123",
    "XroadVnpt-timestamp": "21112026T131208+0589",
    "Content-Type": "application/json",
    "XroadVnpt-Content-Type": "application/json",
    "XroadVnpt-status": "done",
    "XroadVnpt-sign-header-key": "systemid;docid;timestamp;Content-Type;status",
    "XroadVnpt-sign-header": (
        '{"XroadVnpt-systemid":"00.53.W00","XroadVnpt-docid":"abc-123",'
        '"XroadVnpt-timestamp":"21112026T131208+0589",'
        '"XroadVnpt-Content-Type":"application/json","XroadVnpt-status":"done"}'
    ),
    "XroadVnpt-hash-header": "9e3f4a95cc69c825bb69a536613cb129678888f01075092545b4e1bf3fd6e18b",
    "Content-Length": "2",
}
CAPTURES = {
    "sendEdoc": SEND_EDOC,
    "getReceivedEdocList": GET_RECEIVED,
    "updateStatus": UPDATE_STATUS,
}
# What each call put into the SDK's map besides systemid, timestamp and Content-Type.
CALL_PARAMS = {
    "sendEdoc": {
        "servicetype": "eDoc",
        "messagetype": "edoc",
        "hash-file": HASH_FILE,
        "from": "000.00.00.G22",
    },
    "getReceivedEdocList": {"servicetype": "eDoc", "messagetype": "edoc"},
    "updateStatus": {"docid": "abc-123", "status": "done"},
}


def code_of(headers: dict[str, str], secret: str = SECRET, **kwargs: object) -> str | None:
    """The error code verify() raises for these headers, or None when they pass."""
    error: NotAuthorized | None = None
    try:
        vdxp.verify(vdxp.parse_headers(headers), secret, **kwargs)  # type: ignore[arg-type]
    except NotAuthorized as caught:
        error = caught
    if error is None:
        return None
    assert error.message_vi and error.message_en and error.message_vi != error.message_en
    assert error.http_status == 403
    return error.code


def resigned(headers: dict[str, str], sign_header: str) -> dict[str, str]:
    """``headers`` with a new sign-header and its correct HMAC: only the content is wrong."""
    digest = hmac.new(SECRET.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
    return headers | {"XroadVnpt-sign-header": sign_header, "XroadVnpt-hash-header": digest}


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_verifies(name: str) -> None:
    assert code_of(CAPTURES[name]) is None


def test_parse_exposes_the_parameters() -> None:
    call = vdxp.parse_headers(SEND_EDOC)
    assert (call.system_id, call.timestamp) == ("00.53.W00", "21112026T131206+0659")
    assert call.sign_header == SEND_EDOC["XroadVnpt-sign-header"]
    assert call.sign_header_key == SEND_EDOC["XroadVnpt-sign-header-key"]
    assert call.hash_header == SEND_EDOC["XroadVnpt-hash-header"]
    assert call.params["content-type"] == "application/octet-stream"
    assert call.params["hash-file"] == HASH_FILE
    assert "user-agent" not in call.params and "content-length" not in call.params
    assert all(name == name.lower() for name in call.params)
    assert call.param("FROM") == call.param("from") == "000.00.00.G22"
    assert call.param("to") is None


def test_docid_and_docId_are_the_same_parameter() -> None:
    call = vdxp.parse_headers(UPDATE_STATUS)
    assert call.param("docId") == call.param("docid") == "abc-123"
    assert call.params["docid"] == "abc-123"


@pytest.mark.parametrize(
    ("name", "tamper", "code"),
    [
        (
            "sendEdoc",
            lambda h: h | {"XroadVnpt-from": "000.00.00.G99"},
            "vdxp.signed_value_mismatch",
        ),
        (
            "sendEdoc",
            lambda h: h | {"XroadVnpt-hash-file": TRUE_SHA256[:-1] + "4"},
            "vdxp.signed_value_mismatch",
        ),
        ("updateStatus", lambda h: h | {"XroadVnpt-status": "fail"}, "vdxp.signed_value_mismatch"),
        (
            "updateStatus",
            lambda h: h | {"XroadVnpt-docid": "abc-124"},
            "vdxp.signed_value_mismatch",
        ),
        ("sendEdoc", lambda h: _without(h, "XroadVnpt-from"), "vdxp.signed_value_mismatch"),
        ("sendEdoc", lambda h: h | {"XroadVnpt-systemid": "00.53.W01"}, "vdxp.system_mismatch"),
        (
            "getReceivedEdocList",
            lambda h: (
                h | {"XroadVnpt-sign-header": h["XroadVnpt-sign-header"].replace("edoc", "status")}
            ),
            "vdxp.bad_signature",
        ),
        (
            "getReceivedEdocList",
            lambda h: h | {"XroadVnpt-hash-header": "0" * 64},
            "vdxp.bad_signature",
        ),
        ("getReceivedEdocList", lambda h: h | {"XroadVnpt-hash-header": "ẞ"}, "vdxp.bad_signature"),
        ("sendEdoc", lambda h: _without(h, "XroadVnpt-hash-header"), "vdxp.missing_header"),
        ("sendEdoc", lambda h: _without(h, "XroadVnpt-sign-header"), "vdxp.missing_header"),
        ("sendEdoc", lambda h: _without(h, "XroadVnpt-sign-header-key"), "vdxp.missing_header"),
        ("sendEdoc", lambda h: _without(h, "XroadVnpt-systemid"), "vdxp.missing_header"),
        (
            "getReceivedEdocList",
            lambda h: h | {"XroadVnpt-sign-header-key": h["XroadVnpt-sign-header-key"] + ";docid"},
            "vdxp.signed_value_mismatch",
        ),
        (
            "getReceivedEdocList",
            lambda h: h | {"XroadVnpt-to": "000.00.00.G22"},
            "vdxp.unsigned_header",
        ),
        # A case variant carrying another value must not slip past the signed one.
        ("updateStatus", lambda h: h | {"XroadVnpt-DOCID": "someone-else"}, "vdxp.unsigned_header"),
        # The same value under a case variant is signed: HTTP names are case-insensitive.
        ("updateStatus", lambda h: h | {"XroadVnpt-DocId": "abc-123"}, None),
        ("updateStatus", lambda h: {k.lower(): v for k, v in h.items()}, None),
        ("updateStatus", lambda h: {k.upper(): v for k, v in h.items()}, None),
        (
            "getReceivedEdocList",
            lambda h: h | {"XroadVnpt-hash-header": h["XroadVnpt-hash-header"].upper()},
            None,
        ),
    ],
)
def test_tampering(
    name: str, tamper: Callable[[dict[str, str]], dict[str, str]], code: str | None
) -> None:
    assert code_of(tamper(dict(CAPTURES[name]))) == code


@pytest.mark.parametrize("secret", ["test-secret-124", "", "TEST-SECRET-123"])
def test_wrong_secret(secret: str) -> None:
    assert code_of(GET_RECEIVED, secret) == "vdxp.bad_signature"


SIGNED = json.loads(GET_RECEIVED["XroadVnpt-sign-header"])


@pytest.mark.parametrize(
    ("sign_header", "code"),
    [
        ("not json", "vdxp.sign_header_invalid"),
        ("", "vdxp.sign_header_invalid"),
        ("[" * 100_000, "vdxp.sign_header_invalid"),
        (json.dumps(list(SIGNED.items())), "vdxp.sign_header_invalid"),
        (json.dumps(SIGNED | {"XroadVnpt-servicetype": 1}), "vdxp.sign_header_invalid"),
        (json.dumps(SIGNED | {"servicetype": "eDoc"}), "vdxp.sign_header_invalid"),
        (
            GET_RECEIVED["XroadVnpt-sign-header"][:-1] + ',"XroadVnpt-messagetype":"status"}',
            "vdxp.sign_header_invalid",
        ),
        (
            json.dumps({k: v for k, v in SIGNED.items() if k != "XroadVnpt-systemid"}),
            "vdxp.system_mismatch",
        ),
        (json.dumps(SIGNED | {"XroadVnpt-systemid": "00.53.W01"}), "vdxp.system_mismatch"),
        (json.dumps(SIGNED | {"XroadVnpt-messagetype": "status"}), "vdxp.signed_value_mismatch"),
        # Signing a parameter that was not sent covers nothing the server reads: refused too.
        (json.dumps(SIGNED | {"XroadVnpt-to": "x"}), "vdxp.signed_value_mismatch"),
        (json.dumps(SIGNED, separators=(",", ":")), None),  # the compact JSON the SDK makes
        (json.dumps(dict(reversed(SIGNED.items()))), None),  # key order is free
    ],
)
def test_sign_header_content(sign_header: str, code: str | None) -> None:
    assert code_of(resigned(GET_RECEIVED, sign_header)) == code


def test_an_exact_duplicate_with_another_value_is_refused() -> None:
    headers = CIMultiDict(UPDATE_STATUS)
    headers.add("XroadVnpt-status", "fail")
    with pytest.raises(NotAuthorized) as caught:
        vdxp.parse_headers(headers)
    assert caught.value.code == "vdxp.duplicate_header"
    repeated = CIMultiDict(UPDATE_STATUS)
    repeated.add("XroadVnpt-status", "done")
    vdxp.verify(vdxp.parse_headers(repeated), SECRET)


def test_freshness_is_off_by_default_and_checked_when_asked() -> None:
    sent = datetime(2026, 11, 21, 6, 12, 7, tzinfo=UTC)  # 13:12:07 in Vietnam
    years_later = sent + timedelta(days=900)
    assert code_of(GET_RECEIVED, now=years_later) is None
    window = timedelta(minutes=5)
    assert code_of(GET_RECEIVED, now=sent + timedelta(minutes=4), freshness=window) is None
    assert code_of(GET_RECEIVED, now=sent - timedelta(minutes=4), freshness=window) is None
    assert code_of(GET_RECEIVED, now=sent + timedelta(minutes=6), freshness=window) == "vdxp.stale"
    naive_vietnam = datetime(2026, 11, 21, 13, 12, 7)  # a naive "now" is Vietnam time
    assert code_of(GET_RECEIVED, now=naive_vietnam, freshness=window) is None
    assert code_of(GET_RECEIVED, now=years_later, freshness=window) == "vdxp.stale"
    garbled = resigned(
        GET_RECEIVED | {"XroadVnpt-timestamp": "yesterday"},
        json.dumps(SIGNED | {"XroadVnpt-timestamp": "yesterday"}),
    )
    assert code_of(garbled, now=sent, freshness=window) == "vdxp.bad_timestamp"
    assert code_of(garbled, now=sent) is None
    untimed = resigned(
        _without(GET_RECEIVED, "XroadVnpt-timestamp")
        | {"XroadVnpt-sign-header-key": "systemid;servicetype;messagetype;Content-Type"},
        json.dumps({k: v for k, v in SIGNED.items() if k != "XroadVnpt-timestamp"}),
    )
    assert code_of(untimed, now=sent, freshness=window) == "vdxp.missing_header"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21112026T131206+0659", datetime(2026, 11, 21, 13, 12, 6, 659_000, tzinfo=vdxp.VN_TZ)),
        ("21112026T131207+0308", datetime(2026, 11, 21, 13, 12, 7, 308_000, tzinfo=vdxp.VN_TZ)),
        ("21112026T131208+0589", datetime(2026, 11, 21, 13, 12, 8, 589_000, tzinfo=vdxp.VN_TZ)),
        ("01012020T000000+0000", datetime(2020, 1, 1, tzinfo=vdxp.VN_TZ)),
        (" 21112026T131206+0659 ", datetime(2026, 11, 21, 13, 12, 6, 659_000, tzinfo=vdxp.VN_TZ)),
        ("21112026T131206+1000", None),  # not milliseconds
        ("32112026T131206+0659", None),
        ("21132026T131206+0659", None),
        ("21112026T251206+0659", None),
        ("21112026T131206", None),
        ("21112026T131206+06590", None),
        ("2026-11-21T13:12:06", None),
        ("", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert vdxp.parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", ["21112026T131206+0659", "21112026T131207+0308", "01012020T000000+0000"]
)
def test_format_timestamp_is_the_inverse(text: str) -> None:
    moment = vdxp.parse_timestamp(text)
    assert moment is not None
    assert vdxp.format_timestamp(moment) == text
    assert vdxp.format_timestamp(moment.astimezone(UTC)) == text  # shown in Vietnam time


def test_the_sample_file_and_the_captured_hash_file() -> None:
    file = (SAMPLES / "edoc_new.edxml").read_bytes()
    digest = hashlib.sha256(file).digest()
    assert digest.hex() == TRUE_SHA256
    assert vdxp.lossy_hex(digest) == HASH_FILE != TRUE_SHA256
    assert vdxp.check_hash_file(HASH_FILE, digest)
    assert vdxp.check_hash_file(TRUE_SHA256.upper(), digest)
    # The wire body (Content-Length 367852) is the file plus the SDK's CRLF, and the
    # captured hash-file describes the file *without* it.
    body = file + b"\r\n"
    assert len(body) == int(SEND_EDOC["Content-Length"])
    assert not vdxp.check_hash_file(HASH_FILE, hashlib.sha256(body).digest())
    assert vdxp.strip_trailing_crlf(body) == file
    assert vdxp.match_hash_file(HASH_FILE, body) == file
    assert vdxp.match_hash_file(HASH_FILE, file) == file  # a multipart part: as sent
    assert vdxp.match_hash_file(HASH_FILE, body + b"\r\n") is None  # one CRLF only
    assert vdxp.match_hash_file(TRUE_SHA256[:-1] + "4", body) is None


@pytest.mark.parametrize(
    ("digest", "lossy"),
    [
        (bytes([0x06, 0x00, 0xFF, 0x10]), "60ff10"),
        (bytes(3), "000"),
        (bytes.fromhex(TRUE_SHA256), HASH_FILE),
    ],
)
def test_lossy_hex(digest: bytes, lossy: str) -> None:
    assert vdxp.lossy_hex(digest) == lossy
    assert vdxp.check_hash_file(lossy, digest)
    assert vdxp.check_hash_file(digest.hex(), digest)
    assert not vdxp.check_hash_file(lossy + "0", digest)


@pytest.mark.parametrize("text", ["", "abc", "\r\n", b"x\r\n\r\n".decode(), "x\n", "x\r"])
def test_strip_trailing_crlf(text: str) -> None:
    body = text.encode()
    expected = body[:-2] if body.endswith(b"\r\n") else body
    assert vdxp.strip_trailing_crlf(body) == expected


@pytest.mark.parametrize("name", CAPTURES)
def test_sign_reproduces_the_sdk_byte_for_byte(name: str) -> None:
    capture = CAPTURES[name]
    timestamp = vdxp.parse_timestamp(capture["XroadVnpt-timestamp"])
    assert timestamp is not None
    headers = vdxp.sign(
        "00.53.W00",
        SECRET,
        CALL_PARAMS[name],
        content_type=capture["Content-Type"],
        timestamp=timestamp,
    )
    # The SDK's Java HashMap order, including updateStatus's "...;Content-Type;status".
    for key in ("XroadVnpt-sign-header-key", "XroadVnpt-sign-header", "XroadVnpt-hash-header"):
        assert headers[key] == capture[key]
    wanted = {k: v for k, v in capture.items() if k.startswith("XroadVnpt-")}
    assert {k: v for k, v in headers.items() if k.startswith("XroadVnpt-")} == wanted | {
        "XroadVnpt-version": "3.0.201608"
    }
    assert headers["Content-Type"] == capture["Content-Type"]
    assert headers["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"


def test_sign_parse_verify_round_trip() -> None:
    params = {f"p{i}": f"giá trị {i}" for i in range(20)}  # past a HashMap resize, non-ASCII
    # A reused SDK instance: getEdoc(B) after updateStatus(A) re-sends docid (edxml.md §4.3).
    params |= {"docId": "B", "docid": "A"}
    moment = datetime(2026, 11, 21, 6, 12, 6, 659_000, tzinfo=UTC)
    headers = vdxp.sign(
        "00.53.W00", "bí mật", params, content_type="application/json", timestamp=moment
    )
    call = vdxp.parse_headers(headers)
    vdxp.verify(call, "bí mật", now=moment, freshness=timedelta(seconds=1))
    assert (call.system_id, call.timestamp) == ("00.53.W00", "21112026T131206+0659")
    assert (call.param("docId"), call.param("docid"), call.param("p7")) == ("B", "A", "giá trị 7")
    assert call.sign_header is not None and "giá trị 3" in call.sign_header  # ensure_ascii=False
    assert ", " not in call.sign_header and '": ' not in call.sign_header
    assert code_of(headers, "bi mat") == "vdxp.bad_signature"
    tampered = headers | {"XroadVnpt-p3": "khác"}
    assert code_of(tampered, "bí mật") == "vdxp.signed_value_mismatch"


@pytest.mark.parametrize(
    "name", ["systemid", "timestamp", "Content-Type", "content-type", "hash-header", "version"]
)
def test_sign_keeps_its_own_headers(name: str) -> None:
    with pytest.raises(ValueError, match="set by sign"):
        vdxp.sign(
            "s", "k", {name: "x"}, content_type="application/json", timestamp=datetime.now(UTC)
        )


def test_answers() -> None:
    assert vdxp.ok() == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong"}
    assert vdxp.ok(DocId="d-1") == {
        "status": "OK",
        "ErrorCode": "0",
        "ErrorDesc": "Thanh cong",
        "DocId": "d-1",
    }
    assert list(vdxp.ok(data=[])) == ["status", "ErrorCode", "ErrorDesc", "data"]
    assert vdxp.fail("-1", "Loi") == {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "Loi"}
    with pytest.raises(ValueError, match="ErrorCode"):
        vdxp.ok(ErrorCode="1")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotAuthorized(vdxp.BAD_SIGNATURE, system="00.53.W00"), "-2"),
        (Problem("auth.unknown_token", 401, False, "Mã sai", "Unknown token"), "-2"),
        (NotAuthorized(SENDER_NOT_REGISTERED, sender="a", system="b"), "-3"),
        (NotFound(NOT_FOUND, delivery_id="dl-1"), "-4"),
        (Problem("edxml.required", 422, False, "Thiếu To", "To is missing"), "-5"),
        (InvalidPackage(vdxp.HASH_FILE_MISMATCH), "-5"),
        (Conflict(ALREADY_ANSWERED, delivery_id="dl-1", state="done"), "-6"),
        (Unroutable(RECIPIENT_LOCKED, recipient="x"), "-7"),
        (Unroutable(LOOP_DETECTED, hub="00.53.W00"), "-7"),
        (DirectoryInconsistent(MERGE_LOOP, organ="x"), "-1"),
        (Problem("web.unknown", 500, True, "Lỗi", "Error", fault="local"), "-1"),
    ],
)
def test_failure_codes(error: GatewayError | Problem, code: str) -> None:
    answer = vdxp.failure(error)
    problem = error.problem() if isinstance(error, GatewayError) else error
    assert answer == {"status": "FAIL", "ErrorCode": code, "ErrorDesc": problem.message_vi}


WHEN = datetime(2026, 11, 21, 6, 12, 6, tzinfo=UTC)
SHOWN = "21/11/2026 13:12:06"


def test_received_item() -> None:
    item = vdxp.received_item(
        doc_id="d-1",
        sender="000.00.00.G22",
        recipient="000.00.00.H53",
        status="initial",
        status_desc="Moi",
        created=WHEN,
        updated=None,
        message_type=MessageType.EDOC,
    )
    assert list(item) == [
        "docId", "from", "to", "status", "status_desc",
        "created_time", "updated_time", "serviceType", "messageType",
    ]  # fmt: skip
    assert (item["from"], item["to"], item["docId"]) == ("000.00.00.G22", "000.00.00.H53", "d-1")
    assert (item["created_time"], item["updated_time"]) == (SHOWN, "")
    assert (item["serviceType"], item["messageType"]) == ("eDoc", "edoc")


def test_sent_item() -> None:
    item = vdxp.sent_item(
        message_type="status",
        from_code="A",
        to_code="B",
        sender_doc_id="s-1",
        receiver_doc_id="r-1",
        send_status="done",
        send_status_desc="Da gui",
        receive_status="processing",
        receive_status_desc="Dang xu ly",
        sent=WHEN.replace(tzinfo=None),  # naive: already Vietnam time
        received=WHEN,
        title="Công văn",
        notation="12/UBND",
    )
    assert list(item) == [
        "serviceType", "messageType", "fromCode", "toCode", "senderDocId", "receiverDocId",
        "sendStatus", "sendStatusDesc", "receiveStatus", "receiveStatusDesc",
        "sentTime", "receivedTime", "title", "notation",
    ]  # fmt: skip
    assert (item["sentTime"], item["receivedTime"]) == ("21/11/2026 06:12:06", SHOWN)
    assert (item["fromCode"], item["toCode"], item["receiveStatus"]) == ("A", "B", "processing")
    assert (item["senderDocId"], item["receiverDocId"], item["title"]) == ("s-1", "r-1", "Công văn")


def test_directory_items() -> None:
    assert vdxp.agency_item(id=7, pid=None, code="C", name="N", mail="m@x.vn", old_code="O") == {
        "id": 7, "pid": None, "code": "C", "name": "N", "mail": "m@x.vn", "oldCode": "O",
    }  # fmt: skip
    assert vdxp.agency_qd20_item(id="7", code="C", name="N", mail="", code102="D") == {
        "id": "7", "code": "C", "name": "N", "mail": "", "code102": "D",
    }  # fmt: skip
    unit = vdxp.unit_item(
        id=7,
        pid=1,
        code="C",
        name="N",
        mail="",
        center_code="00.53.W00",
        version=3,
        deleted=False,
        modified=WHEN,
        is_agency=True,
    )
    assert unit == {
        "id": 7, "pid": 1, "code": "C", "name": "N", "mail": "", "centerCode": "00.53.W00",
        "version": 3, "deleted": False, "modifyDate": SHOWN, "isAgency": True,
    }  # fmt: skip


def test_constants() -> None:
    assert {str(p) for p in CallPath} == {
        "/sendEdoc", "/getReceivedEdocList", "/getEdoc", "/updateStatus", "/getSentEdocList",
        "/getAgenciesList", "/getAgenciesListQD20", "/getSynchronizeUnit", "/registerAgency",
        "/deleteAgency", "/countReceiveEdoc", "/countReceiveStatus", "/downloadEdoc",
    }  # fmt: skip
    assert {p for p in CallPath if p.is_get} == {
        CallPath("/countReceiveEdoc"), CallPath("/countReceiveStatus"), CallPath("/downloadEdoc")
    }  # fmt: skip
    assert CallPath("/sendEdoc") is CallPath.SEND_EDOC
    assert {str(m) for m in MessageType} == {"edoc", "status"}
    assert {str(s) for s in UpdateStatus} == {"done", "fail", "processing"}
    assert (vdxp.SERVICE_TYPE, vdxp.VERSION) == ("eDoc", "3.0.201608")


def test_call_is_read_only() -> None:
    call = vdxp.parse_headers(GET_RECEIVED)
    assert isinstance(call, Call)
    with pytest.raises(TypeError):
        call.params["systemid"] = "other"  # type: ignore[index]


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}
