"""Issue 4's "done when": a VDXP client runs send → list → get → updateStatus →
getSentEdocList → status back against ``edxgw serve`` (a subprocess on the demo directory),
with systems and secrets registered by ``edxgw systems add``."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.vdxp.client import MessageType, ReceivedItem, UpdateStatus, VdxpClient
from edxml import parse
from edxml.model import StatusPackage
from tests.gateway.e2e.packages import document, status
from tests.gateway.test_serve import Server, _ready, edxgw, free_port, serve_env

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SENDER = "000.00.00.A80"  # demo agencies
RECEIVER = "000.28.22.H17"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[Server] = []

    async def start(**values: str) -> Server:
        srv = Server(tmp_path, serve_env(**values))
        started.append(srv)
        await srv.start()
        return srv

    try:
        yield start
    finally:
        for srv in started:
            await srv.stop()


async def _one_item(client: VdxpClient, kind: MessageType, srv: Server) -> ReceivedItem:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (items := await client.get_received_edoc_list(kind)):
        assert loop.time() < deadline, f"nothing for {client.system_id}:\n{srv.output()}"
        await asyncio.sleep(0.2)
    [item] = items
    return item


async def test_a_vdxp_client_against_edxgw_serve(
    server: Callable[..., Awaitable[Server]], amqp_url: str, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        "http_port": str(free_port()),
        "amqp_url": amqp_url,
        "amqp_prefix": f"v{secrets.token_hex(3)}",
        "workers": "1",
    }
    env = {f"EDXGW_{k.upper()}": v for k, v in settings.items()}
    env["EDXGW_STORE_DSN"] = f"sqlite:///{tmp_path}/var/edxgw.db"
    # The administrator's part: the directory, two systems with their VDXP secrets.
    code, out = await edxgw(env, "directory", "import")
    assert code == 0, out
    for system_id, agency in (("qlvb-a80", SENDER), ("qlvb-h17", RECEIVER)):
        argv = ("systems", "add", system_id, "--agency", agency, "--secret", f"s-{system_id}")
        code, out = await edxgw(env, *argv)
        assert code == 0, out

    srv = await server(**settings)
    base = f"http://127.0.0.1:{settings['http_port']}"
    async with aiohttp.ClientSession() as session:
        await _ready(session, srv, base)
        sender = VdxpClient(base, "qlvb-a80", "s-qlvb-a80", session=session)
        receiver = VdxpClient(base, "qlvb-h17", "s-qlvb-h17", session=session)

        data = document(SENDER, [RECEIVER], "serve-1")
        doc_id = await sender.send_edoc(data, sender=SENDER, sdk_crlf=True)
        item = await _one_item(receiver, MessageType.EDOC, srv)
        assert (item.sender, item.recipient, item.status) == (SENDER, RECEIVER, "initial")
        assert parse(await receiver.get_edoc(item.doc_id)).document_id == parse(data).document_id
        await receiver.update_status(item.doc_id, UpdateStatus.DONE)
        [sent] = await sender.get_sent_edoc_list(doc_id)
        assert (sent.receiver_doc_id, sent.receive_status) == (item.doc_id, "done")

        status_id = await receiver.send_status(status(data, RECEIVER, "03"), sender=RECEIVER)
        back = await _one_item(sender, MessageType.STATUS, srv)
        answer = parse(await sender.get_edoc(back.doc_id))
        assert isinstance(answer, StatusPackage) and answer.status_code == "03"
        await sender.update_status(back.doc_id, UpdateStatus.DONE)
        assert await sender.count_receive_status() == 0
        [status_sent] = await receiver.get_sent_edoc_list(status_id, MessageType.STATUS)
        assert status_sent.receive_status == "done"
    assert "Traceback" not in srv.output(), srv.output()
