"""``edxgw serve`` as an operator runs it (a subprocess on the demo defaults), and the
``edxgw systems`` commands whose tokens that server then accepts or refuses."""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import make_app
from gateway.cli import main
from gateway.settings import Settings

pytestmark = pytest.mark.rabbitmq

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "vpcp-official"
E2E_DIRECTORY = ROOT / "tests" / "data" / "e2e-directory.toml"
CERTS = ROOT / "certs" / "dev"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One ``python -m gateway serve`` process; its stdout and stderr go to one log file."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.log = cwd / "serve.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "serve",
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"edxgw serve still running after {timeout}s") from None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def serve_env(**values: str) -> dict[str, str]:
    """The environment of this test run without any EDXGW_* of the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDXGW_")}
    env.update({f"EDXGW_{k.upper()}": v for k, v in values.items()})
    return env


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Any]:
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


async def _ready(session: aiohttp.ClientSession, srv: Server, base: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        assert srv.proc is not None
        if srv.proc.returncode is not None:
            raise AssertionError(f"edxgw serve exited {srv.proc.returncode}:\n{srv.output()}")
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if loop.time() > deadline:
            raise AssertionError(f"/readyz not 200 within 60 s:\n{srv.output()}")
        await asyncio.sleep(0.2)


async def test_serve_the_demo_hub_then_stop_on_sigterm(server: Any, amqp_url: str) -> None:
    port = free_port()
    srv: Server = await server(
        http_port=str(port),
        amqp_url=amqp_url,
        amqp_prefix=f"s{secrets.token_hex(3)}",
        workers="1",
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        await _ready(session, srv, base)
        token = (srv.cwd / "var" / "demo-token.txt").read_text().strip()
        assert len(token) >= 32
        auth = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{base}/api/v1/me", headers=auth) as response:
            assert response.status == 200
            assert (await response.json())["system_id"] == "demo"

        async with session.post(
            f"{base}/api/v1/packages",
            data=(SAMPLES / "edoc_new.edxml").read_bytes(),
            headers={**auth, "Content-Type": "application/xml"},
        ) as response:
            body = await response.json()
            assert response.status == 202, body
        doc_id = body["doc_id"]
        wanted = {r["delivery_id"] for r in body["recipients"]}
        assert wanted and {r["route"] for r in body["recipients"]} == {"local"}

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            async with session.get(f"{base}/api/v1/inbox", headers=auth) as response:
                items = (await response.json())["items"]
            delivered = {
                i["delivery_id"]
                for i in items
                if i["doc_id"] == doc_id and i["state"] == "delivered"
            }
            if delivered == wanted:
                break
            assert loop.time() < deadline, f"not delivered: {items}\n{srv.output()}"
            await asyncio.sleep(0.1)

    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGTERM)
    assert await srv.wait(30) == 0, srv.output()
    output = srv.output()
    assert f"serving http://127.0.0.1:{port}/" in output
    assert "event loop uvloop" in output  # the default loop (gateway/loop.py)
    assert "Traceback" not in output, output
    assert (srv.cwd / "var" / "edxgw.db").is_file()


async def test_serve_without_rabbitmq_exits_3_and_says_how_to_start_it(server: Any) -> None:
    srv: Server = await server(
        http_port=str(free_port()),
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        amqp_prefix=f"s{secrets.token_hex(3)}",
        workers="1",
    )
    assert await srv.wait(60) == 3, srv.output()
    output = srv.output()
    assert "RabbitMQ" in output, output
    assert "rabbitmq-server -detached" in output, output
    assert "guest:guest" not in output  # the URL is shown without its password
    assert "Traceback" not in output, output


# -- edxgw systems ------------------------------------------------------------------------------


async def edxgw(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """``edxgw ARGV`` in-process (it runs its own event loop: in a thread here)."""
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), env, out)
    return code, out.getvalue()


def _token(output: str) -> str:
    match = re.search(r"(?:api token|new token) \(shown once[^)]*\): (\S+)", output)
    assert match, output
    return match.group(1)


async def test_systems_commands_and_their_tokens(tmp_path: Path, amqp_url: str) -> None:
    dsn = f"sqlite:///{tmp_path}/var/edxgw.db"
    env = {"EDXGW_STORE_DSN": dsn, "EDXGW_NODE": "admin"}
    code, out = await edxgw(env, "directory", "import", str(E2E_DIRECTORY))
    assert code == 0, out

    code, out = await edxgw(
        env,
        "systems",
        "add",
        "qlvb-tinh",
        "--name",
        "QLVB tỉnh",
        "--agency",
        "000.00.00.H53",
        "--agency",
        "000.00.01.H53",
        "--signature-policy",
        "lenient",
    )
    assert code == 0, out
    first = _token(out)
    assert "vdxp secret" in out
    code, out = await edxgw(
        env,
        "systems",
        "add",
        "qlvb-xa",
        "--agency",
        "000.21.31.H53",
        "--cert",
        str(CERTS / "agency-000.21.31.H53.crt"),
    )
    assert code == 0, out

    # Refusals: an agency the directory does not know, an id already taken.
    code, out = await edxgw(env, "systems", "add", "ghost", "--agency", "000.77.31.H53")
    assert code == 1 and "000.77.31.H53" in out and "unknown agencies" in out
    code, out = await edxgw(env, "systems", "add", "qlvb-tinh", "--agency", "000.00.00.H53")
    assert code == 1 and "exists" in out

    code, out = await edxgw(env, "systems", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert set(lines) == {"qlvb-tinh", "qlvb-xa"}
    assert "agencies=000.00.00.H53,000.00.01.H53" in lines["qlvb-tinh"]
    assert "sig=lenient" in lines["qlvb-tinh"] and "QLVB tỉnh" in lines["qlvb-tinh"]
    assert "cert" in lines["qlvb-xa"] and "REVOKED" not in out

    # The printed token is what a gateway on the same store accepts.
    settings = Settings.from_mapping(
        {
            "store_dsn": dsn,
            "blob_dir": str(tmp_path / "var" / "blobs"),
            "spool_dir": str(tmp_path / "var" / "spool"),
            "amqp_url": amqp_url,
            "amqp_prefix": f"c{secrets.token_hex(3)}",
            "amqp_queue_type": "classic",
            "directory_file": str(E2E_DIRECTORY),
        }
    )
    with ThreadPoolExecutor(max_workers=1) as executor:
        client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings, executor=executor)))
        await client.start_server()
        try:

            async def me(token: str) -> tuple[int, dict[str, Any]]:
                response = await client.get(
                    "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                )
                return response.status, await response.json(content_type=None)

            status, body = await me(first)
            assert status == 200, body
            assert body["system_id"] == "qlvb-tinh"
            assert body["agencies"] == ["000.00.00.H53", "000.00.01.H53"]
            assert body["signature_policy"] == "lenient"

            code, out = await edxgw(env, "systems", "rotate-token", "qlvb-tinh")
            assert code == 0, out
            second = _token(out)
            assert second != first
            status, body = await me(first)
            assert (status, body["code"]) == (401, "auth.unknown_token")
            status, body = await me(second)
            assert (status, body["system_id"]) == (200, "qlvb-tinh")

            code, out = await edxgw(env, "systems", "remove", "qlvb-tinh", "--reason", "test")
            assert code == 0 and "revoked" in out
            status, body = await me(second)
            assert (status, body["code"]) == (403, "auth.system_revoked")
        finally:
            await client.close()

    code, out = await edxgw(env, "systems", "list")
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "REVOKED" in lines["qlvb-tinh"] and "REVOKED" not in lines["qlvb-xa"]
    code, out = await edxgw(env, "systems", "remove", "nobody")
    assert code == 1 and "no system nobody" in out
    code, out = await edxgw(env, "systems", "rotate-token", "nobody")
    assert code == 1
    code, out = await edxgw(env, "trace", "verify")
    assert code == 0, out
