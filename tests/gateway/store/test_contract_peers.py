"""The Store contract for a downlink peer hub's inbox (``list_inbox(peers=...)``, migration 6)
and its count (``count_inbox(peers=...)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store import NewDelivery, Route, Store

from .factories import S, ev, message


async def _accept(
    store: Store, n: int, copies: Sequence[tuple[str, Route, str | None]], **fields: object
) -> None:
    m = message(n, **fields)
    deliveries = [
        NewDelivery(delivery_id=f"{m.doc_id}:{r}", recipient=r, route=route, peer=peer)
        for r, route, peer in copies
    ]
    result = await store.accept(m, deliveries, [], [ev("receive", m.doc_id)])
    assert result.created


class TestPeerInboxContract:
    async def test_peer_copies_are_the_peer_hubs_inbox(self, store: Store) -> None:
        await _accept(store, 1, [("R1", "local", None), ("C1", "downlink", "huyen-32")])
        await _accept(store, 2, [("C2", "downlink", "huyen-32"), ("U1", "uplink", "uplink")])
        await _accept(store, 3, [("C3", "downlink", "huyen-33")])
        await _accept(store, 4, [("C4", "downlink", "huyen-32")])  # never delivered
        for did in ("doc-1:R1", "doc-1:C1", "doc-2:C2", "doc-2:U1", "doc-3:C3"):
            await store.record_delivery(did)

        async def inbox(ids: Sequence[str], peers: Sequence[str], **kw: object) -> list[str]:
            page = await store.list_inbox(ids, peers=peers, **kw)  # type: ignore[arg-type]
            return [i.delivery.delivery_id for i in page.items]

        assert await inbox([], ["huyen-32"]) == ["doc-1:C1", "doc-2:C2"]
        assert await inbox([], ["huyen-32", "huyen-33"]) == ["doc-1:C1", "doc-2:C2", "doc-3:C3"]
        # A peer's copy is matched by its peer, never by its recipient; uplink copies by nothing.
        assert await inbox(["C1", "U1"], []) == []
        assert await inbox(["R1"], ["huyen-32"]) == ["doc-1:R1", "doc-1:C1", "doc-2:C2"]
        assert await inbox([], ["uplink"]) == []
        assert await inbox([], []) == []

        await store.acknowledge("doc-1:C1", "C1", ok=True)
        assert await inbox([], ["huyen-32"], state=S.DELIVERED) == ["doc-2:C2"]
        assert await inbox([], ["huyen-32"], state=S.DONE) == ["doc-1:C1"]
        page = await store.list_inbox([], peers=["huyen-32"], limit=1)
        assert [i.delivery.delivery_id for i in page.items] == ["doc-1:C1"]
        assert page.next_cursor is not None
        rest = await store.list_inbox([], peers=["huyen-32"], cursor=page.next_cursor)
        assert [i.delivery.delivery_id for i in rest.items] == ["doc-2:C2"]
        assert rest.items[0].message == message(2)

    async def test_peer_copies_are_counted_as_listed(self, store: Store) -> None:
        await _accept(store, 1, [("R1", "local", None), ("C1", "downlink", "huyen-32")])
        await _accept(store, 2, [("C2", "downlink", "huyen-32"), ("U1", "uplink", "uplink")])
        await _accept(store, 3, [("C3", "downlink", "huyen-33")], kind="status")
        await _accept(store, 4, [("C4", "downlink", "huyen-32")])  # never delivered
        for did in ("doc-1:R1", "doc-1:C1", "doc-2:C2", "doc-2:U1", "doc-3:C3"):
            await store.record_delivery(did)

        # Counted with the peer, never without it (nor by its recipient's id).
        assert await store.count_inbox([], peers=["huyen-32"]) == 2
        assert await store.count_inbox(["C1", "C2"]) == 0
        assert await store.count_inbox(["R1"]) == 1
        assert await store.count_inbox(["R1"], peers=["huyen-32"]) == 3
        assert await store.count_inbox([], peers=["huyen-32", "huyen-33"]) == 3
        assert await store.count_inbox([], peers=["huyen-33"], kind="status") == 1
        assert await store.count_inbox([], peers=["huyen-33"], kind="edoc") == 0
        assert await store.count_inbox([], peers=["uplink"]) == 0
        assert await store.count_inbox([], peers=[]) == 0
        assert await store.count_inbox([], peers=["huyen-32"], state=S.PENDING) == 0

        await store.acknowledge("doc-1:C1", "C1", ok=True)
        assert await store.count_inbox([], peers=["huyen-32"], state=S.DELIVERED) == 1
        assert await store.count_inbox([], peers=["huyen-32"], state=S.DONE) == 1
        # Exactly what the list holds, with the same filters.
        filters: list[dict[str, Any]] = [{}, {"state": S.DELIVERED}, {"state": S.DONE}]
        filters += [{"kind": "edoc"}, {"kind": "status", "state": S.DELIVERED}]
        peers = ["huyen-32", "huyen-33"]
        for kw in filters:
            page = await store.list_inbox(["R1"], peers=peers, **kw)
            assert len(page.items) == await store.count_inbox(["R1"], peers=peers, **kw), kw
