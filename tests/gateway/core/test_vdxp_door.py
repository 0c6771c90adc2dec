"""The VDXP door's decisions: reports, agency registration, per-copy statuses, ErrorCodes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core import Rejected, vdxp
from gateway.core import vdxp_door as door
from gateway.core.errors import GatewayError, NotAuthorized, NotFound, Unauthenticated
from gateway.core.vdxp_door import (
    Report,
    agency_number,
    receive_status,
    register,
    report,
    send_status,
    unregister,
)
from gateway.store.base import Agency, DeliveryReport, System
from gateway.store.lifecycle import DeliveryState
from tests.gateway.core.factories import NOW
from tests.gateway.core.test_deliver import delivery

S = DeliveryState
MINE = ("000.00.00.H53", "000.00.00.H14")
SYSTEM = System(system_id="qlvb-1", name="QLVB", agencies=MINE)


def run_report(current: object, status: str = "processing", text: str | None = None) -> Any:
    return report(
        current,  # type: ignore[arg-type]
        delivery_id="dl-1",
        system_id="qlvb-1",
        agencies=MINE,
        status=status,  # type: ignore[arg-type]
        description=text,
        node="node-1",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("current", "code", "http_status"),
    [
        (None, "acknowledge.not_found", 404),
        (delivery(S.DELIVERED, recipient="000.00.00.H41"), "acknowledge.not_found", 404),
        (delivery(S.DELIVERED, route="uplink", peer="uplink"), "acknowledge.not_found", 404),
        (delivery(S.QUEUED), "acknowledge.not_delivered", 409),
        (delivery(S.DONE), "acknowledge.already_answered", 409),
        (delivery(S.FAILED), "acknowledge.already_answered", 409),
    ],
)
def test_report_refusals(current: object, code: str, http_status: int) -> None:
    result = run_report(current)
    assert isinstance(result, Rejected)
    assert (result.error.code, result.error.http_status) == (code, http_status)
    (traced,) = result.trace
    assert (traced.stage, traced.outcome, traced.detail["code"]) == (
        "acknowledge",
        "rejected",
        code,
    )


@pytest.mark.parametrize(
    ("status", "text", "outcome", "stored"),
    [
        ("processing", None, "processing", None),
        ("fail", "  disk full  ", "fail_reported", "disk full"),
        ("fail", "x" * 500, "fail_reported", "x" * 200),
        ("fail", "   ", "fail_reported", None),
    ],
)
def test_report_command(status: str, text: str | None, outcome: str, stored: str | None) -> None:
    result = run_report(delivery(S.DELIVERED, recipient="000.00.00.h14"), status, text)
    assert isinstance(result, Report)
    assert result.recipient == "000.00.00.h14" and result.doc_id == "doc-1"
    assert (result.report.status, result.report.description) == (status, stored)
    (traced,) = result.trace
    assert (traced.stage, traced.outcome) == ("acknowledge", outcome)
    assert traced.detail.get("reason") == stored
    assert traced.detail["delivery_id"] == "dl-1"


def _register(
    code: str, known: Agency | None = None, holders: tuple[str, ...] = (), name: str = "UBND xã"
) -> Any:
    return register(
        SYSTEM,
        code=code,
        name=name,
        pcode="00.53.W00",
        known=known,
        holders=holders,
        node="node-1",
        now=NOW,
    )


def test_register_an_unknown_agency_creates_it_locally() -> None:
    decision = _register("000.07.31.h53")
    assert decision.changed and decision.organ_id == "000.07.31.H53"
    assert decision.agencies == (*MINE, "000.07.31.H53")
    agency = decision.new_agency
    assert agency is not None
    assert (agency.host, agency.level, agency.parent_id, agency.delivery_mode) == (
        "local",
        3,
        "000.00.31.H53",
        "pull",
    )
    assert [e.stage for e in decision.trace] == ["admin.agency_upsert", "admin.system_agency_add"]
    assert decision.trace[1].detail["pcode"] == "00.53.W00"


def test_register_a_known_local_agency_or_one_already_registered() -> None:
    known = Agency(organ_id="000.01.31.H53", name="UBND xã số 1", host="local")
    decision = _register("000.01.31.H53", known, holders=("qlvb-1",))
    assert decision.changed and decision.new_agency is None
    assert [e.stage for e in decision.trace] == ["admin.system_agency_add"]
    again = _register("000.00.00.H53", Agency(organ_id="000.00.00.H53", name="x", host="local"))
    assert not again.changed and again.trace == () and again.agencies == MINE


@pytest.mark.parametrize(
    ("code", "known", "holders", "name", "expected"),
    [
        ("000.00.32.H53", Agency(organ_id="000.00.32.H53", name="h", host="downlink", peer="p"),
         (), "x", "vdxp.agency_hosted_elsewhere"),
        ("000.00.00.G22", Agency(organ_id="000.00.00.G22", name="g", host="uplink"),
         (), "x", "vdxp.agency_hosted_elsewhere"),
        ("000.41.31.H53", Agency(organ_id="000.41.31.H53", name="m", host="local", state="merged",
                                 successor_id="000.01.31.H53"), (), "x", "vdxp.agency_merged"),
        ("000.05.31.H53", Agency(organ_id="000.05.31.H53", name="t", host="local"),
         ("qlvb-2",), "x", "vdxp.agency_taken"),
        ("00.53.W00", None, (), "x", "vdxp.bad_parameter"),
        ("bad id!", None, (), "x", "vdxp.bad_parameter"),
        ("000.07.31.H53", None, (), " ", "vdxp.bad_parameter"),
    ],
)  # fmt: skip
def test_register_refusals(
    code: str, known: Agency | None, holders: tuple[str, ...], name: str, expected: str
) -> None:
    with pytest.raises(GatewayError) as refused:
        _register(code, known, holders, name)
    assert refused.value.code == expected
    assert refused.value.message_vi != refused.value.message_en


def test_unregister() -> None:
    decision = unregister(SYSTEM, code="000.00.00.h14", node="node-1", now=NOW)
    assert decision.agencies == ("000.00.00.H53",)
    assert [e.stage for e in decision.trace] == ["admin.system_agency_remove"]
    with pytest.raises(GatewayError) as refused:
        unregister(SYSTEM, code="000.00.00.H41", node="node-1", now=NOW)
    assert (refused.value.code, refused.value.http_status) == ("vdxp.agency_not_registered", 404)


def _report(status: str, text: str | None = None) -> DeliveryReport:
    return DeliveryReport(delivery_id="dl-1", status=status, system_id="s", description=text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "reported", "receive", "send"),
    [
        (S.PENDING, None, "initial", "processing"),
        (S.QUEUED, None, "initial", "processing"),
        (S.RETRYING, None, "initial", "processing"),
        (S.DELIVERED, None, "initial", "done"),
        (S.DELIVERED, _report("processing"), "processing", "done"),
        (S.DELIVERED, _report("fail", "disk full"), "fail", "done"),
        (S.DONE, _report("fail"), "done", "done"),
        (S.FAILED, None, "fail", "done"),
        (S.DEAD, None, "initial", "fail"),
    ],
)
def test_per_copy_statuses(
    state: DeliveryState, reported: DeliveryReport | None, receive: str, send: str
) -> None:
    copy = delivery(state, last_error="boom" if state is S.DEAD else None)
    status, desc = receive_status(copy, reported)
    assert status == receive and " / " in desc  # Vietnamese / English
    if reported is not None and reported.description and state is S.DELIVERED:
        assert reported.description in desc
    status, desc = send_status(copy)
    assert status == send and " / " in desc
    if state is S.DEAD:
        assert "boom" in desc


def test_agency_numbers_are_stable_exact_in_json_and_spelling_blind() -> None:
    number = agency_number("000.00.31.H53")
    assert number == agency_number("000.00.31.h53") == agency_number(" 000.00.31.H53 ")
    assert 0 < number < 2**53
    assert number != agency_number("000.01.31.H53")


@pytest.mark.parametrize(
    ("error", "error_code"),
    [
        (Unauthenticated(door.UNKNOWN_SYSTEM, system="x"), "-2"),
        (Unauthenticated(door.NO_SECRET, system="x"), "-2"),
        (door.bad_parameter("status", "read", "done, fail, processing"), "-5"),
        (NotAuthorized(door.AGENCY_ELSEWHERE, organ="o", host="uplink", system="s"), "-3"),
        (NotAuthorized(door.AGENCY_MERGED, organ="o", successor="p"), "-3"),
        (NotAuthorized(door.AGENCY_TAKEN, organ="o"), "-3"),
        (NotFound(door.AGENCY_NOT_REGISTERED, organ="o", system="s"), "-4"),
    ],
)
def test_the_door_codes_have_their_error_codes(error: GatewayError, error_code: str) -> None:
    answer = vdxp.failure(error)
    assert (answer["status"], answer["ErrorCode"]) == ("FAIL", error_code)
    assert answer["ErrorDesc"] == error.message_vi
