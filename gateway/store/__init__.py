"""Durable state of the gateway behind one ``Store`` protocol, with SQLite and PostgreSQL backends.

Open a store by DSN, then bring its schema up to date::

    store = await open_store("sqlite:////var/lib/edxgw/gateway.db")   # or postgresql://...
    await store.migrate()
    ...
    await store.close()

SQLite DSNs follow SQLAlchemy: ``sqlite:///relative/path.db`` (three slashes) and
``sqlite:////absolute/path.db`` (four); ``sqlite:///:memory:`` is for experiments only.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from gateway.store._engine import Clock
from gateway.store.admins import Admin, AdminSession, Role
from gateway.store.base import (
    AcceptResult,
    Agency,
    AgencyState,
    Delivery,
    Host,
    InboxItem,
    InboxPage,
    Kind,
    Message,
    NewDelivery,
    NewOutbox,
    OutboxClaim,
    OutboxLag,
    OutboxRow,
    ProgressRow,
    Route,
    StatusEvent,
    Store,
    System,
    TraceEvent,
    TraceRow,
    VerifyResult,
    WebhookEndpoint,
)
from gateway.store.errors import (
    BadCursor,
    BadTransition,
    StoreBusy,
    StoreConflict,
    StoreError,
    StoreInvalid,
    StoreNotFound,
    StoreUnavailable,
)
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import SearchHit, SearchPage, SearchQuery

__all__ = [
    "AcceptResult",
    "Admin",
    "AdminSession",
    "Agency",
    "AgencyState",
    "BadCursor",
    "BadTransition",
    "Clock",
    "Delivery",
    "DeliveryState",
    "Host",
    "InboxItem",
    "InboxPage",
    "Kind",
    "Message",
    "NewDelivery",
    "NewOutbox",
    "OutboxClaim",
    "OutboxLag",
    "OutboxRow",
    "ProgressRow",
    "Role",
    "Route",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "StatusEvent",
    "Store",
    "StoreBusy",
    "StoreConflict",
    "StoreError",
    "StoreInvalid",
    "StoreNotFound",
    "StoreUnavailable",
    "System",
    "TraceEvent",
    "TraceRow",
    "VerifyResult",
    "WebhookEndpoint",
    "open_store",
    "sqlite_path",
]


def sqlite_path(dsn: str) -> str:
    """The file path in a ``sqlite:///...`` DSN (see the module docstring)."""
    parts = urlsplit(dsn)
    if parts.scheme.lower() != "sqlite" or parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"not a SQLite DSN of the form sqlite:///path: {dsn!r}")
    path = unquote(parts.path)
    if not path.startswith("/") or len(path) < 2:
        raise ValueError(f"SQLite DSN without a path: {dsn!r}")
    return path[1:]


async def open_store(dsn: str, *, clock: Clock | None = None) -> Store:
    """Connect to the store a DSN names (``sqlite:`` or ``postgresql:``/``postgres:``).

    Connecting is eager so a wrong DSN fails at start-up (``store.unavailable``); the schema
    is not touched until ``migrate()``. ``clock`` (UTC, aware) is for tests.
    """
    scheme = dsn.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from gateway.store.sqlite import SqliteStore

        return await SqliteStore.open(sqlite_path(dsn), clock=clock)
    if scheme in ("postgresql", "postgres"):
        from gateway.store.postgres import PostgresStore

        return await PostgresStore.open(dsn, clock=clock)
    raise ValueError(f"unknown store DSN scheme {scheme!r}: use sqlite:/// or postgresql://")
