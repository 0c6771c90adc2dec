"""The operations tests run whole gateways: the end-to-end fixtures (a real RabbitMQ, SQLite and
PostgreSQL; ``tests/gateway/e2e/conftest.py``) are shared here."""

from __future__ import annotations

from tests.gateway.e2e.conftest import (  # noqa: F401 - fixtures, found by name
    gateway,
    make_gateway,
    pg_e2e_database,
    pool,
    store_dsn,
)
