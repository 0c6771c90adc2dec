"""The axis scenario: passes against this gateway's own VDXP door, fails clearly against a
deliberately broken axis."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from aiohttp import web

from adapters.conformance import AxisRun, run_axis
from gateway.cli import main as edxgw
from tests.adapters.sdk.fixtures import Served

from ..hubs import serve

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"


def axis_run(url: str, **overrides: Any) -> AxisRun:
    values: dict[str, Any] = {
        "endpoint": url,
        "system_id": "xa",
        "secret": "secret-xa",  # tests/gateway/e2e/conftest.py: secret-<system id>
        "sender": XA,
        "recipient": HUYEN,
        "to_system_id": "huyen",
        "to_secret": "secret-huyen",
        "timeout": 30.0,
        "poll": 0.2,
    }
    values.update(overrides)
    return AxisRun(**values)


async def test_the_gateways_vdxp_door_passes(served: Served) -> None:
    report = await run_axis(axis_run(served.url))
    assert report.passed, report.text()
    assert [s.name for s in report.steps] == [
        "getAgenciesList",
        "bad HMAC refused",
        "sendEdoc raw",
        "sendEdoc multipart",
        "getReceivedEdocList",
        "getEdoc",
        "updateStatus done",
        "sendEdoc status",
        "status received",
        "getSentEdocList",
    ]


async def test_a_wrong_secret_for_the_kit_is_reported_not_crashed(served: Served) -> None:
    report = await run_axis(axis_run(served.url, secret="not-the-secret"))
    assert not report.passed
    codes = {s.name: s.code for s in report.failed}
    assert codes["getAgenciesList"] == "conformance.axis_refused"
    assert codes["sendEdoc raw"] == "conformance.axis_refused"


def _lax_axis() -> web.Application:
    """A broken axis: signs nothing, checks nothing, loses everything, answers OK to all."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        body: dict[str, Any] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": []}
        if request.path == "/sendEdoc":
            body["DocId"] = "lost-1"
        return web.json_response(body)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{call}", ok)
    return app


async def test_a_broken_axis_fails_with_a_clear_report() -> None:
    async with serve(_lax_axis()) as url:
        report = await run_axis(axis_run(url, timeout=2))
    failed = {s.name: s for s in report.failed}
    assert failed["bad HMAC refused"].code == "conformance.axis_accepts_bad_hmac"
    assert "accepted the call getReceivedEdocList signed with a wrong secret" in (
        failed["bad HMAC refused"].detail_en
    )
    assert failed["getReceivedEdocList"].code == "conformance.axis_missing"
    assert "2 documents did not reach the other side within 2 s" in (
        failed["getReceivedEdocList"].detail_en
    )
    text = report.text()
    assert "FAILED / KHÔNG ĐẠT" in text
    assert "[FAIL] bad HMAC refused" in text


async def test_the_command_line(served: Served) -> None:
    argv = [
        "conformance", "axis", "--endpoint", served.url, "--system-id", "xa",
        "--from", XA, "--to", HUYEN, "--to-system-id", "huyen", "--to-secret", "secret-huyen",
        "--timeout", "30", "--json",
    ]  # fmt: skip
    out = io.StringIO()
    code = await asyncio.to_thread(edxgw, argv, {"EDXGW_VDXP_SECRET": "secret-xa"}, out)
    report = json.loads(out.getvalue())
    assert code == 0, out.getvalue()
    assert report["passed"] is True
    out = io.StringIO()
    assert await asyncio.to_thread(edxgw, argv, {}, out) == 2  # no secret anywhere
    assert "EDXGW_VDXP_SECRET" in out.getvalue()
