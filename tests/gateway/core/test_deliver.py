"""The consumer's decision table: every (state, attempts, outcome) cell that matters."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from gateway.core.deliver import (
    ACK_POLICY,
    DEFAULT_RETRY,
    Ack,
    AlreadyDone,
    DeadLetter,
    Decision,
    Failure,
    RecordDelivery,
    Retry,
    RetryPolicy,
    decide,
)
from gateway.store.base import Delivery
from gateway.store.lifecycle import DeliveryState, transition
from tests.gateway.core.factories import NOW

S = DeliveryState
TRANSIENT = Failure("webhook.http_503", retryable=True)
PERMANENT = Failure("webhook.http_410", retryable=False)
HEADERS = {"doc_id": "doc-1", "delivery_id": "dl-1", "kind": "edoc", "recipient": "000.00.00.H53"}


def delivery(state: DeliveryState, attempts: int = 0, **fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "delivery_id": "dl-1",
        "doc_id": "doc-1",
        "recipient": "000.00.00.H53",
        "route": "local",
        "peer": None,
        "state": state,
        "attempts": attempts,
        "last_error": None,
        "created_at": NOW,
        "updated_at": NOW,
        "delivered_at": None,
        "acked_at": None,
    }
    values.update(fields)
    return Delivery(**values)


def run(state: DeliveryState | None, attempts: int = 0, failure: Failure | None = None) -> Decision:
    current = delivery(state, attempts) if state is not None else None
    return decide(current, HEADERS, node="node-1", now=NOW, failure=failure)


# (state, attempts, failure) → (decision type, delay, transitions, reason)
TABLE = [
    # first delivery, and a retry coming back from the delay queue
    (S.PENDING, 0, None, RecordDelivery, None, None, None),
    (S.QUEUED, 0, None, RecordDelivery, None, None, None),
    (S.RETRYING, 3, None, RecordDelivery, None, None, None),
    (S.QUEUED, 8, None, DeadLetter, None, (S.DEAD,), "deliver.max_attempts"),
    # redeliveries of what is handled already: ack, do nothing
    (S.DELIVERED, 0, None, AlreadyDone, None, None, None),
    (S.DONE, 0, None, AlreadyDone, None, None, None),
    (S.FAILED, 0, None, AlreadyDone, None, None, None),
    (S.DEAD, 8, None, AlreadyDone, None, None, None),
    (S.DELIVERED, 0, TRANSIENT, AlreadyDone, None, None, None),  # someone else delivered it
    # the effect failed, transiently: back off 2 s x 4^(n-1), capped at 1 h
    (S.PENDING, 0, TRANSIENT, Retry, 2.0, (S.QUEUED, S.RETRYING), None),
    (S.QUEUED, 0, TRANSIENT, Retry, 2.0, (S.RETRYING,), None),
    (S.RETRYING, 1, TRANSIENT, Retry, 8.0, (S.QUEUED, S.RETRYING), None),
    (S.RETRYING, 5, TRANSIENT, Retry, 2048.0, (S.QUEUED, S.RETRYING), None),
    (S.RETRYING, 6, TRANSIENT, Retry, 3600.0, (S.QUEUED, S.RETRYING), None),
    (S.RETRYING, 7, TRANSIENT, DeadLetter, None, (S.DEAD,), "deliver.max_attempts"),
    # permanently: dead at once, with the failure's code
    (S.QUEUED, 0, PERMANENT, DeadLetter, None, (S.DEAD,), "webhook.http_410"),
    (S.RETRYING, 2, PERMANENT, DeadLetter, None, (S.DEAD,), "webhook.http_410"),
    # a message for a delivery the store does not know
    (None, 0, None, DeadLetter, None, (), "deliver.unknown_delivery"),
]


@pytest.mark.parametrize(
    ("state", "attempts", "failure", "kind", "delay", "transitions", "reason"), TABLE
)
def test_decision_table(
    state: DeliveryState | None,
    attempts: int,
    failure: Failure | None,
    kind: type,
    delay: float | None,
    transitions: tuple[DeliveryState, ...] | None,
    reason: str | None,
) -> None:
    decision = run(state, attempts, failure)
    assert type(decision) is kind
    if isinstance(decision, Retry):
        assert decision.delay_seconds == delay
        assert decision.attempt == attempts + 1
        assert decision.transitions == transitions
        assert decision.error == TRANSIENT.code
    if isinstance(decision, DeadLetter):
        assert decision.transitions == transitions and decision.reason == reason
    if state is not None and transitions:
        # Every path the core asks for is legal in the lifecycle table (lifecycle.py).
        current = state
        for target in transitions:
            assert transition(current, target)
            current = target


def test_every_live_state_with_every_attempt_count_decides() -> None:
    for state in (S.PENDING, S.QUEUED, S.RETRYING):
        for attempts in range(DEFAULT_RETRY.max_attempts + 2):
            for failure in (None, TRANSIENT, PERMANENT):
                decision = run(state, attempts, failure)
                assert type(decision) in ACK_POLICY
                if failure is None and attempts < DEFAULT_RETRY.max_attempts:
                    assert isinstance(decision, RecordDelivery)
                elif failure is TRANSIENT and attempts + 1 < DEFAULT_RETRY.max_attempts:
                    assert isinstance(decision, Retry)
                else:
                    assert isinstance(decision, DeadLetter)


def test_decisions_carry_their_trace() -> None:
    ok = run(S.QUEUED)
    assert isinstance(ok, RecordDelivery)
    assert (ok.delivery_id, ok.doc_id, ok.recipient, ok.route) == (
        "dl-1",
        "doc-1",
        "000.00.00.H53",
        "local",
    )
    (event,) = ok.trace
    assert (event.stage, event.outcome, event.doc_id, event.at) == (
        "deliver",
        "delivered",
        "doc-1",
        NOW,
    )
    assert event.detail["attempt"] == 1
    retry = run(S.RETRYING, 2, TRANSIENT)
    assert isinstance(retry, Retry)
    assert dict(retry.trace[0].detail) == {
        "delivery_id": "dl-1",
        "recipient": "000.00.00.H53",
        "route": "local",
        "attempt": 3,
        "delay_seconds": 32.0,
        "error": "webhook.http_503",
    }
    dead = run(S.RETRYING, 7, TRANSIENT)
    assert isinstance(dead, DeadLetter)
    assert (dead.trace[0].outcome, dead.trace[0].detail["attempts"]) == ("dead_letter", 8)
    assert run(S.DONE).__class__ is AlreadyDone and not hasattr(run(S.DONE), "trace")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "deliver.bad_headers"),
        ({"delivery_id": ""}, "deliver.bad_headers"),
        ({**HEADERS, "doc_id": "doc-2"}, "deliver.header_mismatch"),
        ({**HEADERS, "recipient": "000.00.00.H14"}, "deliver.header_mismatch"),
    ],
)
def test_bad_messages_are_dead_lettered_without_touching_the_delivery(
    headers: dict[str, str], reason: str
) -> None:
    decision = decide(delivery(S.QUEUED), headers, node="node-1", now=NOW)
    assert isinstance(decision, DeadLetter)
    assert decision.reason == reason and decision.transitions == ()


def test_header_bytes_are_accepted() -> None:
    raw = {k: v.encode() for k, v in HEADERS.items()}
    assert isinstance(decide(delivery(S.QUEUED), raw, node="n", now=NOW), RecordDelivery)


def test_backoff_sequence() -> None:
    assert DEFAULT_RETRY.delays() == (2.0, 8.0, 32.0, 128.0, 512.0, 2048.0, 3600.0)
    custom = RetryPolicy(base_seconds=1, factor=2, cap_seconds=10, max_attempts=6)
    assert custom.delays() == (1.0, 2.0, 4.0, 8.0, 10.0)
    decision = decide(
        delivery(S.QUEUED, 4), HEADERS, node="n", now=NOW, failure=TRANSIENT, policy=custom
    )
    assert isinstance(decision, Retry) and decision.delay_seconds == 10.0
    last = decide(
        delivery(S.QUEUED, 5), HEADERS, node="n", now=NOW, failure=TRANSIENT, policy=custom
    )
    assert isinstance(last, DeadLetter)


def test_the_ack_policy_covers_every_decision() -> None:
    assert set(ACK_POLICY) == set(typing.get_args(Decision))
    assert ACK_POLICY[RecordDelivery].effect_first
    assert [ACK_POLICY[k].ack for k in (RecordDelivery, AlreadyDone, Retry, DeadLetter)] == [
        Ack.ACK,
        Ack.ACK,
        Ack.DELAY,
        Ack.DEAD_LETTER,
    ]
    assert not any(
        rule.effect_first for kind, rule in ACK_POLICY.items() if kind is not RecordDelivery
    )
