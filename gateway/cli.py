"""The ``edxgw`` command: administer a hub's store, directory and trace from a shell.

Every command reads the one configuration (``--config`` or ``EDXGW_CONFIG``, then
``EDXGW_*``), runs the store's migrations first, and records administrative changes as trace
events (architecture.md §3.7). Exit codes: 0 success, 1 a refusal or a broken trace chain,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from adapters.amqp import cli as amqp_cli
from adapters.webhook import cli as webhook_cli
from edxml.trust import fingerprint, load_certificates
from gateway import admins, backup
from gateway.dirfile import DirectoryError
from gateway.ops import commands as ops_commands
from gateway.service.admin.directory import DirectoryAdmin
from gateway.service.hub import Refused, import_directory_file, token_hash
from gateway.settings import ConfigError, Settings
from gateway.store import open_store
from gateway.store.base import Agency, AgencyState, Store, System, TraceEvent, TraceRow
from gateway.store.errors import StoreError

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Settings, Store, TextIO], Awaitable[int]]


def _admin_event(settings: Settings, stage: str, detail: dict[str, object]) -> TraceEvent:
    """Admin actions are trace events without a document (architecture.md §3.7)."""
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


async def cmd_migrate(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    out.write("schema is up to date / lược đồ đã cập nhật\n")
    return 0


async def cmd_dir_import(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    path = Path(args.file) if args.file else s.directory_file
    if path is None:
        out.write("no directory file given / chưa chỉ định tệp danh bạ\n")
        return 2
    n = await import_directory_file(store, path, node=s.node)
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


def _directory(s: Settings, store: Store) -> DirectoryAdmin:
    """The directory use cases the console shares (gateway/service/admin/directory.py)."""
    return DirectoryAdmin(store, node=s.node)


_CLI = {"via": "cli"}


def _refused(out: TextIO, refused: Refused) -> int:
    out.write(f"{refused.problem.message_en}\n{refused.problem.message_vi}\n")
    return 1


async def cmd_dir_add(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    agency = await _directory(s, store).add(
        args.organ_id,
        args.name,
        host=args.host,
        peer=args.peer,
        delivery_mode=args.delivery_mode,
        audit=_CLI,
    )
    out.write(_agency_line(agency, []) + "\n")
    return 0


async def cmd_dir_alias(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    await _directory(s, store).alias(args.alias, args.organ_id, audit=_CLI)
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
    # Naming the agency on the command line is the confirmation the console asks for.
    directory = _directory(s, store)
    try:
        if state == "locked":
            agency = await directory.lock(organ_id, confirm=organ_id, reason=reason, audit=_CLI)
        elif state == "active":
            agency = await directory.unlock(organ_id, confirm=organ_id, reason=reason, audit=_CLI)
        else:
            assert successor is not None
            agency = await directory.merge(
                organ_id, successor, confirm=organ_id, reason=reason, audit=_CLI
            )
    except Refused as refused:
        return _refused(out, refused)
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
        # The retention archives first, then the live chain from the last archived entry.
        from gateway.ops.commands import cmd_trace_verify

        return await cmd_trace_verify(s, store, out)
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


# -- systems ------------------------------------------------------------------------------------


def _system_line(sy: System) -> str:
    auth = ", ".join(
        name
        for name, present in (
            ("token", sy.token_sha256),
            ("cert", sy.cert_sha256),
            ("secret", sy.secret),
        )
        if present
    )
    state = "REVOKED " if sy.revoked else ""
    return (
        f"{sy.system_id:<20} {state}[{auth or 'no credentials'}] "
        f"sig={sy.signature_policy} validation={sy.validation_mode} "
        f"agencies={','.join(sy.agencies)}  {sy.name}"
    )


async def cmd_sys_add(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    if await store.get_system(args.system_id) is not None:
        out.write(
            f"system {args.system_id} exists: use rotate-token / rotate-secret / agencies\n"
            f"hệ thống {args.system_id} đã tồn tại\n"
        )
        return 1
    unknown = [a for a in args.agency if await store.resolve(a) is None]
    if unknown:
        out.write(
            f"unknown agencies (add them to the directory first): {', '.join(unknown)}\n"
            f"đơn vị chưa có trong danh bạ: {', '.join(unknown)}\n"
        )
        return 1
    token = secrets.token_urlsafe(32)
    secret = args.secret or secrets.token_urlsafe(24)
    cert_sha = cert_expires = None
    if args.cert:
        cert = load_certificates(Path(args.cert).read_bytes())[0]
        cert_sha, cert_expires = fingerprint(cert), cert.not_valid_after_utc
    system = System(
        system_id=args.system_id,
        name=args.name or args.system_id,
        token_sha256=token_hash(token),
        cert_sha256=cert_sha,
        cert_expires_at=cert_expires,
        secret=secret,
        signature_policy=args.signature_policy or s.signature_policy,
        validation_mode=args.validation_mode or s.validation_mode,
        agencies=tuple(args.agency),
    )
    detail = {"system_id": args.system_id, "agencies": list(args.agency), "cert": bool(cert_sha)}
    await store.upsert_system(system, [_admin_event(s, "admin.system_add", detail)])
    out.write(f"system {args.system_id} registered / đã đăng ký hệ thống\n")
    out.write(f"api token (shown once / chỉ hiện một lần): {token}\n")
    if not args.secret:
        out.write(f"vdxp secret (shown once / chỉ hiện một lần): {secret}\n")
    return 0


async def cmd_sys_list(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    for system in await store.list_systems():
        out.write(_system_line(system) + "\n")
    return 0


async def _get_system(store: Store, system_id: str, out: TextIO) -> System | None:
    system = await store.get_system(system_id)
    if system is None:
        out.write(f"no system {system_id} / không có hệ thống {system_id}\n")
    return system


async def cmd_sys_rotate(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    system = await _get_system(store, args.system_id, out)
    if system is None:
        return 1
    new = secrets.token_urlsafe(32 if args.what == "token" else 24)
    changed = (
        dataclasses.replace(system, token_sha256=token_hash(new))
        if args.what == "token"
        else dataclasses.replace(system, secret=new)
    )
    detail = {"system_id": system.system_id, "rotated": args.what}
    await store.upsert_system(changed, [_admin_event(s, "admin.system_rotate", detail)])
    out.write(f"new {args.what} (shown once / chỉ hiện một lần): {new}\n")
    return 0


async def cmd_sys_remove(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    system = await _get_system(store, args.system_id, out)
    if system is None:
        return 1
    # Revoked, not deleted: its history (who sent what) stays attributable.
    detail = {"system_id": system.system_id, "reason": args.reason}
    await store.upsert_system(
        dataclasses.replace(system, revoked=True),
        [_admin_event(s, "admin.system_revoke", detail)],
    )
    out.write(f"system {system.system_id} revoked / đã thu hồi hệ thống\n")
    await amqp_cli.on_system_revoked(s, store, system, out)  # its RabbitMQ user, if any
    return 0


# -- serve --------------------------------------------------------------------------------------


async def _freeze_heap(app: object) -> None:
    from gateway.loop import freeze_heap

    freeze_heap()


def serve(settings: Settings, out: TextIO) -> int:
    """Run the gateway until SIGINT/SIGTERM; exit 3 when RabbitMQ cannot be reached."""
    from aiohttp import web  # the admin commands do not need aiohttp

    from gateway import logs
    from gateway.app import make_app
    from gateway.broker.errors import BrokerError
    from gateway.loop import loop_kind, new_event_loop

    # JSON (or console) lines on stderr for every logger, stdlib ones included (gateway/logs.py).
    logs.configure(
        settings.log_level,
        settings.log_format,
        static={"hub": settings.hub_organ_id, "node": settings.node},
    )
    ssl_context = tls_context(settings) if settings.tls else None
    scheme = "https" if ssl_context else "http"
    loop = new_event_loop(settings.event_loop)
    banner = (
        f"edxgw {settings.hub_organ_id} node {settings.node} serving "
        f"{scheme}://{settings.http_host}:{settings.http_port}/ "
        f"(API /api/v1, /openapi.json, /readyz; event loop {loop_kind(loop)})\n"
    )
    app = make_app(settings)
    app.on_startup.append(_freeze_heap)  # after every startup context (gateway.loop)
    try:
        web.run_app(
            app,
            host=settings.http_host,
            port=settings.http_port,
            ssl_context=ssl_context,
            print=lambda _text: print(banner, end="", file=out, flush=True),
            access_log=None,
            loop=loop,
        )
    except BrokerError as exc:
        out.write(f"edxgw: {exc.message_en}\nedxgw: {exc.message_vi}\n")
        return 3
    except (StoreError, OSError) as exc:
        out.write(f"edxgw: cannot start / không khởi động được: {exc}\n")
        return 3
    return 0


def tls_context(settings: Settings) -> ssl.SSLContext:
    """HTTPS with the hub certificate; clients MAY present a certificate from ``ca_files``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.cert_file, settings.key_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    for ca in settings.ca_files:
        context.load_verify_locations(cafile=str(ca))
    return context


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edxgw", description=__doc__)
    p.add_argument("--config", help="TOML configuration file (else EDXGW_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the gateway (HTTP API, relay, consumers)")
    sub.add_parser("bench", help="end-to-end benchmark (edxgw bench --help)", add_help=False)
    sub.add_parser(
        "conformance",
        help="certify an agency integration or an axis (edxgw conformance --help)",
        add_help=False,
    )
    sub.add_parser(
        "bench-search", help="console search over 1M messages (PostgreSQL)", add_help=False
    )
    sub.add_parser("migrate", help="apply store migrations").set_defaults(func=cmd_migrate)

    sy = sub.add_parser("systems", help="agency systems allowed to connect")
    sysub = sy.add_subparsers(dest="action", required=True)
    sa = sysub.add_parser("add", help="register a system; prints its API token once")
    sa.add_argument("system_id")
    sa.add_argument("--name")
    sa.add_argument("--agency", action="append", required=True, help="repeatable")
    sa.add_argument("--cert", help="client certificate (PEM) for mTLS")
    sa.add_argument("--secret", help="VDXP HMAC secret (generated when omitted)")
    sa.add_argument("--signature-policy", choices=["strict", "lenient", "off"])
    sa.add_argument("--validation-mode", choices=["strict", "lenient"])
    sa.set_defaults(func=cmd_sys_add)
    sysub.add_parser("list").set_defaults(func=cmd_sys_list)
    for what in ("token", "secret"):
        rt = sysub.add_parser(f"rotate-{what}", help=f"replace the system's {what}")
        rt.add_argument("system_id")
        rt.set_defaults(func=cmd_sys_rotate, what=what)
    rm = sysub.add_parser("remove", help="revoke a system (kept for the record)")
    rm.add_argument("system_id")
    rm.add_argument("--reason")
    rm.set_defaults(func=cmd_sys_remove)
    amqp_cli.add_parser(sysub)  # amqp-grant, amqp-revoke (adapters/amqp/cli.py)

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
    admins.add_parser(sub)  # edxgw admins ... (gateway/admins.py)
    backup.add_parser(sub)  # edxgw backup DEST, edxgw restore SOURCE (gateway/backup.py)
    ops_commands.add_parser(sub)  # edxgw drain, edxgw retention run|list (gateway/ops/)
    webhook_cli.add_parser(sub)  # edxgw webhook ... (adapters/webhook/cli.py)
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from gateway.bench import main as bench  # aiohttp client, load generator

        return bench(argv[1:], out)
    if argv[:1] == ["conformance"]:  # a vendor's tool: no store, no configuration file
        from adapters.conformance.cli import main as conformance

        return conformance(argv[1:], out, os.environ if environ is None else environ)
    if argv[:1] == ["bench-search"]:
        from gateway.bench_search import main as bench_search  # PostgreSQL, 1M messages

        return bench_search(argv[1:], out)
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load(args.config, os.environ if environ is None else environ)
        if args.command == "serve":
            return serve(settings, out)
        if getattr(args, "standalone", None) is not None:
            # Commands that open the store themselves (a restore needs it EMPTY: no migrate).
            code: int = asyncio.run(args.standalone(args, settings, out))
            return code
        return asyncio.run(_run(args, settings, out))
    except ConfigError as exc:
        out.write(f"edxgw: configuration error / lỗi cấu hình: {exc}\n")
        return 2
    except (DirectoryError, StoreError) as exc:
        out.write(f"edxgw: {exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
