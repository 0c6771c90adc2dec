"""Server-side HTML: the Jinja2 environment (autoescaped, strict), ``render()`` and filters.

Templates live in ``templates/`` beside this module and extend ``base.html`` (layout, menu,
language switch, the signed-in admin, the logout form). Every template sees:

    t(key, **params)   the message in the request's language (``i18n.py``)
    lang, other_lang   "vi"/"en", and the language the switch offers
    lang_url           this page in the other language
    admin              the signed-in Admin, or None
    csrf_token         the session's CSRF token: put {{ csrf_field() }} in every POST form
    nav, active        the menu entries the admin's role may see; the key of the current one
    request_path

and the filters ``vn_time`` (aware datetime → Vietnam time), ``size`` (bytes, readable),
``ms`` (milliseconds, readable). Undefined names raise: a typo fails a test, not a page.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
import markupsafe
from aiohttp import web

from edxml.model import VN_TZ
from gateway.store.admins import role_allows
from gateway.web.console.i18n import language, translate
from gateway.web.console.state import ADMIN, CONSOLE, NAV, SESSION

__all__ = ["environment", "fmt_ms", "fmt_size", "render", "vn_time"]


def vn_time(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return ""
    fmt = "%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M"
    return value.astimezone(VN_TZ).strftime(fmt)


def fmt_size(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # unreachable; mypy wants a return


def fmt_ms(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) < 1000:
        return f"{value:.0f} ms"
    if abs(value) < 120_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.web.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_time"] = vn_time
    env.filters["size"] = fmt_size
    env.filters["ms"] = fmt_ms
    return env


def _with_lang(request: web.Request, lang: str) -> str:
    query = dict(request.query)
    query["lang"] = lang
    return str(request.rel_url.with_query(query))


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``template`` rendered with the common context (module doc) plus ``context``."""
    console = request.app[CONSOLE]
    lang = language(request)
    admin = request.get(ADMIN)
    session = request.get(SESSION)
    csrf = session.csrf_token if session is not None else ""
    other = "en" if lang == "vi" else "vi"
    values: dict[str, Any] = {
        "t": functools.partial(translate, lang),
        "lang": lang,
        "other_lang": other,
        "lang_url": _with_lang(request, other),
        "admin": admin,
        "csrf_token": csrf,
        "csrf_field": lambda: markupsafe.Markup(
            '<input type="hidden" name="csrf_token" value="{}">'
        ).format(csrf),
        "nav": [e for e in NAV if admin is not None and role_allows(admin.role, e.role)],
        "active": None,
        "request_path": request.path,
    }
    values.update(context or {})
    html = console.templates.get_template(template).render(values)
    return web.Response(
        text=html, content_type="text/html", status=status, headers=dict(headers or {})
    )
