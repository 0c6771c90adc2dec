"""Two ``edxgw serve`` processes on one PostgreSQL and one RabbitMQ, under load: kill -9 one of
them, or restart both in turn with ``edxgw drain`` — nothing is lost, nothing is duplicated.

The nodes are what an operator runs (``python -m gateway serve``, own node name, port, spool
and control socket; the blob folder, the store and the queues shared). A load generator posts
signed packages to both as a load balancer would: on a connection error or a 503 it sends the
same package to the other node. What is checked afterwards, from the store and the broker:

- every package was accepted exactly once (one message per DocumentId; every answer for a
  package, retries included, carries the same DocId);
- every delivery reached the inbox, exactly one ``deliver/delivered`` event per delivery, one
  inbox row per (document, recipient), no unpublished outbox row, no message left in a queue
  or dead-lettered;
- the trace chain verifies (``edxgw trace verify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from gateway.service.hub import import_directory_file, token_hash
from gateway.store import System, open_store
from tests.gateway.e2e.conftest import DIRECTORY, wait_for
from tests.gateway.e2e.packages import document
from tests.gateway.store.conftest import throwaway_database
from tests.gateway.test_serve import free_port, serve_env

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]

HUYEN = "000.00.31.H53"  # the sender (a district with a development certificate)
TO = ["000.00.00.H53", "000.00.01.H53"]  # two local recipients: two deliveries a package
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Cluster:
    """What the nodes of one hub share, and the API token of the sending system."""

    dsn: str
    amqp_url: str
    prefix: str
    blobs: Path
    base: Path
    token: str
    control: Path  # short: a Unix socket path must stay under ~100 bytes


class Node:
    """One ``python -m gateway serve`` in its own session (kill -9 takes its workers too)."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.port = free_port()
        self.cwd = cluster.base / name
        self.cwd.mkdir(exist_ok=True)
        self.proc: asyncio.subprocess.Process | None = None
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        c = self.cluster
        return serve_env(
            node=self.name,
            http_port=str(self.port),
            store_dsn=c.dsn,
            blob_dir=str(c.blobs),
            spool_dir=str(self.cwd / "spool"),
            control_dir=str(c.control),
            amqp_url=c.amqp_url,
            amqp_prefix=c.prefix,
            # Classic queues: the same redelivery and confirm semantics as quorum ones, and much
            # lighter on the broker this machine's other tests share.
            amqp_queue_type="classic",
            directory_file="",
            workers="1",
            relay_lease_seconds="12",
            drain_grace_seconds="1",
            drain_timeout_seconds="30",
            directory_refresh_seconds="5",
            log_level="WARNING",
            log_format="console",
        )

    @property
    def log(self) -> Path:
        return self.cwd / f"serve-{self.runs}.log"

    async def start(self) -> None:
        self.runs += 1
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
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self, session: aiohttp.ClientSession) -> None:
        restarts = 0

        async def probe() -> bool:
            nonlocal restarts
            assert self.proc is not None
            if self.proc.returncode == 3 and restarts < 2:
                # RabbitMQ did not answer in time at start (this machine's broker is shared
                # and busy): exit 3, and the restart policy of a deployment starts it again.
                restarts += 1
                await self.start()
                return False
            if self.proc.returncode is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            try:
                async with session.get(f"{self.url}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(probe, 90, f"{self.name} ready", interval=0.2)

    def signal(self, sig: signal.Signals) -> None:
        """A signal to the node's whole process group: its event loop and its workers."""
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    async def exited(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def drain(self) -> tuple[int, str]:
        """``edxgw drain`` as an operator types it next to the node (same configuration)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "drain",
            "--reason",
            "rolling restart",
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


@dataclass
class Load:
    """Clients posting packages to the nodes as a load balancer would (module docstring)."""

    nodes: list[Node]
    token: str
    clients: int = 6
    rate: float = 25.0  # packages a second, at most
    answers: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    accepted_by: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    packages: list[bytes] = field(default_factory=list)
    tag: str = "p"

    async def run(self, stop: asyncio.Event, limit: int) -> None:
        """Post up to ``limit`` packages (made as they are needed), until ``stop`` is set."""
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def feed() -> None:
            loop = asyncio.get_running_loop()
            for i in range(limit):
                if stop.is_set():
                    break
                start = loop.time()
                data = await asyncio.to_thread(document, HUYEN, TO, f"{self.tag}{i}")
                self.packages.append(data)
                await queue.put(i)
                await asyncio.sleep(max(1 / self.rate - (loop.time() - start), 0))

        # A node that hangs must not hold a client for long: 5 s, then the other node.
        timeout = aiohttp.ClientTimeout(total=60, sock_connect=3, sock_read=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            feeder = asyncio.create_task(feed())
            workers = [
                asyncio.create_task(self._client(session, queue, n)) for n in range(self.clients)
            ]
            await feeder
            await queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _client(
        self, session: aiohttp.ClientSession, queue: asyncio.Queue[int], n: int
    ) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"}
        while True:
            i = await queue.get()
            try:
                await self._send(session, i, n, headers)
            finally:
                queue.task_done()

    async def _send(
        self, session: aiohttp.ClientSession, i: int, n: int, headers: dict[str, str]
    ) -> None:
        attempt = 0
        while True:
            node = self.nodes[(i + n + attempt) % len(self.nodes)]
            attempt += 1
            try:
                async with session.post(
                    f"{node.url}/api/v1/packages", data=self.packages[i], headers=headers
                ) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                self.retries["connection"] += 1
                await asyncio.sleep(0.2)
                continue
            if status in (200, 202):
                self.answers[i].append(body["doc_id"])
                self.accepted_by[body["receipt"]["receipt"]["node"]] += 1
                return
            if status == 503:
                self.retries[str(body.get("code"))] += 1
                await asyncio.sleep(0.2)
                continue
            self.unexpected.append(f"{status} {body}")
            return


@pytest.fixture
def pg_hub() -> Iterator[str]:
    with throwaway_database("edxgw_nodes") as dsn:
        yield dsn


@pytest.fixture
async def cluster(pg_hub: str, amqp_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """A prepared hub store (as ``edxgw migrate`` and ``directory import`` leave it), with a
    system for the sending district; a fresh AMQP prefix; a shared blob folder."""
    store = await open_store(pg_hub)
    token = secrets.token_urlsafe(16)
    try:
        await store.migrate()
        await import_directory_file(store, DIRECTORY, node="setup")
        await store.upsert_system(
            System(
                system_id="huyen",
                name="QLVB huyện",
                token_sha256=token_hash(token),
                signature_policy="lenient",
                validation_mode="lenient",
                agencies=(HUYEN,),
            )
        )
    finally:
        await store.close()
    control = Path(tempfile.mkdtemp(prefix="edxgw-"))
    try:
        yield Cluster(
            dsn=pg_hub,
            amqp_url=amqp_url,
            prefix=f"n{secrets.token_hex(3)}",
            blobs=tmp_path / "blobs",
            base=tmp_path,
            token=token,
            control=control,
        )
    finally:
        for sock in control.iterdir():
            sock.unlink()
        control.rmdir()


@pytest.fixture
async def nodes(cluster: Cluster) -> AsyncIterator[list[Node]]:
    started = [Node(cluster, "node-1"), Node(cluster, "node-2")]
    try:
        yield started
    finally:
        for node in started:
            await node.stop()


async def _start(nodes: list[Node]) -> None:
    for node in nodes:
        await node.start()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(n.ready(session) for n in nodes))


async def _settled(cluster: Cluster, packages: int, timeout: float) -> None:
    """Wait until every package's every delivery is in the inbox and the outbox is empty.

    Both: a row a killed relay published (and RabbitMQ confirmed) but never marked is
    delivered at once, yet stays unpublished in the outbox until its lease runs out and
    another relay publishes it again (a copy the consumer answers "already delivered").
    """
    conn = await asyncpg.connect(cluster.dsn)
    try:

        async def probe() -> bool:
            states = dict(await conn.fetch("SELECT state, count(*) FROM deliveries GROUP BY state"))
            left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            return states == {"delivered": packages * len(TO)} and left == 0

        await wait_for(
            probe, timeout, "every delivery in the inbox, the outbox empty", interval=0.5
        )
    finally:
        await conn.close()


def _ctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def _unacked_in_inboxes(cluster: Cluster) -> int:
    """Messages RabbitMQ handed out from this hub's inbox queues and has not seen acknowledged.

    Counted per queue (``list_queues``), not per connection: ``list_connections`` and
    ``list_channels`` sometimes answer with no row at all while a peer is SIGSTOPped.
    """
    return sum(unacked for name, (_, unacked) in _queues(cluster).items() if ".inbox." in name)


def _queues(cluster: Cluster) -> dict[str, tuple[int, int]]:
    """This hub's queues: name -> (ready, unacknowledged) messages."""
    vhost = cluster.amqp_url.rsplit("/", 1)[1]
    out = {}
    for line in _ctl(
        "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"
    ).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(cluster.prefix + "."):
            out[parts[0]] = (int(parts[1]), int(parts[2]))
    return out


async def _check(cluster: Cluster, load: Load) -> dict[str, Any]:
    """Zero loss, zero duplicates (module docstring); returns figures for the report."""
    assert load.unexpected == []
    sent = len(load.packages)
    assert sorted(load.answers) == list(range(sent)), "a package was never accepted"
    for i, doc_ids in load.answers.items():
        assert len(set(doc_ids)) == 1, f"package {i} got several DocIds: {doc_ids}"
    conn = await asyncpg.connect(cluster.dsn)
    try:
        messages = await conn.fetch(
            "SELECT document_id, count(*) AS n FROM messages GROUP BY document_id"
        )
        assert len(messages) == sent and {r["n"] for r in messages} == {1}
        doc_ids = {r["doc_id"] for r in await conn.fetch("SELECT doc_id FROM messages")}
        assert doc_ids == {ids[0] for ids in load.answers.values()}
        per_pair = await conn.fetch(
            "SELECT doc_id, recipient, count(*) AS n FROM deliveries GROUP BY doc_id, recipient"
        )
        assert len(per_pair) == sent * len(TO) and {r["n"] for r in per_pair} == {1}
        recorded = await conn.fetch(
            "SELECT detail->>'delivery_id' AS id, count(*) AS n, min(node) AS node"
            " FROM trace_events WHERE stage = 'deliver' AND outcome = 'delivered' GROUP BY 1"
        )
        ids = {r["id"] for r in await conn.fetch("SELECT delivery_id AS id FROM deliveries")}
        assert {r["id"] for r in recorded} == ids
        assert {r["n"] for r in recorded} == {1}, "a delivery was recorded twice"
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        assert unpublished == 0
        reclaimed = await conn.fetchval("SELECT count(*) FROM outbox WHERE attempts > 1")
        by_node = Counter(r["node"] for r in recorded)
    finally:
        await conn.close()

    # Copies a relay published twice (a killed node's confirmed but unmarked rows, published
    # again after their lease) are consumed and acked as AlreadyDone: the queues end empty.
    async def empty() -> bool:
        queues = await asyncio.to_thread(_queues, cluster)
        return bool(queues) and all(v == (0, 0) for v in queues.values())

    await wait_for(empty, 60, "empty queues", interval=1.0)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "trace", "verify",
        cwd=cluster.base, env=serve_env(store_dsn=cluster.dsn, node="verify",
                                        archive_dir=str(cluster.base / "archive")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return {
        "packages": sent,
        "deliveries": len(ids),
        "accepted_by": dict(load.accepted_by),
        "delivered_by": dict(by_node),
        "client_retries": dict(load.retries),
        "outbox_rows_reclaimed": reclaimed,
    }


async def test_kill_9_one_node_under_load(cluster: Cluster, nodes: list[Node]) -> None:
    """Node 1 is caught holding work and killed with SIGKILL, its workers with it; node 2
    finishes everything, once.

    To catch it holding work every time (not only when the kill happens to land in the
    middle of something), node 1 is first frozen (SIGSTOP) at a moment its relay holds a
    lease on outbox rows it has not published yet, and kept frozen while the load goes on
    until RabbitMQ has handed its consumers messages it never acknowledges. Then SIGKILL.
    Node 2 must re-claim the leased rows once the lease expires (``relay_lease_seconds``)
    and get the unacknowledged messages redelivered. A freeze that lands inside one of node
    1's transactions holds the ``trace_head`` lock: node 2 waits until PostgreSQL ends that
    session (``idle_in_transaction_session_timeout``, 10 s), then goes on."""
    one, two = nodes
    await _start(nodes)
    load = Load(nodes, cluster.token, tag="k")
    stop = asyncio.Event()
    traffic = asyncio.create_task(load.run(stop, 5000))  # until stopped below
    await wait_for(lambda: _ready_after(load, "node-1", 20), 120, "node-1 accepting packages")
    conn = await asyncpg.connect(cluster.dsn)
    try:
        leased = await _freeze_holding_a_lease(one, conn, 120)

        async def holding() -> int:
            # Node 2 acknowledges within milliseconds; what stays unacknowledged for a second
            # and a half, in three looks, is what RabbitMQ handed to the frozen node 1.
            looks = []
            for _ in range(3):
                looks.append(await asyncio.to_thread(_unacked_in_inboxes, cluster))
                await asyncio.sleep(0.5)
            return min(looks)

        held = await wait_for(holding, 60, "node-1 holding unacknowledged messages", interval=0)
        one.signal(signal.SIGKILL)
        assert await one.exited(30) == -signal.SIGKILL
        before = sum(load.accepted_by.values())
        await wait_for(lambda: _grown(load, before, 30), 120, "load after the kill")
        stop.set()
        await asyncio.wait_for(traffic, 300)
        await _settled(cluster, len(load.packages), 120)
        figures = await _check(cluster, load)
        # The rows node 1 had leased were published by node 2, after the lease ran out.
        rows = await conn.fetch(
            "SELECT o.attempts, e.node FROM outbox o JOIN trace_events e"
            " ON e.stage = 'publish' AND e.detail->>'delivery_id' = o.delivery_id"
            " WHERE o.id = ANY($1::bigint[])",
            leased,
        )
    finally:
        await conn.close()
    assert len(rows) == len(leased) and all(r["attempts"] >= 2 for r in rows)
    assert {r["node"] for r in rows} == {two.name}
    assert held > 0  # and they were all redelivered to node 2 and recorded once (_check)
    figures.update(outbox_rows_leased_by_the_killed_node=len(leased), unacked_it_held=held)
    print(f"\nkill -9 under load: {figures}")
    assert figures["accepted_by"]["node-1"] >= 20 and figures["accepted_by"]["node-2"] > 0
    assert "Traceback" not in two.output(), two.output()


async def _freeze_holding_a_lease(
    node: Node, conn: asyncpg.Connection, timeout: float
) -> list[int]:
    """SIGSTOP ``node`` at a moment its relay holds leased, unpublished outbox rows; their ids.

    A relay holds a lease from its claim to the commit that marks the rows published: a few
    milliseconds, a dozen times a second under this load. Looking first and freezing after
    mostly comes too late, so freeze first, look, and let it go again if it holds nothing.
    """
    query = (
        "SELECT id FROM outbox WHERE published_at IS NULL AND claimed_by = $1"
        " AND claimed_until > now()"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        node.signal(signal.SIGSTOP)
        held = [int(r["id"]) for r in await conn.fetch(query, node.name)]
        if held:
            # A commit the node sent just before the stop may still land (PostgreSQL runs it,
            # not the frozen node): look again once it has, keep what is still unpublished.
            await asyncio.sleep(0.1)
            still = {int(r["id"]) for r in await conn.fetch(query, node.name)}
            held = [i for i in held if i in still]
        if held:
            return held
        node.signal(signal.SIGCONT)
        await asyncio.sleep(0.003)
    raise AssertionError(f"{node.name} never held an outbox lease within {timeout}s")


async def _ready_after(load: Load, node: str, count: int) -> bool:
    return load.accepted_by[node] >= count


async def test_rolling_restart_under_load(cluster: Cluster, nodes: list[Node]) -> None:
    await _start(nodes)
    load = Load(nodes, cluster.token, rate=20.0, tag="r")
    stop = asyncio.Event()
    traffic = asyncio.create_task(load.run(stop, 5000))
    await wait_for(lambda: _ready_after(load, "node-2", 10), 120, "load on both nodes")
    outputs = []
    async with aiohttp.ClientSession() as session:
        for node in nodes:
            code, out = await node.drain()
            outputs.append(out)
            assert code == 0, f"{out}\n{node.output()}"
            assert await node.exited(30) == 0, node.output()
            assert "drained and stopped" in out
            for step in ("refuse", "grace", "requests", "relay", "consumers", "downlink"):
                assert step in out, out
            conn = await asyncpg.connect(cluster.dsn)
            try:
                # The relay published what it had claimed before the node exited.
                held = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND claimed_by = $1",
                    node.name,
                )
            finally:
                await conn.close()
            assert held == 0
            assert "Traceback" not in node.output(), node.output()
            await node.start()
            await node.ready(session)
            before = sum(load.accepted_by.values())
            await wait_for(
                lambda before=before: _grown(load, before, 5), 120, "load after the restart"
            )
    stop.set()
    await asyncio.wait_for(traffic, 240)
    sent = len(load.packages)
    await _settled(cluster, sent, 120)
    figures = await _check(cluster, load)
    print(f"\nrolling restart under load: {figures}")
    for node in nodes:
        assert "Traceback" not in node.output(), node.output()


async def _grown(load: Load, before: int, more: int) -> bool:
    return sum(load.accepted_by.values()) >= before + more
