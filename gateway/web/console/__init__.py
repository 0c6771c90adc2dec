"""The admin web console (``/console/``) and the JSON admin API (``/api/admin/v1/``).

Server-side rendered HTML (Jinja2, autoescaped) in Vietnamese with an English switch, for the
administrators of a hub: search the message log, follow one document across hops, and —
in the feature modules — dead letters, the directory, statistics and health. The JSON API
shares the session, roles and CSRF rules, so scripts (and the CLI) can use it too.

``setup(app)`` (called once by ``gateway.app.make_app``) installs the middleware, the login
routes, the static files and every module named in :data:`FEATURES`.

Extension points — how a feature module plugs in (``search.py`` and ``document.py`` are
complete examples)::

    # gateway/web/console/deadletters.py
    from aiohttp import web
    from gateway.web.console import admin_event, messages, render, require, t
    from gateway.web.state import STORE

    messages({"dead.title": ("Thư lỗi", "Dead letters")})      # i18n keys, vi + en

    @require("viewer")                                          # or "operator"
    async def page(request: web.Request) -> web.StreamResponse:
        '''Dead letters with their reasons.'''                  # first line: OpenAPI summary
        rows = await request.app[STORE].list_deliveries(...)
        return render(request, "deadletters.html", {"rows": rows, "active": "dead_letters"})

    @require("operator")
    async def replay(request: web.Request) -> web.StreamResponse:
        '''Replay dead deliveries.'''
        form = await request.post()                             # CSRF already checked
        event = admin_event(request, "admin.replay", {"delivery_id": ..., "reason": ...})
        await request.app[STORE].set_delivery_state(..., trace=[event])
        return redirect("/console/dead-letters")

    def setup(app: web.Application) -> None:
        app.router.add_get("/console/dead-letters", page)
        app.router.add_post("/console/dead-letters/replay", replay)
        app.router.add_get("/api/admin/v1/dead-letters", api_list)   # JSON twin

then add ``"deadletters"`` to :data:`FEATURES` below. The rules that come with it:

- **Paths.** Pages under ``/console/`` (menu paths are fixed in ``state.NAV``:
  ``/console/dead-letters``, ``/console/directory``, ``/console/statistics``,
  ``/console/health``); JSON under ``/api/admin/v1/``. Anything else is not covered by the
  console middleware (sessions, CSRF, security headers).
- **Access.** Every handler carries ``@require(role)``; a test walks the router and fails on a
  console route without it (only the login routes are open). :func:`current_admin` gives the
  signed-in :class:`~gateway.store.admins.Admin`.
- **CSRF** is checked by the middleware on EVERY non-GET request before the handler runs: HTML
  forms put ``{{ csrf_field() }}`` inside the ``<form method="post">``; JSON clients send the
  header ``X-CSRF-Token`` (``csrf_token`` from ``GET /api/admin/v1/session``). Never change
  state on GET.
- **Rendering.** :func:`render(request, template, context) <render>` with templates in
  ``templates/`` extending ``base.html`` (``{% block content %}``); set ``active`` to the
  menu key. See ``render.py`` for what every template gets (``t``, ``admin``, filters
  ``vn_time``/``size``/``ms``...). Templates are strict: an undefined name is an error.
- **Text.** User-facing text comes from the catalogue: :func:`messages` registers keys with
  (Vietnamese, English); :func:`t(request, key, **params) <t>` in Python, ``t(key)`` in
  templates. Error answers are ``admin.*`` codes from ``errors.py`` (add new ones there with
  ``define``; the README lists them): ``raise Refused(errors.problem(errors.NOT_FOUND,
  what=...))`` renders as an HTML error page or a problem document, whichever was asked.
- **Audit.** Every admin action is a trace event: :func:`admin_event(request, "admin.<verb>",
  detail) <admin_event>` gives a ``TraceEvent`` naming the admin and address, to pass in the
  ``trace=`` of the store write doing the action (one transaction); :func:`record` appends
  one on its own (e.g. for a download). Detail holds identifiers and reasons, never content.
- **Static files** (a charting library, scripts, styles) go in ``static/`` and are served
  from ``/console/static/``. The Content-Security-Policy allows scripts, styles and images
  from this origin only: no CDN, no inline ``<script>``/``style=``.
- **State** comes from the app (``request.app[STORE]``, ``[HUB]``, ``[SETTINGS]`` in
  ``gateway.web.state``), never from module globals.
- **Tests**: ``tests/gateway/console/conftest.py`` has the fixtures: ``console`` (async: the
  gateway in-process on the real RabbitMQ and SQLite, with the admins ``vanhanh``/``xem``
  and ``Console.login``), ``live`` (a gateway on a real port, with traffic submitted through
  the REST API), ``browser`` (headless Chromium through Selenium; ``login(browser, live,
  "vanhanh")`` signs in) and ``screenshot`` (saves ``<name>.png`` under pytest's basetemp, or
  in ``docs/screenshots/`` with ``EDXGW_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from aiohttp import web

from gateway.service.hub import Refused
from gateway.web.console import errors
from gateway.web.console.access import (
    CSRF_FIELD,
    CSRF_HEADER,
    admin_event,
    check_csrf,
    current_admin,
    is_api,
    record,
    redirect,
    require,
)
from gateway.web.console.i18n import messages, t
from gateway.web.console.render import environment, render
from gateway.web.console.state import ADMIN, CONSOLE, NAV, SESSION, Console, ConsoleConfig
from gateway.web.state import SETTINGS

__all__ = [
    "ADMIN",
    "CONSOLE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "FEATURES",
    "NAV",
    "SESSION",
    "STATIC",
    "Refused",
    "admin_event",
    "check_csrf",
    "current_admin",
    "errors",
    "is_api",
    "messages",
    "record",
    "redirect",
    "render",
    "require",
    "setup",
    "t",
]

#: The feature modules of this package, each with a ``setup(app)`` adding its routes.
FEATURES: tuple[str, ...] = (
    "search",
    "document",
    "deadletters",
    "directory",
    "statistics",
    "health",
)
STATIC = Path(__file__).resolve().parent / "static"


def setup(app: web.Application) -> None:
    """Install the console on the gateway application (after ``api.setup``)."""
    from gateway.web.console import access

    app[CONSOLE] = Console(ConsoleConfig.from_settings(app[SETTINGS]), environment())
    access.setup(app)
    app.router.add_static("/console/static/", STATIC, name="console-static")
    for name in FEATURES:
        importlib.import_module(f"{__name__}.{name}").setup(app)
