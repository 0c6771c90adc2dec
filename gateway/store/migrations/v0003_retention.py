"""Migration 3: retention — the archive register, the archived head of the trace, purge marks.

``retention_head`` (one row) says how far the trace has been exported to signed archive files:
``archived_seq`` and ``archived_hash`` are the last archived entry, so the live chain continues
from there (``verify_trace`` starts at ``archived_seq + 1``), and ``run_by``/``run_until`` is the
lease that lets one node at a time write the next archive (``last_run_at``: when a run last
finished, for the periodic task of every node). ``trace_archives`` lists every
archive file with its SHA-256; ``messages.purged_at``/``archive`` mark the messages whose package
went into an archive and left the blob folder.

The append-only guard of ``trace_events`` is narrowed for DELETE only: an entry may go once it
is archived (``seq <= archived_seq``); UPDATE stays refused, and so does deleting anything newer.
The guards keep their names (tests and admins disable them by name).
"""

from __future__ import annotations

from gateway.store.chain import GENESIS
from gateway.store.migrations import Migration

_TABLES = """
CREATE TABLE retention_head (
    id            {int} NOT NULL PRIMARY KEY CHECK (id = 1),
    archived_seq  {bigint} NOT NULL,
    archived_hash TEXT NOT NULL,
    run_by        TEXT,
    run_until     {ts},
    last_run_at   {ts}
){strict};
INSERT INTO retention_head (id, archived_seq, archived_hash) VALUES (1, 0, '{genesis}');

CREATE TABLE trace_archives (
    number     {bigint} NOT NULL PRIMARY KEY CHECK (number >= 1),
    name       TEXT NOT NULL UNIQUE,
    sha256     TEXT NOT NULL,
    first_seq  {bigint} NOT NULL,
    last_seq   {bigint} NOT NULL,
    last_hash  TEXT NOT NULL,
    events     {bigint} NOT NULL,
    messages   {bigint} NOT NULL,
    node       TEXT NOT NULL,
    created_at {ts} NOT NULL
){strict};

ALTER TABLE messages ADD COLUMN purged_at {ts};
ALTER TABLE messages ADD COLUMN archive TEXT;
-- The retention candidates: what is still on the hub, oldest first.
CREATE INDEX messages_unpurged ON messages (received_at) WHERE purged_at IS NULL
"""

_SQLITE = {"int": "INTEGER", "bigint": "INTEGER", "ts": "TEXT", "strict": " STRICT"}
_POSTGRES = {"int": "integer", "bigint": "bigint", "ts": "timestamptz", "strict": ""}


def _statements(types: dict[str, str]) -> tuple[str, ...]:
    lines = [line for line in _TABLES.splitlines() if not line.lstrip().startswith("--")]
    script = "\n".join(lines).format(genesis=GENESIS, **types)
    return tuple(s.strip() for s in script.split(";") if s.strip())


_SQLITE_GUARD = (
    "DROP TRIGGER trace_events_no_delete",
    "CREATE TRIGGER trace_events_no_delete BEFORE DELETE ON trace_events"
    " WHEN OLD.seq > (SELECT archived_seq FROM retention_head WHERE id = 1)"
    " BEGIN SELECT RAISE(ABORT, 'trace_events is append-only'); END",
)
_POSTGRES_GUARD = (
    "CREATE OR REPLACE FUNCTION trace_events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN"
    " IF TG_OP = 'DELETE'"
    " AND OLD.seq <= (SELECT archived_seq FROM retention_head WHERE id = 1) THEN"
    " RETURN OLD; END IF;"
    " RAISE EXCEPTION 'trace_events is append-only'; END $$",
)

MIGRATION = Migration(
    version=3,
    name="retention",
    sqlite=_statements(_SQLITE) + _SQLITE_GUARD,
    postgres=_statements(_POSTGRES) + _POSTGRES_GUARD,
)
