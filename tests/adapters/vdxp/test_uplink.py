"""The uplink's answers to what can go wrong, each against a real upstream gateway.

- the upstream refuses a package for good → dead letter here (``uplink.refused``), once;
- the upstream refuses our credentials → everything waits (``uplink.unauthorized``), no
  attempt counted, and drains when the upstream's admin sets the right secret;
- the upstream does not know a sender yet → it is registered on the spot and sent again;
- a package downloaded from the upstream is refused here → acknowledged ``fail`` upstream
  (its sender sees ``receiveStatus: fail``) and not taken again;
- ``getSynchronizeUnit`` → new agencies, renamed ones, deleted ones locked; ours untouched.
"""

from __future__ import annotations

import pytest

from adapters.vdxp.client import VdxpClient
from adapters.vdxp.sink import UplinkSink
from gateway.broker import EffectFailed, Handover
from gateway.core.deliver import RecordDelivery
from gateway.store.lifecycle import DeliveryState
from tests.gateway.e2e.conftest import COMMUNES, DIRECTORY
from tests.gateway.e2e.packages import document

from .conftest import Hub, HubFactory, Peer, wait_for

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
VPCP = "000.00.00.G22"
LOCKED = "000.00.00.G09"  # locked at the centre, unknown (so: uplink) in the province
MERGED = "000.00.00.G10"  # merged into G09 at the centre: "deleted" in getSynchronizeUnit
CENTRE = [
    (VPCP, "Văn phòng Chính phủ (VPCP)", "local", None),
    ("000.00.00.H53", "UBND tỉnh Tây Ninh", "downlink", "tinh-a"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An", "downlink", "tinh-b"),
]


async def centre_and_province(hubs: HubFactory, **province: object) -> tuple[Hub, Hub]:
    central = await hubs("central", "00.00.W00", CENTRE)
    await central.add_system("vpcp", [VPCP], secret="vpcp-secret")
    a = await hubs(
        "a",
        "00.53.W00",
        [],
        parent=central,
        peer=Peer("tinh-a", "000.00.00.H53", "00.53.W00"),
        directory_file=str(DIRECTORY),
        **province,
    )
    await a.add_system("xa", (*COMMUNES, XA))
    return central, a


async def delivery_state(hub: Hub, delivery_id: str, state: str) -> None:
    async def probe() -> bool:
        d = await hub.store.get_delivery(delivery_id)
        return d is not None and d.state.value == state

    await wait_for(probe, 20.0, f"delivery {delivery_id} {state} at {hub.name}")


async def test_a_package_the_upstream_refuses_for_good_is_dead_lettered_once(
    hubs: HubFactory,
) -> None:
    central, a = await centre_and_province(hubs)
    from gateway.store.base import Agency

    await central.store.upsert_agency(Agency(organ_id=LOCKED, name="Bộ thử nghiệm", host="local"))
    await central.store.set_agency_state(LOCKED, "locked")
    await central.hub.refresh_directory()
    body = await a.submit("xa", document(XA, [LOCKED], "refused-1"))
    [route] = body["recipients"]
    assert route["route"] == "uplink"
    await delivery_state(a, route["delivery_id"], "dead")
    delivery = await a.store.get_delivery(route["delivery_id"])
    assert delivery is not None and delivery.last_error == "uplink.refused"
    dead = [r for r in await a.store.trace_for(body["doc_id"]) if r.outcome == "dead_letter"]
    assert [r.detail["reason"] for r in dead] == ["uplink.refused"]
    assert a.uplink.status.dead_lettered == 1 and a.uplink.status.sent == 0
    assert a.uplink.status.state.value == "up"  # the axis answered: it is not an outage


async def test_refused_credentials_hold_everything_until_the_upstream_fixes_the_secret(
    hubs: HubFactory,
) -> None:
    central, a = await centre_and_province(hubs, uplink_hold_seconds=0.3)
    system = await central.store.get_system("00.53.W00")
    assert system is not None and system.secret
    from dataclasses import replace

    await central.store.upsert_system(replace(system, secret="rotated-upstream"))
    body = await a.submit("xa", document(XA, [VPCP], "secret-1"))
    delivery_id = body["recipients"][0]["delivery_id"]

    async def unauthorized() -> bool:
        return a.uplink.status.state.value == "unauthorized" and a.uplink.status.deferred > 0

    await wait_for(unauthorized, 20.0, "the uplink unauthorized")
    assert a.uplink.status.last_error_code == "uplink.unauthorized"
    assert "uplink_secret" in (a.uplink.status.last_error or "")
    waiting = await a.store.get_delivery(delivery_id)
    assert waiting is not None and (waiting.state, waiting.attempts) == (DeliveryState.QUEUED, 0)
    # The upstream's admin puts the secret back: the backlog drains by itself.
    await central.store.upsert_system(system)
    await delivery_state(a, delivery_id, "delivered")
    [item] = await central.wait_inbox("vpcp", 1)
    assert item["sender"] == XA
    assert a.uplink.status.state.value == "up"


async def test_a_sender_unknown_upstream_is_registered_then_sent(hubs: HubFactory) -> None:
    # An upstream like the national axis: the province is an ordinary system there (no peer
    # subtree), so it may send only for the agencies it registered.
    central = await hubs(
        "central",
        "00.00.W00",
        [(VPCP, "VPCP", "local", None), ("000.00.00.H53", "UBND tỉnh", "local", None)],
    )
    await central.add_system("vpcp", [VPCP])
    a = await hubs(
        "a",
        "00.53.W00",
        [],
        parent=central,
        peer=Peer("tinh-a", "000.00.00.H53", "00.53.W00"),
        directory_file=str(DIRECTORY),
        uplink_register_agencies=False,
    )
    await a.add_system("xa", (*COMMUNES, XA))
    assert await central.store.resolve(XA) is None
    await a.submit("xa", document(XA, [VPCP], "register-1"))
    [item] = await central.wait_inbox("vpcp", 1)
    assert item["sender"] == XA
    registered = await central.store.resolve(XA)
    assert registered is not None and registered.host == "local"
    system = await central.store.get_system("00.53.W00")
    assert system is not None and XA in system.agencies
    assert a.uplink.status.registered == 1  # just the one, on demand


async def test_a_download_refused_here_is_answered_fail_and_not_taken_again(
    hubs: HubFactory,
) -> None:
    central, a = await centre_and_province(hubs)
    await a.store.set_agency_state(XA, "locked")
    await a.hub.refresh_directory()
    body = await central.submit("vpcp", document(VPCP, [XA], "locked-1"))
    delivery_id = body["recipients"][0]["delivery_id"]

    async def answered() -> bool:
        return a.uplink.status.acknowledged_fail == 1

    await wait_for(answered, 20.0, "the item answered fail")
    # The sender sees why, through the same door (getSentEdocList).
    async with VdxpClient(central.url, "vpcp", "vpcp-secret") as vpcp:
        [copy] = await vpcp.get_sent_edoc_list(body["doc_id"])
    assert (copy.receiver_doc_id, copy.receive_status) == (delivery_id, "fail")
    assert "route.recipient_locked" in copy.receive_status_desc
    reported = [r for r in await central.store.trace_for(body["doc_id"]) if "fail" in r.outcome]
    assert reported, "the centre traced the fail report"
    seen: set[object] = set()

    async def three_more_rounds() -> bool:
        seen.add(a.uplink.status.last_poll_at)
        return len(seen) > 3

    await wait_for(three_more_rounds, 10.0, "three more polling rounds")
    assert a.uplink.status.acknowledged_fail == 1  # the failed item was not taken again


async def test_the_directory_follows_get_synchronize_unit(hubs: HubFactory) -> None:
    central, a = await centre_and_province(hubs, uplink_directory_sync_seconds=0)
    from gateway.store.base import Agency

    await central.store.upsert_agency(Agency(organ_id=LOCKED, name="Bộ Nội vụ", host="local"))
    await central.store.upsert_agency(Agency(organ_id=MERGED, name="Bộ cũ", host="local"))
    await central.store.set_agency_state(MERGED, "merged", successor_id=LOCKED)
    # The province knew the merged ministry already, and names VPCP differently.
    await a.store.upsert_agency(Agency(organ_id=MERGED, name="Bộ cũ", host="uplink"))
    before_local = await a.store.resolve("000.00.00.H53")
    result = await a.uplink.directory.sync()
    assert (result.added, result.renamed, result.locked) >= (2, 1, 1), result
    added = await a.store.resolve(LOCKED)
    assert added is not None and (added.host, added.name) == ("uplink", "Bộ Nội vụ")
    renamed = await a.store.resolve(VPCP)
    assert renamed is not None and renamed.name == "Văn phòng Chính phủ (VPCP)"
    locked = await a.store.resolve(MERGED)
    assert locked is not None and locked.state == "locked"
    assert await a.store.resolve("000.00.00.H41") is not None  # the other province, uplink
    assert await a.store.resolve("000.00.00.H53") == before_local  # ours: untouched
    assert a.uplink.status.last_directory_sync_at is not None
    assert a.uplink.status.directory_changes == result.changes

    # Once the node reloads its directory, mail for the deleted agency is refused at once.
    async def locked_here() -> bool:
        agency = a.hub.directory.resolve(MERGED)
        return agency is not None and agency.state == "locked"

    await wait_for(locked_here, 10.0, "the node's directory reloaded")
    refusal = await a.submit("xa", document(XA, [MERGED], "gone-1"), expect=422)
    assert refusal["code"] == "route.recipient_locked"


async def test_a_delivery_misrouted_into_the_uplink_queue_is_routed_again() -> None:
    sink = UplinkSink.__new__(UplinkSink)  # the check runs before any dependency is used
    decision = RecordDelivery("dlv-1", "doc-1", XA, "downlink", "huyen-32", ())
    handover = Handover(decision, "H53.31.21", {}, b"{}", "dlv-1", False)
    with pytest.raises(EffectFailed) as info:
        await sink(handover)
    assert (info.value.code, info.value.retryable) == ("uplink.misrouted", True)
