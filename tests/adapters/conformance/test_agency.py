"""The agency scenario on a real gateway: it passes against the reference agency, and reports
precisely what a deliberately broken one gets wrong."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.conformance import AgencyRun, Behaviour, Report, Responder, run_agency
from adapters.sdk import AsyncClient, ClientConfig
from gateway.app import DEMO_TOKEN_FILE
from gateway.cli import main as edxgw
from gateway.settings import DEMO_DIRECTORY
from tests.adapters.sdk.fixtures import CERTS, Served
from tests.gateway.e2e.conftest import GatewayFactory

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

XA = "000.21.31.H53"  # the kit's agency ("xa" system)
HUYEN = "000.00.31.H53"  # the agency under test ("huyen" system)
#: The kit's per-phase timeout against a broken agency: the steps it gets wrong take this long
#: to fail, and everything it gets right must still arrive within it on a loaded machine.
BROKEN = 30


@contextlib.asynccontextmanager
async def reference_agency(
    served: Served, behaviour: Behaviour = Behaviour.CORRECT
) -> AsyncIterator[Responder]:
    """The reference agency answering for HUYEN while the block runs."""
    stop = asyncio.Event()
    async with AsyncClient(served.config("huyen")) as client:
        responder = Responder(client, [HUYEN], behaviour=behaviour)
        task = asyncio.create_task(responder.run(stop, interval=0.1))
        try:
            yield responder
        finally:
            stop.set()
            await task


async def certify(served: Served, timeout: float = 120.0) -> Report:
    async with AsyncClient(served.config("xa")) as kit:
        return await run_agency(kit, AgencyRun(XA, HUYEN, timeout=timeout, poll=0.2))


def names(report: Report, passed: bool | None) -> list[str]:
    return [s.name for s in report.steps if s.passed is passed]


async def test_the_reference_agency_passes(served: Served) -> None:
    async with reference_agency(served) as responder:
        report = await certify(served)
    assert report.passed, report.text()
    expected = ["connect"]
    for name in ("edoc_new", "generated-pdf", "generated-attachments", "generated-large"):
        expected.append(f"send {name}")
    for name in ("edoc_new", "generated-pdf", "generated-attachments", "generated-large"):
        expected += [f"receipt {name}", *(f"status {c} {name}" for c in ("01", "03", "06"))]
    revisions = ("edoc_update", "edoc_replacement", "edoc_revocation")
    statuses = ("status", "status_inbox_01", "status_rejection_02", "status_acceptance_03")
    statuses += ("status_assignment_04", "status_processing_05", "status_finish_06")
    expected += [f"send {n}" for n in (*revisions, *statuses)]
    expected += [f"receipt {n}" for n in (*revisions, *statuses)]
    expected += ["recall generated-pdf", "status packages"]
    assert [s.name for s in report.steps] == expected
    assert report.step("recall generated-pdf").detail_en == "13 answered 15 (accepted)"  # type: ignore[union-attr]
    # Every status the agency sent was fetched, checked and acknowledged by the kit:
    # 3 statuses x 4 documents + the 15.
    assert report.steps[-1].detail_en.startswith("13 status packages")
    assert responder.handled == 4 + 3 + 7 + 1
    assert "PASSED / ĐẠT" in report.text()


async def test_an_agency_that_never_finishes_fails_on_06_only(served: Served) -> None:
    async with reference_agency(served, Behaviour.NO_FINISH):
        report = await certify(served, timeout=BROKEN)
    assert not report.passed
    failed = report.failed
    assert [s.name for s in failed] == [
        "status 06 edoc_new",
        "status 06 generated-pdf",
        "status 06 generated-attachments",
        "status 06 generated-large",
    ]
    assert {s.code for s in failed} == {"conformance.status_missing"}
    assert (
        f"Status 06 for edoc_new did not come within {BROKEN} s (received: 01, 03)"
        in failed[0].detail_en
    )
    assert "Không nhận được trạng thái 06" in failed[0].detail_vi
    assert "FAILED / KHÔNG ĐẠT" in report.text()


async def test_an_agency_that_never_acknowledges_and_ignores_recalls(served: Served) -> None:
    async with reference_agency(served, Behaviour.NO_ACK):
        report = await certify(served, timeout=BROKEN)
    failed = {s.name: s for s in report.failed}
    receipts = [n for n in failed if n.startswith("receipt ")]
    assert len(receipts) == 4 + 3 + 7  # every delivery, statuses still sent
    assert failed["receipt edoc_new"].code == "conformance.no_receipt"
    assert "delivery state: delivered" in failed["receipt edoc_new"].detail_en
    assert not [n for n in failed if n.startswith("status ")]
    assert "recall generated-pdf" not in failed  # no-ack still answers the recall

    async with reference_agency(served, Behaviour.IGNORE_RECALL):
        report = await certify(served, timeout=BROKEN)
    assert [s.name for s in report.failed] == ["recall generated-pdf"]
    assert report.failed[0].code == "conformance.recall_unanswered"


async def test_statuses_about_the_wrong_document_are_caught(served: Served) -> None:
    async with reference_agency(served, Behaviour.WRONG_REFERENCE):
        report = await certify(served, timeout=BROKEN)
    failed = report.failed
    codes = {s.code for s in failed}
    assert codes == {"conformance.status_missing", "conformance.bad_status"}
    bad = [s for s in failed if s.code == "conformance.bad_status"]
    assert bad[-1].name == "status packages"
    assert "is none of the run's documents" in bad[0].detail_en


async def test_the_command_line_exit_codes_and_report(served: Served) -> None:
    argv = ["conformance", "agency", "--from", XA, "--agency", HUYEN, "--timeout", "60"]
    env = {**served.env("xa"), "EDXGW_SIGNING_KEY": "", "EDXGW_SIGNING_CERT": ""}

    def run(*extra: str) -> tuple[int, str]:
        out = io.StringIO()
        return edxgw([*argv, *extra], environ=env, out=out), out.getvalue()

    async with reference_agency(served):
        code, text = await asyncio.to_thread(run)
    assert code == 0, text
    assert "[PASS] receipt edoc_new" in text
    assert text.rstrip().splitlines()[-1].startswith("PASSED / ĐẠT:")

    async with reference_agency(served, Behaviour.REFUSE):
        code, text = await asyncio.to_thread(run, "--timeout", str(BROKEN), "--json")
    assert code == 1
    report = json.loads(text)
    assert report["passed"] is False
    failed = {s["name"]: s for s in report["steps"] if s["passed"] is False}
    assert failed["status 02 edoc_new"]["code"] == "conformance.status_rejected"
    assert failed["receipt edoc_new"]["code"] == "conformance.receipt_failed"

    out = io.StringIO()
    usage = ["conformance", "agency", "--from", XA, "--agency", HUYEN]
    assert await asyncio.to_thread(edxgw, usage, {}, out) == 2
    assert "EDXGW_URL" in out.getvalue()


async def test_the_demo_hubs_agencies_pass(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    """What the README shows: `edxgw serve` (demo directory, demo system and token), the
    reference agency for one demo agency, the kit as another, both with the demo token."""
    gw = await make_gateway({}, directory_file=str(DEMO_DIRECTORY))
    token = (tmp_path / DEMO_TOKEN_FILE).read_text().strip()
    url = str(gw.client.make_url("")).rstrip("/")
    config = ClientConfig(url=url, token=token, hub_certificate=CERTS / "gateway.crt")
    stop = asyncio.Event()
    async with AsyncClient(config) as agency, AsyncClient(config) as kit:
        responder = Responder(agency, [HUYEN])
        task = asyncio.create_task(responder.run(stop, interval=0.1))
        try:
            report = await run_agency(kit, AgencyRun(XA, HUYEN, timeout=120, poll=0.2))
        finally:
            stop.set()
            await task
    assert report.passed, report.text()
    assert len(report.steps) == 43
