"""Routing decisions: one table for single addressees, then whole packages through process()."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.core import Accepted, Context, Directory, Rejected, process
from gateway.core.errors import DirectoryInconsistent, Unroutable
from gateway.core.route import destination
from tests.gateway.core.factories import AGENCIES, HUB, agency, document, submission

# addressee → (recipient, route, peer, routing key, merged on the way)
CASES = [
    ("000.00.00.H53", "000.00.00.H53", "local", None, "H53", ()),
    ("000.00.00.h53", "000.00.00.H53", "local", None, "H53", ()),  # spelling folded
    ("28.22.H17", "000.00.00.H17", "local", None, "H17", ()),  # legacy alias
    ("H53.31", "000.00.31.H53", "downlink", "bencau", "H53.31", ()),  # QĐ 20 alias
    ("000.00.31.H53", "000.00.31.H53", "downlink", "bencau", "H53.31", ()),
    ("000.21.31.H53", "000.21.31.H53", "downlink", "bencau", "H53.31.21", ()),
    # not listed, but under the district hub: its H53.31.# binding takes it
    ("000.22.31.H53", "000.22.31.H53", "downlink", "bencau", "H53.31.22", ()),
    ("000.00.00.G22", "000.00.00.G22", "uplink", "vdxp", "G22", ()),
    ("000.00.00.G17", "000.00.00.G17", "uplink", "vdxp", "G17", ()),  # unknown
    ("000.00.12.H53", "000.00.12.H53", "uplink", "vdxp", "H53.12", ()),  # unknown, no peer
    ("000.20.31.H53", "000.21.31.H53", "downlink", "bencau", "H53.31.21", ("000.20.31.H53",)),
    (
        "000.12.31.H53",
        "000.21.31.H53",
        "downlink",
        "bencau",
        "H53.31.21",
        ("000.12.31.H53", "000.20.31.H53"),
    ),
]


@pytest.mark.parametrize(("addressed", "recipient", "route", "peer", "key", "merged"), CASES)
def test_destination(
    directory: Directory,
    addressed: str,
    recipient: str,
    route: str,
    peer: str | None,
    key: str,
    merged: tuple[str, ...],
) -> None:
    dest = destination(addressed, directory, "vdxp")
    assert (dest.recipient, dest.route, dest.peer, dest.routing_key, dest.merged) == (
        recipient,
        route,
        peer,
        key,
        merged,
    )
    assert dest.addressed == addressed


def test_a_locked_recipient_is_refused(directory: Directory) -> None:
    with pytest.raises(Unroutable) as info:
        destination("000.00.01.H53", directory, None)
    assert info.value.code == "route.recipient_locked" and info.value.http_status == 422
    assert "000.00.01.H53" in info.value.message_vi and "locked" in info.value.message_en


def test_a_merger_into_a_locked_agency_is_refused() -> None:
    d = Directory(
        [
            agency("000.00.02.H53", state="merged", successor_id="000.00.03.H53"),
            agency("000.00.03.H53", state="locked"),
        ]
    )
    with pytest.raises(Unroutable, match=r"000\.00\.03\.H53"):
        destination("000.00.02.H53", d, None)


@pytest.mark.parametrize(
    "agencies",
    [
        [
            agency("000.00.02.H53", state="merged", successor_id="000.00.03.H53"),
            agency("000.00.03.H53", state="merged", successor_id="000.00.02.H53"),
        ],
        [agency("000.00.02.H53", state="merged")],  # merged into nothing
    ],
    ids=["loop", "no-successor"],
)
def test_a_broken_merger_chain_is_our_error(agencies: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(DirectoryInconsistent) as info:
        destination("000.00.02.H53", Directory(agencies), None)
    assert info.value.code == "route.merge_loop"
    assert info.value.http_status == 500 and info.value.retryable


def test_a_merged_agency_whose_successor_is_unknown_goes_uplink() -> None:
    d = Directory([agency("000.00.02.H53", state="merged", successor_id="000.00.00.H99")])
    dest = destination("000.00.02.H53", d, "vdxp")
    assert (dest.recipient, dest.route, dest.merged) == (
        "000.00.00.H99",
        "uplink",
        ("000.00.02.H53",),
    )


# -- whole packages -------------------------------------------------------------------------------


def test_merged_recipients_are_rerouted_and_traced(ctx: Context) -> None:
    data = document("000.00.00.H53", ["000.12.31.H53"])
    result = process(submission(data, "000.00.00.H53"), ctx)
    assert isinstance(result, Accepted)
    assert [(d.recipient, d.route, d.peer) for d in result.deliveries] == [
        ("000.21.31.H53", "downlink", "bencau")
    ]
    rerouted = [dict(e.detail) for e in result.trace if e.outcome == "rerouted"]
    assert rerouted == [
        {
            "recipient": "000.12.31.H53",
            "successor": "000.21.31.H53",
            "addressed": "000.12.31.H53",
            "reason": "merged",
        },
        {
            "recipient": "000.20.31.H53",
            "successor": "000.21.31.H53",
            "addressed": "000.12.31.H53",
            "reason": "merged",
        },
    ]
    assert all(e.stage == "route" and e.doc_id == result.doc_id for e in result.trace[-3:])


def test_one_locked_recipient_refuses_the_whole_package(ctx: Context) -> None:
    data = document("000.00.00.H53", ["000.00.00.H14", "000.00.01.H53"])
    result = process(submission(data, "000.00.00.H53"), ctx)
    assert isinstance(result, Rejected)
    assert result.error.code == "route.recipient_locked"
    assert "Đơn vị nhận 000.00.01.H53" in result.error.message_vi
    last = result.trace[-1]
    assert (last.stage, last.outcome) == ("route", "rejected")
    assert last.detail["recipient"] == "000.00.01.H53"


def test_recipients_that_resolve_alike_collapse(ctx: Context) -> None:
    # The same agency three ways (canonical, alias, and a merged predecessor) and a
    # validation-tolerated duplicate: one delivery each for two agencies.
    to = ["000.00.31.H53", "H53.31", "000.21.31.H53", "000.20.31.H53", "000.00.31.H53"]
    result = process(submission(document("000.00.00.H53", to), "000.00.00.H53"), ctx)
    assert isinstance(result, Accepted)
    assert [d.recipient for d in result.deliveries] == ["000.00.31.H53", "000.21.31.H53"]
    assert len(result.outbox) == 2
    assert result.trace[-1].detail["recipients"] == ["000.00.31.H53", "000.21.31.H53"]


def test_unknown_recipients_go_uplink(ctx: Context) -> None:
    result = process(submission(document("000.00.00.H53", ["000.00.00.H99"]), "000.00.00.H53"), ctx)
    assert isinstance(result, Accepted)
    assert [(d.recipient, d.route, d.peer) for d in result.deliveries] == [
        ("000.00.00.H99", "uplink", "vdxp")
    ]
    assert result.outbox[0].routing_key == "H99"


def test_mail_from_the_axis_is_not_sent_back_up(make_ctx: Callable[..., Context]) -> None:
    # The axis lists every recipient; a hub keeps those it delivers (edxml.md §4.1).
    data = document("000.00.00.G22", ["000.00.00.H41", "000.00.00.H53", "000.21.31.H53"])
    sub = submission(data, "000.00.00.G22", origin="uplink", peer="vdxp")
    result = process(sub, make_ctx())
    assert isinstance(result, Accepted)
    assert [(d.recipient, d.route) for d in result.deliveries] == [
        ("000.00.00.H53", "local"),
        ("000.21.31.H53", "downlink"),
    ]
    assert result.trace[-1].detail["skipped"] == [{"recipient": "000.00.00.H41", "route": "uplink"}]


def test_mail_from_a_district_hub_is_not_sent_back_down(make_ctx: Callable[..., Context]) -> None:
    data = document("000.21.31.H53", ["000.00.31.H53"])
    sub = submission(data, "000.21.31.H53", origin="downlink", peer="bencau")
    result = process(sub, make_ctx())
    assert isinstance(result, Rejected)
    assert result.error.code == "route.no_recipient"


def test_a_package_that_already_passed_here_is_a_loop(make_ctx: Callable[..., Context]) -> None:
    ctx = make_ctx()
    first = process(submission(document("000.00.00.H53", ["000.00.00.G22"]), "000.00.00.H53"), ctx)
    assert isinstance(first, Accepted)
    # The axis hands our own sealed package back to us.
    back = submission(first.sealed, "000.00.00.H53", origin="uplink", peer="vdxp")
    result = process(back, make_ctx())
    assert isinstance(result, Rejected)
    assert result.error.code == "receive.loop_detected"
    assert HUB in result.error.message_en


def test_every_agency_of_the_fixture_routes_or_refuses_cleanly(ctx: Context) -> None:
    for a in AGENCIES:
        try:
            dest = destination(a.organ_id, ctx.directory, "vdxp")
        except Unroutable:
            assert a.state == "locked"
        else:
            assert dest.route in ("local", "downlink", "uplink")
