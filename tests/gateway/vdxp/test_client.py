"""How the VDXP client (adapters/vdxp/client.py) reads an axis that is down or misbehaves.

Its normal answers are tested against the real door (test_flow, test_agencies, test_serve);
here a small HTTP server plays a broken upstream, and a closed port one that is gone.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.vdxp.client import VdxpClient, VdxpError, VdxpUnavailable
from gateway.core import vdxp


def _answer(status: int, body: str, content_type: str = "application/json") -> web.Response:
    return web.Response(status=status, text=body, content_type=content_type)


ANSWERS = {
    "/getAgenciesList": _answer(503, "<html>maintenance</html>", "text/html"),
    "/getSynchronizeUnit": _answer(404, "<html>not here</html>", "text/html"),
    "/getAgenciesListQD20": _answer(
        200, json.dumps(vdxp.fail("-1", "Loi he thong")), "application/json"
    ),
    "/getReceivedEdocList": _answer(200, "not json at all", "text/plain"),
    "/countReceiveEdoc": _answer(200, json.dumps(vdxp.ok()), "application/json"),
    "/getEdoc": _answer(200, json.dumps(vdxp.ok(data="***")), "application/json"),
    "/sendEdoc": _answer(200, json.dumps(vdxp.ok()), "application/json"),
}


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        # Whatever else is wrong, the client signs what it sends.
        vdxp.verify(vdxp.parse_headers(request.headers), "s3cret")
        return ANSWERS[request.path]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
    assert seen


async def test_outages_are_retryable_refusals_are_not(upstream: str) -> None:
    async with VdxpClient(upstream, "sys-1", "s3cret") as client:
        with pytest.raises(VdxpUnavailable) as down:
            await client.get_agencies_list()
        assert down.value.retryable and down.value.http_status == 503

        with pytest.raises(VdxpError) as wrong:  # a wrong endpoint: configuration, not outage
            await client.get_synchronize_unit()
        assert not isinstance(wrong.value, VdxpUnavailable)
        assert not wrong.value.retryable and wrong.value.http_status == 404

        with pytest.raises(VdxpError) as theirs:  # the axis's own fault: try again later
            await client.get_agencies_list_qd20()
        assert (theirs.value.error_code, theirs.value.desc) == ("-1", "Loi he thong")
        assert theirs.value.retryable and theirs.value.code is None

        with pytest.raises(VdxpUnavailable):
            await client.get_received_edoc_list()
        for call in (client.count_receive_edoc, lambda: client.get_edoc("x")):
            with pytest.raises(VdxpError) as broken:  # OK, but without what the SDK reads
                await call()
            assert broken.value.error_code == "-1"
        with pytest.raises(VdxpError, match="DocId"):
            await client.send_edoc(b"<edXML/>", sender="000.00.00.H53")


async def test_a_closed_port_is_an_outage() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with VdxpClient(f"http://127.0.0.1:{port}", "sys-1", "s3cret", timeout=5) as client:
        with pytest.raises(VdxpUnavailable) as down:
            await client.count_receive_status()
    assert down.value.retryable and down.value.http_status is None
