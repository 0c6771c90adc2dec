"""The search and document pages and their JSON twins, on a gateway with real traffic."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.store.lifecycle import DeliveryState

from .conftest import COMMUNES, DISTRICT, SUBJECTS, Console, document, status

pytestmark = pytest.mark.rabbitmq


async def _traffic(console: Console, count: int = 3) -> tuple[list[str], list[bytes]]:
    docs, packages = [], []
    for n in range(count):
        packages.append(document(DISTRICT, COMMUNES[:2], SUBJECTS[n], n + 1))
        docs.append((await console.submit("huyen", packages[-1]))["doc_id"])
    for doc_id in docs:

        async def settled(doc_id: str = doc_id) -> bool:
            rows = await console.store.list_deliveries(doc_id=doc_id)
            return bool(rows) and all(d.state is DeliveryState.DELIVERED for d in rows)

        await console.wait(settled, f"delivery of {doc_id}")
    return docs, packages


async def test_search_api_and_page(console: Console) -> None:
    docs, _ = await _traffic(console)
    await console.login("xem")
    c = console.client

    async def api(**params: Any) -> list[str]:
        response = await c.get("/api/admin/v1/search", params=params)
        assert response.status == 200, await response.text()
        return [h["doc_id"] for h in (await response.json())["hits"]]

    assert await api() == docs[::-1]
    assert await api(q="trien khai de an") == [docs[0]]
    assert await api(q="TRIỂN KHAI ĐỀ ÁN") == [docs[0]]
    assert await api(code="2/UBND-VP") == [docs[1]]
    assert await api(sender=DISTRICT, recipient=COMMUNES[1], kind="edoc") == docs[::-1]
    assert await api(state="delivered", business_type="0") == docs[::-1]
    assert await api(status="03") == []
    page = await c.get("/api/admin/v1/search", params={"limit": "2"})
    first = await page.json()
    assert [h["doc_id"] for h in first["hits"]] == docs[:0:-1]
    hit = first["hits"][0]
    assert hit["subject"] == SUBJECTS[2]
    assert {r["recipient"] for r in hit["recipients"]} == set(COMMUNES[:2])
    rest = await api(limit="2", cursor=first["next_cursor"])
    assert rest == [docs[0]]
    for bad in ({"status": "99"}, {"from": "hôm qua"}, {"kind": "fax"}, {"cursor": "abc"}):
        response = await c.get("/api/admin/v1/search", params=bad)
        assert response.status == 400, bad
        assert (await response.json(content_type=None))["code"] == "admin.bad_query"

    html = await c.get("/console/search", params={"q": "trien khai", "from": "2000-01-01"})
    text = await html.text()
    assert html.status == 200
    assert text.count('class="hit"') == 1
    assert SUBJECTS[0] in text
    bad = await c.get("/console/search", params={"to": "31/12/2025"})
    assert bad.status == 400
    assert "không hợp lệ" in await bad.text()


async def test_document_json_and_audited_downloads(console: Console) -> None:
    (doc_id,), (original,) = await _traffic(console, 1)
    await console.submit("xa", status(original, COMMUNES[0], "03"))
    await console.login("xem")
    c = console.client
    response = await c.get(f"/api/admin/v1/documents/{doc_id}")
    assert response.status == 200
    view = await response.json()
    assert view["message"]["subject"] == SUBJECTS[0]
    assert view["chain"]["ok"] is True
    assert [s["role"] for s in view["package"]["signatures"]] == ["sender", "seal"]
    assert all(s["valid"] for s in view["package"]["signatures"])
    (attachment,) = view["package"]["attachments"]
    assert (attachment["real_type"], attachment["real_size"]) == ("application/pdf", 621)
    stages = [e["stage"] for e in view["timeline"]]
    assert stages[:5] == ["receive", "validate", "verify", "seal", "route"]
    recipients = {r["recipient"]: r for r in view["recipients"]}
    assert recipients[COMMUNES[0]]["reached"].keys() == {"03"}
    assert recipients[COMMUNES[0]]["delivery"]["state"] == "delivered"
    assert "[…" in view["package"]["raw"]  # the payload is elided for viewers too

    for path in (f"/console/documents/{doc_id}/raw", f"/console/documents/{doc_id}/attachments/1"):
        assert (await c.get(path)).status == 403
    await console.logout()
    await console.login("vanhanh")
    raw = await c.get(f"/console/documents/{doc_id}/raw")
    assert raw.status == 200
    assert (await raw.read()).startswith(b"<")
    pdf = await c.get(f"/api/admin/v1/documents/{doc_id}/attachments/1")
    assert pdf.status == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert "sample.pdf" in pdf.headers["Content-Disposition"]
    assert (await pdf.read()).startswith(b"%PDF-")
    assert (await c.get(f"/console/documents/{doc_id}/attachments/2")).status == 404
    assert (await c.get("/console/documents/nope")).status == 404
    downloads = [
        (r.stage, r.detail["what"], r.detail["admin"])
        for r in await console.store.trace_for(doc_id)
        if r.stage.startswith("admin.")
    ]
    assert downloads == [
        ("admin.download", "package", "vanhanh"),
        ("admin.download", "attachment", "vanhanh"),
    ]
    assert (await console.store.verify_document_trace(doc_id)).ok
