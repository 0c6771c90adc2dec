"""Fixtures for the admin console's tests, shared by every console feature (search, documents,
dead letters, directory, statistics, health).

Two ways to reach a console:

- ``console`` (async, per test): the whole gateway in-process behind aiohttp's TestClient,
  on the real RabbitMQ and a fresh SQLite store, with the admins of :data:`ADMINS` and the
  agency systems of :data:`SYSTEMS`. :meth:`Console.login` gives a client session with its
  CSRF token; :meth:`Console.submit` sends packages through the REST API.
- ``live`` (sync, per module) serves a gateway on a real TCP port from a thread of its own
  (its own event loop), with real traffic already submitted through the REST API
  (:func:`traffic`: documents with Vietnamese subjects, statuses, an acknowledgement), for
  the browser: ``browser`` is headless Debian Chromium through Selenium (session-wide; each
  test starts signed out), :func:`login` signs it in, ``screenshot(name)`` saves the page
  as ``<name>.png`` and checks that a PNG was written.

Browser tests carry the ``browser`` marker and are skipped, saying why, only when
``chromium``/``chromedriver`` are not installed (``.ci/run`` installs them).

Screenshots: a normal run saves them under pytest's base temporary directory
(``<basetemp>/screenshots/``, named in the run's summary), so the checkout stays clean. The
pictures the README shows are the committed ``docs/screenshots/*.png``; to refresh them, run
the browser tests with :data:`UPDATE_SCREENSHOTS` set::

    EDXGW_UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/gateway/console -m browser

and commit the PNGs that changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edxml.build import build_tree, serialize
from edxml.compose import new_document, new_status
from edxml.model import DocumentPackage
from edxml.parse import parse
from edxml.signature import sign
from gateway.admins import hash_password
from gateway.app import make_app
from gateway.service import token_hash
from gateway.settings import Settings
from gateway.store import Admin, Store, System
from gateway.web.state import STORE
from tests.gateway.core.factories import CERTS, agency_key

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[3]
DIRECTORY = ROOT / "tests" / "data" / "e2e-directory.toml"
#: The committed screenshots (the README shows some), written only when asked for with
#: :data:`UPDATE_SCREENSHOTS`; otherwise ``screenshot`` writes under pytest's basetemp.
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: The environment variable that points ``screenshot`` at :data:`SCREENSHOTS` (``1``).
UPDATE_SCREENSHOTS = "EDXGW_UPDATE_SCREENSHOTS"
_SCREENSHOT_DIR = pytest.StashKey[Path]()
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

#: username -> (role, password). Passwords are long enough for the policy.
ADMINS = {
    "vanhanh": ("operator", "mat-khau-van-hanh-2025"),
    "xem": ("viewer", "mat-khau-chi-xem-2025"),
}
DISTRICT = "000.00.31.H53"
COMMUNES = ("000.21.31.H53", "000.22.31.H53", "000.23.31.H53")
SYSTEMS: dict[str, tuple[str, ...]] = {"huyen": (DISTRICT,), "xa": COMMUNES}
#: The subjects :func:`traffic` sends, newest last.
SUBJECTS = (
    "V/v triển khai Đề án 06 về phát triển ứng dụng dữ liệu dân cư",
    "Kế hoạch tổ chức Hội nghị tổng kết công tác năm 2025",
    "Về việc đôn đốc báo cáo tình hình kinh tế - xã hội tháng 6",
    "Giấy mời họp trực tuyến về liên thông văn bản điện tử",
    "Thông báo lịch tiếp công dân của Chủ tịch UBND huyện",
    "Quyết định phê duyệt kế hoạch chuyển đổi số năm 2026",
)


def settings_for(amqp_url: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_dsn": f"sqlite:///{tmp}/gateway.db",
        "blob_dir": str(tmp / "blobs"),
        "spool_dir": str(tmp / "spool"),
        "amqp_url": amqp_url,
        "amqp_prefix": f"c{secrets.token_hex(3)}",
        "amqp_queue_type": "classic",
        "directory_file": str(DIRECTORY),
        "delivery_max_attempts": 3,
        "directory_refresh_seconds": 1,
        "admin_lockout_failures": 5,
    }
    values.update(overrides)
    return Settings.from_mapping(values)


async def provision(store: Store) -> dict[str, str]:
    """Create the admins and systems; returns system id -> API token."""
    for username, (role, password) in ADMINS.items():
        await store.add_admin(
            Admin(
                username=username,
                display_name=f"Cán bộ {username}",
                role=role,  # type: ignore[arg-type]
                password_hash=await asyncio.to_thread(hash_password, password),
            )
        )
    tokens = {}
    for system_id, agencies in SYSTEMS.items():
        token = secrets.token_urlsafe(16)
        await store.upsert_system(
            System(
                system_id=system_id,
                name=f"QLVB {system_id}",
                token_sha256=token_hash(token),
                signature_policy="lenient",
                validation_mode="lenient",
                agencies=agencies,
            )
        )
        tokens[system_id] = token
    return tokens


def document(sender: str, to: tuple[str, ...], subject: str, number: int) -> bytes:
    """A signed (where certs/dev has the sender's key) document with a PDF attachment."""
    pdf = Path(__file__).with_name("sample.pdf")
    package = new_document(
        sender=sender,
        recipients=to,
        subject=subject,
        code_number=str(number),
        code_notation="UBND-VP",
        signer="Nguyễn Văn An",
        files=[pdf],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
    )
    tree = build_tree(package)
    if (CERTS / f"agency-{sender}.key").exists():
        sign(tree, agency_key(sender))
    return serialize(tree)


def status(original: bytes, sender: str, code: str) -> bytes:
    first = parse(original)
    assert isinstance(first, DocumentPackage)
    return serialize(build_tree(new_status(first, sender=sender, code=code)))


# -- in-process console (async tests) -------------------------------------------------------------


@dataclass
class Console:
    client: TestClient[Any, Any]
    settings: Settings
    tokens: dict[str, str]

    @property
    def store(self) -> Store:
        return self.client.app[STORE]

    async def submit(self, system: str, data: bytes) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/packages",
            data=data,
            headers={"Authorization": f"Bearer {self.tokens[system]}"},
        )
        body: dict[str, Any] = await response.json(content_type=None)
        assert response.status == 202, body
        return body

    async def login_token(self) -> str:
        response = await self.client.get("/console/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert match is not None
        return match.group(1)

    async def login(self, username: str, password: str | None = None) -> str:
        """Sign this client in through the form; returns the session's CSRF token."""
        token = await self.login_token()
        response = await self.client.post(
            "/console/login",
            data={
                "username": username,
                "password": password if password is not None else ADMINS[username][1],
                "csrf_token": token,
            },
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        session = await self.client.get("/api/admin/v1/session")
        body = await session.json()
        assert body["authenticated"], body
        return str(body["csrf_token"])

    async def logout(self) -> None:
        self.client.session.cookie_jar.clear()

    async def wait(
        self, probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 20
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (value := await probe()):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)
        return value


@pytest.fixture
async def console(amqp_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    settings = settings_for(amqp_url, tmp_path)
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(settings, executor=ThreadPoolExecutor(2)))
    )
    await client.start_server()
    try:
        tokens = await provision(client.app[STORE])
        yield Console(client, settings, tokens)
    finally:
        await client.close()


# -- a live gateway on a real port (browser tests) ----------------------------------------------


@dataclass
class Live:
    """A gateway served on 127.0.0.1:<port> by a thread running its own event loop."""

    settings: Settings
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    runner: web.AppRunner | None = None
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    docs: list[str] = field(default_factory=list)  # DocIds of traffic(), oldest first
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store(self) -> Store:
        assert self.runner is not None
        return self.runner.app[STORE]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the gateway's loop (store calls) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self._serve())

    async def _serve(self) -> None:
        executor = ThreadPoolExecutor(2)
        self.runner = web.AppRunner(make_app(self.settings, executor=executor), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        self.tokens = await provision(self.store)

    def stop(self) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.loop.close()

    def http(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def submit(self, system: str, data: bytes) -> str:
        status, _, body = self.http(
            "POST",
            "/api/v1/packages",
            data,
            {"Authorization": f"Bearer {self.tokens[system]}", "Content-Type": "application/xml"},
        )
        answer = json.loads(body)
        assert status == 202, answer
        return str(answer["doc_id"])

    def wait_delivered(self, doc_id: str, timeout: float = 30) -> None:
        async def settled() -> bool:
            deliveries = await self.store.list_deliveries(doc_id=doc_id)
            return bool(deliveries) and all(
                d.state.value in ("delivered", "done", "failed") for d in deliveries
            )

        async def wait() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not await settled():
                if loop.time() > deadline:
                    raise AssertionError(f"{doc_id} was not delivered in {timeout}s")
                await asyncio.sleep(0.1)

        self.run(wait(), timeout + 5)


def traffic(live: Live) -> None:
    """Real traffic through the REST API: six documents from the district to communes (the
    first with statuses 01 and 03 and an acknowledgement), in subject order."""
    first: bytes | None = None
    for number, subject in enumerate(SUBJECTS, start=1):
        data = document(DISTRICT, COMMUNES[: 1 + number % 3], subject, number)
        live.docs.append(live.submit("huyen", data))
        first = first or data
    for doc_id in live.docs:
        live.wait_delivered(doc_id)
    assert first is not None
    for code in ("01", "03"):
        live.submit("xa", status(first, COMMUNES[0], code))
    deliveries = live.run(live.store.list_deliveries(doc_id=live.docs[0]))
    delivery = next(d for d in deliveries if d.recipient == COMMUNES[0])
    status_code, _, body = live.http(
        "POST",
        f"/api/v1/inbox/{delivery.delivery_id}/ack",
        json.dumps({"result": "done"}).encode(),
        {"Authorization": f"Bearer {live.tokens['xa']}", "Content-Type": "application/json"},
    )
    assert status_code == 200, body


@pytest.fixture(scope="module")
def live(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    gateway = Live(settings_for(amqp_url, tmp_path_factory.mktemp("live")))
    gateway.start()
    try:
        traffic(gateway)
        yield gateway
    finally:
        gateway.stop()


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _driver() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
        "--lang=vi-VN",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(_driver: Any, live: Live) -> Any:
    """The session's Chromium, signed out, on the live gateway's login page."""
    _driver.get(live.url + "/console/login")
    _driver.delete_all_cookies()
    _driver.set_window_size(1440, 1000)
    return _driver


def gone(element: Any) -> Any:
    """A wait condition: ``element``'s page was replaced (``ec.staleness_of``, also when
    ChromeDriver reports it as "Node with given id does not belong to the document", an
    "unknown error" some versions raise for an element of a page that just went away)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def predicate(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return predicate


def login(driver: Any, live: Live, username: str, password: str | None = None) -> None:
    """Sign the browser in through the login form (and wait for the page after it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(live.url + "/console/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(
        password if password is not None else ADMINS[username][1]
    )
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 20).until(gone(page))
    WebDriverWait(driver, 20).until(
        ec.any_of(
            ec.presence_of_element_located((By.ID, "signed-in")),
            ec.presence_of_element_located((By.ID, "login-error")),
        )
    )


def update_screenshots() -> bool:
    """Whether this run refreshes the committed screenshots (``EDXGW_UPDATE_SCREENSHOTS=1``)."""
    return os.environ.get(UPDATE_SCREENSHOTS, "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def screenshot_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where ``screenshot`` saves: docs/screenshots/ when asked for, else under basetemp."""
    temporary = tmp_path_factory.getbasetemp() / "screenshots"
    folder = SCREENSHOTS if update_screenshots() else temporary
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash[_SCREENSHOT_DIR] = folder
    return folder


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where this run's screenshots went (when a browser test took any)."""
    folder = config.stash.get(_SCREENSHOT_DIR, None)
    if folder is None or not any(folder.glob("*.png")):
        return
    hint = "" if update_screenshots() else f" ({UPDATE_SCREENSHOTS}=1 writes {SCREENSHOTS})"
    terminalreporter.write_line(f"console screenshots: {folder}{hint}")


@pytest.fixture
def screenshot(browser: Any, screenshot_dir: Path) -> Callable[[str], Path]:
    """Save the whole current page as ``<screenshot_dir>/<name>.png`` (a PNG, checked)."""

    def take(name: str) -> Path:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1440, max(900, min(int(height) + 40, 6000)))
        target = screenshot_dir / f"{name}.png"
        assert browser.save_screenshot(str(target)), target
        browser.set_window_size(1440, 1000)
        with target.open("rb") as fh:  # saved, and a PNG (its 8-byte signature)
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", f"{target} is not a PNG"
        return target

    return take
