"""Hubs linked into a tree through the VDXP uplink: central, two provinces, a district below one.

Every hub is a whole gateway (``make_app`` on a real port, its own store, AMQP prefix, sealing
key and directory) on the real RabbitMQ; the central hub's store is PostgreSQL, the others
SQLite. A province is a system of the central hub registered for its top agency, which the
central directory lists as a downlink peer; the province's uplink sends to the central door
(sendEdoc), polls it (getReceivedEdocList, getEdoc, updateStatus), registers its agencies
(registerAgency) and reads the directory (getSynchronizeUnit).

The timeline across hops (issue 4, item 5) is read from two sources, and the test checks they
agree: each hub's own trace (millisecond times, every stage, joined across hubs by the ids the
uplink records: ``uplink/sent.upstream_doc_id`` is the DocId the upstream gave, and
``uplink/received.upstream_doc_id`` the upstream's delivery id), and the TraceHeaderList of
the delivered package (one signed TraceHeader per hub, to the second). The first is what an
administrator with access to the hubs uses; the second is what any receiver can verify alone.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from edxml.signature import SignaturePolicy, TrustStore, verify_package
from gateway.store import Agency, TraceRow
from tests.gateway.e2e.conftest import COMMUNES, DIRECTORY
from tests.gateway.e2e.packages import document, status

from .conftest import CERTS, Hub, HubFactory, Peer, hops, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

XA = "000.21.31.H53"  # a commune of province A (Tây Ninh), with a dev certificate
VPCP = "000.00.00.G22"  # Văn phòng Chính phủ, hosted by the central hub (dev certificate)
UBND_B = "000.00.00.H41"  # UBND tỉnh Nghệ An, province B's top agency (dev certificate)
SO_B = "000.00.05.H41"  # a department of province B (no certificate: sent unsigned)
XA_D = "000.05.32.H53"  # a commune of the district hub 000.00.32.H53 below province A
CENTRAL, HUB_A, HUB_B, HUB_D = "00.00.W00", "00.53.W00", "00.41.W00", "32.53.W00"
TRUST = TrustStore.from_files([CERTS / "ca.crt"], [CERTS / "ca.crl"])


async def tree(hubs: HubFactory, *, district: bool = False) -> dict[str, Hub]:
    """Central with provinces A and B below it (and a district hub D below A)."""
    central = await hubs(
        "central",
        CENTRAL,
        [
            (VPCP, "Văn phòng Chính phủ", "local", None),
            ("000.00.00.H53", "UBND tỉnh Tây Ninh", "downlink", "tinh-a"),
            (UBND_B, "UBND tỉnh Nghệ An", "downlink", "tinh-b"),
        ],
        postgres=True,
    )
    await central.add_system("vpcp", [VPCP])
    a = await hubs(
        "a",
        HUB_A,
        [],
        parent=central,
        peer=Peer("tinh-a", "000.00.00.H53", HUB_A),
        directory_file=str(DIRECTORY),  # H53 hosted here; 000.00.32.H53 a downlink "huyen-32"
    )
    await a.add_system("xa", (*COMMUNES, XA))
    b = await hubs(
        "b",
        HUB_B,
        [(UBND_B, "UBND tỉnh Nghệ An", "local", None), (SO_B, "Sở Nội vụ", "local", None)],
        parent=central,
        peer=Peer("tinh-b", UBND_B, HUB_B),
    )
    await b.add_system("so", [SO_B])
    await b.add_system("ubnd", [UBND_B])
    hubs_ = {"central": central, "a": a, "b": b}
    if district:
        d = await hubs(
            "d",
            HUB_D,
            [
                ("000.00.32.H53", "UBND huyện Châu Thành", "local", None),
                (XA_D, "UBND xã Thanh Điền", "local", None),
            ],
            parent=a,
            peer=Peer("huyen-32", "000.00.32.H53", HUB_D),
        )
        await d.add_system("xa-d", [XA_D])
        hubs_["d"] = d
    return hubs_


def events(trace: list[TraceRow], stage: str, outcome: str | None = None) -> list[TraceRow]:
    return [r for r in trace if r.stage == stage and (outcome is None or r.outcome == outcome)]


def one(trace: list[TraceRow], stage: str, outcome: str) -> TraceRow:
    found = events(trace, stage, outcome)
    assert len(found) == 1, (stage, outcome, [(r.stage, r.outcome) for r in trace])
    return found[0]


def timeline(traces: dict[str, list[TraceRow]]) -> list[tuple[datetime, str, str, str]]:
    rows = [(r.at, hub, r.stage, r.outcome) for hub, trace in traces.items() for r in trace]
    return sorted(rows)


def show(rows: list[tuple[datetime, str, str, str]]) -> str:
    start = rows[0][0]
    return "\n".join(
        f"  +{(at - start).total_seconds() * 1000:8.1f} ms  {hub:8} {stage}/{outcome}"
        for at, hub, stage, outcome in rows
    )


async def test_three_hubs_documents_statuses_and_the_timeline_across_hops(
    hubs: HubFactory,
) -> None:
    t = await tree(hubs)
    central, a, b = t["central"], t["a"], t["b"]

    # -- a commune in A -> a department in B: A -> central -> B ----------------------------
    original = document(XA, [SO_B], "3hub-1")
    sent = await a.submit("xa", original)
    [route] = sent["recipients"]
    assert (route["recipient"], route["route"]) == (SO_B, "uplink")
    [item] = await b.wait_inbox("so", 1)
    assert (item["sender"], item["kind"], item["recipient"]) == (XA, "edoc", SO_B)
    document_id = item["document_id"]
    package = await b.fetch("so", item["delivery_id"])
    # Every hop sealed it, and the commune's own signature survived three seals.
    result = verify_package(package, TRUST, policy=SignaturePolicy.STRICT)
    assert result.sender is not None and result.sender.signer_organ_id == XA
    assert [s.signer_organ_id for s in result.seals] == [HUB_A, CENTRAL, HUB_B]
    assert all(r.valid for r in result.reports)
    path = hops(package)
    assert [organ for organ, _ in path][-3:] == [HUB_A, CENTRAL, HUB_B]
    stamps = [at for _, at in path[-3:]]
    assert all(s is not None for s in stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
    await b.ack("so", item["delivery_id"])

    # -- the department answers 03 then 06: B -> central -> A -> the commune ----------------
    for code in ("03", "06"):
        answer = await b.submit("so", status(original, SO_B, code, minutes=int(code)))
        assert answer["recipients"][0]["route"] == "uplink"
    statuses = await a.wait_inbox("xa", 2, kind="status")
    assert sorted(s["status_code"] for s in statuses) == ["03", "06"]
    assert {s["sender"] for s in statuses} == {SO_B}
    for hub in (a, central, b):  # every hub on the way folded them into the progress
        message = await hub.store.find_message_by_document_id(XA, document_id)
        assert message is not None
        [progress] = await hub.store.get_progress(message.doc_id)
        assert (progress.recipient, progress.level) == (SO_B, "06"), hub.name

    # -- the central hub -> a commune in A (central's downlink peer queue, A's poller) -------
    down = await central.submit("vpcp", document(VPCP, [XA], "3hub-2"))
    [route] = down["recipients"]
    assert (route["route"], route["recipient"]) == ("downlink", XA)
    delivery = await central.store.get_delivery(route["delivery_id"])
    assert delivery is not None and delivery.peer == "tinh-a"
    [item] = await a.wait_inbox("xa", 1, kind="edoc")
    assert (item["sender"], item["recipient"]) == (VPCP, XA)
    assert [o for o, _ in hops(await a.fetch("xa", item["delivery_id"]))][-2:] == [CENTRAL, HUB_A]

    # -- province B -> a ministry at the central hub ----------------------------------------
    await b.submit("ubnd", document(UBND_B, [VPCP], "3hub-3"))
    [item] = await central.wait_inbox("vpcp", 1)
    assert (item["sender"], item["recipient"]) == (UBND_B, VPCP)
    verified = verify_package(
        await central.fetch("vpcp", item["delivery_id"]), TRUST, policy=SignaturePolicy.STRICT
    )
    assert [s.signer_organ_id for s in verified.seals] == [HUB_B, CENTRAL]

    # -- the timeline of the first document, across the three hubs ---------------------------
    traces = {h.name: await h.trace_of(XA, document_id) for h in (a, central, b)}
    at_a, at_c, at_b = traces["a"], traces["central"], traces["b"]
    # Joined by the ids the uplink records: A's DocId upstream is central's DocId, and B
    # downloaded central's delivery (its receiver-side docId) to B's peer queue.
    central_doc = at_c[0].doc_id
    assert one(at_a, "uplink", "sent").detail["upstream_doc_id"] == central_doc
    central_copy = one(at_c, "deliver", "delivered")
    assert central_copy.detail["route"] == "downlink"
    assert (
        one(at_b, "uplink", "received").detail["upstream_doc_id"]
        == (central_copy.detail["delivery_id"])
    )
    assert one(at_c, "acknowledge", "done").detail["system_id"] == HUB_B  # B's poller said done
    # Each hub accepted it once (no duplicate on the way), in hop order, each after the last.
    accepted = [one(trace, "receive", "ok").at for trace in (at_a, at_c, at_b)]
    assert accepted == sorted(accepted)
    rows = timeline(traces)
    hubs_in_order = list(dict.fromkeys(hub for _, hub, stage, _ in rows if stage == "receive"))
    assert hubs_in_order == ["a", "central", "b"]
    assert [hub for hub, _ in zip(["a", "central", "b"], path[-3:], strict=True)] == hubs_in_order
    latency = {
        f"{x}->{y}": (one(traces[y], "receive", "ok").at - one(traces[x], "seal", "ok").at)
        for x, y in (("a", "central"), ("central", "b"))
    }
    assert all(v.total_seconds() >= 0 for v in latency.values())
    print("\ntimeline of", document_id)
    print(show(rows))
    print("per-hop latency (seal here -> accepted there):", {k: str(v) for k, v in latency.items()})

    # -- exactly once everywhere ----------------------------------------------------------
    assert len(await b.inbox("so", kind="edoc")) == 1
    assert len(await a.inbox("xa", kind="status")) == 2
    for hub in (a, b):
        status_ = hub.uplink.status
        assert status_.state.value == "up" and status_.dead_lettered == 0, status_.as_dict()
    assert a.uplink.status.sent >= 1 and b.uplink.status.received >= 1


async def test_a_district_hub_below_a_province_works_the_same_way(hubs: HubFactory) -> None:
    t = await tree(hubs, district=True)
    central, a, d = t["central"], t["a"], t["d"]

    # Up two levels: the district commune -> the ministry at the centre (D -> A -> central).
    await d.submit("xa-d", document(XA_D, [VPCP], "dist-1"))
    [item] = await central.wait_inbox("vpcp", 1)
    assert (item["sender"], item["recipient"]) == (XA_D, VPCP)
    package = await central.fetch("vpcp", item["delivery_id"])
    assert [o for o, _ in hops(package)][-3:] == [HUB_D, HUB_A, CENTRAL]
    message = await a.store.find_message_by_document_id(XA_D, item["document_id"])
    assert message is not None
    [at_a] = await a.store.list_deliveries(doc_id=message.doc_id)
    assert (at_a.route, at_a.peer) == ("uplink", "uplink")

    # Down two levels: the ministry -> the district commune (central -> A's peer queue ->
    # A's downlink queue for the district -> D's poller).
    down = await central.submit("vpcp", document(VPCP, [XA_D], "dist-2"))
    assert down["recipients"][0]["route"] == "downlink"
    [item] = await d.wait_inbox("xa-d", 1)
    assert (item["sender"], item["recipient"]) == (VPCP, XA_D)
    assert [o for o, _ in hops(await d.fetch("xa-d", item["delivery_id"]))][-3:] == [
        CENTRAL,
        HUB_A,
        HUB_D,
    ]
    message = await a.store.find_message_by_document_id(VPCP, item["document_id"])
    assert message is not None
    [at_a] = await a.store.list_deliveries(doc_id=message.doc_id)
    assert (at_a.route, at_a.peer, at_a.state.value) == ("downlink", "huyen-32", "done")

    # The district registered its commune at A, and A registered it at the centre, both
    # under the peer that hosts it (so mail for it keeps taking the downlink queues).
    # (Read from the stores: a running node's in-memory directory follows within
    # ``directory_refresh_seconds``; the downlink route above did not need the entry, since the
    # district's peer queue is bound to its whole subtree.)
    async def registered_at_a() -> Agency | None:
        return await a.store.resolve(XA_D)

    at_a_dir = await wait_for(registered_at_a, 10.0, f"{XA_D} registered at A")
    assert (at_a_dir.host, at_a_dir.peer) == ("downlink", "huyen-32")

    async def registered_at_central() -> Agency | None:
        return await central.store.resolve(XA_D)

    at_c_dir = await wait_for(registered_at_central, 10.0, f"{XA_D} registered at the centre")
    assert (at_c_dir.host, at_c_dir.peer) == ("downlink", "tinh-a")
