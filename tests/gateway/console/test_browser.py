"""The console in a real browser (headless Debian Chromium through Selenium) against a gateway
on a real port with real traffic: refusals, login, search, a document's timeline, CSRF and
lockout. Each page is saved as a screenshot (see conftest.py: under pytest's basetemp, or in
docs/screenshots/, which the README shows two of, with EDXGW_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from gateway.admins import hash_password
from gateway.store import Admin

from .conftest import COMMUNES, SUBJECTS, Live, gone, login

pytestmark = [pytest.mark.browser, pytest.mark.rabbitmq, pytest.mark.slow]

Shot = Callable[[str], Path]


def _search(browser: Any, live: Live, text: str) -> list[str]:
    """Search through the form; the subjects of the hits, newest first."""
    browser.get(live.url + "/console/search")
    box = browser.find_element(By.ID, "f-q")
    box.clear()
    box.send_keys(text)
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "search-submit").click()
    WebDriverWait(browser, 20).until(gone(page))
    WebDriverWait(browser, 20).until(
        ec.any_of(
            ec.presence_of_element_located((By.ID, "results")),
            ec.presence_of_element_located((By.ID, "no-results")),
        )
    )
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results td.subject")]


def test_refused_without_login(browser: Any, live: Live, screenshot: Shot) -> None:
    browser.get(live.url + f"/console/documents/{live.docs[0]}")
    assert "/console/login?next=" in browser.current_url
    assert browser.find_elements(By.ID, "login-form")
    assert not browser.find_elements(By.ID, "signed-in")
    screenshot("login")
    # The JSON API answers 401 to the same browser.
    browser.get(live.url + "/api/admin/v1/search")
    assert "admin.login_required" in browser.page_source


def test_login_then_search_with_and_without_diacritics(
    browser: Any, live: Live, screenshot: Shot
) -> None:
    login(browser, live, "vanhanh")
    assert "Cán bộ vanhanh" in browser.find_element(By.ID, "signed-in").text
    with_marks = _search(browser, live, "triển khai")
    assert with_marks == [SUBJECTS[0]]
    assert _search(browser, live, "TRIEN KHAI") == with_marks
    assert _search(browser, live, "đôn đốc báo cáo") == [SUBJECTS[2]]
    assert _search(browser, live, "don doc bao cao") == [SUBJECTS[2]]
    assert _search(browser, live, "lien thong") == [SUBJECTS[3]]
    assert _search(browser, live, "ke hoach") == [SUBJECTS[5], SUBJECTS[1]]
    assert _search(browser, live, "không có văn bản này") == []
    _search(browser, live, "kế hoạch")
    screenshot("search")
    # Filters from the form: the recipient and the delivery state.
    browser.get(live.url + f"/console/search?recipient={COMMUNES[0]}&state=done")
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tr.hit")
    assert [r.get_attribute("data-doc-id") for r in rows] == [live.docs[0]]


def test_document_timeline(browser: Any, live: Live, screenshot: Shot) -> None:
    login(browser, live, "vanhanh")
    browser.get(live.url + "/console/documents")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results tr.hit")) >= len(SUBJECTS)
    screenshot("documents")
    _search(browser, live, "de an 06")
    browser.find_element(By.CSS_SELECTOR, "#results a.doc-link").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "timeline")))
    assert browser.current_url.endswith(f"/console/documents/{live.docs[0]}")
    assert browser.find_element(By.ID, "doc-subject").text == SUBJECTS[0]
    # Hops: the hub's own TraceHeader; the local timeline from receive to delivery.
    hops = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#hops tr.hop")]
    assert any("00.53.W00" in h for h in hops)
    stages = [
        e.get_attribute("data-stage") for e in browser.find_elements(By.CSS_SELECTOR, "tr.event")
    ]
    for stage in ("receive", "validate", "verify", "seal", "route", "publish", "deliver"):
        assert stage in stages
    assert "acknowledge" in stages and "status" in stages
    assert browser.find_element(By.ID, "chain-status").get_attribute("data-ok") == "true"
    # The first commune: delivered, acknowledged, 01 and 03 reached; 06 not yet.
    row = browser.find_element(By.CSS_SELECTOR, f'tr.recipient[data-recipient="{COMMUNES[0]}"]')
    cells = {
        c.get_attribute("data-code"): c.get_attribute("class")
        for c in row.find_elements(By.CSS_SELECTOR, "td[data-code]")
    }
    assert (cells["01"], cells["03"], cells["06"]) == ("reached", "reached", "")
    assert "đã nhận" in row.text  # state done
    # Signatures: the district's signature and the hub's seal, both verified.
    signatures = browser.find_elements(By.CSS_SELECTOR, "#signatures tr.signature")
    assert [s.get_attribute("data-valid") for s in signatures] == ["true", "true"]
    assert "000.00.31.H53" in signatures[0].text and "00.53.W00" in signatures[1].text
    attachment = browser.find_element(By.CSS_SELECTOR, "#attachments tr.attachment")
    assert attachment.get_attribute("data-real-type") == "application/pdf"
    assert "ContentTransferEncoded" in browser.find_element(By.ID, "raw-package").text
    screenshot("document")


def test_viewer_sees_no_downloads(browser: Any, live: Live) -> None:
    login(browser, live, "xem")
    browser.get(live.url + f"/console/documents/{live.docs[0]}")
    assert not browser.find_elements(By.CSS_SELECTOR, "a.download")
    assert not browser.find_elements(By.ID, "download-raw")
    browser.get(live.url + f"/console/documents/{live.docs[0]}/raw")
    assert browser.find_element(By.ID, "problem-code").text == "admin.forbidden"


def test_csrf_less_post_is_refused(browser: Any, live: Live, screenshot: Shot) -> None:
    login(browser, live, "vanhanh")
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/console/logout', {method: 'POST'}).then(r => done(r.status));"
    )
    assert status == 403
    # A form posted without the token (what a forged page would send) gets the error page.
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/console/logout'; document.body.appendChild(f); f.submit();"
    )
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "problem-code")))
    assert browser.find_element(By.ID, "problem-code").text == "admin.csrf_failed"
    screenshot("csrf-refused")
    browser.get(live.url + "/console/search")
    assert browser.find_elements(By.ID, "signed-in")  # still signed in
    browser.find_element(By.ID, "logout").click()  # the real button carries the token
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "logged-out")))


def test_lockout(browser: Any, live: Live, screenshot: Shot) -> None:
    password = "mat-khau-se-bi-khoa-2025"

    async def add() -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        await live.store.add_admin(
            Admin(username="khoa", display_name="Cán bộ khóa", role="viewer", password_hash=hashed)
        )

    live.run(add())
    for _ in range(5):
        login(browser, live, "khoa", "sai-mat-khau-roi")
    assert browser.find_element(By.ID, "login-error").get_attribute("data-code") == (
        "admin.locked_out"
    )
    login(browser, live, "khoa", password)  # the right password, too late
    assert browser.find_element(By.ID, "login-error").get_attribute("data-code") == (
        "admin.locked_out"
    )
    screenshot("lockout")


def test_english_switch(browser: Any, live: Live, screenshot: Shot) -> None:
    login(browser, live, "xem")
    _search(browser, live, "trien khai")
    browser.find_element(By.ID, "lang-switch").click()
    WebDriverWait(browser, 20).until(
        ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Search")
    )
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.subject")] == [SUBJECTS[0]]
    screenshot("search-en")
    browser.find_element(By.ID, "lang-switch").click()
    WebDriverWait(browser, 20).until(
        ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Tra cứu")
    )
