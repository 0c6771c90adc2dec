"""The operations commands of ``edxgw``: ``drain``, ``retention run|list``, ``trace verify``.

``gateway/cli.py`` registers them; their output is bilingual like every other command's.
Exit codes: 0 done, 1 a refusal (no such node, a broken archive or chain, another node
running retention), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from edxml.trust import TrustStore
from gateway.blobs import BlobStore
from gateway.core.archive import ArchiveBroken, ArchiveTrust
from gateway.core.drain import NO_NODE, TIMEOUT
from gateway.core.errors import GatewayError
from gateway.core.keys import Keys
from gateway.ops.archives import verify_archives
from gateway.ops.drain import control_path, wait_gone
from gateway.ops.retention import Retention, RetentionBusy
from gateway.settings import Settings
from gateway.store.base import Store

__all__ = [
    "add_parser",
    "archive_trust",
    "cmd_drain",
    "cmd_retention_list",
    "cmd_retention_run",
    "cmd_trace_verify",
]


def _say(out: TextIO, error: GatewayError) -> None:
    out.write(f"edxgw: {error.code}: {error.message_en}\nedxgw: {error.message_vi}\n")


# -- drain --------------------------------------------------------------------------------------


async def cmd_drain(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Ask the node of this configuration to drain; follow it until it has exited."""
    path = control_path(settings)
    timeout = float(
        args.timeout or settings.drain_grace_seconds + settings.drain_timeout_seconds + 30
    )
    connector = aiohttp.UnixConnector(path=str(path))
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            async with session.post(
                "http://node/drain", json={"reason": args.reason or "edxgw drain"}
            ) as response:
                status: dict[str, Any] = await response.json()
        except (aiohttp.ClientError, OSError):
            _say(out, GatewayError(NO_NODE, node=settings.node, socket=str(path)))
            return 1
        out.write(f"{settings.node}: draining (pid {status['pid']}) / đang dừng để bảo trì\n")
        shown = 0
        end = time.monotonic() + timeout
        while True:
            for step in status["steps"][shown:]:
                extra = ", ".join(f"{k}={v}" for k, v in step.items() if k not in ("step", "at"))
                out.write(f"  {step['at']}  {step['step']:<10} {extra}\n")
            shown = len(status["steps"])
            out.flush()
            if status["state"] == "drained":
                break
            if time.monotonic() > end:
                current = status["steps"][-1]["step"] if status["steps"] else "-"
                _say(
                    out,
                    GatewayError(TIMEOUT, node=settings.node, seconds=int(timeout), step=current),
                )
                return 1
            await asyncio.sleep(0.25)
            try:
                async with session.get("http://node/status") as response:
                    status = await response.json()
            except (aiohttp.ClientError, OSError):
                # It exited between two polls: it only does that once drained.
                status = {**status, "state": "drained"}
        if not status.get("exits", True):
            out.write(f"{settings.node}: drained; the process keeps running / đã dừng nhận việc\n")
            return 0
    if not await wait_gone(path, 30.0):
        _say(out, GatewayError(TIMEOUT, node=settings.node, seconds=30, step="exit"))
        return 1
    out.write(f"{settings.node}: drained and stopped / đã dừng an toàn\n")
    return 0


# -- retention ----------------------------------------------------------------------------------


def _keys(settings: Settings) -> Keys:
    return Keys.from_files(
        key_file=settings.key_file,
        cert_file=settings.cert_file,
        ca_files=settings.ca_files,
        crl_files=settings.crl_files,
    )


def archive_trust(settings: Settings) -> ArchiveTrust:
    """Archives are signed by this hub: a certificate naming ``hub_organ_id`` from the CAs of
    ``ca_files``, or the hub's own configured certificate chain (which need not come from a
    CA that agencies use)."""
    keys = _keys(settings)
    own = (keys.signing_key.certificate, *keys.signing_key.chain)
    trust = TrustStore(keys.trust.anchors + own, keys.trust.crls)
    return ArchiveTrust(settings.hub_organ_id, trust, own)


async def cmd_retention_run(
    args: argparse.Namespace, settings: Settings, store: Store, out: TextIO
) -> int:
    days = args.days or settings.retention_days
    retention = Retention(
        store=store,
        blobs=BlobStore(settings.blob_dir, fsync=settings.fsync),
        keys=_keys(settings),
        archive_dir=Path(settings.archive_dir),
        node=settings.node,
        hub=settings.hub_organ_id,
        days=days,
        fsync=settings.fsync,
    )
    try:
        report = await retention.run(dry_run=args.dry_run)
    except RetentionBusy as busy:
        _say(out, busy)
        return 1
    except ArchiveBroken as broken:
        _say(out, broken)
        return 1
    cutoff = report.cutoff.isoformat(timespec="seconds")
    if report.dry_run:
        out.write(
            f"dry run, cutoff {cutoff} ({days} days): {report.events_due} trace events and"
            f" {report.candidates} documents are due / chạy thử: {report.events_due} sự kiện,"
            f" {report.candidates} văn bản đến hạn lưu trữ\n"
        )
        return 0
    for a in report.archives:
        out.write(
            f"{a.name}  entries {a.first_seq}..{a.last_seq} ({a.events}), {a.messages}"
            f" packages, sha256 {a.sha256}\n"
        )
    out.write(
        f"retention, cutoff {cutoff} ({days} days): {len(report.archives)} archives,"
        f" {report.messages_purged} packages purged, {report.events_deleted} trace events"
        f" deleted, {report.outbox_purged} outbox rows / lưu trữ xong:"
        f" {len(report.archives)} tệp, {report.messages_purged} gói tin,"
        f" {report.events_deleted} sự kiện\n"
    )
    return 0


async def cmd_retention_list(
    args: argparse.Namespace, settings: Settings, store: Store, out: TextIO
) -> int:
    head = await store.retention_head()
    for a in await store.list_archives():
        out.write(
            f"{a.number:>6}  {a.created_at.isoformat(timespec='seconds')}  {a.name}"
            f"  entries {a.first_seq}..{a.last_seq}  {a.messages} packages  {a.sha256}\n"
        )
    ran = head.last_run_at.isoformat(timespec="seconds") if head.last_run_at else "never"
    out.write(
        f"archived up to entry {head.archived_seq}; last run {ran}"
        f" / đã lưu trữ đến sự kiện {head.archived_seq}\n"
    )
    return 0


# -- trace verify -------------------------------------------------------------------------------


async def cmd_trace_verify(settings: Settings, store: Store, out: TextIO) -> int:
    """Every archive (file hash, signature, members, links), then the live chain from the
    last archived entry. Names the first broken archive or entry."""
    try:
        report = await verify_archives(store, Path(settings.archive_dir), archive_trust(settings))
    except ArchiveBroken as broken:
        out.write(f"archive {broken.archive} BROKEN / tệp lưu trữ bị lỗi\n")
        _say(out, broken)
        return 1
    if report.archives:
        out.write(
            f"archives OK: {report.archives} files, {report.archived_events} events,"
            f" {report.packages} packages / các tệp lưu trữ hợp lệ\n"
        )
    result = report.live
    if result.ok:
        out.write(f"trace chain OK: {result.checked} events / chuỗi vết hợp lệ\n")
        return 0
    out.write(
        f"trace chain BROKEN at seq {result.first_broken_seq}: {result.reason} / "
        f"chuỗi vết bị phá vỡ tại sự kiện {result.first_broken_seq}\n"
    )
    return 1


def add_parser(sub: Any) -> None:
    """``edxgw drain`` and ``edxgw retention run|list`` (``trace verify`` is cli.cmd_trace's)."""
    d = sub.add_parser(
        "drain", help="drain the running node of this configuration, then let it exit 0"
    )
    d.add_argument("--reason", help="recorded in the trace (e.g. 'upgrade to 0.2')")
    d.add_argument("--timeout", type=float, help="seconds to wait (default: grace + timeout + 30)")
    d.set_defaults(standalone=cmd_drain)
    r = sub.add_parser("retention", help="archive and purge what is past retention_days")
    rsub = r.add_subparsers(dest="action", required=True)
    run = rsub.add_parser("run", help="archive, sign, purge (one node at a time)")
    run.add_argument("--days", type=int, help="override retention_days for this run")
    run.add_argument("--dry-run", action="store_true", help="say what is due; change nothing")
    run.set_defaults(func=cmd_retention_run)
    rsub.add_parser("list", help="the archives written so far").set_defaults(
        func=cmd_retention_list
    )
