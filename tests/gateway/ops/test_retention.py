"""Retention on a real hub (the use cases of ``Hub`` on SQLite and PostgreSQL, real blobs,
the hub key): archive, purge, verify.

Documents are really submitted (sealed, blobs fsync'ed), handed over and answered; retention
then runs with a clock moved weeks ahead. Checked: what is archived and purged, what stays (in
flight), that the archives and the live chain verify, that tampering names the archive, the
410 for a purged package, the lease, the periodic task, and the ``edxgw retention`` /
``edxgw trace verify`` commands. RabbitMQ plays no part in retention: the hand-over is
recorded in the store as the relay and the consumer would.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sqlite3
import tarfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from edxml.trust import SigningKey
from gateway.blobs import BlobStore
from gateway.core.archive import ArchiveBroken, package_member, sign_manifest
from gateway.core.keys import Keys
from gateway.ops.archives import verify_archives
from gateway.ops.commands import archive_trust
from gateway.ops.retention import Retention, RetentionBusy, periodic
from gateway.service.hub import Hub, Refused, import_directory_file, load_directory
from gateway.settings import Settings
from gateway.store import Store, System, open_store, sqlite_path
from tests.gateway.core.factories import CERTS
from tests.gateway.e2e.conftest import DIRECTORY
from tests.gateway.e2e.packages import document
from tests.gateway.test_serve import edxgw

TINH = "000.00.00.H53"
HUYEN = "000.00.31.H53"


@dataclass
class Bench:
    """A hub without its doors and broker: what retention works on."""

    hub: Hub
    settings: Settings
    folder: Path  # archive_dir
    systems: dict[str, System]

    @property
    def store(self) -> Store:
        return self.hub.store

    async def exchange(self, *numbers: str) -> list[str]:
        """A document per number from the district to the province, handed over to the
        province's inbox (published and recorded, as the relay and consumer do)."""
        ids = []
        for number in numbers:
            data = document(HUYEN, [TINH], number)
            receipt = await self.hub.submit(self.hub.submission(self.systems["huyen"], data=data))
            [delivery_id] = [r["delivery_id"] for r in receipt.recipients]
            rows = await self.store.claim_outbox(100, "relay", 30)
            await self.store.mark_published([r.id for r in rows])
            assert await self.store.record_delivery(delivery_id)
            ids.append(delivery_id)
        return ids

    async def ack(self, delivery_id: str, ok: bool = True) -> None:
        await self.hub.acknowledge(self.systems["tinh"], delivery_id, ok=ok, reason="test")

    async def fetch(self, delivery_id: str) -> bytes:
        _, _, body = await self.hub.fetch(self.systems["tinh"], delivery_id)
        return body if isinstance(body, bytes) else body.read_bytes()

    def retention(self, days_ahead: int, node: str = "ops-test") -> Retention:
        """30 days kept, as if run ``days_ahead`` days from now."""
        now = datetime.now(UTC) + timedelta(days=days_ahead)
        return Retention(
            store=self.store,
            blobs=self.hub.blobs,
            keys=self.hub.keys,
            archive_dir=self.folder,
            node=node,
            hub=self.settings.hub_organ_id,
            days=30,
            clock=lambda: now,
            fsync=False,
        )

    def env(self) -> dict[str, str]:
        return {
            "EDXGW_STORE_DSN": self.settings.store_dsn,
            "EDXGW_BLOB_DIR": str(self.settings.blob_dir),
            "EDXGW_ARCHIVE_DIR": str(self.folder),
            "EDXGW_NODE": "admin",
        }


@pytest.fixture
async def bench(
    store_dsn: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Bench]:
    """A hub whose packages are blob files, or (parametrized ``indirect``) kept in the store
    up to ``request.param`` bytes."""
    settings = Settings.from_mapping(
        {
            "store_dsn": store_dsn,
            "blob_dir": str(tmp_path / "blobs"),
            "archive_dir": str(tmp_path / "archive"),
            "directory_file": str(DIRECTORY),
            "fsync": "false",
        }
    )
    store = await open_store(store_dsn)
    try:
        await store.migrate()
        await import_directory_file(store, DIRECTORY, node="setup")
        systems = {
            name: System(
                system_id=name,
                name=name,
                signature_policy="lenient",
                validation_mode="lenient",
                agencies=(organ,),
            )
            for name, organ in (("huyen", HUYEN), ("tinh", TINH))
        }
        for system in systems.values():
            await store.upsert_system(system)
        hub = Hub(
            store=store,
            blobs=BlobStore(settings.blob_dir, fsync=False),
            keys=Keys.from_files(
                key_file=settings.key_file,
                cert_file=settings.cert_file,
                ca_files=settings.ca_files,
                crl_files=settings.crl_files,
            ),
            node="node-1",
            hub_organ_id=settings.hub_organ_id,
            exchange="edxgw.route",
            directory=await load_directory(store),
            fsync=False,
            inline_limit=getattr(request, "param", 0),
        )
        yield Bench(hub, settings, tmp_path / "archive", systems)
    finally:
        await store.close()


async def raw(dsn: str, sql: str) -> None:
    """SQL behind the store's back (what someone with database access could do)."""
    if dsn.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(dsn))
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(dsn)
    try:
        await pg.execute(sql)
    finally:
        await pg.close()


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            assert fh is not None
            out[m.name] = fh.read()
        return out


def repack(path: Path, content: dict[str, bytes]) -> str:
    """Write ``content`` as the archive at ``path``; returns the new file's SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.mark.parametrize("bench", [0, 128 * 1024], ids=["files", "inline"], indirect=True)
async def test_archive_purge_and_verify_keep_what_is_in_flight(bench: Bench) -> None:
    b, folder = bench, bench.folder
    done, open_, failed = await b.exchange("201", "202", "203")
    sealed = await b.fetch(done)
    await b.ack(done)
    await b.ack(failed, ok=False)
    doc_of, blob_of = {}, {}
    for d in (done, open_, failed):
        delivery = await b.store.get_delivery(d)
        assert delivery is not None
        message = await b.store.get_message(delivery.doc_id)
        assert message is not None
        doc_of[d], blob_of[d] = delivery.doc_id, message.blob_key

    report = await b.retention(31).run()

    [first] = report.archives
    assert report.messages_purged == 2 and report.blobs_deleted == 2
    packages = b.hub.packages
    assert not await packages.exists(blob_of[done])
    assert not await packages.exists(blob_of[failed])
    assert await packages.exists(blob_of[open_])  # handed over, never answered: in flight
    # Each package is where the hub's limit put it: a file, or a row of the store.
    inline = b.hub.inline_limit > 0
    assert (await b.store.get_blob(blob_of[open_]) is not None) is inline
    assert b.hub.blobs.exists(blob_of[open_]) is not inline
    content = members(folder / first.name)
    names = list(content)
    assert names[:2] == ["trace.jsonl", "messages.jsonl"]
    assert names[-2:] == ["manifest.json", "manifest.sig"]
    assert content[package_member(doc_of[done])] == sealed  # byte for byte
    purged = [json.loads(line) for line in content["messages.jsonl"].splitlines()]
    assert sorted(p["message"]["doc_id"] for p in purged) == sorted([doc_of[done], doc_of[failed]])
    assert {p["deliveries"][0]["state"] for p in purged} == {"done", "failed"}
    manifest = json.loads(content["manifest.json"])
    assert manifest["previous"] is None and manifest["number"] == 1
    assert manifest["trace"]["first_seq"] == 1 and manifest["trace"]["count"] == first.events
    assert len(content["trace.jsonl"].splitlines()) == first.events == first.last_seq

    # The purged documents left the live trace; the one in flight keeps its whole timeline.
    assert await b.store.trace_for(doc_of[done]) == []
    stages = [r.stage for r in await b.store.trace_for(doc_of[open_])]
    assert stages[:2] == ["receive", "validate"] and "seal" in stages
    verified = await verify_archives(b.store, folder, archive_trust(b.settings))
    assert (verified.archives, verified.archived_events, verified.packages) == (1, first.events, 2)
    assert verified.live.ok and verified.live.checked > 0

    # A purged package is gone from the inbox with a clear answer (the REST and VDXP doors
    # render it as 410); the other one is still there.
    with pytest.raises(Refused) as info:
        await b.fetch(done)
    problem = info.value.problem
    assert (problem.http_status, problem.code) == (410, "ops.retention.purged")
    assert first.name in problem.message_en and first.name in problem.message_vi
    assert await b.fetch(open_)

    # Once answered (and 30 days later) the last one goes too, into an archive that names
    # the first; its entries kept back in the live table are deleted now.
    await b.ack(open_)
    second_run = await b.retention(62).run()
    [second] = second_run.archives
    assert second_run.messages_purged == 1
    assert second.first_seq == first.last_seq + 1 and second.number == 2
    manifest2 = json.loads(members(folder / second.name)["manifest.json"])
    assert manifest2["previous"] == {"number": 1, "name": first.name, "sha256": first.sha256}
    assert await b.store.trace_for(doc_of[open_]) == []
    verified = await verify_archives(b.store, folder, archive_trust(b.settings))
    assert (verified.archives, verified.packages) == (2, 3) and verified.live.ok
    # A third run has nothing but the second run's own entry to archive.
    [third] = (await b.retention(62).run()).archives
    lines = members(folder / third.name)["trace.jsonl"].splitlines()
    assert (third.messages, [json.loads(x)["stage"] for x in lines]) == (0, ["retention"])

    code, out = await edxgw(b.env(), "trace", "verify")
    assert code == 0, out
    assert "archives OK: 3 files" in out and "trace chain OK" in out
    code, out = await edxgw(b.env(), "retention", "list")
    assert code == 0 and first.name in out and second.name in out, out


async def test_tampering_names_the_archive(bench: Bench, tmp_path: Path) -> None:
    b, folder = bench, bench.folder
    dsn = b.settings.store_dsn
    [d1, d2] = await b.exchange("301", "302")
    await b.ack(d1)
    [first] = (await b.retention(31).run()).archives
    await b.ack(d2)
    [second] = (await b.retention(62).run()).archives
    trust = archive_trust(b.settings)
    path = folder / first.name
    original = path.read_bytes()
    content = members(path)

    async def broken(code: str, name: str = first.name) -> ArchiveBroken:
        with pytest.raises(ArchiveBroken) as info:
            await verify_archives(b.store, folder, trust)
        assert (info.value.archive, info.value.code) == (name, code), info.value
        return info.value

    async def register(number: int, sha256: str) -> None:
        await raw(dsn, f"UPDATE trace_archives SET sha256 = '{sha256}' WHERE number = {number}")

    # 1. One byte of the file changed: its SHA-256 no longer is the registered one.
    path.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    await broken("ops.retention.archive_altered")
    code, out = await edxgw(b.env(), "trace", "verify")
    assert code == 1 and first.name in out and "ops.retention.archive_altered" in out, out

    # 2. An entry rewritten and the file hash registered again (someone with database
    #    access): the chain breaks at that entry.
    lines = content["trace.jsonl"].splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["outcome"] = "rejected"
    lines[1] = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
    await register(1, repack(path, {**content, "trace.jsonl": b"".join(lines)}))
    error = await broken("ops.retention.chain_broken")
    assert "entry 2" in error.message_en

    # 3. Everything recomputed and signed again, by an agency's key (a certificate of the
    #    same CA): not the hub's signature.
    manifest = json.loads(content["manifest.json"])
    agency = SigningKey.from_pem_files(CERTS / f"agency-{HUYEN}.key", CERTS / f"agency-{HUYEN}.crt")
    forged_manifest, forged_sig = sign_manifest(manifest, agency)
    forged = {**content, "manifest.json": forged_manifest, "manifest.sig": forged_sig}
    await register(1, repack(path, forged))
    error = await broken("ops.retention.signature_invalid")
    assert HUYEN in error.message_en

    # 4. The manifest edited after signing (its signature no longer matches).
    manifest["messages"]["count"] = 0
    edited = {**content, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}
    await register(1, repack(path, edited))
    await broken("ops.retention.signature_invalid")

    # 5. The first archive swapped for another valid-looking file: the second one's link
    #    to it (the SHA-256 it names) breaks.
    path.write_bytes(original)
    await register(1, first.sha256)
    assert (await verify_archives(b.store, folder, trust)).archives == 2
    await register(2, "0" * 64)  # the register of the second altered instead
    await broken("ops.retention.archive_altered", second.name)
    await register(2, second.sha256)

    # 6. A file removed.
    (folder / second.name).rename(tmp_path / "elsewhere.tar.gz")
    await broken("ops.retention.archive_missing", second.name)
    code, out = await edxgw(b.env(), "trace", "verify")
    assert code == 1 and second.name in out and "ops.retention.archive_missing" in out, out


async def test_an_entry_kept_back_must_match_its_archived_copy(bench: Bench) -> None:
    b = bench
    [open_] = await b.exchange("401")  # never answered: its entries stay in the live table
    [record] = (await b.retention(31).run()).archives
    delivery = await b.store.get_delivery(open_)
    assert delivery is not None
    kept = await b.store.trace_for(delivery.doc_id)
    assert kept and all(r.seq <= record.last_seq for r in kept)
    assert (await verify_archives(b.store, b.folder, archive_trust(b.settings))).live.ok
    dsn = b.settings.store_dsn
    if dsn.startswith("sqlite"):
        await raw(dsn, "DROP TRIGGER trace_events_no_update")
    else:
        await raw(dsn, "ALTER TABLE trace_events DISABLE TRIGGER trace_events_append_only")
    await raw(dsn, f"UPDATE trace_events SET node = 'forged' WHERE seq = {kept[0].seq}")
    with pytest.raises(ArchiveBroken) as info:
        await verify_archives(b.store, b.folder, archive_trust(b.settings))
    assert (info.value.archive, info.value.code) == (record.name, "ops.retention.chain_broken")
    assert "live table" in info.value.message_en


async def test_one_node_at_a_time_and_the_command(bench: Bench) -> None:
    b = bench
    [d1] = await b.exchange("501")
    await b.ack(d1)
    assert (await b.store.claim_retention("node-9", 3600)).run_by == "node-9"
    with pytest.raises(RetentionBusy) as info:
        await b.retention(31).run()
    assert info.value.code == "ops.retention.busy" and "node-9" in info.value.message_en
    code, out = await edxgw(b.env(), "retention", "run", "--days", "1")
    assert code == 1 and "ops.retention.busy" in out, out
    await b.store.release_retention("node-9")

    # The command with the clock as it is: a dry run finds nothing due a day after; the
    # same dry run a month later finds the answered document, and changes nothing.
    code, out = await edxgw(b.env(), "retention", "run", "--dry-run")
    assert code == 0 and "0 documents are due" in out, out
    report = await b.retention(31).run(dry_run=True)
    assert (report.candidates, report.archives) == (1, []) and report.events_due > 0
    assert await b.store.list_archives() == []
    code, out = await edxgw(b.env(), "retention", "run")
    assert code == 0 and "0 archives" in out, out  # nothing is a year old


async def test_periodic_runs_when_the_last_run_is_old_enough(bench: Bench) -> None:
    b = bench
    job = b.retention(0)  # the clock as it is: the store dates the runs with the same one
    runs: list[datetime] = []
    checks = asyncio.Event()
    reads = 0
    real_run, real_head = job.run, b.store.retention_head

    async def counted_run(*, dry_run: bool = False) -> Any:
        runs.append(datetime.now(UTC))
        return await real_run(dry_run=dry_run)

    async def counted_head() -> Any:
        nonlocal reads
        reads += 1
        if reads >= 4:
            checks.set()
        return await real_head()

    job.run = counted_run  # type: ignore[method-assign]
    job.store = _Spy(b.store, retention_head=counted_head)  # type: ignore[assignment]
    stop = asyncio.Event()
    task = asyncio.create_task(periodic(job, stop, timedelta(hours=24), check_seconds=0.01))
    await asyncio.wait_for(checks.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 30)
    # Never run before: the first check runs it; the later ones find that run less than a
    # day old and leave it.
    assert len(runs) == 1
    assert (await b.store.retention_head()).last_run_at is not None


class _Spy:
    """The store with some methods replaced (to count what the periodic task asks)."""

    def __init__(self, store: Any, **methods: Callable[..., Any]) -> None:
        self._store = store
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        return self._methods.get(name) or getattr(self._store, name)


async def test_another_process_sees_the_archived_head(bench: Bench) -> None:
    """The archived head lives in the store: the CLI and the other nodes see it."""
    b = bench
    [d1] = await b.exchange("601")
    await b.ack(d1)
    [record] = (await b.retention(31).run()).archives
    other = await open_store(b.settings.store_dsn)
    try:
        head = await other.retention_head()
        assert (head.archived_seq, head.last) == (record.last_seq, record)
        assert (await other.verify_trace()).ok
    finally:
        await other.close()
