"""The operations pages in a real browser (headless Chromium, Selenium) on a live gateway:
replay a dead letter and see it delivered, lock and unlock an agency with confirmation, the
statistics chart and its CSV, the health page. Screenshots go under pytest's basetemp, or to
docs/screenshots/ with EDXGW_UPDATE_SCREENSHOTS=1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from gateway.app import BROKER
from gateway.broker import EffectFailed, Handover
from gateway.store import DeliveryState

from .conftest import COMMUNES, DISTRICT, SUBJECTS, Live, document, gone, login

pytestmark = [pytest.mark.browser, pytest.mark.rabbitmq, pytest.mark.slow]

Shot = Callable[[str], Path]


def _go(browser: Any, url: str, element_id: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, element_id)))


def _submit(browser: Any, button_id: str, *, confirm: bool = False) -> None:
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()
    if confirm:  # console.js asks window.confirm() for forms with data-confirm
        WebDriverWait(browser, 10).until(ec.alert_is_present())
        browser.switch_to.alert.accept()
    WebDriverWait(browser, 20).until(gone(page))


def _dead_letter(live: Live, number: int) -> str:
    """A document whose hand-over to the commune fails for good (an endpoint answering 410):
    the consumer parks the delivery as dead. Returns its delivery_id; the endpoint is then
    repaired."""
    consumers = live.runner.app[BROKER].consumers  # type: ignore[union-attr]

    async def refuse(handover: Handover) -> None:
        raise EffectFailed("webhook.http_410", retryable=False, message="gone")

    async def swap(effects: dict[str, Any] | None) -> dict[str, Any]:
        saved = {key: c.effect for key, c in consumers.items()}
        for key, consumer in consumers.items():
            consumer.effect = refuse if effects is None else effects[key]
        return saved

    saved = live.run(swap(None))
    try:
        doc_id = live.submit("huyen", document(DISTRICT, (COMMUNES[1],), SUBJECTS[0], number))

        async def dead() -> str:
            while True:
                deliveries = await live.store.list_deliveries(doc_id=doc_id)
                if deliveries and deliveries[0].state is DeliveryState.DEAD:
                    return deliveries[0].delivery_id
                await asyncio.sleep(0.1)

        return live.run(asyncio.wait_for(dead(), 30))
    finally:
        live.run(swap(saved))


def _state(live: Live, delivery_id: str) -> DeliveryState:
    delivery = live.run(live.store.get_delivery(delivery_id))
    assert delivery is not None
    return delivery.state


def test_replay_a_dead_letter_and_see_it_delivered(
    browser: Any, live: Live, screenshot: Shot
) -> None:
    delivery_id = _dead_letter(live, 101)
    login(browser, live, "vanhanh")
    _go(browser, live.url + "/console/dead-letters?state=dead", "dead-letters")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-delivery="{delivery_id}"]')
    assert "webhook.http_410" in row.text
    screenshot("dead-letters")
    row.find_element(By.CSS_SELECTOR, "input.pick").click()
    browser.find_element(By.ID, "replay-reason").send_keys("Điểm nhận đã hoạt động lại")
    _submit(browser, "replay-selected", confirm=True)
    result = browser.find_element(By.ID, "replay-results")
    assert delivery_id in result.text
    assert result.find_elements(By.CSS_SELECTOR, "tr.replayed")

    def delivered(_: Any) -> bool:
        browser.get(live.url + f"/console/dead-letters/{delivery_id}")
        return "delivered" in browser.find_element(By.ID, "delivery-state").get_attribute("class")

    WebDriverWait(browser, 30, poll_frequency=0.5).until(delivered)
    assert _state(live, delivery_id) is DeliveryState.DELIVERED
    history = browser.find_element(By.ID, "history")
    assert history.find_elements(By.CSS_SELECTOR, "tr.event-admin-replay-ok")
    assert history.find_elements(By.CSS_SELECTOR, "tr.event-deliver-delivered")
    assert "vanhanh" in history.text
    screenshot("dead-letter-replayed")


def test_lock_and_unlock_an_agency_with_confirmation(
    browser: Any, live: Live, screenshot: Shot
) -> None:
    target = COMMUNES[2]
    login(browser, live, "vanhanh")
    _go(browser, live.url + "/console/directory", "agencies")
    _go(browser, live.url + f"/console/directory?parent={DISTRICT}", "breadcrumbs")
    browser.find_element(By.LINK_TEXT, target).click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "lock-link")))
    screenshot("directory-agency")
    browser.find_element(By.ID, "lock-link").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "confirm-form")))
    # A wrong confirmation changes nothing.
    browser.find_element(By.ID, "confirm-reason").send_keys("Đơn vị tạm ngừng tiếp nhận")
    browser.find_element(By.ID, "confirm-organ").send_keys("000.99.31.H53")
    _submit(browser, "confirm-submit")
    assert "admin.directory.not_confirmed" in browser.page_source
    agency = live.run(live.store.resolve(target))
    assert agency is not None and agency.state == "active"

    _go(browser, live.url + f"/console/directory/{target}/confirm?action=lock", "confirm-form")
    browser.find_element(By.ID, "confirm-reason").send_keys("Đơn vị tạm ngừng tiếp nhận")
    browser.find_element(By.ID, "confirm-organ").send_keys(target)
    screenshot("directory-confirm-lock")
    _submit(browser, "confirm-submit")
    assert "locked" in browser.find_element(By.ID, "agency-state").get_attribute("class") or (
        browser.find_element(By.ID, "agency-state").text in ("bị khóa", "locked")
    )
    agency = live.run(live.store.resolve(target))
    assert agency is not None and agency.state == "locked"

    browser.find_element(By.ID, "unlock-link").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "confirm-form")))
    browser.find_element(By.ID, "confirm-reason").send_keys("Hoạt động trở lại")
    browser.find_element(By.ID, "confirm-organ").send_keys(target)
    _submit(browser, "confirm-submit")
    agency = live.run(live.store.resolve(target))
    assert agency is not None and agency.state == "active"
    assert browser.find_elements(By.ID, "lock-link")


def test_statistics_draw_charts_and_export_csv(browser: Any, live: Live, screenshot: Shot) -> None:
    login(browser, live, "xem")
    _go(browser, live.url + "/console/statistics", "chart-daily")
    # Chart.js attached a chart to each canvas (not a hand-made SVG).
    WebDriverWait(browser, 20).until(
        lambda b: b.execute_script(
            "return ['chart-daily','chart-electronic','chart-times'].every("
            "function (id) { return !!Chart.getChart(document.getElementById(id)); })"
        )
    )
    drawn = browser.execute_script(
        "var c = Chart.getChart(document.getElementById('chart-daily'));"
        "return c.data.datasets.map(function (d) {"
        " return d.data.reduce(function (a, b) { return a + b; }, 0); });"
    )
    assert sum(drawn) == len(SUBJECTS) + 1  # the module's traffic, plus the dead letter's
    assert int(browser.find_element(By.ID, "total-documents").text) == sum(drawn)
    screenshot("statistics")
    href = browser.find_element(By.ID, "csv-daily").get_attribute("href")
    text = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(function (r) { return r.text().then(function (t) {"
        " done([r.status, r.headers.get('content-disposition'), t]); }); });",
        href,
    )
    status, disposition, body = text
    assert status == 200 and disposition.startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert sum(int(r["sent"]) for r in rows) == sum(drawn)
    assert {r["organ_id"] for r in rows if int(r["sent"])} == {DISTRICT}


def test_health_page(browser: Any, live: Live, screenshot: Shot) -> None:
    login(browser, live, "xem")
    _go(browser, live.url + "/console/health", "health-checks")
    levels = {
        e.get_attribute("data-check"): e.get_attribute("data-level")
        for e in browser.find_elements(By.CSS_SELECTOR, "#health-checks .check")
    }
    assert levels["store"] == "ok" and levels["broker"] == "ok"
    assert {"outbox", "certificates", "trace", "links"} <= set(levels)
    queues = [
        e.get_attribute("data-queue")
        for e in browser.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue]")
    ]
    assert any(q.endswith(".dead") for q in queues) and any(".inbox." in q for q in queues)
    assert browser.find_elements(By.CSS_SELECTOR, '#certificates tr[data-role="hub"]')
    assert not browser.find_elements(By.ID, "trace-check")  # a viewer cannot start a check
    screenshot("health")
