"""The SQL implementation of ``Store`` shared by both backends (they differ in ``Database``)."""

from __future__ import annotations

from gateway.store._admin import AdminQueries
from gateway.store._console import ConsoleQueries
from gateway.store._directory import DirectoryQueries
from gateway.store._exchange import ExchangeQueries
from gateway.store._ops import OpsQueries
from gateway.store._reports import ReportQueries
from gateway.store._retention import RetentionQueries
from gateway.store._webhooks import WebhookQueries

__all__ = ["SqlStore"]


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
