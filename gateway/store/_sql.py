"""The SQL implementation of ``Store`` shared by both backends (they differ in ``Database``)."""

from __future__ import annotations

from gateway.store._admin import ADMIN_READS, AdminQueries
from gateway.store._console import CONSOLE_READS, CONSOLE_WRITES, ConsoleQueries
from gateway.store._directory import DirectoryQueries
from gateway.store._exchange import ExchangeQueries
from gateway.store._ops import OPS_WRITES, OpsQueries
from gateway.store._reports import REPORT_READS, REPORT_WRITES, ReportQueries
from gateway.store._retention import RETENTION_READS, RETENTION_WRITES, RetentionQueries
from gateway.store._webhooks import WebhookQueries

__all__ = ["READS", "STORE_METHODS", "WRITES", "SqlStore"]

#: The store methods that only read.
READS = frozenset(
    {
        "get_message", "get_blob", "find_message_by_document_id", "get_delivery",
        "list_deliveries", "outbox_lag", "list_inbox", "count_inbox", "get_progress",
        "list_status_events",
        "trace_for", "verify_trace", "list_aliases", "alias_map", "resolve", "list_agencies",
        "get_system", "find_system_by_token_hash", "find_system_by_cert", "list_systems",
        "get_webhook", "list_webhooks",
    }
    | ADMIN_READS
    | CONSOLE_READS
    | RETENTION_READS
    | REPORT_READS
)  # fmt: skip
#: The store methods that write: each runs in one transaction of its own, or in a savepoint
#: of a group commit (SQLite's writer thread, PostgreSQL's writer task).
WRITES = frozenset(
    {
        "migrate", "accept", "set_delivery_state", "record_delivery", "acknowledge",
        "claim_outbox", "mark_published", "purge_outbox", "record_status", "append_trace",
        "upsert_agency", "add_alias", "set_agency_state", "upsert_system",
        "set_system_agencies", "upsert_webhook", "delete_webhook",
    }
    | CONSOLE_WRITES
    | RETENTION_WRITES
    | REPORT_WRITES
    | OPS_WRITES
)  # fmt: skip
#: Every store method a backend routes (reads to a reader, writes to its writer), in a
#: stable order.
STORE_METHODS = tuple(sorted(READS | WRITES))


class SqlStore(
    ExchangeQueries,
    DirectoryQueries,
    WebhookQueries,
    AdminQueries,
    ConsoleQueries,
    ReportQueries,
    RetentionQueries,
    OpsQueries,
):
    """Every ``Store`` method, over a ``Database`` seam (``_engine``)."""
