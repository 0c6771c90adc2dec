"""The Store contract for the admin console (migration 2): administrators, sessions, failed
logins, message search and the per-document trace check, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store import (
    Admin,
    AdminSession,
    BadCursor,
    SearchQuery,
    StatusEvent,
    Store,
    StoreConflict,
    StoreNotFound,
)
from gateway.store.chain import entry_hash
from gateway.store.lifecycle import DeliveryState
from gateway.store.migrations import MIGRATIONS
from gateway.store.postgres import POSTGRES
from gateway.store.sqlite import SQLITE

from .conftest import Backend
from .factories import T0, accept, ev

S = DeliveryState
TZ7 = timedelta(hours=7)


def _admin(name: str = "lan", role: str = "viewer") -> Admin:
    return Admin(
        username=name,
        display_name=name.title(),
        role=role,  # type: ignore[arg-type]
        password_hash=f"h-{name}",
    )


def _session(backend: Backend, name: str = "lan", token: str = "t1") -> AdminSession:
    now = backend.clock.now
    return AdminSession(
        session_hash=f"hash-{token}",
        username=name,
        csrf_token=f"csrf-{token}",
        created_at=now,
        last_seen_at=now,
        idle_until=now + timedelta(minutes=30),
        expires_at=now + timedelta(hours=12),
        address="10.0.0.7",
    )


class TestAdminAccounts:
    async def test_add_get_list_update_remove(self, store: Store, backend: Backend) -> None:
        added = await store.add_admin(_admin("lan"), [ev("admin.admin_add", username="lan")])
        assert (added.username, added.role, added.password_hash) == ("lan", "viewer", "h-lan")
        assert added.created_at is not None and added.password_changed_at == added.created_at
        await store.add_admin(_admin("binh", "operator"))
        assert [a.username for a in await store.list_admins()] == ["binh", "lan"]
        with pytest.raises(StoreConflict):
            await store.add_admin(_admin("lan"))

        changed = await store.update_admin("lan", role="operator", password_hash="h2")
        assert (changed.role, changed.password_hash, changed.display_name) == (
            "operator",
            "h2",
            "Lan",
        )
        assert changed.password_changed_at is not None and added.password_changed_at is not None
        assert changed.password_changed_at > added.password_changed_at
        renamed = await store.update_admin("lan", display_name="Nguyễn Thị Lan")
        assert (renamed.display_name, renamed.password_changed_at) == (
            "Nguyễn Thị Lan",
            changed.password_changed_at,
        )
        with pytest.raises(StoreNotFound):
            await store.update_admin("nobody", role="viewer")

        assert await store.remove_admin("lan", [ev("admin.admin_remove", username="lan")])
        assert await store.get_admin("lan") is None
        assert not await store.remove_admin("lan", [ev("admin.admin_remove", username="lan")])
        stages = [r[0] for r in await backend.raw("SELECT stage FROM trace_events ORDER BY seq")]
        assert stages == ["admin.admin_add", "admin.admin_remove"]  # no trace for the no-op
        assert (await store.verify_trace()).ok

    async def test_sessions_live_idle_expire_and_end(self, store: Store, backend: Backend) -> None:
        await store.add_admin(_admin("lan"))
        session = _session(backend)
        await store.open_admin_session(session, [ev("admin.login", username="lan")])
        found = await store.get_admin_session("hash-t1")
        assert found is not None
        admin, got = found
        assert admin.username == "lan"
        assert (got.csrf_token, got.address) == ("csrf-t1", "10.0.0.7")
        assert await store.get_admin_session("hash-other") is None

        backend.clock.advance(29 * 60)
        await store.touch_admin_session("hash-t1", backend.clock.now + timedelta(minutes=30))
        backend.clock.advance(29 * 60)  # 58 minutes after login, 29 after the last use
        assert await store.get_admin_session("hash-t1") is not None
        backend.clock.advance(2 * 60)  # idle for 31 minutes
        assert await store.get_admin_session("hash-t1") is None
        assert await store.purge_admin_sessions(backend.clock.now) == 1

        # The absolute lifetime holds even for a session in constant use.
        await store.open_admin_session(_session(backend, token="t2"))
        for _ in range(13):
            backend.clock.advance(3600)
            await store.touch_admin_session("hash-t2", backend.clock.now + timedelta(minutes=30))
        assert await store.get_admin_session("hash-t2") is None

        await store.open_admin_session(_session(backend, token="t3"))
        assert await store.close_admin_session("hash-t3", [ev("admin.logout")])
        assert not await store.close_admin_session("hash-t3", [ev("admin.logout")])
        assert await store.get_admin_session("hash-t3") is None

    async def test_new_password_role_or_removal_ends_sessions(
        self, store: Store, backend: Backend
    ) -> None:
        await store.add_admin(_admin("lan"))
        for token in ("a", "b"):
            await store.open_admin_session(_session(backend, token=token))
        await store.update_admin("lan", display_name="Lan")  # a rename keeps them
        assert await store.get_admin_session("hash-a") is not None
        await store.update_admin("lan", password_hash="new")
        assert await store.get_admin_session("hash-a") is None
        assert await store.get_admin_session("hash-b") is None
        await store.open_admin_session(_session(backend, token="c"))
        await store.update_admin("lan", role="operator")
        assert await store.get_admin_session("hash-c") is None
        await store.open_admin_session(_session(backend, token="d"))
        await store.remove_admin("lan")
        assert await store.get_admin_session("hash-d") is None

    async def test_login_failures_count_in_window_and_reset_on_login(
        self, store: Store, backend: Backend
    ) -> None:
        await store.add_admin(_admin("lan"))
        start = backend.clock.now
        for _ in range(3):
            await store.record_admin_login_failure("lan", "10.0.0.9", [ev("admin.login")])
            backend.clock.advance(60)
        await store.record_admin_login_failure("ghost", None)  # unknown names count too
        assert await store.admin_login_failures("lan", start) == 3
        assert await store.admin_login_failures("lan", start + timedelta(seconds=90)) == 1
        assert await store.admin_login_failures("ghost", start) == 1
        await store.open_admin_session(_session(backend))
        assert await store.admin_login_failures("lan", start) == 0
        assert await store.admin_login_failures("ghost", start) == 1
        await store.purge_admin_sessions(backend.clock.now + timedelta(seconds=1))
        assert await store.admin_login_failures("ghost", start) == 0


A, B = "000.00.01.H53", "000.00.02.H53"
SUBJECTS = {
    1: ("V/v triển khai Đề án 06 về liên thông", "12/UBND-VP", A, ("R1", "R2")),
    2: ("Về việc TRIỂN KHAI phần mềm quản lý văn bản", "34/QĐ-UBND", B, ("R2",)),
    3: ("Báo cáo tình hình kinh tế - xã hội", "7/BC-UBND", A, ("R3",)),
    5: ("Thông báo lịch họp giao ban", "8/TB-VP", B, ("R1",)),
    # Typed on a system that sends decomposed Unicode (base letters + combining marks).
    6: ("Trie\u0302\u0309n khai co\u0302ng va\u0306n ma\u0302\u0303u", "9/CV-VP", B, ("R4",)),
}


async def _seed(store: Store) -> None:
    for n, (subject, code, sender, recipients) in SUBJECTS.items():
        at = T0 + (timedelta(days=3) if n == 5 else timedelta(minutes=n))
        await accept(
            store,
            n,
            recipients,
            subject=subject,
            code_notation=code,
            sender=sender,
            received_at=at,
            business_type=2 if n == 3 else 0,
            dedup_key=f"k{n}",
        )
    await accept(
        store,
        4,
        (A,),
        kind="status",
        sender="R2",
        subject=None,
        code_notation=None,
        status_code="03",
        received_at=T0 + timedelta(minutes=4),
        dedup_key="k4",
    )
    for target in (S.QUEUED, S.RETRYING, S.DEAD):
        await store.set_delivery_state("doc-3:R3", target, error="x")
    await store.record_delivery("doc-1:R1")
    for sid, doc, recipient, code in (("s1", "doc-1", "R1", "03"), ("s2", "doc-2", "R2", "13")):
        await store.record_status(
            StatusEvent(
                status_doc_id=sid,
                doc_id=doc,
                recipient=recipient,
                from_organ=recipient,
                code=code,
                at=T0 + timedelta(hours=1),
            )
        )


async def _ids(store: Store, **fields: object) -> list[str]:
    page = await store.search_messages(SearchQuery(**fields))  # type: ignore[arg-type]
    return [h.message.doc_id for h in page.hits]


class TestSearch:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({}, ["doc-5", "doc-6", "doc-4", "doc-3", "doc-2", "doc-1"]),
            ({"text": "trien khai"}, ["doc-6", "doc-2", "doc-1"]),
            ({"text": "TRIỂN KHAI"}, ["doc-6", "doc-2", "doc-1"]),
            ({"text": "triển"}, ["doc-6", "doc-2", "doc-1"]),
            ({"text": "trien kha"}, ["doc-6", "doc-2", "doc-1"]),  # the last word: a prefix
            ({"text": "tri"}, ["doc-6", "doc-2", "doc-1"]),
            ({"text": "trie khai"}, []),  # the others: whole words
            ({"text": "trien kh"}, []),  # a prefix needs three letters
            ({"text": "khai đề án"}, ["doc-1"]),
            ({"text": "liên thông"}, ["doc-1"]),
            ({"text": "cong van mau"}, ["doc-6"]),
            ({"text": "kinh te xa hoi"}, ["doc-3"]),
            ({"text": "rien"}, []),  # inside a word: no
            ({"code": "12/UBND-VP"}, ["doc-1"]),
            ({"code": "12/ubnd vp"}, ["doc-1"]),
            ({"code": "UBND-VP"}, ["doc-1"]),
            ({"code": "QĐ-UBND"}, ["doc-2"]),
            ({"code": "qd ubnd"}, ["doc-2"]),
            ({"code": "34/QD-UBND"}, ["doc-2"]),
            ({"code": "12"}, []),
            ({"doc_id": "doc-3"}, ["doc-3"]),
            ({"document_id": f"{A},2025/07/01,3"}, ["doc-3"]),
            ({"sender": A}, ["doc-3", "doc-1"]),
            ({"recipient": "R2"}, ["doc-2", "doc-1"]),
            ({"kind": "status"}, ["doc-4"]),
            ({"kind": "edoc", "sender": B}, ["doc-5", "doc-6", "doc-2"]),
            ({"business_type": 2}, ["doc-3"]),
            ({"business_type": 0, "sender": A}, ["doc-1"]),
            ({"state": S.DEAD}, ["doc-3"]),
            ({"state": S.DELIVERED}, ["doc-1"]),
            ({"status": "03"}, ["doc-1"]),
            ({"status": "13"}, ["doc-2"]),
            ({"status": "06"}, []),
            ({"received_from": T0 + timedelta(minutes=3)}, ["doc-5", "doc-6", "doc-4", "doc-3"]),
            (
                {"received_from": T0 + timedelta(minutes=2), "received_to": T0 + TZ7},
                ["doc-6", "doc-4", "doc-3", "doc-2"],
            ),
            ({"text": "trien", "sender": B, "recipient": "R2"}, ["doc-2"]),
        ],
    )
    @pytest.mark.parametrize("window", [8000, 2], ids=["window-holds-all", "window-of-2"])
    async def test_each_field(
        self, store: Store, fields: dict[str, object], expected: list[str], window: int
    ) -> None:
        # A window of 2 sends every filtered search to its second step (below the window).
        store.search_window = window  # type: ignore[attr-defined]
        await _seed(store)
        assert await _ids(store, **fields) == expected

    async def test_hits_carry_deliveries_and_progress(self, store: Store) -> None:
        await _seed(store)
        page = await store.search_messages(SearchQuery(doc_id="doc-1"))
        (hit,) = page.hits
        assert hit.message.subject == SUBJECTS[1][0]
        assert [(d.recipient, d.state) for d in hit.deliveries] == [
            ("R1", S.DELIVERED),
            ("R2", S.PENDING),
        ]
        assert [(p.recipient, p.level) for p in hit.progress] == [("R1", "03")]

    @pytest.mark.parametrize("window", [8000, 5])
    async def test_keyset_pages_cover_everything_once(self, store: Store, window: int) -> None:
        store.search_window = window  # type: ignore[attr-defined]
        await _seed(store)
        for n in range(10, 40):  # same received_at for many: the doc_id breaks ties
            await accept(store, n, ("R9",), received_at=T0 + timedelta(minutes=10))
        everything = await _ids(store, limit=200)
        assert len(everything) == 36
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.search_messages(SearchQuery(limit=7, cursor=cursor))
            seen += [h.message.doc_id for h in page.hits]
            assert len(page.hits) <= 7
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == everything
        # A filtered search pages the same way, across the window's edge.
        matching = await _ids(store, recipient="R9", limit=200)
        assert len(matching) == 30
        seen, cursor = [], None
        while True:
            page = await store.search_messages(SearchQuery(recipient="R9", limit=4, cursor=cursor))
            seen += [h.message.doc_id for h in page.hits]
            if (cursor := page.next_cursor) is None:
                break
        assert seen == matching
        with pytest.raises(BadCursor):
            await store.search_messages(SearchQuery(cursor="not-ours"))

    async def test_a_new_message_is_searchable_at_once(self, store: Store) -> None:
        await accept(store, 1, subject="Giấy mời họp trực tuyến", code_notation="5/GM-UBND")
        assert await _ids(store, text="giay moi") == ["doc-1"]
        assert await _ids(store, code="gm-ubnd") == ["doc-1"]


class TestSearchMigration:
    async def test_messages_from_before_migration_2_are_folded(self, backend: Backend) -> None:
        """A hub upgraded with messages in its store finds them too (the SQL backfill)."""
        sqlite = backend.name == "sqlite"
        dialect = SQLITE if sqlite else POSTGRES
        await backend.raw(dialect.schema_migrations_ddl)
        for statement in MIGRATIONS[0].sqlite if sqlite else MIGRATIONS[0].postgres:
            await backend.raw(statement)
        stamp = "2025-07-01T00:00:00.000000Z"
        await backend.raw(f"INSERT INTO schema_migrations VALUES (1, 'initial', '{stamp}')")
        old = {
            "old-1": ("V/v Triển khai Đề án 06; ĐÔN ĐỐC (khẩn)", "12/QĐ-UBND"),
            "old-2": ("Trie\u0302\u0309n khai co\u0302ng ta\u0301c", "3/TB-VP"),
            "old-3": ("Ủy ban nhân dân — Quyết định", None),
        }
        for i, (doc_id, (subject, code)) in enumerate(old.items()):
            code_sql = "NULL" if code is None else f"'{code}'"
            await backend.raw(
                "INSERT INTO messages (doc_id, kind, sender, document_id, business_type,"
                " received_at, sha256, size, blob_key, dedup_key, subject, code_notation)"
                f" VALUES ('{doc_id}', 'edoc', '{A}', 'd{i}', 0, '2025-07-01T0{i}:00:00.000000Z',"
                f" 'x', 1, 'b', 'k{i}', '{subject}', {code_sql})"
            )
        store = await backend.open()
        try:
            assert 2 in await store.migrate()
            assert await _ids(store, text="trien khai") == ["old-2", "old-1"]
            assert await _ids(store, text="don doc khan") == ["old-1"]
            assert await _ids(store, text="uy ban nhan dan quyet dinh") == ["old-3"]
            assert await _ids(store, code="12/qd-ubnd") == ["old-1"]
            assert await _ids(store, code="QĐ-UBND") == ["old-1"]
            assert await _ids(store, code="TB-VP") == ["old-2"]
        finally:
            await store.close()


class TestDocumentTrace:
    async def test_checks_own_events_and_their_links(self, store: Store, backend: Backend) -> None:
        await accept(store, 1)  # trace 1, 2
        await accept(store, 2)  # trace 3, 4
        await accept(store, 3)  # trace 5, 6
        ok = await store.verify_document_trace("doc-2")
        assert (ok.ok, ok.checked) == (True, 2)
        assert (await store.verify_document_trace("nothing")).checked == 0

        await backend.raw(backend.drop_trace_guard)
        await backend.raw("UPDATE trace_events SET outcome = 'tampered' WHERE seq = 4")
        broken = await store.verify_document_trace("doc-2")
        assert (broken.ok, broken.first_broken_seq) == (False, 4)
        assert broken.reason is not None and "altered" in broken.reason
        assert (await store.verify_document_trace("doc-1")).ok

        # The forger fixes the hash too: the next document's first event gives it away.
        row = (await store.trace_for("doc-2"))[1]
        forged = entry_hash(
            row.seq, row.doc_id, row.node, row.stage, "tampered", row.detail, row.at, row.prev_hash
        )
        await backend.raw(f"UPDATE trace_events SET hash = '{forged}' WHERE seq = 4")
        assert (await store.verify_document_trace("doc-2")).first_broken_seq == 5
        assert (await store.verify_document_trace("doc-3")).first_broken_seq == 5

        # A document's event tampered with in the previous entry (seq 2) shows on doc-2 too.
        await backend.raw("UPDATE trace_events SET node = 'elsewhere' WHERE seq = 2")
        assert (await store.verify_document_trace("doc-2")).first_broken_seq == 2
