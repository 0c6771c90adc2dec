"""The SDK captures of vdxp-wire.md, sent verbatim to the real door of a running gateway.

The captured system is ``00.53.W00`` with the secret ``test-secret-123``, sending
``edoc_new.edxml`` (From 000.00.00.A80, To 28.22.H17) as agency 000.00.00.G22: here it is a
system of a gateway on the demo directory, registered for every demo agency.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest

from gateway.dirfile import load_directory
from gateway.settings import DEMO_DIRECTORY
from tests.gateway.core.factories import SAMPLES
from tests.gateway.core.test_vdxp import GET_RECEIVED, SECRET, SEND_EDOC, UPDATE_STATUS

from .conftest import Gateway, GatewayFactory, set_system

pytestmark = pytest.mark.rabbitmq

SYSTEM = "00.53.W00"
FILE = (SAMPLES / "edoc_new.edxml").read_bytes()
BODY = FILE + b"\r\n"  # SDK 2.0.1 appends CRLF: the 367,852 bytes of the capture
TRUE_SHA256 = "3388e9f4b6af06cee5761c694e6adffbfc311dc71713c84d928d7d15eff43ac3"


async def capture_gateway(make_gateway: GatewayFactory, **overrides: Any) -> Gateway:
    organs = tuple(a.organ_id for a in load_directory(DEMO_DIRECTORY).agencies)
    gw = await make_gateway(
        directory_file=str(DEMO_DIRECTORY), systems={SYSTEM: organs}, **overrides
    )
    await set_system(gw, SYSTEM, secret=SECRET)
    return gw


async def post(
    gw: Gateway, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST with exactly these headers (Content-Length is aiohttp's to write)."""
    sent = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    response = await gw.client.post(path, headers=sent, data=io.BytesIO(body))
    answer = json.loads(await response.read())
    return response.status, answer, dict(response.headers)


def refused(answer: dict[str, Any], headers: dict[str, str], code: str, error_code: str) -> None:
    assert answer["status"] == "FAIL", answer
    assert answer["ErrorCode"] == error_code, answer
    assert headers["Edxgw-Error-Code"] == code, answer
    assert answer["ErrorDesc"].endswith(f"({code})")


async def test_the_captured_send_edoc_is_accepted(make_gateway: GatewayFactory) -> None:
    gw = await capture_gateway(make_gateway)
    assert len(BODY) == int(SEND_EDOC["Content-Length"]) == 367852
    status, answer, headers = await post(gw, "/sendEdoc", SEND_EDOC, BODY)
    assert status == 200
    assert answer["status"] == "OK" and answer["ErrorCode"] == "0", answer
    doc_id = answer["DocId"]
    assert headers["Edxgw-Doc-Id"] == doc_id

    # hash-file (lossy hex) named the file without the SDK's CRLF: that is what was taken.
    message = await gw.store.get_message(doc_id)
    assert message is not None
    assert (message.sha256, message.size) == (TRUE_SHA256, len(FILE))
    assert message.sender == "000.00.00.A80" and message.system_id == SYSTEM
    [delivery] = await gw.delivered(doc_id)
    assert (delivery.recipient, delivery.route, delivery.state.value) == (
        "000.28.22.H17",
        "local",
        "delivered",
    )
    stages = [(r.stage, r.outcome) for r in await gw.store.trace_for(doc_id)]
    assert stages[:2] == [("receive", "ok"), ("validate", "ok")]

    # The same capture again: the REST door's idempotency, the same DocId.
    status, again, _ = await post(gw, "/sendEdoc", SEND_EDOC, BODY)
    assert (status, again["status"], again["DocId"]) == (200, "OK", doc_id)

    # The captured getReceivedEdocList lists the copy for 000.28.22.H17 (a demo agency the
    # system is registered for), with the fields the SDK reads.
    status, listed, _ = await post(gw, "/getReceivedEdocList", GET_RECEIVED)
    assert status == 200 and listed["status"] == "OK", listed
    [item] = listed["data"]
    assert item["docId"] == delivery.delivery_id
    assert (item["from"], item["to"], item["status"]) == (
        "000.00.00.A80",
        "000.28.22.H17",
        "initial",
    )
    assert (item["serviceType"], item["messageType"]) == ("eDoc", "edoc")
    assert set(item) == {
        "docId", "from", "to", "status", "status_desc", "created_time", "updated_time",
        "serviceType", "messageType",
    }  # fmt: skip


async def test_the_captured_update_status_authenticates_then_finds_no_item(
    make_gateway: GatewayFactory,
) -> None:
    gw = await capture_gateway(make_gateway)
    status, answer, headers = await post(gw, "/updateStatus", UPDATE_STATUS, b"{}")
    # Verified (not -2): then docid abc-123 is no item of this system's inbox.
    assert status == 200
    refused(answer, headers, "acknowledge.not_found", "-4")
    assert "abc-123" in answer["ErrorDesc"]


def _with(headers: dict[str, str], **changes: str) -> dict[str, str]:
    return headers | {k.replace("_", "-"): v for k, v in changes.items()}


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong secret", "vdxp.bad_signature"),
        ("header changed after signing", "vdxp.signed_value_mismatch"),
        ("unsigned header added", "vdxp.unsigned_header"),
        ("hash-header missing", "vdxp.missing_header"),
        ("unknown system", "vdxp.unknown_system"),
        ("system without secret", "vdxp.no_secret"),
    ],
)
async def test_tampered_captures_are_refused(
    make_gateway: GatewayFactory, case: str, code: str
) -> None:
    gw = await capture_gateway(make_gateway)
    headers = dict(GET_RECEIVED)
    if case == "wrong secret":
        await set_system(gw, SYSTEM, secret="another-secret")
    elif case == "header changed after signing":
        headers = _with(headers, **{"XroadVnpt_messagetype": "status"})
    elif case == "unsigned header added":
        headers = _with(headers, **{"XroadVnpt_docId": "someone-else"})
    elif case == "hash-header missing":
        del headers["XroadVnpt-hash-header"]
    elif case == "unknown system":
        headers = _with(headers, **{"XroadVnpt_systemid": "00.99.W00"})
    elif case == "system without secret":
        await set_system(gw, SYSTEM, secret=None)
    status, answer, response_headers = await post(gw, "/getReceivedEdocList", headers)
    assert status == 200
    refused(answer, response_headers, code, "-2")
    assert "data" not in answer


async def test_a_body_that_is_not_the_hashed_file_is_refused_and_traced(
    make_gateway: GatewayFactory,
) -> None:
    gw = await capture_gateway(make_gateway)
    tampered = BODY.replace(b"<edXML:Subject>", b"<edXML:Subject>X", 1)
    assert tampered != BODY and hashlib.sha256(tampered).hexdigest() != TRUE_SHA256
    status, answer, headers = await post(gw, "/sendEdoc", SEND_EDOC, tampered)
    assert status == 200
    refused(answer, headers, "vdxp.hash_file_mismatch", "-5")
    doc_id = headers["Edxgw-Doc-Id"]
    assert await gw.store.get_message(doc_id) is None
    [traced] = await gw.store.trace_for(doc_id)
    assert (traced.stage, traced.outcome) == ("receive", "rejected")
    assert traced.detail["code"] == "vdxp.hash_file_mismatch"
    assert traced.detail["system_id"] == SYSTEM


async def test_revoked_system_is_told_so_after_authenticating(
    make_gateway: GatewayFactory,
) -> None:
    gw = await capture_gateway(make_gateway)
    await set_system(gw, SYSTEM, revoked=True)
    _, answer, headers = await post(gw, "/getReceivedEdocList", GET_RECEIVED)
    refused(answer, headers, "auth.system_revoked", "-2")
    # With a wrong signature it learns nothing about the revocation.
    await set_system(gw, SYSTEM, secret="another-secret")
    _, answer, headers = await post(gw, "/getReceivedEdocList", GET_RECEIVED)
    refused(answer, headers, "vdxp.bad_signature", "-2")


async def test_a_freshness_window_refuses_the_old_captures(make_gateway: GatewayFactory) -> None:
    # Off by default (the SDK fixes its timestamp per process); an admin may set one.
    gw = await capture_gateway(make_gateway, vdxp_max_clock_skew_seconds=300)
    _, answer, headers = await post(gw, "/getReceivedEdocList", GET_RECEIVED)
    refused(answer, headers, "vdxp.stale", "-2")
