"""edxgw backup of a running gateway, edxgw restore into a fresh one (SQLite and PostgreSQL).

The backup runs while the gateway serves (as an operator's cron job would); the restore goes
into a new store and blob folder, and a new gateway (its own RabbitMQ prefix: the old broker's
queues are gone) serves what was delivered before and publishes again what was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from edxml import Attachment
from gateway.app import make_app
from gateway.backup import MANIFEST
from gateway.cli import main
from gateway.service import token_hash
from gateway.settings import Settings
from tests.gateway.store.conftest import throwaway_database

from .conftest import Gateway, GatewayFactory, gateway_settings, wait_for
from .packages import document

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
TINH = "000.00.00.H53"
VPCP = "000.00.00.G22"  # on the national axis: its copy waits in the uplink queue


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


async def edxgw(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """``edxgw ARGV`` in another thread (its own event loop), as a second process would."""
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), env, out)
    return code, out.getvalue()


async def stages(dsn: str, stage: str) -> list[str]:
    """The detail of every trace event of ``stage`` (admin events carry no DocId)."""
    sql = "SELECT detail FROM trace_events WHERE stage = $1 ORDER BY seq"
    if dsn.startswith("sqlite:"):
        with sqlite3.connect(dsn.removeprefix("sqlite:///")) as conn:
            return [str(r[0]) for r in conn.execute(sql.replace("$1", "?"), (stage,))]
    conn = await asyncpg.connect(dsn)
    try:
        return [str(r[0]) for r in await conn.fetch(sql, stage)]
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def serving(settings: Settings, pool: ProcessPoolExecutor) -> AsyncIterator[Gateway]:
    """A gateway on ``settings`` whose systems (restored with the store) get new tokens."""
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings, executor=pool)))
    await client.start_server()
    try:
        gw = Gateway(client, settings)
        for system in await gw.store.list_systems():
            token = secrets.token_urlsafe(16)
            await gw.store.upsert_system(replace(system, token_sha256=token_hash(token)))
            gw.tokens[system.system_id] = token
        yield gw
    finally:
        await client.close()


def restore_target(store_dsn: str, tmp_path: Path, stack: ExitStack) -> str:
    """An empty store of the same kind: a new SQLite file, or a new PostgreSQL database."""
    if store_dsn.startswith("sqlite:"):
        return f"sqlite:///{tmp_path}/restored/gateway.db"
    database = stack.enter_context(throwaway_database("edxgw_restore"))
    schema = parse_qs(urlsplit(store_dsn).query)["search_path"][0]
    return f"{database}?search_path={schema}"


async def test_backup_a_running_gateway_and_restore_it_into_a_fresh_one(
    make_gateway: GatewayFactory,
    store_dsn: str,
    tmp_path: Path,
    amqp_url: str,
    stack: ExitStack,
    pool: ProcessPoolExecutor,
) -> None:
    gw = await make_gateway()
    # bk-1 is bigger than inline_package_bytes: a blob file; the others are kept in the store.
    scan = Attachment(
        "1", "scan.pdf", "application/pdf", b"%PDF-1.4\n" + secrets.token_bytes(200_000)
    )
    delivered = await gw.submit("xa", document(XA, [HUYEN], "bk-1", files=[scan]))
    [waiting] = await gw.delivered(delivered["doc_id"])
    answered = await gw.submit("xa", document(XA, [TINH], "bk-2"))
    [done] = await gw.delivered(answered["doc_id"])
    await gw.ack("tinh", done.delivery_id)
    upward = await gw.submit("tinh", document(TINH, [VPCP], "bk-3"))
    [in_flight] = upward["recipients"]

    async def queued() -> bool:
        d = await gw.store.get_delivery(in_flight["delivery_id"])
        return d is not None and d.state.value == "queued"

    await wait_for(queued, 10.0, "the uplink copy to be published")
    original = await gw.fetch("huyen", waiting.delivery_id)
    small = await gw.fetch("tinh", done.delivery_id)
    assert len(original) > gw.settings.inline_package_bytes > len(small)

    source = {
        "EDXGW_STORE_DSN": gw.settings.store_dsn,
        "EDXGW_BLOB_DIR": str(gw.settings.blob_dir),
        "EDXGW_ARCHIVE_DIR": str(tmp_path / "archive0"),
        "EDXGW_NODE": "node-1",
    }
    dest = tmp_path / "backup"
    code, out = await edxgw(source, "backup", str(dest))
    assert code == 0, out
    assert "backup complete" in out
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["messages"] == 3
    assert manifest["blobs"]["count"] == 1  # bk-1's file; the store's dump carries the others
    assert manifest["store"]["kind"] == ("sqlite" if "sqlite" in store_dsn else "postgresql")
    assert (dest / "blobs").is_dir()
    assert oct(dest.stat().st_mode & 0o777) == "0o700"

    # Accepted after the backup: not in it.
    later = await gw.submit("xa", document(XA, [HUYEN], "bk-4"))
    await gw.delivered(later["doc_id"])

    target = {
        "EDXGW_STORE_DSN": restore_target(store_dsn, tmp_path, stack),
        "EDXGW_BLOB_DIR": str(tmp_path / "restored-blobs"),
        "EDXGW_ARCHIVE_DIR": str(tmp_path / "restored-archive"),
        "EDXGW_NODE": "node-9",
    }
    code, out = await edxgw(target, "restore", "--check", str(dest))
    assert code == 0, out
    code, out = await edxgw(target, "restore", str(dest))
    assert code == 0, out
    assert "1 in-flight deliveries to publish again" in out
    code, out = await edxgw(target, "trace", "verify")
    assert code == 0, out
    assert out.startswith("trace chain OK")

    # A fresh gateway on the restored store, blobs and a new RabbitMQ prefix.
    # The old node stops and its broker is lost (its queues deleted); the restored hub keeps
    # its configuration, amqp_prefix included (outbox rows name the exchange).
    old = [(r.seq, r.hash) for r in await gw.store.trace_for(delivered["doc_id"])]
    await gw.client.close()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in (f"{gw.prefix}.uplink", f"{gw.prefix}.dead"):
            await channel.queue_delete(queue)
    finally:
        await connection.close()
    settings = gateway_settings(
        target["EDXGW_STORE_DSN"],
        amqp_url,
        tmp_path,
        1,
        blob_dir=target["EDXGW_BLOB_DIR"],
        amqp_prefix=gw.prefix,
    )
    async with serving(settings, pool) as gw2:
        assert await gw2.fetch("huyen", waiting.delivery_id) == original
        assert await gw2.fetch("tinh", done.delivery_id) == small
        items = {i["doc_id"]: i["state"] for i in await gw2.inbox("huyen")}
        assert items == {delivered["doc_id"]: "delivered"}
        assert {i["doc_id"]: i["state"] for i in await gw2.inbox("tinh")} == {
            answered["doc_id"]: "done"
        }
        assert await gw2.store.get_message(later["doc_id"]) is None
        new = [(r.seq, r.hash) for r in await gw2.store.trace_for(delivered["doc_id"])]
        assert new == old
        [restore] = await stages(target["EDXGW_STORE_DSN"], "admin.restore")
        assert json.loads(restore)["republished"] == 1

        # The uplink copy was in the old broker only: the new node published it again.
        async def republished() -> bool:
            events = await gw2.store.trace_for(upward["doc_id"])
            return [r.stage for r in events].count("publish") == 2

        await wait_for(republished, 10.0, "the in-flight copy to be published again")
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            uplink = await channel.declare_queue(f"{gw2.prefix}.uplink", passive=True)
            message = await uplink.get(fail=True)
            assert message is not None
            assert message.message_id == in_flight["delivery_id"]
            await message.ack()
            assert await uplink.get(fail=False) is None  # exactly one copy
        finally:
            await connection.close()

        # Refusals: a second restore into the now used store, a backup into a used folder,
        # a damaged package, an unfinished backup.
        code, out = await edxgw(target, "restore", str(dest))
        assert (code, out.split(":")[1].strip()) == (1, "ops.restore_target_not_empty"), out
        code, out = await edxgw(source, "backup", str(dest))
        assert (code, "ops.backup_target_not_empty" in out) == (1, True), out
        damaged = tmp_path / "damaged"
        shutil.copytree(dest, damaged)
        blob = next(p for p in (damaged / "blobs").rglob("*") if p.is_file())
        blob.write_bytes(blob.read_bytes().replace(b"edXML", b"edXYZ", 1))
        code, out = await edxgw(target, "restore", "--check", str(damaged))
        assert (code, "ops.backup_blob_corrupt" in out) == (1, True), out
        (damaged / MANIFEST).unlink()
        code, out = await edxgw(target, "restore", "--check", str(damaged))
        assert (code, "ops.restore_not_a_backup" in out) == (1, True), out
