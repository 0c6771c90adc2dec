"""The directory, statistics and health pages and their JSON twins, on a running gateway.

Real traffic goes through the gateway (documents, statuses, a dead letter) and the pages are
read as an operator and a viewer would; both stores (``store_dsn``), the real RabbitMQ.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from gateway.store import System, sqlite_path
from tests.gateway.e2e.packages import document, status

from .conftest import Gateway, Ops, break_effect, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

PROVINCE, DISTRICT, COMMUNE = "000.00.00.H53", "000.00.31.H53", "000.01.31.H53"


async def test_every_page_renders_for_an_operator(ops: Ops) -> None:
    gw = ops.gateway
    repair = break_effect(gw)
    receipt = await gw.submit("huyen", document(DISTRICT, [PROVINCE], "7"))
    [dead] = await gw.delivered(receipt["doc_id"])
    repair()
    operator = await ops.login("operator")
    pages = {
        "/console/dead-letters": ["replay-form", dead.delivery_id, "webhook.http_410"],
        f"/console/dead-letters/{dead.delivery_id}": ["replay-one", "history"],
        "/console/dead-letters/queue": ["dead-queue", dead.delivery_id],
        "/console/directory": ["agencies", PROVINCE],
        f"/console/directory?parent={DISTRICT}": ["breadcrumbs", COMMUNE],
        "/console/directory?q=xa%20so%201": ["Search results", COMMUNE],
        f"/console/directory/{DISTRICT}": ["lock-link", "huyen"],
        f"/console/directory/{DISTRICT}/confirm?action=lock": ["confirm-form", "csrf_token"],
        "/console/directory/systems": ["systems-table", "tinh"],
        "/console/statistics": ["chart-daily", "stats-data", "chart.umd.min.js"],
        "/console/health": ["health-checks", "certificates", f"{gw.prefix}.dead"],
    }
    for path, expected in pages.items():
        response = await operator.client.get(path, params={"lang": "en"})
        text = await response.text()
        assert response.status == 200, (path, text[:2000])
        for needle in expected:
            assert needle in text, (path, needle)
    script = await operator.client.get("/console/static/vendor/chartjs/chart.umd.min.js")
    assert script.status == 200
    assert "Chart.js v4" in (await script.text())[:200]


async def test_directory_changes_need_confirmation_a_reason_and_are_traced(ops: Ops) -> None:
    gw = ops.gateway
    operator = await ops.login("operator")
    viewer = await ops.login("viewer")
    base = f"/api/admin/v1/directory/{COMMUNE}"

    tree = await viewer.get("/api/admin/v1/directory", parent=DISTRICT)
    assert COMMUNE in [a["organ_id"] for a in tree["agencies"]]
    found = await viewer.get("/api/admin/v1/directory", q="000.01.31")
    assert [a["organ_id"] for a in found["agencies"]] == [COMMUNE]

    assert (await viewer.post(f"{base}/lock", {"confirm": COMMUNE, "reason": "x"}, 403))[
        "code"
    ] == "admin.forbidden"
    missing = await operator.post(f"{base}/lock", {"confirm": "000.02.31.H53", "reason": "x"}, 400)
    assert missing["code"] == "admin.directory.not_confirmed"
    no_reason = await operator.post(f"{base}/lock", {"confirm": COMMUNE}, 400)
    assert no_reason["code"] == "admin.reason_required"
    locked = await operator.post(f"{base}/lock", {"confirm": COMMUNE, "reason": "tạm dừng"})
    assert locked["state"] == "locked"

    # The gateway's directory watcher applies it: documents to the commune are refused.
    async def refused() -> bool:
        body = await gw.submit("huyen", document(DISTRICT, [COMMUNE], "8"), expect=None)
        return body.get("code") == "route.recipient_locked"

    await wait_for(refused, 15, "the lock to reach the router")
    unlocked = await operator.post(f"{base}/unlock", {"confirm": COMMUNE, "reason": "mở lại"})
    assert unlocked["state"] == "active"

    cycle = await operator.post(
        f"/api/admin/v1/directory/{DISTRICT}/merge",
        {"confirm": DISTRICT, "reason": "x", "successor": COMMUNE},
    )
    assert cycle["state"] == "merged"
    loop = await operator.post(
        f"{base}/merge", {"confirm": COMMUNE, "reason": "x", "successor": DISTRICT}, 409
    )
    assert loop["code"] == "admin.directory.merge_cycle"
    merged_lock = await operator.post(
        f"/api/admin/v1/directory/{DISTRICT}/lock", {"confirm": DISTRICT, "reason": "x"}, 409
    )
    assert merged_lock["code"] == "admin.directory.is_merged"
    view = await viewer.get(f"/api/admin/v1/directory/{COMMUNE}")
    assert view["merged_in"] == [DISTRICT, "000.41.31.H53"]  # and the directory file's merger

    events = [
        (stage, detail.get("admin"), detail.get("reason"), detail.get("organ_id"))
        for stage, detail in await _admin_trace(gw)
        if stage.startswith("admin.agency_")
    ]
    assert events == [
        ("admin.agency_locked", "operator", "tạm dừng", COMMUNE),
        ("admin.agency_active", "operator", "mở lại", COMMUNE),
        ("admin.agency_merged", "operator", "x", DISTRICT),
    ]


async def _admin_trace(gw: Gateway) -> list[tuple[str, dict[str, object]]]:
    """(stage, detail) of the admin events (no DocId), read behind the store's back."""
    sql = "SELECT stage, detail FROM trace_events WHERE doc_id IS NULL ORDER BY seq"
    dsn = gw.settings.store_dsn
    if dsn.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(dsn))
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    else:
        pg = await asyncpg.connect(dsn)
        try:
            rows = [tuple(r) for r in await pg.fetch(sql)]
        finally:
            await pg.close()
    return [(stage, json.loads(detail)) for stage, detail in rows]


async def test_statistics_figures_and_csv_from_real_traffic(ops: Ops) -> None:
    gw = ops.gateway
    today = datetime.now(UTC).astimezone().date()
    first = document(DISTRICT, [PROVINCE, COMMUNE], "11", due_date=date(2024, 1, 2))
    receipt = await gw.submit("huyen", first)
    await gw.delivered(receipt["doc_id"])
    await gw.submit("tinh", status(first, PROVINCE, "03"))
    await gw.submit("tinh", status(first, PROVINCE, "06", minutes=5))
    viewer = await ops.login("viewer")

    stats = await viewer.get("/api/admin/v1/statistics")
    assert stats["totals"]["documents"] == 1
    [sender] = stats["electronic"]
    assert sender["organ_id"] == DISTRICT
    # certs/dev signs for the district: verified; both copies were delivered.
    assert (sender["signed"], sender["handed_over"], sender["fully"]) == (1, 1, 1)
    times = {t["organ_id"]: t for t in stats["processing_times"]}
    assert times[PROVINCE]["median_hours_to_03"] is not None
    assert times[PROVINCE]["waiting_06"] == 0
    assert (times[COMMUNE]["waiting_03"], times[COMMUNE]["median_hours_to_03"]) == (1, None)
    # Due 2 January 2024, long past: the commune has not answered (the province said 06).
    assert stats["overdue_total"] == 1
    assert stats["overdue"][0]["recipient"] == COMMUNE
    levels = stats["per_day_level"]
    assert sum(levels["district"].values()) == 1
    assert sum(levels["province"].values()) == 0

    response = await viewer.client.get("/console/statistics/export.csv", params={"table": "daily"})
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = (await response.read()).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {(r["organ_id"], r["sent"], r["received"]) for r in rows} >= {
        (DISTRICT, "1", "0"),
        (COMMUNE, "0", "1"),
    }
    bad = await viewer.get("/api/admin/v1/statistics", 400, since="2025-02-01", until="2025-01-01")
    assert bad["code"] == "admin.stats.bad_range"
    assert today  # the window defaults to the last 30 days up to today


async def test_health_reports_queues_certificates_and_a_broken_trace(ops: Ops) -> None:
    gw = ops.gateway
    soon = datetime.now(UTC) + timedelta(days=10)
    await gw.store.upsert_system(
        System(
            system_id="mtls",
            name="QLVB mTLS",
            cert_sha256="ab" * 32,
            cert_expires_at=soon,
            agencies=(COMMUNE,),
        )
    )
    receipt = await gw.submit("huyen", document(DISTRICT, [PROVINCE], "21"))
    await gw.delivered(receipt["doc_id"])
    viewer = await ops.login("viewer")
    operator = await ops.login("operator")

    health = await viewer.get("/api/admin/v1/health")
    checks = {c["name"]: c["level"] for c in health["checks"]}
    assert checks["store"] == "ok" and checks["broker"] == "ok"
    assert checks["certificates"] == "warning"  # the mTLS system's certificate: 10 days
    [mtls] = [c for c in health["certificates"] if c["owner"] == "mtls"]
    assert (mtls["level"], round(mtls["days_left"])) == ("warning", 10)
    assert any(c["role"] == "hub" for c in health["certificates"])
    queues = {q["name"]: q for q in health["queues"]}
    inbox = f"{gw.prefix}.inbox.H53"
    assert queues[inbox]["consumers"] == 1 and queues[inbox]["messages"] == 0
    assert queues[f"{gw.prefix}.dead"]["role"] == "dead"
    assert health["outbox"]["unpublished"] == 0
    assert health["deliveries"]["delivered"] >= 1

    check = await operator.post("/api/admin/v1/health/trace-check", {})
    assert (check["level"], check["checked_from"]) == ("ok", 1)
    # Someone rewrites a trace entry behind the gateway's back: the full check names it.
    await _tamper(gw)
    broken = await operator.post("/api/admin/v1/health/trace-check", {})
    assert broken["level"] == "error" and broken["first_broken_seq"] == 1
    health = await viewer.get("/api/admin/v1/health")
    assert {c["name"]: c["level"] for c in health["checks"]}["trace"] == "error"
    assert health["level"] == "error"


async def _tamper(gw: Gateway) -> None:
    """Rewrite the first trace entry behind the store's back (its guard trigger dropped)."""
    forge = "UPDATE trace_events SET node = 'forged' WHERE seq = 1"
    dsn = gw.settings.store_dsn
    if dsn.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(dsn))
        try:
            conn.execute("DROP TRIGGER trace_events_no_update")
            conn.execute(forge)
            conn.commit()
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(dsn)
    try:
        await pg.execute("ALTER TABLE trace_events DISABLE TRIGGER trace_events_append_only")
        await pg.execute(forge)
    finally:
        await pg.close()
