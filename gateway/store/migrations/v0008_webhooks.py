"""Migration 8: where the gateway pushes a local agency's deliveries (``delivery_mode = push``).

One row per agency (``adapters/webhook``): the URL, the HMAC secret the receiver verifies the
``Edxgw-Signature`` header with, whether the hub presents its certificate (mTLS), the CA that
must have issued the receiver's server certificate, the request timeout and how many pushes to
that agency may be in flight at once. The secret is stored as given, like ``systems.secret``:
the database is protected at rest by filesystem permissions and access control.
"""

from __future__ import annotations

from gateway.store.migrations import Migration

_TABLE = """
CREATE TABLE webhook_endpoints (
    organ_id        TEXT NOT NULL PRIMARY KEY REFERENCES agencies (organ_id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    tls_client      {bool} NOT NULL DEFAULT {false},
    ca_file         TEXT,
    timeout_seconds {int} NOT NULL DEFAULT 30 CHECK (timeout_seconds BETWEEN 1 AND 600),
    concurrency     {int} NOT NULL DEFAULT 4 CHECK (concurrency BETWEEN 1 AND 256),
    created_at      {ts} NOT NULL,
    updated_at      {ts} NOT NULL
){strict}
"""

MIGRATION = Migration(
    version=8,
    name="webhooks",
    sqlite=(_TABLE.format(bool="INTEGER", false="0", int="INTEGER", ts="TEXT", strict=" STRICT"),),
    postgres=(
        _TABLE.format(bool="boolean", false="false", int="integer", ts="timestamptz", strict=""),
    ),
)
