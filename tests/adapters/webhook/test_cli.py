"""``edxgw webhook``: set, list, rotate, remove; refusals; traced; the agency's delivery mode."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest

from gateway.cli import main as edxgw
from gateway.store import open_store

ROOT = Path(__file__).resolve().parents[3]
DIRECTORY = ROOT / "tests" / "data" / "e2e-directory.toml"
HUYEN = "000.00.31.H53"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {
        "EDXGW_STORE_DSN": f"sqlite:///{tmp_path}/gw.db",
        "EDXGW_DIRECTORY_FILE": str(DIRECTORY),
    }
    assert edxgw(["directory", "import"], environ=environ, out=io.StringIO()) == 0
    return environ


def run(env: dict[str, str], *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return edxgw(list(argv), environ=env, out=out), out.getvalue()


def state(env: dict[str, str]) -> tuple[str | None, list[str]]:
    """The agency's delivery mode and the endpoints, as the store has them."""

    async def read() -> tuple[str | None, list[str]]:
        store = await open_store(env["EDXGW_STORE_DSN"])
        try:
            agency = await store.resolve(HUYEN)
            assert agency is not None
            return agency.delivery_mode, [
                f"{w.organ_id} {w.url}" for w in await store.list_webhooks()
            ]
        finally:
            await store.close()

    return asyncio.run(read())


def admin_events(env: dict[str, str]) -> list[tuple[str, str]]:
    path = env["EDXGW_STORE_DSN"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT stage, detail FROM trace_events WHERE stage LIKE 'admin.webhook%'"
            " OR (stage = 'admin.agency_upsert' AND detail LIKE '%delivery_mode%') ORDER BY seq"
        ).fetchall()


def test_set_list_rotate_remove(env: dict[str, str]) -> None:
    code, out = run(env, "webhook", "set", HUYEN, "--url", "https://qlvb.example/edxgw")
    assert code == 0, out
    assert "webhook secret (shown once / chỉ hiện một lần): " in out
    first = out.split("shown once / chỉ hiện một lần): ")[1].split()[0]
    assert len(first) >= 40
    assert state(env) == ("push", [f"{HUYEN} https://qlvb.example/edxgw"])

    # Changing the URL keeps the secret (and does not print it again).
    code, out = run(
        env, "webhook", "set", HUYEN, "--url", "https://qlvb2.example/h", "--timeout", "10"
    )
    assert code == 0 and "shown once" not in out
    code, out = run(env, "webhook", "list")
    assert f"{HUYEN}" in out and "https://qlvb2.example/h" in out and "timeout=10s" in out
    assert first not in out  # never listed

    code, out = run(env, "webhook", "rotate-secret", HUYEN)
    assert code == 0
    second = out.split("shown once / chỉ hiện một lần): ")[1].split()[0]
    assert second != first

    code, out = run(env, "webhook", "remove", HUYEN, "--reason", "moved to AMQP")
    assert code == 0, out
    assert state(env) == ("pull", [])
    assert run(env, "webhook", "remove", HUYEN)[0] == 1
    assert run(env, "webhook", "rotate-secret", HUYEN)[0] == 1

    # Every change is in the trace (and the chain verifies), never the secret.
    events = admin_events(env)
    assert [stage for stage, _ in events] == [
        "admin.webhook_set",
        "admin.agency_upsert",
        "admin.webhook_set",
        "admin.webhook_rotate",
        "admin.agency_upsert",
        "admin.webhook_remove",
    ]
    assert not any(first in detail or second in detail for _, detail in events)
    assert run(env, "trace", "verify")[0] == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("000.99.99.H53", "--url", "https://x/"), "unknown agency"),
        (("000.00.00.G22", "--url", "https://x/"), "not hosted by this hub"),
        ((HUYEN, "--url", "ftp://x/"), "webhook.bad_config"),
        ((HUYEN, "--url", "http://x/", "--tls-client"), "mTLS"),
        ((HUYEN, "--url", "https://x/", "--concurrency", "0"), "concurrency"),
    ],
)
def test_refusals(env: dict[str, str], argv: tuple[str, ...], needle: str) -> None:
    code, out = run(env, "webhook", "set", *argv)
    assert code == 1
    assert needle in out
    assert state(env) == (None, [])


def test_plain_http_is_accepted_with_a_warning(env: dict[str, str]) -> None:
    code, out = run(env, "webhook", "set", HUYEN, "--url", "http://10.1.2.3/hook")
    assert code == 0 and "warning: plain http://" in out
    assert state(env) == ("push", [f"{HUYEN} http://10.1.2.3/hook"])
