"""An agency system's done/fail: allowed only on its own delivered inbox items."""

from __future__ import annotations

import pytest

from gateway.core import Rejected
from gateway.core.acknowledge import Acknowledgement, acknowledge
from gateway.store.lifecycle import DeliveryState
from tests.gateway.core.factories import NOW
from tests.gateway.core.test_deliver import delivery

S = DeliveryState
MINE = ("000.00.00.H53", "000.00.00.H14")


def ack(current: object, ok: bool = True, reason: str | None = None) -> Acknowledgement | Rejected:
    return acknowledge(
        current,  # type: ignore[arg-type]
        delivery_id="dl-1",
        system_id="qlvb-1",
        agencies=MINE,
        ok=ok,
        reason=reason,
        node="node-1",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("current", "ok", "code", "status"),
    [
        (None, True, "acknowledge.not_found", 404),
        # Someone else's item reads like a missing one (ids are not an oracle).
        (delivery(S.DELIVERED, recipient="000.00.00.H41"), True, "acknowledge.not_found", 404),
        (
            delivery(S.DELIVERED, route="downlink", peer="bencau"),
            True,
            "acknowledge.not_found",
            404,
        ),
        (delivery(S.QUEUED), True, "acknowledge.not_delivered", 409),
        (delivery(S.DEAD), False, "acknowledge.not_delivered", 409),
        (delivery(S.DONE), False, "acknowledge.already_answered", 409),
        (delivery(S.FAILED), True, "acknowledge.already_answered", 409),
    ],
)
def test_refusals(current: object, ok: bool, code: str, status: int) -> None:
    result = ack(current, ok)
    assert isinstance(result, Rejected)
    assert (result.error.code, result.error.http_status) == (code, status)
    assert result.error.message_vi and result.error.message_en
    (event,) = result.trace
    assert (event.stage, event.outcome) == ("acknowledge", "rejected")
    assert event.detail["code"] == code and event.detail["system_id"] == "qlvb-1"


@pytest.mark.parametrize(
    ("state", "ok", "target"),
    [
        (S.DELIVERED, True, S.DONE),
        (S.DELIVERED, False, S.FAILED),
        (S.DONE, True, S.DONE),  # a repeat: the store answers False and writes nothing
        (S.FAILED, False, S.FAILED),
    ],
)
def test_answers(state: DeliveryState, ok: bool, target: DeliveryState) -> None:
    result = ack(delivery(state), ok, None if ok else "Không mở được tệp đính kèm")
    assert isinstance(result, Acknowledgement)
    assert (result.delivery_id, result.recipient, result.ok, result.state) == (
        "dl-1",
        "000.00.00.H53",
        ok,
        target,
    )
    (event,) = result.trace
    assert (event.stage, event.outcome, event.doc_id) == ("acknowledge", target.value, "doc-1")
    assert event.detail.get("reason") == (None if ok else "Không mở được tệp đính kèm")


def test_inbox_ownership_compares_canonical_ids() -> None:
    result = ack(delivery(S.DELIVERED, recipient="000.00.00.h14"))
    assert isinstance(result, Acknowledgement)
