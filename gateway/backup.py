"""``edxgw backup`` and ``edxgw restore``: a consistent copy of a hub's store, packages, archives.

A backup is a folder::

    manifest.json    written LAST (a folder without it is an unfinished backup): format, hub,
                     node, software and schema versions, trace head, counts, checksums
    store.sqlite     SQLite: an online snapshot through sqlite3's backup API
    store.dump       PostgreSQL: ``pg_dump -Fc`` of one exported snapshot
    blobs/           every package the snapshot references (``sha256/ab/cd/<hex>``)
    archive/         the retention archives (``archive_dir``), when there are any

**Order, and why it is safe online.** The store is snapshotted FIRST, the blobs are copied
AFTER. A blob is written and fsync'ed before the commit that references it (invariant §3.1)
and is never changed afterwards (its key is the SHA-256 of its bytes), so every blob a snapshot
references was complete on disk before the snapshot and is still the same when it is copied.
The other order would lose packages: a package accepted between the blob copy and the snapshot
would be restored as a row whose blob is missing. Only deletion can interfere (a retention
purge between the snapshot and the copy): the backup then fails with
``ops.backup_blob_missing`` and is simply run again. Only referenced blobs are copied, each
checked against its key, so a backup also proves that every package it holds is intact.
Archives follow the same rule (written before the purge that registers them).

The PostgreSQL snapshot is exported by a REPEATABLE READ transaction (``pg_export_snapshot``)
and handed to ``pg_dump --snapshot``, so the manifest's trace head and blob list describe
exactly the rows in the dump. Credentials go to pg_dump/pg_restore through ``PG*`` environment
variables, never on their command line.

**Restore** goes into an EMPTY store only (a missing SQLite file, a PostgreSQL database or
schema without tables): it checks the manifest and every checksum, refuses a schema newer than
this software knows, loads the store, copies packages and archives, runs the forward
migrations, verifies the trace chain against the manifest's head and, because RabbitMQ is not
part of the backup, marks the newest outbox row of every delivery still in flight unpublished
so the relay publishes it again (``Store.republish_in_flight``; receivers de-duplicate, §3.3).
The restore itself is traced (``admin.restore``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from gateway import __version__
from gateway.blobs import BlobStore
from gateway.core.errors import GatewayError, define
from gateway.settings import Settings
from gateway.store import open_store, sqlite_path
from gateway.store.base import TraceEvent
from gateway.store.migrations import MIGRATIONS

__all__ = [
    "FORMAT",
    "MANIFEST",
    "BackupError",
    "Manifest",
    "add_parser",
    "backup",
    "cmd_backup",
    "cmd_restore",
    "restore",
]

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "store.sqlite"
PG_FILE = "store.dump"
_CHUNK = 1024 * 1024

TARGET_NOT_EMPTY = define(
    "ops.backup_target_not_empty",
    "Thư mục sao lưu {path} đã có dữ liệu; hãy chọn một thư mục mới",
    "The backup folder {path} is not empty; choose a new folder",
)
BLOB_MISSING = define(
    "ops.backup_blob_missing",
    "{count} gói tin mà bản chụp kho dữ liệu tham chiếu không có trong {blob_dir} (đầu tiên: "
    "{key}); nếu vừa chạy lưu trữ định kỳ, hãy sao lưu lại",
    "{count} packages the store snapshot references are missing from {blob_dir} (first: "
    "{key}); if a retention run just purged them, run the backup again",
)
BLOB_CORRUPT = define(
    "ops.backup_blob_corrupt",
    "{count} gói tin trong {where} không khớp mã băm SHA-256 của khóa (đầu tiên: {key})",
    "{count} packages in {where} do not match the SHA-256 of their key (first: {key})",
)
TOOL_FAILED = define(
    "ops.backup_tool_failed",
    "{tool} không chạy được (mã thoát {code}): {detail}",
    "{tool} failed (exit code {code}): {detail}",
)
NOT_A_BACKUP = define(
    "ops.restore_not_a_backup",
    "{path} không phải bản sao lưu hoàn chỉnh ({reason})",
    "{path} is not a complete backup ({reason})",
)
BACKUP_DAMAGED = define(
    "ops.restore_damaged",
    "Bản sao lưu bị hỏng: {what}",
    "The backup is damaged: {what}",
)
TARGET_IN_USE = define(
    "ops.restore_target_not_empty",
    "Kho dữ liệu đích {target} đã có dữ liệu; chỉ khôi phục vào kho trống",
    "The target store {target} already holds data; restore only into an empty store",
)
SCHEMA_NEWER = define(
    "ops.restore_schema_newer",
    "Bản sao lưu có lược đồ phiên bản {versions}, mới hơn phiên bản phần mềm này biết "
    "({known}); hãy cài phiên bản đã tạo ra bản sao lưu",
    "The backup's schema has versions {versions}, newer than this software knows ({known}); "
    "install the gateway version that made it",
)
WRONG_SCHEMA = define(
    "ops.restore_wrong_schema",
    "Bản sao lưu chứa schema PostgreSQL {backup}, còn store_dsn chọn {target}",
    "The backup holds PostgreSQL schema {backup} but store_dsn selects {target}",
)
WRONG_STORE = define(
    "ops.restore_wrong_store",
    "Bản sao lưu là của kho {backup}, còn store_dsn chỉ tới kho {target}",
    "The backup is of a {backup} store but store_dsn names a {target} store",
)
TRACE_MISMATCH = define(
    "ops.restore_trace_broken",
    "Chuỗi vết sau khi khôi phục không khớp bản sao lưu: {reason}",
    "The restored trace chain does not match the backup: {reason}",
)


class BackupError(GatewayError):
    """A backup or restore refused; the message says what to do (bilingual)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``manifest.json`` records (module doc); ``data`` is the JSON object itself."""

    data: Mapping[str, Any]

    @property
    def store(self) -> str:
        return str(self.data["store"]["kind"])

    @property
    def schema(self) -> str | None:
        value = self.data["store"].get("schema")
        return str(value) if value else None

    @property
    def trace(self) -> tuple[int, str]:
        return int(self.data["trace"]["seq"]), str(self.data["trace"]["hash"])

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BackupError(
                NOT_A_BACKUP, path=folder, reason=f"{MANIFEST} is missing: it did not finish"
            ) from None
        except (OSError, ValueError) as exc:
            raise BackupError(NOT_A_BACKUP, path=folder, reason=f"{MANIFEST}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(NOT_A_BACKUP, path=folder, reason=f"unknown format in {MANIFEST}")
        return cls(data)


# -- PostgreSQL connection details ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pg:
    """A ``postgresql://`` DSN split for asyncpg and for the pg_* tools (``PG*`` variables)."""

    dsn: str
    env: Mapping[str, str]
    schema: str | None  # ``?search_path=`` (one schema), None: the default (public)

    @classmethod
    def parse(cls, dsn: str) -> _Pg:
        parts = urlsplit(dsn)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        env: dict[str, str] = {}
        for var, value in (
            ("PGHOST", query.get("host") or parts.hostname),
            ("PGPORT", str(parts.port) if parts.port else query.get("port")),
            ("PGUSER", unquote(parts.username) if parts.username else query.get("user")),
            ("PGPASSWORD", unquote(parts.password) if parts.password else query.get("password")),
            ("PGDATABASE", unquote(parts.path.lstrip("/")) or query.get("dbname")),
            ("PGSSLMODE", query.get("sslmode")),
        ):
            if value:
                env[var] = value
        schema = query.get("search_path")
        return cls(dsn, env, schema.split(",")[0].strip() or None if schema else None)

    def run(self, argv: list[str]) -> None:
        tool = shutil.which(argv[0])
        if tool is None:
            raise BackupError(
                TOOL_FAILED,
                tool=argv[0],
                code="-",
                detail="not installed (Debian: apt-get install postgresql-client)",
            )
        env = {**os.environ, **self.env}  # the tools read PG*; the password stays off argv
        proc = subprocess.run(  # noqa: S603 - argv built here, no shell
            [tool, *argv[1:]], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise BackupError(
                TOOL_FAILED, tool=argv[0], code=proc.returncode, detail=" / ".join(detail[-3:])
            )


# -- backup -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the manifest says about the store: read inside the snapshot itself."""

    versions: list[int]
    trace_seq: int
    trace_hash: str
    messages: int
    blob_keys: list[str]  # the packages kept as files (small ones are in the store itself)


def _keys_sql(versions: list[int]) -> str:
    """The blob files a snapshot's messages point at: not the packages the store keeps
    inline (migration 9), which the store's own dump carries."""
    if 9 not in versions:
        return "SELECT blob_key FROM messages ORDER BY 1"
    return (
        "SELECT blob_key FROM messages"
        " WHERE blob_key NOT IN (SELECT blob_key FROM inline_blobs) ORDER BY 1"
    )


async def backup(settings: Settings, dest: Path, out: TextIO) -> Manifest:
    """Write a backup of the configured store, blobs and archives into ``dest`` (module doc)."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(TARGET_NOT_EMPTY, path=dest)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dest, 0o700)  # the store holds system secrets (System.secret)
    started = datetime.now(UTC)
    files: dict[str, str] = {}
    schema: str | None = None
    if settings.store_dsn.startswith("sqlite:"):
        kind = "sqlite"
        snap = await asyncio.to_thread(_sqlite_snapshot, sqlite_path(settings.store_dsn), dest)
        files[SQLITE_FILE] = await asyncio.to_thread(_sha256_file, dest / SQLITE_FILE)
    else:
        kind = "postgresql"
        pg = _Pg.parse(settings.store_dsn)
        schema = pg.schema
        snap = await _pg_snapshot(pg, dest / PG_FILE)
        files[PG_FILE] = await asyncio.to_thread(_sha256_file, dest / PG_FILE)
    out.write(
        f"store snapshot: {snap.messages} packages, trace at {snap.trace_seq} "
        f"/ đã chụp kho dữ liệu\n"
    )
    count, size = await asyncio.to_thread(
        _copy_blobs, BlobStore(settings.blob_dir, fsync=False), dest / "blobs", snap.blob_keys
    )
    archives = 0
    archive_dir = getattr(settings, "archive_dir", None)
    if archive_dir is not None and Path(archive_dir).is_dir():
        archives = await asyncio.to_thread(_copy_tree, Path(archive_dir), dest / "archive")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hub": settings.hub_organ_id,
        "node": settings.node,
        "gateway_version": __version__,
        "store": {"kind": kind, "schema": schema, "schema_versions": snap.versions},
        "trace": {"seq": snap.trace_seq, "hash": snap.trace_hash},
        "messages": snap.messages,
        "blobs": {"count": count, "bytes": size},
        "archives": archives,
        "files": files,
    }
    _write_durably(dest / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    out.write(
        f"backup complete: {dest} ({snap.messages} packages, {count} package files of "
        f"{size} bytes, {archives} archive files) "
        f"/ sao lưu xong\n"
    )
    return Manifest(manifest)


def _sqlite_snapshot(source: str, dest: Path) -> _Snapshot:
    if not Path(source).is_file():
        raise BackupError(TOOL_FAILED, tool="sqlite3", code="-", detail=f"no database {source}")
    target = dest / SQLITE_FILE
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in ONE step, i.e. under one read transaction: in WAL
        # mode that is a consistent snapshot while the gateway keeps writing.
        src.backup(dst, pages=-1)
        dst.commit()
        snap = _read_snapshot(dst)
    finally:
        dst.close()
        src.close()
    _fsync(target)
    return snap


def _read_snapshot(conn: sqlite3.Connection) -> _Snapshot:
    versions = [int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    head = conn.execute("SELECT seq, hash FROM trace_head WHERE id = 1").fetchone()
    messages = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    keys = [str(r[0]) for r in conn.execute(_keys_sql(versions))]
    return _Snapshot(versions, int(head[0]), str(head[1]), messages, keys)


async def _pg_snapshot(pg: _Pg, target: Path) -> _Snapshot:
    conn = await asyncpg.connect(pg.dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot_id = await conn.fetchval("SELECT pg_export_snapshot()")
            versions = [
                int(r[0])
                for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
            ]
            head = await conn.fetchrow("SELECT seq, hash FROM trace_head WHERE id = 1")
            messages = int(await conn.fetchval("SELECT count(*) FROM messages"))
            keys = [str(r[0]) for r in await conn.fetch(_keys_sql(versions))]
            argv = ["pg_dump", "-Fc", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}"]
            argv += ["-f", str(target)]
            if pg.schema:
                argv.append(f"--schema={pg.schema}")
            # The transaction stays open until pg_dump is done: its snapshot must live.
            await asyncio.to_thread(pg.run, argv)
    finally:
        await conn.close()
    os.chmod(target, 0o600)
    _fsync(target)
    assert head is not None
    return _Snapshot(versions, int(head["seq"]), str(head["hash"]), messages, keys)


def _copy_blobs(source: BlobStore, dest_root: Path, keys: Iterable[str]) -> tuple[int, int]:
    """Copy every key from ``source`` into ``dest_root``, each checked against its digest."""
    target = BlobStore(dest_root, fsync=True)
    missing: list[str] = []
    corrupt: list[str] = []
    count = size = 0
    for key in keys:
        path = source.path(key)
        if not path.is_file():
            missing.append(key)
            continue
        copied, digest = _copy_file(path, target.path(key))
        if not _matches(key, digest):
            corrupt.append(key)
            continue
        count += 1
        size += copied
    if missing:
        raise BackupError(BLOB_MISSING, count=len(missing), blob_dir=source.root, key=missing[0])
    if corrupt:
        raise BackupError(BLOB_CORRUPT, count=len(corrupt), where=source.root, key=corrupt[0])
    return count, size


def _matches(key: str, digest: str) -> bool:
    scheme, _, hexdigest = key.partition("/")
    return scheme != "sha256" or hexdigest == digest


def _copy_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy durably (temporary file, fsync, rename); returns (bytes, sha256 of the bytes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    sha = hashlib.sha256()
    size = 0
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(_CHUNK):
                sha.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return size, sha.hexdigest()


def _copy_tree(source: Path, target: Path) -> int:
    """Copy every regular file under ``source`` (archives are write-once); returns how many."""
    copied = 0
    for path in sorted(_files(source)):
        _copy_file(path, target / path.relative_to(source))
        copied += 1
    return copied


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("."):  # skip files being written
            yield path


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- restore ------------------------------------------------------------------------------------


def check(folder: Path) -> Manifest:
    """Everything a restore checks before it writes anything: manifest, checksums, blobs."""
    manifest = Manifest.read(folder)
    known = {m.version for m in MIGRATIONS}
    newer = sorted(set(manifest.data["store"]["schema_versions"]) - known)
    if newer:
        raise BackupError(SCHEMA_NEWER, versions=newer, known=max(known))
    for name, digest in manifest.data["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupError(BACKUP_DAMAGED, what=f"{name} is missing")
        if _sha256_file(path) != digest:
            raise BackupError(BACKUP_DAMAGED, what=f"{name} does not match its checksum")
    blobs = BlobStore(folder / "blobs", fsync=False)
    corrupt: list[str] = []
    count = 0
    for path in _files(folder / "blobs"):
        key = "/".join((path.relative_to(folder / "blobs").parts[0], path.name))
        if blobs.path(key) != path or not _matches(key, _sha256_file(path)):
            corrupt.append(key)
        count += 1
    if corrupt:
        raise BackupError(BLOB_CORRUPT, count=len(corrupt), where=folder / "blobs", key=corrupt[0])
    if count != manifest.data["blobs"]["count"]:
        raise BackupError(
            BACKUP_DAMAGED, what=f"{count} packages, the manifest says {manifest.data['blobs']}"
        )
    return manifest


async def restore(
    settings: Settings, folder: Path, out: TextIO, *, republish: bool = True
) -> Manifest:
    """Restore ``folder`` into the configured (empty) store, blob and archive folders."""
    folder = Path(folder)
    manifest = await asyncio.to_thread(check, folder)
    target_sqlite = settings.store_dsn.startswith("sqlite:")
    if (manifest.store == "sqlite") != target_sqlite:
        raise BackupError(
            WRONG_STORE, backup=manifest.store, target=settings.store_dsn.split(":", 1)[0]
        )
    if target_sqlite:
        await asyncio.to_thread(_restore_sqlite, folder / SQLITE_FILE, settings.store_dsn)
    else:
        await _restore_pg(folder / PG_FILE, _Pg.parse(settings.store_dsn), manifest)
    blobs = await asyncio.to_thread(_copy_tree, folder / "blobs", Path(settings.blob_dir))
    archives = 0
    archive_dir = getattr(settings, "archive_dir", None)
    if archive_dir is not None and (folder / "archive").is_dir():
        archives = await asyncio.to_thread(_copy_tree, folder / "archive", Path(archive_dir))
    store = await open_store(settings.store_dsn)
    try:
        applied = await store.migrate()
        seq, _ = manifest.trace
        result = await store.verify_trace()
        if not result.ok:
            raise BackupError(
                TRACE_MISMATCH, reason=f"seq {result.first_broken_seq}: {result.reason}"
            )
        detail: dict[str, Any] = {
            "backup_created_at": manifest.data["created_at"],
            "backup_node": manifest.data["node"],
            "trace_seq": seq,
            "messages": manifest.data["messages"],
            "migrations": applied,
        }
        republished = 0
        if republish:
            republished = await store.republish_in_flight(
                [_event(settings, "admin.republish", {"reason": "restore"})]
            )
        detail["republished"] = republished
        await store.append_trace([_event(settings, "admin.restore", detail)])
    finally:
        await store.close()
    out.write(
        f"restored {manifest.data['messages']} packages ({blobs} blob files, {archives} archive "
        f"files), trace verified up to {seq}, {republished} in-flight deliveries to publish "
        f"again / đã khôi phục\n"
    )
    return manifest


def _event(settings: Settings, stage: str, detail: dict[str, Any]) -> TraceEvent:
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


def _restore_sqlite(source: Path, dsn: str) -> None:
    target = Path(sqlite_path(dsn))
    for path in (target, Path(f"{target}-wal")):
        if path.exists() and path.stat().st_size > 0:
            raise BackupError(TARGET_IN_USE, target=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
        dst.commit()
    finally:
        dst.close()
        src.close()
    _fsync(tmp)
    os.replace(tmp, target)


async def _restore_pg(dump: Path, pg: _Pg, manifest: Manifest) -> None:
    if manifest.schema != pg.schema:
        raise BackupError(
            WRONG_SCHEMA, backup=manifest.schema or "public", target=pg.schema or "public"
        )
    conn = await asyncpg.connect(pg.dsn)
    try:
        used = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    finally:
        await conn.close()
    if used:
        raise BackupError(TARGET_IN_USE, target=pg.env.get("PGDATABASE", "?"))
    argv = [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]
    argv += ["-d", pg.env.get("PGDATABASE", "postgres"), str(dump)]
    await asyncio.to_thread(pg.run, argv)


# -- the commands -------------------------------------------------------------------------------


async def cmd_backup(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        await backup(settings, Path(args.dest), out)
    except BackupError as exc:
        out.write(f"edxgw backup: {exc.code}: {exc.message_en}\nedxgw backup: {exc.message_vi}\n")
        return 1
    return 0


async def cmd_restore(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        if args.check:
            manifest = await asyncio.to_thread(check, Path(args.source))
            out.write(
                f"backup OK: {manifest.data['messages']} packages, trace at "
                f"{manifest.trace[0]}, made {manifest.data['created_at']} "
                f"/ bản sao lưu hợp lệ\n"
            )
            return 0
        await restore(settings, Path(args.source), out, republish=not args.no_republish)
    except BackupError as exc:
        out.write(f"edxgw restore: {exc.code}: {exc.message_en}\nedxgw restore: {exc.message_vi}\n")
        return 1
    return 0


def add_parser(sub: Any) -> None:
    """``edxgw backup DEST`` and ``edxgw restore SOURCE [--check] [--no-republish]``."""
    b = sub.add_parser(
        "backup",
        help="online backup of the store, packages and archives into a new folder",
    )
    b.add_argument("dest", help="a new (or empty) folder")
    b.set_defaults(standalone=cmd_backup)
    r = sub.add_parser(
        "restore", help="restore a backup into an EMPTY store (stop every node first)"
    )
    r.add_argument("source", help="a folder written by edxgw backup")
    r.add_argument("--check", action="store_true", help="verify the backup only; write nothing")
    r.add_argument(
        "--no-republish",
        action="store_true",
        help="do not publish in-flight deliveries again (the old RabbitMQ still holds them)",
    )
    r.set_defaults(standalone=cmd_restore)
