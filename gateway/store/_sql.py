"""The SQL implementation of ``Store`` shared by both backends (they differ in ``Database``)."""

from __future__ import annotations

from gateway.store._directory import DirectoryQueries
from gateway.store._exchange import ExchangeQueries

__all__ = ["SqlStore"]


class SqlStore(ExchangeQueries, DirectoryQueries):
    """Every ``Store`` method, over a ``Database`` seam (``_engine``)."""
