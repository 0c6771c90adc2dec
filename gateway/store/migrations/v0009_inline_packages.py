"""Migration 9: small sealed packages kept in the store, in the transaction that accepts them.

A package whose sealed bytes fit under ``inline_package_bytes`` (setting) is written here by
``Store.accept``, in the same transaction as its message, deliveries, outbox rows and trace,
instead of as a file of its own in the blob folder: no inode to create, no file and directory
to fsync before the commit (the store's own commit makes it durable). Bigger packages stay in
the blob folder. Either way ``messages.blob_key`` is the claim check, and the bytes never
travel through RabbitMQ (architecture §3.5). Rows go when retention purges the last message
that points at them.
"""

from __future__ import annotations

from gateway.store.migrations import Migration

_TABLE = """
CREATE TABLE inline_blobs (
    blob_key TEXT NOT NULL PRIMARY KEY,
    data     {blob} NOT NULL
){strict}
"""

MIGRATION = Migration(
    version=9,
    name="inline_packages",
    sqlite=(_TABLE.format(blob="BLOB", strict=" STRICT"),),
    postgres=(
        _TABLE.format(blob="bytea", strict=""),
        # Out of line, uncompressed: sealed packages are mostly base64 of already-compressed
        # files (PDF, zip), which pglz would spend CPU on for little gain.
        "ALTER TABLE inline_blobs ALTER COLUMN data SET STORAGE EXTERNAL",
    ),
)
