"""Helpers of the webhook, AMQP, conformance and cross-adapter tests: receivers, admin commands."""

from __future__ import annotations

import contextlib
import io
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.cli import main as edxgw
from gateway.web.state import HUB
from tests.gateway.e2e.conftest import Gateway, wait_for


@contextlib.asynccontextmanager
async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve ``app`` on a free port; yields its base URL (``https://localhost:N`` with TLS)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
        await site.start()
        port = int(runner.addresses[0][1])
        scheme, name = ("https", "localhost") if ssl_context else ("http", host)
        yield f"{scheme}://{name}:{port}"
    finally:
        await runner.cleanup()


def admin(gw: Gateway, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``edxgw ARGV`` against the gateway's store and broker, as an admin would."""
    s = gw.settings
    environ = {
        "EDXGW_STORE_DSN": s.store_dsn,
        "EDXGW_AMQP_URL": s.amqp_url,
        "EDXGW_AMQP_PREFIX": s.amqp_prefix,
        "EDXGW_AMQP_QUEUE_TYPE": s.amqp_queue_type,
        "EDXGW_DIRECTORY_FILE": str(s.directory_file),
        "EDXGW_BLOB_DIR": str(s.blob_dir),
        **(env or {}),
    }
    out = io.StringIO()
    code = edxgw(list(argv), environ=environ, out=out)
    return code, out.getvalue()


async def aadmin(gw: Gateway, *argv: str, **kw: Any) -> tuple[int, str]:
    """:func:`admin` off the event loop (the command runs its own loop)."""
    import asyncio

    return await asyncio.to_thread(admin, gw, *argv, **kw)


async def node_sees_mode(gw: Gateway, organ: str, mode: str, timeout: float = 20.0) -> None:
    """Wait until the running node's directory snapshot has the agency in ``mode``."""

    async def probe() -> bool:
        agency = gw.client.app[HUB].directory.resolve(organ)
        return agency is not None and (agency.delivery_mode or "pull") == mode

    await wait_for(probe, timeout, f"{organ} in delivery mode {mode}")


def secret_from(output: str) -> str:
    """The secret an ``edxgw`` command printed once."""
    for line in output.splitlines():
        if "shown once" in line:
            return line.rsplit(": ", 1)[1].strip()
    raise AssertionError(f"no secret in: {output}")
