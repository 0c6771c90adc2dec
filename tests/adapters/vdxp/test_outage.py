"""The upstream goes away mid-run and comes back: nothing is lost, nothing arrives twice.

A province keeps accepting documents for the central hub while the central hub is closed
(``runner.cleanup()``, as a SIGTERM would, in the middle of the traffic); they wait in the
province's ``P.uplink`` queue (in hand for ``uplink_hold_seconds``, then back to the queue:
no delivery attempt is counted, nothing is dead-lettered) and drain once the central hub is
started again on the same port, store and queues. Mail the central hub had for the province
when it went down is downloaded after the restart; anything downloaded twice (an
acknowledgement lost in the shutdown) is recognised as a duplicate.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from gateway.store.lifecycle import DeliveryState
from tests.gateway.e2e.conftest import COMMUNES, DIRECTORY
from tests.gateway.e2e.packages import document

from .conftest import HubFactory, Peer, wait_for

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
VPCP = "000.00.00.G22"
UP, DOWN_MAIL = 30, 5


# The central hub is closed in the middle of the traffic (runner.cleanup(), as a SIGTERM
# would). A connection the province opens at that very moment can be accepted while aiohttp
# shuts down and left for the garbage collector, which warns about its socket (seen once in a
# full CI run; aio-libs/aiohttp#1115 is the same family). That is the outage being simulated,
# not a leak of the gateway under test: this test judges what was delivered, below.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function _SelectorTransport.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning",
)
async def test_upstream_outage_loses_nothing_and_doubles_nothing(hubs: HubFactory) -> None:
    central = await hubs(
        "central",
        "00.00.W00",
        [
            (VPCP, "Văn phòng Chính phủ", "local", None),
            ("000.00.00.H53", "UBND tỉnh Tây Ninh", "downlink", "tinh-a"),
        ],
    )
    await central.add_system("vpcp", [VPCP])
    a = await hubs(
        "a",
        "00.53.W00",
        [],
        parent=central,
        peer=Peer("tinh-a", "000.00.00.H53", "00.53.W00"),
        directory_file=str(DIRECTORY),
        uplink_hold_seconds=0.4,  # packages in hand go back to the queue during the outage
        uplink_concurrency=4,
    )
    await a.add_system("xa", (*COMMUNES, XA))

    async def up() -> bool:
        return a.uplink.status.state.value == "up"

    await wait_for(up, 15.0, "the uplink of A up")

    accepted: list[str] = []

    async def keep_submitting() -> None:
        for n in range(UP):
            body = await a.submit("xa", document(XA, [VPCP], f"out-{n}"))
            accepted.append(body["doc_id"])
            await asyncio.sleep(0.05)

    submitter = asyncio.create_task(keep_submitting())
    await central.wait_inbox("vpcp", 6)
    # Mail from the centre to the province, then the centre goes down in the middle of it all.
    for n in range(DOWN_MAIL):
        await central.submit("vpcp", document(VPCP, [XA], f"down-{n}"))
    await central.stop()

    async def down() -> bool:
        return a.uplink.status.state.value == "down"

    await wait_for(down, 15.0, "the uplink of A down")
    assert a.uplink.status.last_error_code == "uplink.unavailable"
    await submitter  # A kept accepting while its upstream was away
    assert len(accepted) == UP

    async def deferred() -> bool:
        return a.uplink.status.deferred > 0

    await wait_for(deferred, 15.0, "a package put back in P.uplink")
    waiting = [
        d
        for doc_id in accepted
        for d in await a.store.list_deliveries(doc_id=doc_id)
        if d.state is not DeliveryState.DELIVERED
    ]
    assert waiting, "the outage left nothing waiting: it came too late to test anything"
    assert all(d.attempts == 0 and d.state is DeliveryState.QUEUED for d in waiting)

    await central.start()  # same port, store and queues

    items = await central.wait_inbox("vpcp", UP, timeout=40.0)
    mail = await a.wait_inbox("xa", DOWN_MAIL, timeout=40.0, kind="edoc")

    # Nothing lost, nothing twice: at the centre one message and one inbox item per document...
    numbers = Counter(i["document_id"].rsplit(",", 1)[1] for i in items)
    assert sorted(numbers) == sorted(f"out-{n}/UBND-VP" for n in range(UP))
    assert set(numbers.values()) == {1}
    for item in items:
        message = await central.store.find_message_by_document_id(XA, item["document_id"])
        assert message is not None and message.doc_id == item["doc_id"]
        assert len(await central.store.list_deliveries(doc_id=message.doc_id)) == 1
    # ... in the province one inbox item per document from the centre ...
    assert Counter(i["document_id"] for i in mail).most_common(1)[0][1] == 1
    assert len(mail) == DOWN_MAIL
    # ... and every uplink delivery delivered, without a counted attempt or a dead letter.
    for doc_id in accepted:
        [delivery] = await a.store.list_deliveries(doc_id=doc_id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 0)
        sent = [
            r for r in await a.store.trace_for(doc_id) if (r.stage, r.outcome) == ("uplink", "sent")
        ]
        assert len(sent) == 1
    status = a.uplink.status
    assert status.state.value == "up" and status.dead_lettered == 0
    assert status.sent >= UP and status.received >= DOWN_MAIL
    assert await a.uplink.backlog() == 0
    print("\nuplink after the outage:", status.as_dict())
