"""The typed keys under which ``gateway/app.py`` puts the hub's parts on the aiohttp application.

Handlers read ``request.app[HUB]`` etc.; nothing is a module-level singleton (style.md §9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from edxml.trust import TrustStore
from gateway.metrics import Links, Metrics
from gateway.service.hub import Hub
from gateway.settings import Settings
from gateway.store.base import Store

__all__ = ["CHECKS", "HUB", "LINKS", "METRICS", "SETTINGS", "SPOOL", "STORE", "TRUST", "Check"]

#: A readiness check: name → async callable answering True when that part works.
Check = Callable[[], Awaitable[bool]]

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HUB = web.AppKey("hub", Hub)
TRUST = web.AppKey("trust", TrustStore)
SPOOL = web.AppKey("spool", Path)
CHECKS = web.AppKey("checks", dict[str, Check])
#: The node's metrics (``gateway/metrics.py``, served at ``/metrics``).
METRICS = web.AppKey("metrics", Metrics)
#: Link states every adapter reports (``app[LINKS].set("uplink", "up", kind="uplink")``);
#: the same object as ``app[METRICS].links``, there from ``make_app`` on.
LINKS = web.AppKey("links", Links)
