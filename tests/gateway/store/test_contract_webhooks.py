"""The Store contract for webhook endpoints (migration 8), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.store import Agency, Store, StoreInvalid, StoreNotFound, WebhookEndpoint

from .factories import ev

ORGAN = "000.21.31.H53"


async def _agency(store: Store, organ_id: str = ORGAN) -> None:
    await store.upsert_agency(
        Agency(organ_id=organ_id, name="UBND xã", host="local", delivery_mode="push")
    )


class TestWebhookContract:
    async def test_upsert_get_list_delete(self, store: Store) -> None:
        await _agency(store)
        await _agency(store, "000.22.31.H53")
        first = WebhookEndpoint(organ_id=ORGAN, url="https://qlvb.example/hook", secret="s3cret")
        stored = await store.upsert_webhook(first, [ev("admin.webhook_set", organ_id=ORGAN)])
        assert (stored.url, stored.secret, stored.tls_client, stored.ca_file) == (
            "https://qlvb.example/hook",
            "s3cret",
            False,
            None,
        )
        assert (stored.timeout_seconds, stored.concurrency) == (30, 4)
        assert stored.created_at is not None and stored.created_at == stored.updated_at
        assert "s3cret" not in repr(stored)
        assert await store.get_webhook(ORGAN) == stored
        assert await store.get_webhook("000.99.31.H53") is None

        # A replacement keeps created_at and changes everything else.
        changed = await store.upsert_webhook(
            replace(
                first,
                url="https://other.example/h",
                secret="new",
                tls_client=True,
                ca_file="/etc/ca.crt",
                timeout_seconds=5,
                concurrency=2,
            )
        )
        assert changed.created_at == stored.created_at
        assert changed.updated_at is not None and stored.updated_at is not None
        assert changed.updated_at > stored.updated_at
        assert (changed.url, changed.secret, changed.tls_client, changed.ca_file) == (
            "https://other.example/h",
            "new",
            True,
            "/etc/ca.crt",
        )
        assert (changed.timeout_seconds, changed.concurrency) == (5, 2)

        other = await store.upsert_webhook(
            WebhookEndpoint(organ_id="000.22.31.H53", url="http://127.0.0.1:9/x", secret="t")
        )
        assert await store.list_webhooks() == [changed, other]

        trace_before = (await store.verify_trace()).checked
        assert await store.delete_webhook(ORGAN, [ev("admin.webhook_remove", organ_id=ORGAN)])
        assert await store.get_webhook(ORGAN) is None
        assert (await store.verify_trace()).checked == trace_before + 1
        # A repeat writes nothing at all, trace included.
        assert not await store.delete_webhook(ORGAN, [ev("admin.webhook_remove", organ_id=ORGAN)])
        assert (await store.verify_trace()).checked == trace_before + 1
        assert await store.list_webhooks() == [other]

    async def test_refusals(self, store: Store) -> None:
        with pytest.raises(StoreNotFound):
            await store.upsert_webhook(WebhookEndpoint(organ_id=ORGAN, url="http://x/", secret="s"))
        await _agency(store)
        for bad in ({"timeout_seconds": 0}, {"concurrency": 0}, {"concurrency": 1000}):
            with pytest.raises(StoreInvalid):
                await store.upsert_webhook(
                    WebhookEndpoint(organ_id=ORGAN, url="http://x/", secret="s", **bad)  # type: ignore[arg-type]
                )
        assert await store.list_webhooks() == []
