"""Statistics of a hub's exchange, as the console charts them and the CSV export writes them.

Definitions (the README repeats them for the people who read the figures):

- **Day**: a Vietnam calendar day (UTC+7). A window is whole days, ``since`` to ``until``
  inclusive, at most :data:`MAX_DAYS`.
- **Documents per day per agency**: edoc packages the agency *sent* (message ``From``) and
  copies *addressed* to it (deliveries); statuses are not documents. **Level**: the tier of the
  agency's organ id: ``central`` (a ``G…`` level-1 code and everything under it), ``province``,
  ``district`` and ``commune`` (level 1, 2 and 3+ under an ``H…`` code), ``other`` (hub codes
  and ids no form parses).
- **Exchanged fully electronically**: an edoc whose sender's digital signature the hub
  verified and attributed to the sending agency (``signature = verified``: legally valid
  without paper, Nghị định 30/2020) AND whose every copy was handed over electronically
  (delivered to the recipient's inbox or peer, or acknowledged). Documents accepted before
  the hub recorded signature verdicts (migration 5) count as not fully electronic and are
  reported apart as ``unknown``.
- **Median time to 03 / 06**, per recipient agency: from the hub accepting the document to the
  hub recording the recipient's first status at or above 03 (received; a 04-06 implies it) and
  its first 06 (completed). The hub's clock, not the agencies' Timestamps. Copies without the
  status yet are counted apart (``waiting_03``, ``waiting_06``), not as zero or infinity.
- **Overdue**: a copy of a document whose DueDate (hạn xử lý) is before today and that the
  recipient has neither completed (06) nor refused (02), nor had recalled (13 → 15).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from edxml.errors import FormatError
from edxml.organ import OrganIdForm, parse_organ_id
from gateway.service.admin.errors import BAD_RANGE, invalid
from gateway.store.base import DailyCount, ElectronicCount, OverdueItem, Store

__all__ = [
    "LEVELS",
    "MAX_DAYS",
    "VN",
    "AgencyTimes",
    "Report",
    "Statistics",
    "Window",
    "tier",
]

VN = timezone(timedelta(hours=7), "ICT")
MAX_DAYS = 366
DEFAULT_DAYS = 30
LEVELS = ("central", "province", "district", "commune", "other")


def tier(organ_id: str) -> str:
    """The level of the hierarchy an agency belongs to (module doc)."""
    try:
        organ = parse_organ_id(organ_id)
    except FormatError:
        return "other"
    if organ.form in (OrganIdForm.HUB, OrganIdForm.OTHER):
        return "other"
    if organ.groups[0].upper().startswith("G"):
        return "central"
    return LEVELS[min(organ.level, 3)]


@dataclass(frozen=True, slots=True)
class Window:
    """Whole Vietnam days ``since`` .. ``until`` (inclusive)."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), VN).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), VN).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=i) for i in range((self.until - self.since).days + 1)]


@dataclass(frozen=True, slots=True)
class AgencyTimes:
    """Median hours to 03 and to 06 for one recipient agency (module doc)."""

    organ_id: str
    copies: int
    median_03_hours: float | None
    median_06_hours: float | None
    waiting_03: int
    waiting_06: int


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    names: dict[str, str]  # organ id -> name, for the agencies in the report
    daily: list[DailyCount]
    electronic: list[ElectronicCount]
    times: list[AgencyTimes]
    overdue: list[OverdueItem]
    overdue_total: int
    today: date
    per_level: dict[str, dict[str, int]] = field(default_factory=dict)  # level -> day -> sent

    @property
    def totals(self) -> dict[str, int]:
        docs = sum(e.documents for e in self.electronic)
        return {
            "documents": docs,
            "fully": sum(e.fully for e in self.electronic),
            "signed": sum(e.signed for e in self.electronic),
            "handed_over": sum(e.handed_over for e in self.electronic),
            "unknown": sum(e.unknown for e in self.electronic),
            "overdue": self.overdue_total,
        }

    def share_fully(self) -> float | None:
        t = self.totals
        return t["fully"] / t["documents"] if t["documents"] else None

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.window.since.isoformat(),
            "until": self.window.until.isoformat(),
            "timezone": "Asia/Ho_Chi_Minh (UTC+7)",
            "totals": self.totals,
            "share_fully_electronic": self.share_fully(),
            "per_day_level": {
                level: {d.isoformat(): days.get(d.isoformat(), 0) for d in self.window.days}
                for level, days in self.per_level.items()
            },
            "per_day_agency": [
                {
                    "day": c.day.isoformat(),
                    "organ_id": c.organ_id,
                    "name": self.names.get(c.organ_id),
                    "level": tier(c.organ_id),
                    "sent": c.sent,
                    "received": c.received,
                }
                for c in self.daily
            ],
            "electronic": [
                {
                    "organ_id": e.organ_id,
                    "name": self.names.get(e.organ_id),
                    "documents": e.documents,
                    "signed": e.signed,
                    "handed_over": e.handed_over,
                    "fully": e.fully,
                    "unknown": e.unknown,
                    "share_fully": e.fully / e.documents if e.documents else None,
                }
                for e in self.electronic
            ],
            "processing_times": [
                {
                    "organ_id": t.organ_id,
                    "name": self.names.get(t.organ_id),
                    "copies": t.copies,
                    "median_hours_to_03": t.median_03_hours,
                    "median_hours_to_06": t.median_06_hours,
                    "waiting_03": t.waiting_03,
                    "waiting_06": t.waiting_06,
                }
                for t in self.times
            ],
            "overdue_total": self.overdue_total,
            "overdue": [overdue_json(o, self.today) for o in self.overdue],
        }


def overdue_json(o: OverdueItem, today: date) -> dict[str, Any]:
    due = o.message.due_date
    return {
        "doc_id": o.message.doc_id,
        "delivery_id": o.delivery.delivery_id,
        "sender": o.message.sender,
        "recipient": o.delivery.recipient,
        "code_notation": o.message.code_notation,
        "subject": o.message.subject,
        "due_date": due.isoformat() if due else None,
        "days_late": (today - due).days if due else None,
        "level": o.level,
        "delivery_state": o.delivery.state.value,
    }


class Statistics:
    """The statistics use cases over one store; ``clock`` gives "today" (tests set it)."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().astimezone(VN).date()

    def window(self, since: str | date | None = None, until: str | date | None = None) -> Window:
        """The window asked for (ISO dates), by default the last 30 days up to today."""
        try:
            end = _date(until) or self.today()
            start = _date(since) or end - timedelta(days=DEFAULT_DAYS - 1)
        except ValueError:
            raise invalid(BAD_RANGE, since=since, until=until, days=MAX_DAYS) from None
        if start > end or (end - start).days + 1 > MAX_DAYS:
            raise invalid(BAD_RANGE, since=start, until=end, days=MAX_DAYS)
        return Window(start, end)

    async def report(self, window: Window, *, overdue_limit: int = 100) -> Report:
        daily = await self.store.daily_counts(window.start, window.end)
        electronic = await self.store.electronic_counts(window.start, window.end)
        times = _medians(await self.store.processing_times(window.start, window.end))
        today = self.today()
        overdue, total = await self.store.overdue(today, limit=overdue_limit)
        per_level: dict[str, dict[str, int]] = {level: {} for level in LEVELS}
        for c in daily:
            days = per_level[tier(c.organ_id)]
            days[c.day.isoformat()] = days.get(c.day.isoformat(), 0) + c.sent
        organs = {c.organ_id for c in daily} | {e.organ_id for e in electronic}
        organs |= {t.organ_id for t in times} | {o.delivery.recipient for o in overdue}
        return Report(
            window=window,
            names=await self._names(organs),
            daily=daily,
            electronic=electronic,
            times=times,
            overdue=overdue,
            overdue_total=total,
            today=today,
            per_level=per_level,
        )

    async def overdue_page(
        self, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[OverdueItem], int]:
        return await self.store.overdue(self.today(), limit=limit, offset=offset)

    async def _names(self, organs: Iterable[str]) -> dict[str, str]:
        names = {}
        for organ_id in sorted(organs):
            agency = await self.store.resolve(organ_id)
            if agency is not None:
                names[organ_id] = agency.name
        return names


def _date(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _medians(rows: Iterable[Any]) -> list[AgencyTimes]:
    to03: dict[str, list[float]] = defaultdict(list)
    to06: dict[str, list[float]] = defaultdict(list)
    copies: dict[str, int] = defaultdict(int)
    for r in rows:
        copies[r.recipient] += 1
        if r.received_03_at is not None:
            to03[r.recipient].append((r.received_03_at - r.received_at).total_seconds() / 3600)
        if r.completed_06_at is not None:
            to06[r.recipient].append((r.completed_06_at - r.received_at).total_seconds() / 3600)
    return [
        AgencyTimes(
            organ_id=organ,
            copies=n,
            median_03_hours=_median(to03[organ]),
            median_06_hours=_median(to06[organ]),
            waiting_03=n - len(to03[organ]),
            waiting_06=n - len(to06[organ]),
        )
        for organ, n in sorted(copies.items())
    ]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# -- CSV export -------------------------------------------------------------------------------

#: The tables the export offers: name -> (header, rows of a report as JSON).
CSV_TABLES = ("daily", "electronic", "times", "overdue")


def to_csv(report: Report, table: str) -> str:
    """One table of the report as CSV (UTF-8 with a BOM, so Excel shows Vietnamese right)."""
    data = report.as_json()
    if table == "daily":
        header = ["day", "organ_id", "name", "level", "sent", "received"]
        rows = data["per_day_agency"]
    elif table == "electronic":
        header = ["organ_id", "name", "documents", "signed", "handed_over", "fully", "unknown"]
        header.append("share_fully")
        rows = data["electronic"]
    elif table == "times":
        header = ["organ_id", "name", "copies", "median_hours_to_03", "median_hours_to_06"]
        header += ["waiting_03", "waiting_06"]
        rows = data["processing_times"]
    elif table == "overdue":
        header = ["doc_id", "delivery_id", "sender", "recipient", "code_notation", "subject"]
        header += ["due_date", "days_late", "level", "delivery_state"]
        rows = data["overdue"]
    else:
        raise ValueError(f"unknown table {table!r}; one of {', '.join(CSV_TABLES)}")
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in header})
    return out.getvalue()


def _cell(value: object) -> object:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted (subjects come
    from outside: CSV injection, OWASP)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
