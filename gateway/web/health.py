"""Liveness and readiness for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process serves HTTP at all. ``/readyz`` runs every check
``gateway/app.py`` registered (store, broker, directory; the keys were loaded at start or the
process would not be running) and answers 200 only when all pass, else 503 with each result,
so a node whose broker connection is down drops out of the balancer until it reconnects.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from gateway.web.state import CHECKS, SETTINGS

__all__ = ["setup"]

_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "node": request.app[SETTINGS].node})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app.get(CHECKS, {})
    names = sorted(checks)
    results = await asyncio.gather(
        *(asyncio.wait_for(checks[n](), _TIMEOUT) for n in names), return_exceptions=True
    )
    state = {n: r is True for n, r in zip(names, results, strict=True)}
    state["keys"] = True  # loaded at start-up; a node with bad keys never starts
    ready = all(state.values())
    body = {"status": "ready" if ready else "not ready", "checks": state}
    return web.Response(
        status=200 if ready else 503,
        text=json.dumps(body),
        content_type="application/json",
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
