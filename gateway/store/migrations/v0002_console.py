"""Migration 2: the admin console: administrators, their sessions and failed logins; search.

Search (``gateway/store/search.py``): three folded columns on ``messages``, filled for the rows
already there by the SQL form of the folding, and the indexes that keep a search page fast
over millions of messages, newest first by ``(received_at, doc_id)`` (keyset pagination):
by sender, DocumentId, code, notation, business type (the rare ones), recipient, delivery
state and status progress. PostgreSQL indexes the subject's words in a generated
``tsvector`` (GIN, ``simple`` configuration: the words are already folded, no stemming).
The plain ``(received_at)`` index of migration 1 is replaced by ``(received_at, doc_id)``,
which serves every query the old one served.
"""

# S608: the backfill is built from gateway.store.search's literals, no input.
# ruff: noqa: S608

from __future__ import annotations

from gateway.store.migrations import Migration
from gateway.store.search import sql_fold, sqlite_fold

_ADMINS = """
CREATE TABLE admins (
    username            TEXT NOT NULL PRIMARY KEY,
    display_name        TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    password_hash       TEXT NOT NULL,
    created_at          {ts} NOT NULL,
    updated_at          {ts} NOT NULL,
    password_changed_at {ts} NOT NULL
){strict};

-- Only the SHA-256 of the cookie's token is stored; removing an admin ends its sessions.
CREATE TABLE admin_sessions (
    session_hash TEXT NOT NULL PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES admins (username) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   {ts} NOT NULL,
    last_seen_at {ts} NOT NULL,
    idle_until   {ts} NOT NULL,
    expires_at   {ts} NOT NULL,
    address      TEXT
){strict};
CREATE INDEX admin_sessions_by_admin ON admin_sessions (username);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);

-- Failed logins by the name typed (known or not), for the lockout window.
CREATE TABLE admin_login_failures (
    id       {serial},
    username TEXT NOT NULL,
    at       {ts} NOT NULL,
    address  TEXT
){strict};
CREATE INDEX admin_login_failures_by_name ON admin_login_failures (username, at);

ALTER TABLE messages ADD COLUMN subject_folded TEXT;
ALTER TABLE messages ADD COLUMN code_folded TEXT;
ALTER TABLE messages ADD COLUMN notation_folded TEXT;
{backfill}
UPDATE messages SET notation_folded = CASE WHEN {instr} > 0
    THEN substr(code_folded, {instr} + 1) ELSE code_folded END
    WHERE code_folded IS NOT NULL;
UPDATE messages SET subject_folded = NULLIF(trim(subject_folded), '')
    WHERE subject_folded IS NOT NULL;
UPDATE messages SET code_folded = NULLIF(code_folded, '') WHERE code_folded IS NOT NULL;
UPDATE messages SET notation_folded = NULLIF(notation_folded, '')
    WHERE notation_folded IS NOT NULL;

DROP INDEX messages_by_received;
CREATE INDEX messages_by_received ON messages (received_at, doc_id);
CREATE INDEX messages_by_sender_received ON messages (sender, received_at, doc_id);
CREATE INDEX messages_by_document_id ON messages (document_id);
CREATE INDEX messages_by_code ON messages (code_folded) WHERE code_folded IS NOT NULL;
CREATE INDEX messages_by_notation ON messages (notation_folded) WHERE notation_folded IS NOT NULL;
CREATE INDEX messages_by_business_type ON messages (business_type, received_at, doc_id)
    WHERE business_type > 0;
CREATE INDEX deliveries_by_recipient ON deliveries (recipient, doc_id);
CREATE INDEX progress_by_level ON progress (level, doc_id) WHERE level IS NOT NULL;
CREATE INDEX progress_by_change ON progress (change_state, doc_id) WHERE change_state IS NOT NULL
"""

_POSTGRES_WORDS = (
    "ALTER TABLE messages ADD COLUMN subject_words tsvector GENERATED ALWAYS AS"
    " (to_tsvector('simple'::regconfig, coalesce(subject_folded, ''))) STORED",
    "CREATE INDEX messages_by_subject_words ON messages USING gin (subject_words)",
    # The planner needs fresh statistics to choose between the word index and a walk down
    # (received_at, doc_id); autovacuum would get there, later.
    "ANALYZE messages",
)


def _statements(dialect: str) -> tuple[str, ...]:
    sqlite = dialect == "sqlite"
    if sqlite:
        backfill = ";\n".join(
            sqlite_fold("messages", "subject", "subject_folded")
            + sqlite_fold("messages", "code_notation", "code_folded", code=True)
        )
    else:
        backfill = (
            f"UPDATE messages SET subject_folded = {sql_fold('subject')},"
            f" code_folded = {sql_fold('code_notation', code=True)}"
            " WHERE subject IS NOT NULL OR code_notation IS NOT NULL"
        )
    types = {
        "ts": "TEXT" if sqlite else "timestamptz",
        "serial": (
            "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
            if sqlite
            else "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        ),
        "strict": " STRICT" if sqlite else "",
        "backfill": backfill + ";",
        "instr": "instr(code_folded, '/')" if sqlite else "strpos(code_folded, '/')",
    }
    lines = [line for line in _ADMINS.splitlines() if not line.lstrip().startswith("--")]
    script = "\n".join(lines).format(**types)
    return tuple(s.strip() for s in script.split(";\n") if s.strip())


MIGRATION = Migration(
    version=2,
    name="console",
    sqlite=_statements("sqlite"),
    postgres=_statements("postgres") + _POSTGRES_WORDS,
)
