"""The admin use cases on the store alone, SQLite and PostgreSQL (``gateway/service/admin``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.service.admin.directory import DirectoryAdmin
from gateway.service.admin.stats import Statistics, Window, tier, to_csv
from gateway.service.hub import Refused
from gateway.store import Agency, Store
from tests.gateway.store.factories import accept

AGENCIES = (
    ("000.00.00.H53", "UBND tỉnh Tây Ninh", None),
    ("000.00.31.H53", "UBND huyện Bến Cầu", "000.00.00.H53"),
    ("000.21.31.H53", "UBND xã Long Thuận", "000.00.31.H53"),
    ("000.22.31.H53", "UBND xã Long Giang", "000.00.31.H53"),
)


@pytest.fixture
async def directory(store: Store) -> DirectoryAdmin:
    for organ_id, name, parent in AGENCIES:
        await store.upsert_agency(
            Agency(organ_id=organ_id, name=name, parent_id=parent, host="local")
        )
    await store.add_alias("H53.31.21", "000.21.31.H53")
    return DirectoryAdmin(store, node="gw-test")


async def test_search_with_and_without_diacritics_and_by_alias(directory: DirectoryAdmin) -> None:
    assert [a.organ_id for a in await directory.search("xa long thuan")] == ["000.21.31.H53"]
    assert [a.organ_id for a in await directory.search("Xã Long")] == [
        "000.21.31.H53",
        "000.22.31.H53",
    ]
    assert [a.organ_id for a in await directory.search("h53.31.21")] == ["000.21.31.H53"]
    assert await directory.search("   ") == []


async def test_view_walks_the_path_and_counts_children(directory: DirectoryAdmin) -> None:
    view = await directory.view("H53.31.21")  # an alias finds the agency
    assert view.agency.organ_id == "000.21.31.H53"
    assert [a.organ_id for a in view.path] == ["000.00.00.H53", "000.00.31.H53"]
    assert view.aliases == ("H53.31.21",)
    district = await directory.view("000.00.31.H53")
    assert [(n.agency.organ_id, n.children) for n in district.children] == [
        ("000.21.31.H53", 0),
        ("000.22.31.H53", 0),
    ]
    with pytest.raises(Refused) as missing:
        await directory.view("000.99.31.H53")
    assert missing.value.problem.code == "admin.directory.not_found"


async def test_merge_rules(directory: DirectoryAdmin, store: Store) -> None:
    a, b = "000.21.31.H53", "000.22.31.H53"
    merged = await directory.merge(a, b, confirm=a, reason="NQ 1656", audit={"admin": "x"})
    assert (merged.state, merged.successor_id) == ("merged", b)
    for successor in (a, b):  # back into itself, directly or through the chain
        with pytest.raises(Refused) as cycle:
            await directory.merge(b, successor, confirm=b)
        assert cycle.value.problem.code == "admin.directory.merge_cycle"
        assert cycle.value.problem.http_status == 409
    with pytest.raises(Refused) as locked:
        await directory.lock(a, confirm=a)
    assert locked.value.problem.code == "admin.directory.is_merged"
    with pytest.raises(Refused) as unconfirmed:
        await directory.unlock(a, confirm=b)
    assert unconfirmed.value.problem.code == "admin.directory.not_confirmed"
    back = await directory.unlock(a, confirm=a, reason="undo")
    assert (back.state, back.successor_id) == ("active", None)
    assert [a.organ_id for a in await store.list_agencies(state="merged")] == []


def test_tiers_and_windows() -> None:
    assert [tier(o) for o in ("000.00.00.G22", "000.01.00.G22", "000.00.00.H53")] == [
        "central",
        "central",
        "province",
    ]
    assert [tier(o) for o in ("000.00.31.H53", "000.21.31.H53", "00.53.W00", "bad id!")] == [
        "district",
        "commune",
        "other",
        "other",
    ]
    now = datetime(2025, 7, 1, 18, 0, tzinfo=UTC)  # already 2 July in Hà Nội
    stats = Statistics(None, clock=lambda: now)  # type: ignore[arg-type]
    assert stats.today() == date(2025, 7, 2)
    window = stats.window()
    assert (window.since, window.until) == (date(2025, 6, 3), date(2025, 7, 2))
    assert window.start == datetime(2025, 6, 2, 17, 0, tzinfo=UTC)
    assert window.end == datetime(2025, 7, 2, 17, 0, tzinfo=UTC)
    for since, until in (("2025-07-02", "2025-07-01"), ("2024-01-01", "2025-07-01"), ("x", None)):
        with pytest.raises(Refused) as bad:
            stats.window(since, until)
        assert bad.value.problem.code == "admin.stats.bad_range"


async def test_report_and_csv_quote_formulas(store: Store) -> None:
    at = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)
    await accept(store, 1, ("R1",), received_at=at, subject='=HYPERLINK("x")', signature="verified")
    stats = Statistics(store, clock=lambda: at + timedelta(days=40))
    report = await stats.report(Window(date(2025, 7, 1), date(2025, 7, 1)))
    assert report.totals["documents"] == 1
    assert report.share_fully() == 0.0  # its copy is still pending
    daily = to_csv(report, "daily")
    assert daily.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(daily.lstrip("\ufeff"))))
    assert {(r["organ_id"], r["sent"], r["received"]) for r in rows} == {
        ("000.00.01.H53", "1", "0"),
        ("R1", "0", "1"),
    }
    await accept(store, 2, ("R1",), received_at=at, subject="=1+1", due_date=date(2025, 7, 5))
    report = await stats.report(Window(date(2025, 7, 1), date(2025, 7, 1)))
    overdue = list(csv.DictReader(io.StringIO(to_csv(report, "overdue").lstrip("\ufeff"))))
    assert [(r["subject"], r["days_late"]) for r in overdue] == [("'=1+1", "36")]
    with pytest.raises(ValueError, match="unknown table"):
        to_csv(report, "secrets")
