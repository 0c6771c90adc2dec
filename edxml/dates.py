"""Reading every date and timestamp spelling seen in edXML traffic, and writing the canonical one.

Canonical (edxml.md §1.7): dates ``yyyy/MM/dd``, timestamps ``yyyy/MM/dd HH:mm:ss``, no zone,
meaning Vietnam local time. Tolerated on input: ``dd/MM/yyyy`` (the Tây Ninh sample),
``dd/MM/yyyy HH:mm:ss`` (legacy 512 TraceHeaders), ISO ``yyyy-MM-dd`` with an optional
``T``/space time and zone, and date-only values in timestamp fields (midnight).
"""

from __future__ import annotations

import datetime as dt
import re

from edxml.model import VN_TZ

__all__ = [
    "format_date",
    "format_timestamp",
    "parse_date",
    "parse_timestamp",
]

_CANON_DATE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_DMY_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?")
_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def _date_part(text: str) -> tuple[dt.date, bool] | None:
    """The date at the start of ``text`` and whether it was spelled canonically."""
    for pattern, order, canonical in (
        (_CANON_DATE, (0, 1, 2), True),
        (_DMY_DATE, (2, 1, 0), False),
        (_ISO_DATE, (0, 1, 2), False),
    ):
        m = pattern.fullmatch(text)
        if m:
            y, mo, d = (int(m.group(i + 1)) for i in order)
            try:
                return dt.date(y, mo, d), canonical and len(text) == 10
            except ValueError:
                return None
    return None


def parse_date(text: str) -> tuple[dt.date, bool] | None:
    """``(date, canonical)`` for any tolerated spelling, ``None`` when it is not a date.

    A timestamp in a date field (``2018/09/28 00:00:00``) yields its date, non-canonical.
    """
    text = text.strip()
    head, _, rest = text.partition(" ")
    if "T" in head and "-" in head:
        head, _, rest = head.partition("T")
    got = _date_part(head)
    if got is None:
        return None
    return got[0], got[1] and not rest


def parse_timestamp(text: str) -> tuple[dt.datetime, bool] | None:
    """``(aware datetime in Vietnam time, canonical)``, or ``None`` when unreadable."""
    text = text.strip()
    if "T" in text and "-" in text[:10]:
        head, _, rest = text.partition("T")
    else:
        head, _, rest = text.partition(" ")
    got = _date_part(head)
    if got is None:
        return None
    day, canonical = got
    rest = rest.strip()
    tz: dt.tzinfo = VN_TZ
    zone = _ZONE.search(rest)
    if zone:
        z = zone.group(1)
        rest = rest[: zone.start()].strip()
        if z == "Z":
            tz = dt.UTC
        else:
            sign = 1 if z[0] == "+" else -1
            digits = z[1:].replace(":", "")
            tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        canonical = False
    if not rest:  # a date-only timestamp: the VNPT example writes TraceHeaders this way
        return dt.datetime.combine(day, dt.time(), VN_TZ), False
    m = _TIME.fullmatch(rest)
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    second = int(m.group(3) or 0)
    micro = int((m.group(4) or "0")[:6].ljust(6, "0"))
    try:
        value = dt.datetime.combine(day, dt.time(hour, minute, second, micro), tz)
    except ValueError:
        return None
    canonical = canonical and len(rest) == 8 and m.group(3) is not None and not m.group(4)
    return value.astimezone(VN_TZ), canonical


def format_date(value: dt.date) -> str:
    """``yyyy/MM/dd``."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: dt.datetime) -> str:
    """``yyyy/MM/dd HH:mm:ss`` in Vietnam time; a naive value is taken as Vietnam time."""
    if value.tzinfo is not None:
        value = value.astimezone(VN_TZ)
    return f"{format_date(value.date())} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
