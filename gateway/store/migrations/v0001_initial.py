"""Migration 1: the initial schema (messages, deliveries, outbox, statuses, trace, directory).

The tables are written once, with type placeholders filled per dialect, so SQLite and
PostgreSQL cannot drift apart. SQLite tables are STRICT (3.37+) so that a wrong Python type
fails there as it would in PostgreSQL, instead of being silently stored. SQLite keeps
timestamps as fixed-width UTC text (``_codec.to_text``), which sorts in time order.
"""

from __future__ import annotations

from gateway.store.chain import GENESIS
from gateway.store.migrations import Migration

_TABLES = """
CREATE TABLE messages (
    doc_id                   TEXT NOT NULL PRIMARY KEY,
    kind                     TEXT NOT NULL CHECK (kind IN ('edoc', 'status')),
    sender                   TEXT NOT NULL,
    document_id              TEXT NOT NULL,
    business_type            {smallint} CHECK (business_type BETWEEN 0 AND 3),
    status_code              TEXT,
    response_for_document_id TEXT,
    response_for_organ_id    TEXT,
    subject                  TEXT,
    code_notation            TEXT,
    system_id                TEXT,
    received_at              {ts} NOT NULL,
    sha256                   TEXT NOT NULL,
    size                     {bigint} NOT NULL CHECK (size >= 0),
    blob_key                 TEXT NOT NULL,
    dedup_key                TEXT NOT NULL UNIQUE
){strict};
CREATE INDEX messages_by_document ON messages (sender, document_id);
CREATE INDEX messages_by_received ON messages (received_at);

CREATE TABLE deliveries (
    delivery_id  TEXT NOT NULL PRIMARY KEY,
    doc_id       TEXT NOT NULL REFERENCES messages (doc_id),
    recipient    TEXT NOT NULL,
    route        TEXT NOT NULL CHECK (route IN ('local', 'downlink', 'uplink')),
    peer         TEXT,
    state        TEXT NOT NULL CHECK (state IN
                     ('pending', 'queued', 'retrying', 'delivered', 'done', 'failed', 'dead')),
    attempts     {int} NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   {ts} NOT NULL,
    updated_at   {ts} NOT NULL,
    delivered_at {ts},
    acked_at     {ts},
    UNIQUE (doc_id, recipient)
){strict};
-- The inbox query: one recipient's local deliveries in delivery order (keyset pagination).
CREATE INDEX deliveries_inbox ON deliveries (recipient, delivered_at, delivery_id)
    WHERE route = 'local';
CREATE INDEX deliveries_by_state ON deliveries (state, updated_at);

CREATE TABLE outbox (
    id            {serial},
    delivery_id   TEXT REFERENCES deliveries (delivery_id),
    exchange      TEXT NOT NULL,
    routing_key   TEXT NOT NULL,
    headers       {json} NOT NULL,
    body          {blob} NOT NULL,
    created_at    {ts} NOT NULL,
    published_at  {ts},
    attempts      {int} NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_until {ts}
){strict};
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE status_events (
    status_doc_id TEXT NOT NULL PRIMARY KEY,
    doc_id        TEXT REFERENCES messages (doc_id),
    recipient     TEXT NOT NULL,
    from_organ    TEXT NOT NULL,
    code          TEXT NOT NULL,
    description   TEXT,
    at            {ts} NOT NULL,
    recorded_at   {ts} NOT NULL
){strict};
CREATE INDEX status_events_by_doc ON status_events (doc_id, at);

CREATE TABLE progress (
    doc_id       TEXT NOT NULL REFERENCES messages (doc_id),
    recipient    TEXT NOT NULL,
    level        TEXT,
    level_at     {ts},
    change_state TEXT,
    change_at    {ts},
    last_code    TEXT,
    events       {int} NOT NULL DEFAULT 0,
    updated_at   {ts} NOT NULL,
    PRIMARY KEY (doc_id, recipient)
){strict};

-- Append-only, hash-chained (chain.py). No foreign key on doc_id: rejections are traced
-- under ids that never became messages.
CREATE TABLE trace_events (
    seq       {bigint} NOT NULL PRIMARY KEY,
    doc_id    TEXT,
    node      TEXT NOT NULL,
    stage     TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    detail    {json} NOT NULL,
    at        {ts} NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
){strict};
CREATE INDEX trace_events_by_doc ON trace_events (doc_id, seq) WHERE doc_id IS NOT NULL;

-- The chain's head. Appenders update this one row in their transaction; its row lock is what
-- keeps the chain linear with several gateway processes on one PostgreSQL.
CREATE TABLE trace_head (
    id   {int} NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  {bigint} NOT NULL,
    hash TEXT NOT NULL
){strict};
INSERT INTO trace_head (id, seq, hash) VALUES (1, 0, '{genesis}');

CREATE TABLE agencies (
    organ_id      TEXT NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL,
    level         {int},
    parent_id     TEXT,
    host          TEXT NOT NULL CHECK (host IN ('local', 'downlink', 'uplink')),
    peer          TEXT,
    state         TEXT NOT NULL CHECK (state IN ('active', 'locked', 'merged')),
    successor_id  TEXT,
    delivery_mode TEXT,
    updated_at    {ts} NOT NULL,
    CHECK ((state = 'merged') = (successor_id IS NOT NULL))
){strict};
CREATE INDEX agencies_by_parent ON agencies (parent_id, organ_id);

CREATE TABLE agency_aliases (
    alias    TEXT NOT NULL PRIMARY KEY,
    organ_id TEXT NOT NULL REFERENCES agencies (organ_id) ON DELETE CASCADE
){strict};
CREATE INDEX agency_aliases_by_organ ON agency_aliases (organ_id);

CREATE TABLE systems (
    system_id        TEXT NOT NULL PRIMARY KEY,
    name             TEXT NOT NULL,
    token_sha256     TEXT UNIQUE,
    cert_sha256      TEXT UNIQUE,
    secret           TEXT,
    signature_policy TEXT NOT NULL CHECK (signature_policy IN ('strict', 'lenient', 'off')),
    validation_mode  TEXT NOT NULL,
    revoked          {bool} NOT NULL DEFAULT {false},
    created_at       {ts} NOT NULL
){strict};

-- No foreign key to agencies: systems may be registered before the directory is synced.
CREATE TABLE system_agencies (
    system_id TEXT NOT NULL REFERENCES systems (system_id) ON DELETE CASCADE,
    organ_id  TEXT NOT NULL,
    PRIMARY KEY (system_id, organ_id)
){strict};
CREATE INDEX system_agencies_by_organ ON system_agencies (organ_id);
"""

_SQLITE_TYPES = {
    "ts": "TEXT",
    "json": "TEXT",
    "blob": "BLOB",
    "bool": "INTEGER",
    "false": "0",
    "int": "INTEGER",
    "smallint": "INTEGER",
    "bigint": "INTEGER",
    "serial": "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT",  # ids never reused after a purge
    "strict": " STRICT",
    "genesis": GENESIS,
}
_POSTGRES_TYPES = {
    "ts": "timestamptz",
    "json": "jsonb",
    "blob": "bytea",
    "bool": "boolean",
    "false": "false",
    "int": "integer",
    "smallint": "smallint",
    "bigint": "bigint",
    "serial": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "strict": "",
    "genesis": GENESIS,
}

# Triggers refuse UPDATE/DELETE on the trace, so a bug or a careless admin cannot rewrite it;
# someone who drops the trigger first is caught by the hash chain instead.
_SQLITE_GUARDS = tuple(
    f"CREATE TRIGGER trace_events_no_{op.lower()} BEFORE {op} ON trace_events "
    "BEGIN SELECT RAISE(ABORT, 'trace_events is append-only'); END"
    for op in ("UPDATE", "DELETE")
)
_POSTGRES_GUARDS = (
    "CREATE FUNCTION trace_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'trace_events is append-only'; END $$",
    "CREATE TRIGGER trace_events_append_only BEFORE UPDATE OR DELETE ON trace_events "
    "FOR EACH ROW EXECUTE FUNCTION trace_events_append_only()",
)


def _statements(types: dict[str, str]) -> tuple[str, ...]:
    lines = [line for line in _TABLES.splitlines() if not line.lstrip().startswith("--")]
    script = "\n".join(lines).format(**types)
    return tuple(s.strip() for s in script.split(";") if s.strip())


MIGRATION = Migration(
    version=1,
    name="initial",
    sqlite=_statements(_SQLITE_TYPES) + _SQLITE_GUARDS,
    postgres=_statements(_POSTGRES_TYPES) + _POSTGRES_GUARDS,
)
