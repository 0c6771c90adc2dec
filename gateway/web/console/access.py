"""Who may use the console: logins, sessions, roles, CSRF, lockout, and the console middleware.

A login (``/console/login`` form or ``POST /api/admin/v1/session``) checks the scrypt hash
(``gateway/admins.py``) off the event loop and opens a session: a random token in an
``HttpOnly; SameSite=Strict`` cookie (``Secure`` and ``__Host-`` prefixed under TLS), of which
the store keeps only the SHA-256, plus a per-session CSRF token. Sessions end after
``admin_session_idle_minutes`` without use, after ``admin_session_hours`` in any case, at
logout, and when the admin's password or role changes.

The middleware, for every ``/console`` and ``/api/admin/`` request:

1. resolves the session cookie to ``request[ADMIN]`` / ``request[SESSION]`` (or none);
2. refuses EVERY state change (any method but GET/HEAD/OPTIONS) that does not carry the
   session's CSRF token — form field ``csrf_token`` or header ``X-CSRF-Token`` — or whose
   ``Origin`` names another host; a login, which has no session yet, echoes the token of the
   ``edxgw_login_csrf`` cookie instead (double submit), so nobody can log a browser in as
   someone else;
3. renders refusals (:class:`~gateway.service.hub.Refused`) as an HTML page (console) or a
   problem document (JSON API), and adds the security headers (CSP ``'self'`` only, no
   framing, no caching).

``require(role)`` guards each handler. A username with ``admin_lockout_failures`` failed
logins within ``admin_lockout_minutes`` is locked for that window, whether it exists or not
(the answer never tells). Logins (ok, failed, locked) and logouts are ``admin.login`` /
``admin.logout`` trace events, like every admin action (:func:`admin_event`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from gateway.admins import USERNAME, verify_password
from gateway.core.errors import Problem
from gateway.service.hub import Refused
from gateway.store.admins import Admin, AdminSession, Role, role_allows
from gateway.store.base import TraceEvent
from gateway.store.errors import StoreError
from gateway.web.console import errors
from gateway.web.console.i18n import COOKIE as LANG_COOKIE
from gateway.web.console.i18n import LANG_KEY, LANGUAGES, language
from gateway.web.console.render import render
from gateway.web.console.state import ADMIN, CONSOLE, SESSION, ConsoleConfig
from gateway.web.problems import INTERNAL, problem_response
from gateway.web.state import SETTINGS, STORE

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Handler",
    "admin_event",
    "check_csrf",
    "client_address",
    "current_admin",
    "is_api",
    "middleware",
    "record",
    "redirect",
    "require",
    "setup",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_LOGIN_PATHS = frozenset({"/console/login", "/api/admin/v1/session"})
_TOUCH_EVERY = timedelta(seconds=60)  # how stale last_seen may get before a write refreshes it
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _session_cookie(config: ConsoleConfig) -> str:
    return "__Host-edxgw_session" if config.secure else "edxgw_session"


def _login_cookie(config: ConsoleConfig) -> str:
    return "__Host-edxgw_login_csrf" if config.secure else "edxgw_login_csrf"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def redirect(location: str) -> web.Response:
    """A 303 See Other (after a form post, or to the login page)."""
    return web.Response(status=303, headers={"Location": location})


def is_api(request: web.Request) -> bool:
    """A JSON admin API request (``/api/admin/...``), as opposed to a console page."""
    return request.path.startswith("/api/admin/")


def _is_console(request: web.Request) -> bool:
    path = request.path
    return path == "/console" or path.startswith("/console/") or is_api(request)


def client_address(request: web.Request) -> str | None:
    return request.remote


def current_admin(request: web.Request) -> Admin | None:
    """The signed-in administrator, or None."""
    return request.get(ADMIN)


# -- the audit trail ------------------------------------------------------------------------------


def admin_event(
    request: web.Request,
    stage: str,
    detail: Mapping[str, Any] | None = None,
    *,
    outcome: str = "ok",
    doc_id: str | None = None,
) -> TraceEvent:
    """A trace event for an admin action (stage ``admin.*``), naming the admin and address.

    Pass it in the ``trace=`` of the store write that does the action, so both commit in one
    transaction; use :func:`record` for an action that writes nothing else (a download).
    """
    if not stage.startswith("admin."):
        raise ValueError(f"admin trace stages start with 'admin.': {stage!r}")
    admin = current_admin(request)
    full: dict[str, Any] = {"via": "console", "address": client_address(request)}
    if admin is not None:
        full["admin"] = admin.username
    full.update({k: v for k, v in (detail or {}).items() if v is not None})
    return TraceEvent(
        node=request.app[SETTINGS].node, stage=stage, outcome=outcome, doc_id=doc_id, detail=full
    )


async def record(
    request: web.Request,
    stage: str,
    detail: Mapping[str, Any] | None = None,
    *,
    outcome: str = "ok",
    doc_id: str | None = None,
) -> None:
    """Append an admin event to the trace on its own."""
    event = admin_event(request, stage, detail, outcome=outcome, doc_id=doc_id)
    await request.app[STORE].append_trace([event])


# -- guards ---------------------------------------------------------------------------------------


def require(role: Role = "viewer") -> Callable[[Handler], Handler]:
    """Let the handler run only for a signed-in admin whose role allows ``role``.

    Anonymous: a console page redirects to the login form (GET) or answers 401; the JSON API
    answers 401 ``admin.login_required``. A weaker role gets 403 ``admin.forbidden``.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            admin = current_admin(request)
            if admin is None:
                raise Refused(errors.problem(errors.LOGIN_REQUIRED))
            if not role_allows(admin.role, role):
                raise Refused(
                    errors.problem(
                        errors.FORBIDDEN, username=admin.username, role=admin.role, needed=role
                    )
                )
            return await handler(request)

        guarded.__dict__["console_role"] = role  # read by the route audit test and openapi
        return guarded

    return wrap


async def check_csrf(request: web.Request) -> None:
    """Refuse a state change without the right CSRF token (the middleware calls this for every
    unsafe request; a handler never needs to)."""
    config = request.app[CONSOLE].config
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise Refused(errors.problem(errors.CSRF_FAILED))
    if request.method == "POST" and request.path in _LOGIN_PATHS:
        expected = request.cookies.get(_login_cookie(config), "")
    else:
        session = request.get(SESSION)
        if session is None:
            raise Refused(errors.problem(errors.LOGIN_REQUIRED))
        expected = session.csrf_token
    provided = request.headers.get(CSRF_HEADER, "")
    if not provided and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        value = (await request.post()).get(CSRF_FIELD, "")
        provided = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(provided.encode(), expected.encode()):
        raise Refused(errors.problem(errors.CSRF_FAILED))


async def _load_session(request: web.Request) -> None:
    config = request.app[CONSOLE].config
    token = request.cookies.get(_session_cookie(config))
    if not token:
        return
    store = request.app[STORE]
    found = await store.get_admin_session(_digest(token))
    if found is None:
        return
    admin, session = found
    request[ADMIN] = admin
    request[SESSION] = session
    now = _now()
    if now - session.last_seen_at >= _TOUCH_EVERY:
        await store.touch_admin_session(
            session.session_hash, min(now + config.idle, session.expires_at)
        )


# -- the middleware -------------------------------------------------------------------------------


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF, refusals and security headers for the console and the admin API."""
    if not _is_console(request):
        return await handler(request)
    if request.path.startswith("/console/static/"):  # files: no session, no store
        response = await handler(request)
        _headers(request, response, None)
        return response
    lang = request.query.get("lang")
    if lang in LANGUAGES:
        request[LANG_KEY] = lang
    try:
        await _load_session(request)
        if request.method not in _SAFE:
            await check_csrf(request)
        response = await handler(request)
    except Refused as refused:
        response = _refusal(request, refused.problem)
    except web.HTTPException as exc:
        _headers(request, exc, lang)
        raise
    except StoreError as exc:
        log.warning("store refused %s %s: %s", request.method, request.path, exc)
        response = _refusal(
            request,
            Problem(
                code=exc.code,
                http_status=503 if exc.retryable else 500,
                retryable=exc.retryable,
                message_vi=f"Kho dữ liệu của trục tạm thời không phục vụ được ({exc.code})",
                message_en=f"The hub's store cannot serve the request right now ({exc.code})",
                fault="local",
            ),
        )
    except Exception:
        incident = secrets.token_hex(4)
        log.exception("console incident %s on %s %s", incident, request.method, request.path)
        response = _refusal(
            request,
            Problem(
                code=INTERNAL.code,
                http_status=500,
                retryable=True,
                message_vi=INTERNAL.vi.format(incident=incident),
                message_en=INTERNAL.en.format(incident=incident),
                fault="local",
            ),
        )
    _headers(request, response, lang)
    return response


def _headers(request: web.Request, response: web.StreamResponse, lang: str | None) -> None:
    if response.prepared:
        return
    h = response.headers
    h.setdefault("Content-Security-Policy", _CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/console/static/"):
        h.setdefault("Cache-Control", "no-store")
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Lax", httponly=True
        )


def _refusal(request: web.Request, problem: Problem) -> web.StreamResponse:
    if is_api(request):
        return problem_response(problem)
    if problem.code == errors.LOGIN_REQUIRED.code and request.method in ("GET", "HEAD"):
        return redirect(f"/console/login?next={quote(request.path_qs, safe='')}")
    text = problem.message_en if language(request) == "en" else problem.message_vi
    return render(
        request,
        "error.html",
        {"problem": problem, "message": text},
        status=problem.http_status,
    )


# -- login and logout -----------------------------------------------------------------------------


async def _login(request: web.Request, username: str, password: str) -> tuple[Admin, str, str]:
    """Check the password (lockout first); open a session. Returns (admin, token, csrf)."""
    store = request.app[STORE]
    config = request.app[CONSOLE].config
    name = username.strip().lower()
    key = name if USERNAME.fullmatch(name) else "(invalid)"
    address = client_address(request)
    now = _now()
    failures = await store.admin_login_failures(key, now - config.lockout_window)
    minutes = int(config.lockout_window.total_seconds() // 60)
    locked = errors.problem(
        errors.LOCKED_OUT, username=key, failures=config.lockout_failures, minutes=minutes
    )
    if failures >= config.lockout_failures:
        await record(request, "admin.login", {"username": key}, outcome="locked")
        raise Refused(locked)
    admin = await store.get_admin(key) if key != "(invalid)" else None
    ok = await asyncio.to_thread(verify_password, password, admin.password_hash if admin else None)
    if admin is None or not ok:
        event = admin_event(
            request, "admin.login", {"username": key, "failures": failures + 1}, outcome="failed"
        )
        await store.record_admin_login_failure(key, address, [event])
        if failures + 1 >= config.lockout_failures:
            raise Refused(locked)
        raise Refused(errors.problem(errors.BAD_CREDENTIALS))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session = AdminSession(
        session_hash=_digest(token),
        username=admin.username,
        csrf_token=csrf,
        created_at=now,
        last_seen_at=now,
        idle_until=now + config.idle,
        expires_at=now + config.lifetime,
        address=address,
    )
    request[ADMIN] = admin  # so the event names who logged in
    event = admin_event(request, "admin.login", {"role": admin.role})
    await store.open_admin_session(session, [event])
    # Housekeeping, on the rare event of a login: dead sessions, failures older than a day.
    await store.purge_admin_sessions(now - max(config.lockout_window, timedelta(days=1)))
    return admin, token, csrf


def _set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    config = request.app[CONSOLE].config
    response.set_cookie(
        _session_cookie(config),
        token,
        path="/",
        httponly=True,
        secure=config.secure,
        samesite="Strict",
        max_age=int(config.lifetime.total_seconds()),
    )
    response.del_cookie(_login_cookie(config), path="/")


def _login_token(request: web.Request) -> str:
    """This browser's pre-login CSRF token (set as a cookie by the login form)."""
    return request.cookies.get(_login_cookie(request.app[CONSOLE].config)) or secrets.token_urlsafe(
        32
    )


def _give_login_token(request: web.Request, response: web.StreamResponse, token: str) -> None:
    config = request.app[CONSOLE].config
    response.set_cookie(
        _login_cookie(config),
        token,
        path="/",
        httponly=True,
        secure=config.secure,
        samesite="Strict",
        max_age=3600,
    )


def _next(value: object) -> str:
    """Where to go after login: only a path of this console (no open redirect)."""
    target = value if isinstance(value, str) else ""
    if target.startswith("/console") and not target.startswith("/console/login"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return "/console/search"


async def login_form(request: web.Request) -> web.StreamResponse:
    """The login page."""
    if current_admin(request) is not None:
        return redirect(_next(request.query.get("next")))
    token = _login_token(request)
    response = render(
        request,
        "login.html",
        {
            "login_token": token,
            "next": _next(request.query.get("next")),
            "error": None,
            "logged_out": "bye" in request.query,
            "username": "",
        },
    )
    _give_login_token(request, response, token)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the login form; on success go to ``next``."""
    form = await request.post()
    username = str(form.get("username", ""))
    target = _next(form.get("next"))
    try:
        _admin, token, _csrf = await _login(request, username, str(form.get("password", "")))
    except Refused as refused:
        text = (
            refused.problem.message_en if language(request) == "en" else refused.problem.message_vi
        )
        login_token = _login_token(request)
        response = render(
            request,
            "login.html",
            {
                "login_token": login_token,
                "next": target,
                "error": {"code": refused.problem.code, "message": text},
                "logged_out": False,
                "username": username,
            },
            status=refused.problem.http_status,
        )
        _give_login_token(request, response, login_token)
        return response
    response = redirect(target)
    _set_session_cookie(request, response, token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session."""
    session = request.get(SESSION)
    if session is not None:
        await request.app[STORE].close_admin_session(
            session.session_hash, [admin_event(request, "admin.logout")]
        )
    response = redirect("/console/login?bye=1")
    response.del_cookie(_session_cookie(request.app[CONSOLE].config), path="/")
    return response


async def home(request: web.Request) -> web.StreamResponse:
    """The console's start page: the search."""
    return redirect("/console/search")


# -- the JSON session API -------------------------------------------------------------------------


def admin_json(admin: Admin) -> dict[str, Any]:
    return {"username": admin.username, "display_name": admin.display_name, "role": admin.role}


async def session_get(request: web.Request) -> web.StreamResponse:
    """Who is signed in; without a session, a login CSRF token for ``POST``."""
    admin, session = current_admin(request), request.get(SESSION)
    if admin is not None and session is not None:
        return web.json_response(
            {
                "authenticated": True,
                "admin": admin_json(admin),
                "csrf_token": session.csrf_token,
                "expires_at": session.expires_at.isoformat(),
            }
        )
    token = _login_token(request)
    response = web.json_response({"authenticated": False, "csrf_token": token})
    _give_login_token(request, response, token)
    return response


async def session_post(request: web.Request) -> web.StreamResponse:
    """Log in with ``{"username", "password"}`` (header ``X-CSRF-Token`` from ``GET``)."""
    try:
        body = await request.json()
    except ValueError:
        raise Refused(errors.problem(errors.BAD_QUERY, reason="JSON body")) from None
    if not isinstance(body, dict):
        raise Refused(errors.problem(errors.BAD_QUERY, reason="JSON object"))
    admin, token, csrf = await _login(
        request, str(body.get("username", "")), str(body.get("password", ""))
    )
    response = web.json_response(
        {"authenticated": True, "admin": admin_json(admin), "csrf_token": csrf}
    )
    _set_session_cookie(request, response, token)
    return response


@require("viewer")
async def session_delete(request: web.Request) -> web.StreamResponse:
    """Log out."""
    session = request.get(SESSION)
    assert session is not None  # require() saw the admin
    await request.app[STORE].close_admin_session(
        session.session_hash, [admin_event(request, "admin.logout")]
    )
    response = web.json_response({"authenticated": False})
    response.del_cookie(_session_cookie(request.app[CONSOLE].config), path="/")
    return response


def setup(app: web.Application) -> None:
    app.middlewares.append(middleware)
    app.router.add_get("/console", home)
    app.router.add_get("/console/", home)
    app.router.add_get("/console/login", login_form)
    app.router.add_post("/console/login", login_submit)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/api/admin/v1/session", session_get)
    app.router.add_post("/api/admin/v1/session", session_post)
    app.router.add_delete("/api/admin/v1/session", session_delete)
