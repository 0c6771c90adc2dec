"""``edxgw bench``: sustained end-to-end load on a real gateway, with its raw CPU ceiling beside it.

What is measured is what a sender and a receiver see: ``POST /api/v1/packages`` → sealed →
routed → published → consumed → the delivery row in the recipient's inbox (``delivered_at``).
The gateway runs as its own process (``python -m gateway serve``, the command operators run),
on the machine's RabbitMQ and a fresh store (a SQLite file by default; with ``--store
postgresql://...`` a new schema in that database, dropped after the run);
the load generator is this process, on the same 2 cores (as a real load balancer would not be:
the figures are conservative). For each package size:

1. **closed loop** — ``--concurrency`` clients submit as fast as answers come back for
   ``--seconds``; throughput is packages delivered to the inbox per second over the run;
2. **fixed rate** (10 KiB only) — ``--rate`` submissions per second on a timer whatever the
   answers; latency is submit-start → delivered_at, p50/p95/p99 (``--loads rate --seconds
   300``: that rate alone, held for five minutes);
3. **CPU** — user+system seconds of the gateway's event-loop process and of its worker
   processes over the run, from ``/proc``: worker CPU above 1.0 core means the CPU-heavy stages
   of concurrent requests ran in parallel, off the event loop; peak RSS (VmHWM) of each;
4. **raw ceiling** — the same package through ``gateway.core.process`` (parse, XSD, verify,
   seal: the CPU part, no I/O) in a loop on one core of this process, run when the gateway is
   idle, before and after the loads of each size (the mean is reported, both are printed);
   the ratio e2e / raw keeps the figure meaningful when the machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import aio_pika
import aiohttp
import asyncpg

import edxml
from edxml.build import build_tree, serialize
from edxml.compose import new_document
from edxml.model import VN_TZ
from edxml.signature import sign
from edxml.trust import SigningKey
from gateway.app import local_keys
from gateway.broker.topology import delay_label
from gateway.core import Context, Directory, Keys, Submission, process
from gateway.core.deliver import RetryPolicy
from gateway.dirfile import load_directory as read_directory_file
from gateway.service.hub import import_directory_file, token_hash
from gateway.settings import DEMO_DIRECTORY, DEV_CERTS
from gateway.store import System, open_store

__all__ = ["main"]

SENDER = "000.21.31.H53"  # a commune with a dev certificate (certs/dev)
RECIPIENT = "000.00.31.H53"  # its district, local on the demo hub
SIZES = {"10k": 10 * 1024, "1m": 1024 * 1024}


@dataclass
class Sample:
    start: float  # wall clock (time.time()) when the request was sent
    status: int
    doc_id: str | None
    answered: float


@dataclass
class Usage:
    """CPU seconds and peak RSS of the gateway's processes (event loop, workers)."""

    main_cpu: float = 0.0
    workers_cpu: float = 0.0
    main_peak: int = 0
    workers_peak: list[int] = field(default_factory=list)


# -- packages ------------------------------------------------------------------------------------


def _agency_key() -> SigningKey:
    return SigningKey.from_pem_files(
        DEV_CERTS / f"agency-{SENDER}.key", DEV_CERTS / f"agency-{SENDER}.crt"
    )


def make_packages(size: int, count: int, tag: str) -> list[bytes]:
    """``count`` distinct sender-signed documents of about ``size`` bytes each."""
    key = _agency_key()
    payload = max(size - 5200, 64) * 3 // 4
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + os.urandom(payload)
    now = dt.datetime.now(VN_TZ) - dt.timedelta(minutes=5)
    out = []
    for i in range(count):
        doc = new_document(
            sender=SENDER,
            recipients=[RECIPIENT],
            subject="V/v đo tải trục liên thông văn bản",
            code_number=f"{tag}{i}",
            code_notation="UBND-VP",
            signer="Nguyễn Văn A",
            files=[edxml.Attachment("1", "cv.pdf", "application/pdf", pdf)],
            now=now,
        )
        tree = build_tree(doc)
        sign(tree, key)
        out.append(serialize(tree))
    return out


# -- the gateway under test -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _prepare_store(dsn: str) -> str:
    """Directory and one bench system in a fresh store; returns the API token."""
    store = await open_store(dsn)
    try:
        await store.migrate()
        await import_directory_file(store, DEMO_DIRECTORY, node="bench")
        token = secrets.token_urlsafe(24)
        await store.upsert_system(
            System(
                system_id="bench",
                name="bench",
                token_sha256=token_hash(token),
                signature_policy="strict",
                validation_mode="lenient",
                agencies=(SENDER,),
            )
        )
        return token
    finally:
        await store.close()


async def _fresh_store(store: str, workdir: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh, empty store for one run, and how to drop it: a SQLite file in the scratch
    folder, or a new schema in the PostgreSQL database ``store`` names (dropped afterwards,
    so that runs never measure what earlier runs left behind)."""
    if store == "sqlite":
        return f"sqlite:///{workdir}/bench.db", _nothing
    schema = f"edxgw_bench_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(store)
    except asyncpg.InvalidCatalogNameError as exc:
        name = store.rsplit("/", 1)[-1].split("?", 1)[0]
        raise BenchError(
            f"{exc}: the bench makes a schema of its own in an existing database; create it "
            f"once (createdb -h 127.0.0.1 -U postgres {name}) or name another one"
        ) from None
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(store)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()

    return f"{store}{'&' if '?' in store else '?'}search_path={schema}", drop


class BenchError(Exception):
    """Why the bench cannot run, in one line for the operator."""


async def _nothing() -> None:
    return None


class Gateway:
    """``python -m gateway serve`` in a subprocess, in a scratch directory."""

    def __init__(self, workdir: Path, dsn: str, args: argparse.Namespace) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.prefix = f"bench{secrets.token_hex(3)}"
        self.env = {
            **os.environ,
            "EDXGW_STORE_DSN": dsn,
            "EDXGW_HTTP_PORT": str(self.port),
            "EDXGW_AMQP_URL": args.amqp_url,
            "EDXGW_AMQP_PREFIX": self.prefix,
            "EDXGW_AMQP_QUEUE_TYPE": args.queue_type,
            "EDXGW_WORKERS": str(args.workers),
            "EDXGW_LOG_LEVEL": "WARNING",
            # Stopped with SIGTERM, which drains: no load balancer to wait for here.
            "EDXGW_DRAIN_GRACE_SECONDS": "0",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.log = open(self.workdir / "gateway.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            cwd=self.workdir,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"gateway exited {self.proc.returncode}: "
                        + (self.workdir / "gateway.log").read_text()[-2000:]
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError("gateway did not become ready in 60 s")

    def pids(self) -> tuple[int, list[int]]:
        assert self.proc is not None
        children = []
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                text = Path(f"/proc/{self.proc.pid}/task/{tid}/children").read_text()
                children += [int(p) for p in text.split()]
        # The workers are the spawned python children (the resource tracker idles).
        return self.proc.pid, children

    async def stop(self, amqp_url: str) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        await _delete_queues(amqp_url, self.prefix)


async def _delete_queues(url: str, prefix: str) -> None:
    """Leave the broker as we found it: delete this run's queues and exchanges."""
    connection = await aio_pika.connect(url)
    try:
        names = [f"{prefix}.uplink", f"{prefix}.dead"]
        directory = read_directory_file(DEMO_DIRECTORY)
        names += [
            f"{prefix}.inbox.{key}"
            for key in local_keys(Directory(directory.agencies, directory.aliases))
        ]
        # The delays the gateway declared: the default policy (delivery_max_attempts = 8).
        names += [f"{prefix}.retry.{delay_label(d)}" for d in RetryPolicy().delays()]
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)
        for name in ("route", "unroutable", "dead"):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(f"{prefix}.{name}")
    finally:
        await connection.close()


# -- load ---------------------------------------------------------------------------------------


async def _submit(http: aiohttp.ClientSession, url: str, token: str, body: bytes) -> Sample:
    start = time.time()
    async with http.post(
        url + "/api/v1/packages",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
    ) as r:
        answer = await r.json(content_type=None)
    return Sample(start, r.status, answer.get("doc_id"), time.time())


async def closed_loop(
    url: str, token: str, packages: Sequence[bytes], concurrency: int, seconds: float
) -> list[Sample]:
    samples: list[Sample] = []
    deadline = time.monotonic() + seconds
    queue = iter(packages)

    async def client(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            body = next(queue, None)
            if body is None:
                return
            samples.append(await _submit(http, url, token, body))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return samples


async def fixed_rate(
    url: str, token: str, packages: Sequence[bytes], rate: float, seconds: float
) -> list[Sample]:
    count = min(len(packages), int(rate * seconds))
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector) as http:
        t0 = time.monotonic()
        tasks = []
        for i in range(count):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_submit(http, url, token, packages[i])))
        return list(await asyncio.gather(*tasks))


async def delivered_at(dsn: str, doc_ids: Sequence[str], timeout: float) -> dict[str, float]:
    """Wait until every doc's delivery is in the inbox; their delivered_at as epoch seconds."""
    store = await open_store(dsn)
    try:
        deadline = time.monotonic() + timeout
        found: dict[str, float] = {}
        pending = list(doc_ids)
        while pending and time.monotonic() < deadline:
            rest = []
            for doc_id in pending:
                deliveries = await store.list_deliveries(doc_id=doc_id)
                if deliveries and deliveries[0].delivered_at is not None:
                    found[doc_id] = deliveries[0].delivered_at.timestamp()
                else:
                    rest.append(doc_id)
            pending = rest
            if pending:
                await asyncio.sleep(0.2)
        return found
    finally:
        await store.close()


# -- measurements -------------------------------------------------------------------------------


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_hwm(pid: int) -> None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")


def usage_delta(before: dict[int, float], pids: tuple[int, list[int]]) -> Usage:
    main, workers = pids
    u = Usage()
    u.main_cpu = _cpu(main) - before.get(main, 0.0)
    u.workers_cpu = sum(_cpu(p) - before.get(p, 0.0) for p in workers)
    u.main_peak = _hwm(main)
    u.workers_peak = [_hwm(p) for p in workers]
    return u


def cpu_snapshot(pids: tuple[int, list[int]]) -> dict[int, float]:
    main, workers = pids
    for pid in (main, *workers):
        _reset_hwm(pid)
    return {pid: _cpu(pid) for pid in (main, *workers)}


def raw_ceiling(package: bytes, seconds: float) -> float:
    """core.process (parse, XSD, verify, seal; no I/O) in a loop on one core: packages/s."""
    keys = Keys.from_files(
        key_file=DEV_CERTS / "gateway.key",
        cert_file=DEV_CERTS / "gateway.crt",
        ca_files=[DEV_CERTS / "ca.crt"],
        crl_files=[DEV_CERTS / "ca.crl"],
    )
    directory = read_directory_file(DEMO_DIRECTORY)
    ctx = Context(
        node="bench",
        hub_organ_id="00.53.W00",
        keys=keys,
        directory=Directory(directory.agencies, directory.aliases),
        now=dt.datetime.now(dt.UTC),
    )
    sub = Submission(system_id="bench", senders=frozenset({SENDER}), data=package)
    process(sub, ctx)
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        result = process(sub, ctx)
        n += 1
    assert type(result).__name__ == "Accepted", result
    return n / elapsed


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Result:
    size: str
    mode: str
    offered: str
    sent: int
    accepted: int
    errors: int
    e2e_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    usage: Usage
    wall: float
    raw: float = 0.0  # the raw 1-core ceiling of this run (mean of before and after it)
    run: int = 1

    @property
    def cores_main(self) -> float:
        return self.usage.main_cpu / self.wall

    @property
    def cores_workers(self) -> float:
        return self.usage.workers_cpu / self.wall

    @property
    def ratio(self) -> float:
        return self.e2e_per_s / self.raw if self.raw else float("nan")


async def run_load(
    gw: Gateway,
    dsn: str,
    token: str,
    size: str,
    mode: str,
    packages: Sequence[bytes],
    args: argparse.Namespace,
) -> Result:
    before = cpu_snapshot(gw.pids())
    t0 = time.time()
    if mode == "closed":
        samples = await closed_loop(gw.url, token, packages, args.concurrency, args.seconds)
        offered = f"{args.concurrency} clients"
    else:
        samples = await fixed_rate(gw.url, token, packages, args.rate, args.seconds)
        offered = f"{args.rate:g}/s"
    ok = [s for s in samples if s.status == 202 and s.doc_id]
    done = await delivered_at(dsn, [s.doc_id for s in ok if s.doc_id], timeout=120)
    usage = usage_delta(before, gw.pids())
    latencies = [(done[s.doc_id] - s.start) * 1000 for s in ok if s.doc_id in done]
    last = max(done.values(), default=t0)
    wall = max(last - t0, 1e-9)
    return Result(
        size=size,
        mode=mode,
        offered=offered,
        sent=len(samples),
        accepted=len(ok),
        errors=len(samples) - len(ok),
        e2e_per_s=len(done) / wall,
        p50_ms=_pct(latencies, 50),
        p95_ms=_pct(latencies, 95),
        p99_ms=_pct(latencies, 99),
        usage=usage,
        wall=wall,
    )


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.0f}"


def _line(r: Result, load: str, **figures: float) -> str:
    """One table row: ``r``'s figures, or the ``figures`` given in their place (a median)."""
    f = {
        "sent": r.sent, "errors": r.errors, "e2e": r.e2e_per_s, "p50": r.p50_ms,
        "p95": r.p95_ms, "p99": r.p99_ms, "main": r.cores_main, "workers": r.cores_workers,
        "raw": r.raw, "ratio": r.ratio, "main_peak": r.usage.main_peak,
        "worker_peak": max(r.usage.workers_peak, default=0),
    } | figures  # fmt: skip
    return (
        f"| {r.size} | {load} | {f['sent']:.0f} | {f['errors']:.0f} | {f['e2e']:.0f} "
        f"| {f['p50']:.0f} | {f['p95']:.0f} | {f['p99']:.0f} | {f['main']:.2f} "
        f"| {f['workers']:.2f} | {f['raw']:.0f} | {f['ratio']:.2f} "
        f"| {_mib(int(f['main_peak']))} / {_mib(int(f['worker_peak']))} |\n"
    )


def _median_line(runs: Sequence[Result]) -> str:
    """One load's runs in one row: the median of each figure (errors: their sum; peak RSS:
    the highest)."""
    median = statistics.median
    r = runs[0]
    return _line(
        r,
        f"{r.mode} {r.offered}, median of {len(runs)}",
        sent=median(x.sent for x in runs),
        errors=sum(x.errors for x in runs),
        e2e=median(x.e2e_per_s for x in runs),
        p50=median(x.p50_ms for x in runs),
        p95=median(x.p95_ms for x in runs),
        p99=median(x.p99_ms for x in runs),
        main=median(x.cores_main for x in runs),
        workers=median(x.cores_workers for x in runs),
        raw=median(x.raw for x in runs),
        ratio=median(x.ratio for x in runs),
        main_peak=max(x.usage.main_peak for x in runs),
        worker_peak=max(max(x.usage.workers_peak, default=0) for x in runs),
    )


def report(results: Sequence[Result], args: argparse.Namespace, out: TextIO) -> None:
    store = "PostgreSQL" if args.store.startswith("postgres") else "SQLite"
    workers = args.workers or os.cpu_count()
    runs = f", {args.repeat} runs of each load" if args.repeat > 1 else ""
    out.write(
        f"\nedxgw bench — store {store}, {args.queue_type} queues, {workers} workers, "
        f"{os.cpu_count()} cores, {args.seconds:g} s per run{runs}\n\n"
    )
    out.write(
        "| size | load | sent | errors | e2e packages/s | p50 ms | p95 ms | p99 ms "
        "| loop CPU | workers CPU | raw 1-core /s | e2e ÷ raw | peak RSS loop / worker MiB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    for r in results:
        out.write(_line(r, f"{r.mode} {r.offered}" + (f" #{r.run}" if args.repeat > 1 else "")))
    if args.repeat > 1:
        loads: dict[tuple[str, str], list[Result]] = {}
        for r in results:
            loads.setdefault((r.size, r.mode), []).append(r)
        for runs_of_load in loads.values():
            out.write(_median_line(runs_of_load))
    out.write(
        "\nloop/workers CPU: cores busy in the gateway's event-loop process and in its worker "
        "processes (above 1.0 for workers: requests' CPU stages ran in parallel); raw 1-core: "
        "the mean of the raw ceiling measured before and after that run's loads"
        + ("; a median row takes the median of each column over the runs above it" if runs else "")
        + ".\n"
    )


async def _size(
    gw: Gateway, dsn: str, token: str, size: str, run: int, args: argparse.Namespace, out: TextIO
) -> list[Result]:
    """One package size in run ``run``: its closed loop and, for 10 KiB, the fixed rate (those
    of ``--loads``), with the raw ceiling measured before and after the run's loads. Every run
    sends packages of its own (the same ones again would be duplicates, answered without
    work)."""
    closed = "closed" in args.loads
    rate = "rate" in args.loads and size == "10k"
    if not (closed or rate):
        return []  # the fixed rate alone, for a size that has none
    rate_needed = int(args.rate * args.seconds) + 10 if rate else 0
    # Enough for the whole closed loop at well above this machine's rates (10 KiB ~390/s,
    # 1 MiB ~60/s): a loop that runs out early measures less than --seconds of load.
    closed_needed = int((600 if size == "10k" else 100) * args.seconds) if closed else 0
    count = max(closed_needed, rate_needed)
    warm = make_packages(SIZES[size], 20, f"w{size}-{secrets.token_hex(2)}-")
    await closed_loop(gw.url, token, warm, 4, 30)  # JIT-free, but caches and pools
    tag = f" (run {run} of {args.repeat})" if args.repeat > 1 else ""
    out.write(f"making {count} packages of {size}…\n")
    packages = make_packages(SIZES[size], count, f"{size}-{secrets.token_hex(2)}-")
    before = await asyncio.to_thread(raw_ceiling, packages[0], args.raw_seconds)
    out.write(f"raw ceiling {size}{tag}: {before:.0f}/s\n")
    runs = []
    if closed:
        runs.append(await run_load(gw, dsn, token, size, "closed", packages[:closed_needed], args))
        out.write(f"closed loop {size}{tag}: {runs[-1].e2e_per_s:.0f}/s e2e\n")
    if rate:
        rest = (
            packages[closed_needed:]
            if len(packages) - closed_needed >= rate_needed
            else make_packages(SIZES[size], rate_needed, f"r{secrets.token_hex(2)}-")
        )
        runs.append(await run_load(gw, dsn, token, size, "rate", rest, args))
        out.write(f"fixed rate {size}{tag}: p99 {runs[-1].p99_ms:.0f} ms\n")
    after = await asyncio.to_thread(raw_ceiling, packages[0], args.raw_seconds)
    out.write(f"raw ceiling {size} after the loads{tag}: {after:.0f}/s\n")
    for r in runs:
        r.raw, r.run = (before + after) / 2, run
    return runs


async def _one_run(run: int, args: argparse.Namespace, out: TextIO) -> list[Result]:
    """Run ``run`` of ``--repeat``: a gateway of its own on a fresh, empty store, so that no
    run measures what an earlier one left behind (a bigger database, a warmer cache)."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="edxgw-bench-") as tmp:
        workdir = Path(tmp)
        dsn, drop = await _fresh_store(args.store, workdir)
        try:
            token = await _prepare_store(dsn)
            gw = Gateway(workdir, dsn, args)
            await gw.start()
            try:
                for size in args.sizes:
                    results += await _size(gw, dsn, token, size, run, args, out)
            finally:
                await gw.stop(args.amqp_url)
        finally:
            await drop()
    return results


async def bench(args: argparse.Namespace, out: TextIO) -> list[Result]:
    results: list[Result] = []
    for run in range(1, args.repeat + 1):
        results += await _one_run(run, args, out)
    # The table groups by size, each size's runs in order (sorted() is stable).
    results = sorted(results, key=lambda r: args.sizes.index(r.size))
    report(results, args, out)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [r.__dict__ | {"usage": r.usage.__dict__} for r in results], indent=2, default=str
            )
        )
    return results


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    p = argparse.ArgumentParser(prog="edxgw bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--store",
        default="sqlite",
        help="'sqlite' (a fresh file) or a postgresql:// DSN (a fresh schema in that database, "
        "dropped afterwards)",
    )
    p.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--queue-type", choices=["quorum", "classic"], default="quorum")
    p.add_argument("--workers", type=int, default=0, help="worker processes (0: one per core)")
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["10k", "1m"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rate", type=float, default=150.0)
    p.add_argument(
        "--loads",
        nargs="+",
        choices=["closed", "rate"],
        default=["closed", "rate"],
        help="which loads to run: the closed loop, the fixed rate (10 KiB only), or both; "
        "'--sizes 10k --loads rate --seconds 300' holds --rate for five minutes",
    )
    p.add_argument(
        "--raw-seconds",
        type=float,
        default=3.0,
        help="length of each raw-ceiling measurement (before and after each size's loads)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each size's loads this many times, each run with a gateway of its own on a "
        "fresh store and fresh packages, and add a row with the median of each figure: one "
        "run on a shared VM can be 20%% off",
    )
    p.add_argument("--json", help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be 1 or more")
    try:
        asyncio.run(bench(args, out or sys.stdout))
    except BenchError as exc:
        print(f"edxgw bench: {exc}", file=sys.stderr)
        return 2
    return 0
