"""Fixtures of every adapter test below: a whole gateway per test on the real RabbitMQ.

The gateway is the end-to-end one (``tests/gateway/e2e/conftest.py``), on SQLite (the store has
its own contract tests on both backends); see ``tests/adapters/sdk/fixtures.py``.
"""

import pytest

from tests.adapters.sdk.fixtures import *  # noqa: F403
from tests.gateway.e2e.conftest import Gateway, GatewayFactory


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()
