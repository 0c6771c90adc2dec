"""Retention: archive old trace entries and the packages of finished documents, then purge them.

A run (``edxgw retention run``, or every ``retention_interval_hours`` inside a node) takes the
store's retention lease — one node at a time, the others skip — and repeats until nothing is
left to do:

1. ``cutoff = now - retention_days``; the trace range to archive is every entry after the
   archived head up to the last one written before the cutoff (at most ``max_events``); the
   messages to purge are those received before the cutoff whose every delivery was answered
   (done or failed) before it (``Store.retention_candidates``): nothing in flight, no
   unpublished outbox row, no dead letter waiting for a replay;
2. the archive file is written next to the others (``ArchiveWriter``: staged, packed, fsynced,
   renamed) and signed with the hub key; it names the SHA-256 of the previous archive;
3. ONE store transaction registers it, moves the archived head, marks the messages purged and
   deletes the archived entries of everything no longer on the hub (``Store.commit_archive``);
4. only then are the purged packages deleted from the blob folder.

A crash before 3 leaves an unregistered file that the next run removes; a crash between 3 and 4
leaves package files that nothing points at any more (they are in the archive). Entries of a
document still on the hub are archived with the rest (the chain must stay contiguous) but kept
in the live table, so its timeline stays whole; a later run deletes them once it is purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from gateway.blobs import BlobError, BlobStore, Packages
from gateway.core.archive import CHAIN_BROKEN, RETENTION_BUSY, ArchiveBroken, archive_name
from gateway.core.errors import LocalError
from gateway.core.keys import Keys
from gateway.ops.archives import ArchiveWriter
from gateway.store.base import ArchiveRecord, Message, Store, TraceEvent
from gateway.store.errors import StoreConflict
from gateway.web.state import HUB, SETTINGS, STORE

__all__ = ["Retention", "RetentionBusy", "RetentionReport", "periodic", "start_periodic"]

log = logging.getLogger(__name__)

#: The trace stage of a retention run's events (admin actions: no DocId).
STAGE = "retention"
_LEFTOVER = re.compile(r"^\.?edxgw-archive-(\d{6})-.*\.(tar\.gz|tar\.gz\.tmp|tar\.gz\.parts)$")


class RetentionBusy(LocalError):
    """Another node holds the retention lease (``ops.retention.busy``)."""

    def __init__(self, node: str, until: datetime | None) -> None:
        super().__init__(RETENTION_BUSY, node=node, until=until.isoformat() if until else "?")


@dataclass
class RetentionReport:
    """What one run did."""

    cutoff: datetime
    archives: list[ArchiveRecord] = field(default_factory=list)
    events_archived: int = 0
    events_deleted: int = 0
    messages_purged: int = 0
    blobs_deleted: int = 0
    outbox_purged: int = 0
    dry_run: bool = False
    candidates: int = 0  # dry run: messages that would be purged
    events_due: int = 0  # dry run: entries that would be archived


@dataclass(kw_only=True)
class Retention:
    """One hub's retention: store, blob folder, archive folder and the key that signs."""

    store: Store
    blobs: BlobStore
    keys: Keys
    archive_dir: Path
    node: str
    hub: str
    days: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    max_events: int = 100_000  # entries per archive
    max_messages: int = 1_000  # purged messages per archive
    max_package_bytes: int = 1024**3  # package bytes per archive (about)
    lease_seconds: float = 3600.0
    fsync: bool = True

    async def run(self, *, dry_run: bool = False) -> RetentionReport:
        """Archive and purge everything due; raises :class:`RetentionBusy` if another node runs."""
        now = self.clock()
        report = RetentionReport(cutoff=now - timedelta(days=self.days), dry_run=dry_run)
        if dry_run:
            head = await self.store.retention_head()
            last = await self.store.trace_seq_before(report.cutoff)
            report.events_due = max(0, last - head.archived_seq)
            report.candidates = len(await self.store.retention_candidates(report.cutoff, 10_000))
            return report
        head = await self.store.claim_retention(self.node, self.lease_seconds)
        if head.run_by != self.node:
            raise RetentionBusy(head.run_by or "?", head.run_until)
        completed = False
        try:
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(self._remove_leftovers, head.last.number if head.last else 0)
            # Fixed once, before this run appends its own entries: a run never chases itself.
            until = await self.store.trace_seq_before(report.cutoff)
            while await self._one(report, until):
                pass
            report.outbox_purged = await self.store.purge_outbox(report.cutoff)
            completed = True
        finally:
            await self.store.release_retention(self.node, completed=completed)
        return report

    async def _one(self, report: RetentionReport, until: int) -> bool:
        """Write and commit one archive of entries up to ``until`` at most; True when more
        may be due."""
        head = await self.store.claim_retention(self.node, self.lease_seconds)  # renew
        if head.run_by != self.node:
            raise RetentionBusy(head.run_by or "?", head.run_until)
        last_seq = min(until, head.archived_seq + self.max_events)
        candidates = await self.store.retention_candidates(report.cutoff, self.max_messages)
        if last_seq <= head.archived_seq and not candidates:
            return False
        number = (head.last.number if head.last else 0) + 1
        created = self.clock()
        name = archive_name(number, created, self.node)
        writer = ArchiveWriter(
            self.archive_dir,
            name,
            first_seq=head.archived_seq + 1,
            prev_hash=head.archived_hash,
            fsync=self.fsync,
        )
        try:
            after = head.archived_seq
            while after < last_seq:
                page = await self.store.trace_page(after, last_seq, 1000)
                if not page:
                    break
                await writer.add_trace(page)
                after = page[-1].seq
            if after < last_seq:  # entries missing from the live table: never archive a gap
                raise ArchiveBroken(
                    CHAIN_BROKEN, name=name, seq=after + 1, detail="entry is missing (deleted?)"
                )
            purged = await self._add_messages(writer, candidates)
            manifest = writer.manifest(
                number=number,
                hub=self.hub,
                node=self.node,
                created_at=created,
                cutoff=report.cutoff,
                retention_days=self.days,
                previous=head.last,
            )
            sha256 = await asyncio.to_thread(writer.pack, manifest, self.keys.signing_key)
            record = ArchiveRecord(
                number=number,
                name=name,
                sha256=sha256,
                first_seq=writer.check.first_seq,
                last_seq=writer.check.last_seq,
                last_hash=writer.check.last_hash,
                events=writer.check.count,
                messages=len(purged),
                node=self.node,
                created_at=created,
            )
            event = TraceEvent(
                node=self.node,
                stage=STAGE,
                outcome="archived",
                detail={
                    "archive": name,
                    "number": number,
                    "sha256": sha256,
                    "first_seq": record.first_seq,
                    "last_seq": record.last_seq,
                    "events": record.events,
                    "messages": record.messages,
                    "cutoff": report.cutoff.isoformat(),
                },
            )
            purge = await self.store.commit_archive(
                record, [m.doc_id for m in purged], node=self.node, trace=[event]
            )
        except StoreConflict:
            # Our lease was taken over (this run stalled past it): the other node's archive
            # of this number counts; ours never existed.
            await asyncio.to_thread(writer.discard)
            raise
        except BaseException:
            await asyncio.to_thread(writer.discard)
            raise
        report.archives.append(record)
        report.events_archived += record.events
        report.events_deleted += purge.events_deleted
        report.messages_purged += purge.messages_purged
        report.blobs_deleted += purge.inline_deleted  # in the store, gone with the commit
        report.blobs_deleted += await asyncio.to_thread(self._delete_blobs, purge.blob_keys)
        log.info(
            "retention: archive %s (%d entries, %d packages), %d entries deleted",
            name,
            record.events,
            record.messages,
            purge.events_deleted,
        )
        if record.events == 0 and purge.messages_purged == 0:
            return False  # no progress: never loop on it
        more_events = writer.check.last_seq < until
        return more_events or len(candidates) >= self.max_messages or len(purged) < len(candidates)

    async def _add_messages(
        self, writer: ArchiveWriter, candidates: list[Message]
    ) -> list[Message]:
        purged: list[Message] = []
        packages = Packages(self.store, self.blobs)
        for message in candidates:
            if purged and writer.package_bytes >= self.max_package_bytes:
                break  # the rest go into the next archive
            deliveries = await self.store.list_deliveries(doc_id=message.doc_id, limit=1000)
            try:
                body: bytes | Path | None = await packages.body(message.blob_key)
            except BlobError:
                log.warning("retention: the package of %s is already missing", message.doc_id)
                body = None
            await writer.add_message(message, deliveries, body)
            purged.append(message)
        return purged

    def _delete_blobs(self, keys: tuple[str, ...]) -> int:
        return sum(1 for key in keys if self.blobs.delete(key))

    def _remove_leftovers(self, registered: int) -> None:
        """Files of interrupted runs: numbered past the last registered archive (we hold the
        lease, so nobody else is writing one)."""
        for path in self.archive_dir.iterdir():
            match = _LEFTOVER.match(path.name)
            if match and int(match.group(1)) > registered:
                log.warning("retention: removing %s, left by an interrupted run", path.name)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


async def periodic(
    retention: Retention,
    stop: asyncio.Event,
    every: timedelta,
    *,
    check_seconds: float = 600.0,
) -> None:
    """Run retention whenever the last completed run (on any node) is ``every`` old.

    Nodes restart (rolling upgrades) more often than a day: counting from the store's
    ``last_run_at`` rather than from this process's start keeps "daily" daily.
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(check_seconds, every.total_seconds()))
        if stop.is_set():
            return
        try:
            head = await retention.store.retention_head()
            if head.last_run_at is not None and retention.clock() - head.last_run_at < every:
                continue
            report = await retention.run()
            log.info(
                "retention: %d archives, %d messages purged, %d entries deleted",
                len(report.archives),
                report.messages_purged,
                report.events_deleted,
            )
        except RetentionBusy:
            continue  # another node is on it
        except Exception:
            log.exception("retention run failed; retrying at the next check")


def start_periodic(app: web.Application) -> Callable[[], Awaitable[None]]:
    """Start :func:`periodic` in a node when ``retention_interval_hours`` is set; returns the
    coroutine function that stops it (a run in progress gets a moment to finish)."""
    settings = app[SETTINGS]
    if settings.retention_interval_hours <= 0:
        return _nothing
    hub = app[HUB]
    retention = Retention(
        store=app[STORE],
        blobs=hub.blobs,
        keys=hub.keys,
        archive_dir=Path(settings.archive_dir),
        node=settings.node,
        hub=settings.hub_organ_id,
        days=settings.retention_days,
        fsync=settings.fsync,
    )
    stop = asyncio.Event()
    every = timedelta(hours=settings.retention_interval_hours)
    task = asyncio.create_task(periodic(retention, stop, every), name="retention")

    async def close() -> None:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            log.warning("retention run cut short by the shutdown; the next run takes over")

    return close


async def _nothing() -> None:
    return None
