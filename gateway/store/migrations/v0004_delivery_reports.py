"""Migration 4: a receiving system's report on an inbox item it has not finished with yet.

VDXP ``updateStatus`` has three answers (edxml.md §2.4): ``done`` ends the delivery (the
lifecycle's ``done``), while ``processing`` and ``fail`` leave the item in the inbox, listed
until it is ``done`` (issue 4), and are shown to the sender (``getSentEdocList``
``receiveStatus``). One row per delivery keeps the latest report; every report is also a
trace event, so the history is in the trace.
"""

from __future__ import annotations

from gateway.store.migrations import Migration

_TABLE = """
CREATE TABLE delivery_reports (
    delivery_id TEXT NOT NULL PRIMARY KEY REFERENCES deliveries (delivery_id),
    status      TEXT NOT NULL CHECK (status IN ('processing', 'fail')),
    description TEXT,
    system_id   TEXT NOT NULL,
    reported_at {ts} NOT NULL
){strict}
"""

MIGRATION = Migration(
    version=4,
    name="delivery_reports",
    sqlite=(_TABLE.format(ts="TEXT", strict=" STRICT"),),
    postgres=(_TABLE.format(ts="timestamptz", strict=""),),
)
