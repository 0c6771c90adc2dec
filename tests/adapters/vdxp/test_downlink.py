"""A downlink hub added while the node runs: its queue is bound before the router uses it, its
copies are consumed and become the peer hub's inbox (adapters/vdxp/link.py ``Downlink``)."""

from __future__ import annotations

import pytest

from gateway.app import BROKER
from gateway.store.base import Agency
from tests.gateway.e2e.conftest import DIRECTORY
from tests.gateway.e2e.packages import document

from .conftest import HubFactory, wait_for

pytestmark = pytest.mark.rabbitmq

TINH = "000.00.00.H53"
NEW_HUB_TOP = "000.00.33.H53"  # a district that gets its own hub today
BELOW = "000.04.33.H53"  # one of its communes, listed nowhere here


async def test_a_downlink_hub_added_at_run_time_gets_its_queue_and_its_inbox(
    hubs: HubFactory,
) -> None:
    province = await hubs("a", "00.53.W00", [], directory_file=str(DIRECTORY))
    await province.add_system("tinh", [TINH])
    before = await province.submit("tinh", document(TINH, [BELOW], "before"))
    assert before["recipients"][0]["route"] == "uplink"  # nobody hosts it yet: up it goes

    await province.store.upsert_agency(
        Agency(organ_id=NEW_HUB_TOP, name="UBND huyện mới", host="downlink", peer="huyen-33")
    )
    await province.add_system("33.53.W00", [NEW_HUB_TOP], secret="district-secret")
    broker = province.app[BROKER].broker

    async def bound() -> bool:
        routed = province.hub.directory.downlink_peer(BELOW) == "huyen-33"
        return routed and broker.peers.get("huyen-33") == "H53.33"

    await wait_for(bound, 15.0, "the new peer bound and routed to")
    assert "huyen-33" in broker.topology.peers
    body = await province.submit("tinh", document(TINH, [BELOW], "after"))
    [route] = body["recipients"]
    assert (route["route"], route["recipient"]) == ("downlink", BELOW)
    [item] = await province.wait_inbox("33.53.W00", 1)
    assert (item["delivery_id"], item["doc_id"]) == (route["delivery_id"], body["doc_id"])
    delivery = await province.store.get_delivery(route["delivery_id"])
    assert delivery is not None and (delivery.peer, delivery.state.value) == (
        "huyen-33",
        "delivered",
    )
    # The copy that went up before the peer existed stays where it went (nothing re-routed).
    [earlier] = await province.store.list_deliveries(doc_id=before["doc_id"])
    assert earlier.route == "uplink"
