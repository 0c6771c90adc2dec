"""What the console keeps on the application and on each request (typed keys), and its menu."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jinja2
from aiohttp import web

from gateway.settings import Settings
from gateway.store.admins import Admin, AdminSession, Role

__all__ = [
    "ADMIN",
    "CONSOLE",
    "NAV",
    "SESSION",
    "Console",
    "ConsoleConfig",
    "NavEntry",
]


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One menu entry: ``key`` names it (``active=`` in a template), ``label`` is an i18n key."""

    key: str
    path: str
    label: str
    role: Role = "viewer"


#: The console menu, in order. Each path is served by the feature module named beside it.
NAV: tuple[NavEntry, ...] = (
    NavEntry("search", "/console/search", "nav.search"),  # search.py
    NavEntry("documents", "/console/documents", "nav.documents"),  # document.py
    NavEntry("dead_letters", "/console/dead-letters", "nav.dead_letters"),  # console-B
    NavEntry("directory", "/console/directory", "nav.directory"),  # console-B
    NavEntry("statistics", "/console/statistics", "nav.statistics"),  # console-B
    NavEntry("health", "/console/health", "nav.health"),  # console-B
)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Session and lockout policy, from the settings (``admin_*``)."""

    idle: timedelta
    lifetime: timedelta
    lockout_failures: int
    lockout_window: timedelta
    #: Cookies get ``Secure`` (and the ``__Host-`` prefix) when the hub serves HTTPS.
    secure: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        return cls(
            idle=timedelta(minutes=settings.admin_session_idle_minutes),
            lifetime=timedelta(hours=settings.admin_session_hours),
            lockout_failures=settings.admin_lockout_failures,
            lockout_window=timedelta(minutes=settings.admin_lockout_minutes),
            secure=settings.tls,
        )


@dataclass(frozen=True, slots=True)
class Console:
    config: ConsoleConfig
    templates: jinja2.Environment


CONSOLE = web.AppKey("console", Console)
#: The signed-in admin and their session, set by the console middleware (absent: anonymous).
ADMIN = web.RequestKey("edxgw_console_admin", Admin)
SESSION = web.RequestKey("edxgw_console_session", AdminSession)
