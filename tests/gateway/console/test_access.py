"""Access to the console: login, sessions, CSRF on every state change, roles, lockout, audit."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.web.console import i18n
from gateway.web.console.state import NAV

from .conftest import ADMINS, Console

pytestmark = pytest.mark.rabbitmq

OPEN = {
    ("/console", "GET"),
    ("/console/", "GET"),
    ("/console/login", "GET"),
    ("/console/login", "POST"),
    ("/console/logout", "POST"),
    ("/api/admin/v1/session", "GET"),
    ("/api/admin/v1/session", "POST"),
}


async def _events(console: Console, stage: str) -> list[tuple[str, dict[str, Any]]]:
    """(outcome, detail) of every trace event of ``stage`` (admin events have no DocId)."""
    path = console.settings.store_dsn.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT outcome, detail FROM trace_events WHERE stage = ? ORDER BY seq", (stage,)
        ).fetchall()
    finally:
        conn.close()
    return [(outcome, json.loads(detail)) for outcome, detail in rows]


async def test_anonymous_is_sent_to_login_or_refused(console: Console) -> None:
    c = console.client
    page = await c.get("/console/search?q=abc", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/console/login?next=%2Fconsole%2Fsearch%3Fq%3Dabc"
    api = await c.get("/api/admin/v1/search")
    assert api.status == 401
    body = await api.json(content_type=None)
    assert body["code"] == "admin.login_required"
    assert api.content_type == "application/problem+json"
    document = await c.get("/console/documents/anything", allow_redirects=False)
    assert document.status == 303
    post = await c.post("/console/logout", data={"csrf_token": "x"})
    assert post.status == 401
    assert "admin.login_required" in await post.text()


async def test_login_sets_a_strict_httponly_cookie_and_is_audited(console: Console) -> None:
    token = await console.login_token()
    response = await console.client.post(
        "/console/login",
        data={"username": "XEM ", "password": ADMINS["xem"][1], "csrf_token": token,
              "next": "/console/documents"},
        allow_redirects=False,
    )  # fmt: skip
    assert response.status == 303
    assert response.headers["Location"] == "/console/documents"
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "session" in v)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # no TLS in this test; Secure + __Host- under TLS
    page = await console.client.get("/console/search")
    assert page.status == 200
    assert "Cán bộ xem" in await page.text()
    events = await _events(console, "admin.login")
    assert [(o, d["admin"], d["role"]) for o, d in events] == [("ok", "xem", "viewer")]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/me"])
async def test_login_never_redirects_outside_the_console(console: Console, target: str) -> None:
    token = await console.login_token()
    response = await console.client.post(
        "/console/login",
        data={"username": "xem", "password": ADMINS["xem"][1], "csrf_token": token,
              "next": target},
        allow_redirects=False,
    )  # fmt: skip
    assert response.headers["Location"] == "/console/search"


async def test_login_without_its_csrf_token_is_refused(console: Console) -> None:
    await console.login_token()  # the browser has the cookie, but the form lacks the field
    for data in (
        {"username": "xem", "password": ADMINS["xem"][1]},
        {"username": "xem", "password": ADMINS["xem"][1], "csrf_token": "forged"},
    ):
        response = await console.client.post("/console/login", data=data, allow_redirects=False)
        assert response.status == 403
        assert "admin.csrf_failed" in await response.text()
    session = await (await console.client.get("/api/admin/v1/session")).json()
    assert session["authenticated"] is False


async def test_every_state_change_needs_the_session_csrf_token(console: Console) -> None:
    csrf = await console.login("vanhanh")
    c = console.client
    # No token, a wrong token, another origin: refused, and the session is still there.
    for headers, data in (
        ({}, {}),
        ({"X-CSRF-Token": "wrong"}, {}),
        ({}, {"csrf_token": "wrong"}),
        ({"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, {}),
    ):
        response = await c.post("/console/logout", data=data, headers=headers)
        assert response.status == 403, headers
        assert "admin.csrf_failed" in await response.text()
    api = await c.delete("/api/admin/v1/session")
    assert api.status == 403
    assert (await api.json(content_type=None))["code"] == "admin.csrf_failed"
    assert (await (await c.get("/api/admin/v1/session")).json())["authenticated"] is True
    # With the token (form field), logout works and is audited.
    response = await c.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/console/login?bye=1"
    assert (await (await c.get("/api/admin/v1/session")).json())["authenticated"] is False
    assert [o for o, _ in await _events(console, "admin.logout")] == ["ok"]


async def test_json_login_and_logout(console: Console) -> None:
    c = console.client
    first = await (await c.get("/api/admin/v1/session")).json()
    assert first["authenticated"] is False
    refused = await c.post("/api/admin/v1/session", json={"username": "xem", "password": "x"})
    assert refused.status == 403  # no X-CSRF-Token
    wrong = await c.post(
        "/api/admin/v1/session",
        json={"username": "xem", "password": "nope"},
        headers={"X-CSRF-Token": first["csrf_token"]},
    )
    assert wrong.status == 401
    assert (await wrong.json(content_type=None))["code"] == "admin.bad_credentials"
    ok = await c.post(
        "/api/admin/v1/session",
        json={"username": "xem", "password": ADMINS["xem"][1]},
        headers={"X-CSRF-Token": first["csrf_token"]},
    )
    body = await ok.json()
    assert ok.status == 200
    assert body["admin"] == {"username": "xem", "display_name": "Cán bộ xem", "role": "viewer"}
    search = await c.get("/api/admin/v1/search")
    assert search.status == 200
    out = await c.delete("/api/admin/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status == 200
    assert (await c.get("/api/admin/v1/search")).status == 401


async def test_lockout_after_five_failures_even_for_the_right_password(console: Console) -> None:
    c = console.client
    token = await console.login_token()

    async def attempt(username: str, password: str) -> tuple[int, str]:
        response = await c.post(
            "/console/login",
            data={"username": username, "password": password, "csrf_token": token},
            allow_redirects=False,
        )
        return response.status, await response.text()

    for _ in range(4):
        status, text = await attempt("xem", "sai-mat-khau")
        assert status == 401
        assert "admin.bad_credentials" in text
    status, text = await attempt("xem", "sai-mat-khau")
    assert status == 429  # the fifth failure locks
    assert "admin.locked_out" in text
    status, text = await attempt("xem", ADMINS["xem"][1])
    assert status == 429
    assert re.search(r"15 (phút|minutes)", text)
    # An unknown name is answered and locked the same way: no user enumeration.
    for _ in range(4):
        status, text = await attempt("khong-ton-tai", "x" * 12)
        assert (status, "admin.bad_credentials" in text) == (401, True)
    assert (await attempt("khong-ton-tai", "x" * 12))[0] == 429
    # Other accounts are not affected.
    assert await console.login("vanhanh")
    outcomes = [(o, d["username"]) for o, d in await _events(console, "admin.login") if o != "ok"]
    assert outcomes.count(("failed", "xem")) == 5
    assert outcomes.count(("locked", "xem")) == 1
    assert outcomes.count(("failed", "khong-ton-tai")) == 5


async def test_roles_viewer_reads_operator_downloads(console: Console) -> None:
    await console.login("xem")
    raw = await console.client.get("/api/admin/v1/documents/some-doc/raw")
    assert raw.status == 403
    body = await raw.json(content_type=None)
    assert body["code"] == "admin.forbidden"
    assert "operator" in body["message_en"]
    page = await console.client.get("/console/documents/some-doc/raw")
    assert page.status == 403
    assert "admin.forbidden" in await page.text()
    await console.logout()
    await console.login("vanhanh")
    missing = await console.client.get("/api/admin/v1/documents/some-doc/raw")
    assert missing.status == 404  # allowed; there is no such document


async def test_a_new_password_ends_open_sessions(console: Console) -> None:
    await console.login("xem")
    assert (await console.client.get("/api/admin/v1/search")).status == 200
    await console.store.update_admin("xem", password_hash="changed-elsewhere")
    assert (await console.client.get("/api/admin/v1/search")).status == 401


async def test_security_headers_and_language_switch(console: Console) -> None:
    await console.login("xem")
    vi = await console.client.get("/console/search")
    assert vi.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert vi.headers["X-Frame-Options"] == "DENY"
    assert vi.headers["Cache-Control"] == "no-store"
    text = await vi.text()
    assert "Tra cứu văn bản" in text
    assert '<html lang="vi">' in text
    en = await console.client.get("/console/search?lang=en")
    assert "Search documents" in await en.text()
    assert "edxgw_lang=en" in en.headers["Set-Cookie"]
    again = await console.client.get("/console/search")  # remembered by the cookie
    assert '<html lang="en">' in await again.text()


async def test_every_console_route_is_guarded(console: Console) -> None:
    app: web.Application = console.client.app
    unguarded = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource) or route.method == "HEAD":
            continue
        path = resource.canonical
        if not path.startswith(("/console", "/api/admin/")):
            continue
        if (path, route.method) not in OPEN and not getattr(route.handler, "console_role", None):
            unguarded.append((path, route.method))
    assert unguarded == []
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {e.path for e in NAV[:2]} <= paths


def test_catalogue_has_both_languages_and_templates_use_known_keys() -> None:
    import importlib

    import gateway.web.console

    for name in gateway.web.console.FEATURES:  # they register their keys on import
        importlib.import_module(f"gateway.web.console.{name}")
    catalogue = i18n.catalogue()
    assert all(vi and en for vi, en in catalogue.values())
    templates = Path(gateway.web.console.__file__).with_name("templates")
    used: set[str] = set()
    for template in templates.glob("*.html"):
        # Literal keys only (t("a.b") or t("a.b", x=1)), not prefixes (t("state." ~ s)).
        text = template.read_text()
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']\s*[,)]""", text))
    assert used, "no t() calls found"
    assert sorted(used - set(catalogue)) == []


async def test_under_tls_cookies_are_secure_and_host_prefixed(
    amqp_url: str, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from aiohttp.test_utils import TestClient, TestServer

    from gateway.app import make_app

    from .conftest import settings_for

    settings = settings_for(amqp_url, tmp_path, tls=True)  # TLS ends at a proxy in this test
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(settings, executor=ThreadPoolExecutor(1)))
    )
    await client.start_server()
    try:
        response = await client.get("/api/admin/v1/session")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-edxgw_login_csrf=")
        assert "Secure" in cookie
        assert "SameSite=Strict" in cookie
        assert "HttpOnly" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
    finally:
        await client.close()
