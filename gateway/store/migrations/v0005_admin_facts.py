"""Migration 5: the facts the admin statistics need on each message (DueDate, sender signature).

``due_date`` is the edXML ``DueDate`` (hạn xử lý, edxml.md §1.9) as ISO text ``YYYY-MM-DD`` in
both dialects, so that the shared queries compare it with the same parameter; a document is
overdue for a recipient once that day has passed without a 06 (issue 5, item 6).
``signature`` is the hub's verdict on the sender's signature (``gateway.core.verify.verdict``):
the half of "exchanged fully electronically" that the delivery rows cannot tell. Rows accepted
before this migration keep NULL in both (unknown), and the statistics say so.
``systems.cert_expires_at`` is the client certificate's notAfter, for the health page's expiry
warnings (only its fingerprint was kept before).
"""

from __future__ import annotations

from gateway.store.migrations import Migration

_VERDICTS = "('verified', 'unattributed', 'unverified', 'placeholder', 'absent', 'unchecked')"

MIGRATION = Migration(
    version=5,
    name="admin_facts",
    sqlite=(
        "ALTER TABLE messages ADD COLUMN due_date TEXT CHECK (due_date IS NULL OR"
        " due_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')",
        f"ALTER TABLE messages ADD COLUMN signature TEXT CHECK (signature IS NULL OR"
        f" signature IN {_VERDICTS})",
        "CREATE INDEX messages_by_due ON messages (due_date) WHERE due_date IS NOT NULL",
        "ALTER TABLE systems ADD COLUMN cert_expires_at TEXT",
    ),
    postgres=(
        "ALTER TABLE messages ADD COLUMN due_date TEXT CHECK (due_date IS NULL OR"
        " due_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')",
        f"ALTER TABLE messages ADD COLUMN signature TEXT CHECK (signature IS NULL OR"
        f" signature IN {_VERDICTS})",
        "CREATE INDEX messages_by_due ON messages (due_date) WHERE due_date IS NOT NULL",
        "ALTER TABLE systems ADD COLUMN cert_expires_at timestamptz",
    ),
)
