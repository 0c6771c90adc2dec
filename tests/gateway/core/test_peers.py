"""Peer hubs in the core: who a downlink hub or the upstream axis may send for, and whose
copies a downlink hub's system may acknowledge (the tree of hubs, adapters/vdxp)."""

from __future__ import annotations

import pytest

from gateway.core import Accepted, Context, Directory, Rejected, process
from gateway.core.acknowledge import Acknowledgement, acknowledge
from gateway.store.lifecycle import DeliveryState
from tests.gateway.core.factories import NOW, document, submission
from tests.gateway.core.test_deliver import delivery

# The core tests' directory (factories.AGENCIES): the district hub "bencau" hosts
# 000.00.31.H53 and 000.21.31.H53; the province 000.00.00.H53 is local; G22 is uplink.


@pytest.mark.parametrize(
    ("organ", "peer"),
    [
        ("000.00.31.H53", "bencau"),  # the peer's top agency
        ("000.21.31.H53", "bencau"),  # listed under it
        ("000.05.31.H53", "bencau"),  # not listed: its nearest listed ancestor decides
        ("H53.31", "bencau"),  # through an alias
        ("000.00.00.H53", None),  # hosted here
        ("000.07.00.H53", None),  # unknown under a local agency: not a peer's
        ("000.00.00.G22", None),  # the axis's
        ("000.00.00.G99", None),  # nobody's
        ("not an organ id", None),
    ],
)
def test_downlink_peer_of_an_agency(directory: Directory, organ: str, peer: str | None) -> None:
    assert directory.downlink_peer(organ) == peer
    assert directory.compact().downlink_peer(organ) == peer  # what the workers see


def _run(ctx: Context, sender: str, to: str, **fields: object) -> Accepted | Rejected:
    return process(submission(document(sender, [to], number="p-1"), **fields), ctx)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sender", "peer", "accepted"),
    [
        ("000.05.31.H53", "bencau", True),  # any agency of its subtree, listed or not
        ("000.21.31.H53", "bencau", True),
        ("000.00.00.H53", "bencau", False),  # not as one of ours
        ("000.00.00.G22", "bencau", False),  # nor as the axis's
        ("000.05.31.H53", "other-hub", False),  # nor for another peer's subtree
    ],
)
def test_a_downlink_hub_sends_for_its_subtree_only(
    ctx: Context, sender: str, peer: str, accepted: bool
) -> None:
    result = _run(ctx, sender, "000.00.00.G22", origin="downlink", peer=peer)
    if accepted:
        assert isinstance(result, Accepted), result
        [copy] = result.deliveries
        assert (copy.route, copy.recipient) == ("uplink", "000.00.00.G22")
    else:
        assert isinstance(result, Rejected)
        assert result.error.code == "receive.sender_not_registered"


def test_a_downlink_hubs_package_is_not_routed_back_down(ctx: Context) -> None:
    result = _run(ctx, "000.05.31.H53", "000.21.31.H53", origin="downlink", peer="bencau")
    assert isinstance(result, Rejected) and result.error.code == "route.no_recipient"


@pytest.mark.parametrize("sender", ["000.00.00.G22", "000.00.00.G99", "000.00.00.A80"])
def test_the_upstream_axis_may_deliver_from_any_agency(ctx: Context, sender: str) -> None:
    result = _run(ctx, sender, "000.00.00.H53", origin="uplink", peer="vdxp")
    assert isinstance(result, Accepted), result
    [copy] = result.deliveries
    assert (copy.route, copy.recipient) == ("local", "000.00.00.H53")
    assert result.message.system_id == "qlvb-1"


def test_what_the_upstream_sends_for_others_goes_nowhere(ctx: Context) -> None:
    result = _run(ctx, "000.00.00.G22", "000.00.00.H41", origin="uplink", peer="vdxp")
    assert isinstance(result, Rejected) and result.error.code == "route.no_recipient"


@pytest.mark.parametrize(
    ("route", "peer", "peers", "answered"),
    [
        ("downlink", "bencau", ("bencau",), True),  # the district hub takes its copy
        ("downlink", "bencau", ("other",), False),
        ("downlink", "bencau", (), False),  # an agency system: not its inbox
        ("uplink", "vdxp", ("vdxp",), False),  # the axis's copy is nobody's inbox here
    ],
)
def test_a_downlink_hubs_system_acknowledges_the_copies_routed_to_it(
    route: str, peer: str, peers: tuple[str, ...], answered: bool
) -> None:
    current = delivery(DeliveryState.DELIVERED, route=route, peer=peer, recipient="000.05.31.H53")
    answer = acknowledge(
        current,
        delivery_id="dl-1",
        system_id="32.53.W00",
        agencies=("000.00.31.H53",),
        ok=True,
        node="node-1",
        now=NOW,
        peers=peers,
    )
    if answered:
        assert isinstance(answer, Acknowledgement) and answer.recipient == "000.05.31.H53"
    else:
        assert isinstance(answer, Rejected) and answer.error.code == "acknowledge.not_found"
