"""The ``edxgw`` command: administer a hub's store, directory and trace from a shell.

Every command reads the one configuration (``--config`` or ``EDXGW_CONFIG``, then
``EDXGW_*``), runs the store's migrations first, and records administrative changes as trace
events (architecture.md §3.7). Exit codes: 0 success, 1 a refusal or a broken trace chain,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from gateway.dirfile import DirectoryError, load_directory
from gateway.settings import ConfigError, Settings
from gateway.store import open_store
from gateway.store.base import Agency, AgencyState, Store, TraceEvent, TraceRow
from gateway.store.errors import StoreError

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Settings, Store, TextIO], Awaitable[int]]


def _admin_event(settings: Settings, stage: str, detail: dict[str, object]) -> TraceEvent:
    """Admin actions are trace events without a document (architecture.md §3.7)."""
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


async def cmd_migrate(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    out.write("schema is up to date / lược đồ đã cập nhật\n")
    return 0


async def load_directory_into(store: Store, settings: Settings, path: Path) -> int:
    """Upsert every agency and alias of a directory file; returns the number of agencies."""
    directory = load_directory(path)
    for agency in directory.agencies:
        await store.upsert_agency(agency)
    for alias, organ_id in directory.aliases.items():
        await store.add_alias(alias, organ_id)
    await store.append_trace(
        [
            _admin_event(
                settings,
                "admin.directory_import",
                {
                    "file": path.name,
                    "agencies": len(directory.agencies),
                    "aliases": len(directory.aliases),
                },
            )
        ]
    )
    return len(directory.agencies)


async def cmd_dir_import(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    path = Path(args.file) if args.file else s.directory_file
    if path is None:
        out.write("no directory file given / chưa chỉ định tệp danh bạ\n")
        return 2
    n = await load_directory_into(store, s, path)
    out.write(f"imported {n} agencies from {path} / đã nhập {n} cơ quan\n")
    return 0


def _agency_line(a: Agency, aliases: Sequence[str]) -> str:
    extra = f" -> {a.successor_id}" if a.successor_id else ""
    alias = f" aliases={','.join(aliases)}" if aliases else ""
    return f"{a.organ_id}\tL{a.level}\t{a.host}{'/' + a.peer if a.peer else ''}\t{a.state}{extra}\t{a.name}{alias}"  # noqa: E501


async def cmd_dir_list(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    agencies = await store.list_agencies(parent=args.parent, state=args.state, limit=args.limit)
    for a in agencies:
        out.write(_agency_line(a, await store.list_aliases(a.organ_id)) + "\n")
    return 0


async def cmd_dir_add(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    from edxml.organ import parse_organ_id

    organ = parse_organ_id(args.organ_id)
    agency = Agency(
        organ_id=organ.canonical,
        name=args.name,
        level=organ.level,
        parent_id=organ.parent.canonical if organ.parent else None,
        host=args.host,
        peer=args.peer,
        delivery_mode=args.delivery_mode,
    )
    await store.upsert_agency(
        agency,
        trace=[
            _admin_event(
                s, "admin.agency_upsert", {"organ_id": agency.organ_id, "host": agency.host}
            )
        ],
    )
    out.write(_agency_line(agency, []) + "\n")
    return 0


async def cmd_dir_alias(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    await store.add_alias(
        args.alias,
        args.organ_id,
        trace=[
            _admin_event(s, "admin.agency_alias", {"alias": args.alias, "organ_id": args.organ_id})
        ],
    )
    out.write(f"{args.alias} -> {args.organ_id}\n")
    return 0


async def _set_state(
    store: Store,
    s: Settings,
    out: TextIO,
    organ_id: str,
    state: AgencyState,
    successor: str | None,
    reason: str | None,
) -> int:
    if successor and await store.resolve(successor) is None:
        out.write(f"unknown successor {successor} / không có cơ quan kế thừa {successor}\n")
        return 1
    agency = await store.set_agency_state(
        organ_id,
        state,
        successor_id=successor,
        trace=[
            _admin_event(
                s,
                f"admin.agency_{state}",
                {"organ_id": organ_id, "successor_id": successor, "reason": reason},
            )
        ],
    )
    out.write(_agency_line(agency, []) + "\n")
    return 0


async def cmd_dir_lock(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    return await _set_state(store, s, out, args.organ_id, "locked", None, args.reason)


async def cmd_dir_unlock(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    return await _set_state(store, s, out, args.organ_id, "active", None, args.reason)


async def cmd_dir_merge(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    return await _set_state(store, s, out, args.organ_id, "merged", args.into, args.reason)


def _timeline(rows: Sequence[TraceRow]) -> list[dict[str, object]]:
    """Each event with the latency since the previous one (per-hop latency, issue 3 §6)."""
    out: list[dict[str, object]] = []
    previous: dt.datetime | None = None
    for row in rows:
        delta = (row.at - previous).total_seconds() * 1000 if previous else 0.0
        previous = row.at
        out.append(
            {
                "seq": row.seq,
                "at": row.at.isoformat(),
                "node": row.node,
                "stage": row.stage,
                "outcome": row.outcome,
                "since_previous_ms": round(delta, 1),
                "detail": dict(row.detail),
            }
        )
    return out


async def cmd_trace(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    if args.doc_id == "verify":
        result = await store.verify_trace()
        if result.ok:
            out.write(f"trace chain OK: {result.checked} events / chuỗi vết hợp lệ\n")
            return 0
        out.write(
            f"trace chain BROKEN at seq {result.first_broken_seq}: {result.reason} / "
            f"chuỗi vết bị phá vỡ tại sự kiện {result.first_broken_seq}\n"
        )
        return 1
    rows = await store.trace_for(args.doc_id)
    if not rows:
        out.write(f"no trace for {args.doc_id} / không có vết cho {args.doc_id}\n")
        return 1
    events = _timeline(rows)
    if args.json:
        out.write(json.dumps(events, ensure_ascii=False, indent=2) + "\n")
        return 0
    out.write(f"{'time':<32} {'node':<12} {'stage':<22} {'outcome':<10} {'+ms':>9}\n")
    for e in events:
        out.write(
            f"{e['at']!s:<32} {e['node']!s:<12} {e['stage']!s:<22} "
            f"{e['outcome']!s:<10} {e['since_previous_ms']!s:>9}\n"
        )
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edxgw", description=__doc__)
    p.add_argument("--config", help="TOML configuration file (else EDXGW_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply store migrations").set_defaults(func=cmd_migrate)

    d = sub.add_parser("directory", help="agencies, aliases, locks and merges")
    dsub = d.add_subparsers(dest="action", required=True)
    imp = dsub.add_parser("import", help="load a TOML/CSV directory file (default: configured)")
    imp.add_argument("file", nargs="?")
    imp.set_defaults(func=cmd_dir_import)
    ls = dsub.add_parser("list")
    ls.add_argument("--parent")
    ls.add_argument("--state", choices=["active", "locked", "merged"])
    ls.add_argument("--limit", type=int, default=1000)
    ls.set_defaults(func=cmd_dir_list)
    add = dsub.add_parser("add")
    add.add_argument("organ_id")
    add.add_argument("name")
    add.add_argument("--host", choices=["local", "downlink", "uplink"], default="local")
    add.add_argument("--peer")
    add.add_argument("--delivery-mode")
    add.set_defaults(func=cmd_dir_add)
    al = dsub.add_parser("alias")
    al.add_argument("alias")
    al.add_argument("organ_id")
    al.set_defaults(func=cmd_dir_alias)
    for name, func in (("lock", cmd_dir_lock), ("unlock", cmd_dir_unlock)):
        sp = dsub.add_parser(name)
        sp.add_argument("organ_id")
        sp.add_argument("--reason")
        sp.set_defaults(func=func)
    mg = dsub.add_parser("merge", help="merge an agency into its successor (2025 mergers)")
    mg.add_argument("organ_id")
    mg.add_argument("--into", required=True)
    mg.add_argument("--reason")
    mg.set_defaults(func=cmd_dir_merge)

    t = sub.add_parser("trace", help="'edxgw trace DOCID' timeline, 'edxgw trace verify' chain")
    t.add_argument("doc_id", help="a DocId, or 'verify'")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_trace)
    return p


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if settings.store_dsn.startswith("sqlite:///"):
        Path(settings.store_dsn.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    store = await open_store(settings.store_dsn)
    try:
        await store.migrate()
        code: int = await args.func(args, settings, store, out)
        return code
    finally:
        await store.close()


def main(
    argv: Sequence[str] | None = None,
    environ: dict[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load(args.config, os.environ if environ is None else environ)
        return asyncio.run(_run(args, settings, out))
    except ConfigError as exc:
        out.write(f"edxgw: configuration error / lỗi cấu hình: {exc}\n")
        return 2
    except (DirectoryError, StoreError) as exc:
        out.write(f"edxgw: {exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
