"""The typed keys under which ``gateway/app.py`` puts the hub's parts on the aiohttp application.

Handlers read ``request.app[HUB]`` etc.; nothing is a module-level singleton (style.md §9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from edxml.trust import TrustStore
from gateway.service.hub import Hub
from gateway.settings import Settings
from gateway.store.base import Store

__all__ = ["CHECKS", "HUB", "SETTINGS", "SPOOL", "STORE", "TRUST", "Check"]

#: A readiness check: name → async callable answering True when that part works.
Check = Callable[[], Awaitable[bool]]

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HUB = web.AppKey("hub", Hub)
TRUST = web.AppKey("trust", TrustStore)
SPOOL = web.AppKey("spool", Path)
CHECKS = web.AppKey("checks", dict[str, Check])
