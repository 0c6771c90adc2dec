"""Administrator accounts: the scrypt hashes, ``edxgw admins`` and the demo hub's admin."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from gateway import admins
from gateway.app import DEMO_ADMIN_FILE, _first_start
from gateway.cli import main
from gateway.settings import Settings
from gateway.store import open_store


def test_hashes_verify_and_differ_per_salt() -> None:
    first = admins.hash_password("một mật khẩu đủ dài")
    second = admins.hash_password("một mật khẩu đủ dài")
    assert first != second  # random salt
    assert first.startswith("scrypt$15$8$1$")
    assert admins.verify_password("một mật khẩu đủ dài", first)
    assert admins.verify_password("một mật khẩu đủ dài", second)
    assert not admins.verify_password("một mật khẩu đủ dàI", first)
    assert not admins.verify_password("", first)
    assert not admins.needs_rehash(first)
    assert admins.needs_rehash("scrypt$14$8$1$" + first.split("$", 4)[4])


@pytest.mark.parametrize(
    "encoded", [None, "", "bcrypt$x", "scrypt$15$8$1$!!$??", "scrypt$40$8$1$AA==$AA==", "a$b"]
)
def test_a_broken_or_missing_hash_never_matches(encoded: str | None) -> None:
    assert not admins.verify_password("whatever-password", encoded)


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("ngan", True),
        ("vanhanh-2025-abc", True),  # contains the username
        ("aaaaaaaaaaaaaaaa", True),
        ("bốn-từ-ngẫu-nhiên-ổn", False),
    ],
)
def test_password_policy(password: str, refused: bool) -> None:
    assert (admins.password_problem(password, "vanhanh") is not None) is refused


def _cli(tmp_path: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    environ = {"EDXGW_STORE_DSN": f"sqlite:///{tmp_path}/gw.db"}
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv), environ, out)
    finally:
        sys.stdin = saved
    return code, out.getvalue()


def _trace(tmp_path: Path) -> list[tuple[str, dict[str, object]]]:
    conn = sqlite3.connect(tmp_path / "gw.db")
    try:
        rows = conn.execute("SELECT stage, detail FROM trace_events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [(stage, json.loads(detail)) for stage, detail in rows]


def test_admins_commands(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "admins", "list")
    assert (code, out) == (0, "no admins / chưa có quản trị viên\n")
    code, out = _cli(
        tmp_path, "admins", "add", "Lan.NT", "--role", "viewer", "--name", "Nguyễn Thị Lan",
        "--password-stdin", stdin="mật-khẩu-của-lan-2025\n",
    )  # fmt: skip
    assert code == 0, out
    code, out = _cli(tmp_path, "admins", "add", "lan.nt", "--role", "operator", "--generate")
    assert code == 1
    assert "exists" in out
    code, out = _cli(tmp_path, "admins", "add", "binh", "--role", "operator", "--generate")
    assert code == 0
    generated = out.split("chỉ hiện một lần): ", 1)[1].split()[0]
    code, out = _cli(tmp_path, "admins", "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [["binh", "operator"], ["lan.nt", "viewer"]]
    assert "Nguyễn Thị Lan" in lines[1]

    code, out = _cli(tmp_path, "admins", "passwd", "lan.nt", "--password-stdin", stdin="ngan\n")
    assert code == 1
    assert "admin.weak_password" in out
    code, out = _cli(
        tmp_path, "admins", "passwd", "lan.nt", "--password-stdin", stdin="mật-khẩu-mới-2026\n"
    )
    assert code == 0, out
    code, out = _cli(tmp_path, "admins", "role", "lan.nt", "operator")
    assert code == 0
    code, out = _cli(tmp_path, "admins", "remove", "binh", "--reason", "chuyển công tác")
    assert code == 0
    assert _cli(tmp_path, "admins", "remove", "binh")[0] == 1
    assert _cli(tmp_path, "admins", "add", "Bad Name", "--role", "viewer", "--generate")[0] == 2

    async def check() -> None:
        store = await open_store(f"sqlite:///{tmp_path}/gw.db")
        try:
            lan = await store.get_admin("lan.nt")
            assert lan is not None
            assert lan.role == "operator"
            assert admins.verify_password("mật-khẩu-mới-2026", lan.password_hash)
            assert await store.get_admin("binh") is None
        finally:
            await store.close()

    asyncio.run(check())
    assert len(generated) >= 20
    trace = _trace(tmp_path)
    assert [stage for stage, _ in trace] == [
        "admin.admin_add", "admin.admin_add", "admin.admin_passwd", "admin.admin_role",
        "admin.admin_remove",
    ]  # fmt: skip
    assert trace[-1][1] == {"username": "binh", "reason": "chuyển công tác", "by": "cli"}
    assert all("password" not in json.dumps(d) for _, d in trace)


def test_without_a_terminal_a_password_source_is_required(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "admins", "add", "lan", "--role", "viewer")
    assert code == 1
    assert "--generate" in out


async def test_a_demo_hub_gets_a_demo_admin_once(tmp_path: Path) -> None:
    settings = Settings.from_mapping(
        {"store_dsn": f"sqlite:///{tmp_path}/gw.db", "blob_dir": str(tmp_path / "blobs")}
    )
    store = await open_store(settings.store_dsn)
    try:
        await store.migrate()
        await _first_start(store, settings)
        secret = tmp_path / DEMO_ADMIN_FILE
        username, password = secret.read_text().split()
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        admin = await store.get_admin(username)
        assert admin is not None
        assert admin.role == "operator"
        assert admins.verify_password(password, admin.password_hash)
        await _first_start(store, settings)  # a restart changes nothing
        assert secret.read_text().split() == [username, password]
        assert len(await store.list_admins()) == 1
    finally:
        await store.close()


async def test_a_non_demo_hub_gets_no_admin(tmp_path: Path) -> None:
    directory = Path(__file__).resolve().parents[2] / "data" / "e2e-directory.toml"
    settings = Settings.from_mapping(
        {"store_dsn": f"sqlite:///{tmp_path}/gw.db", "directory_file": str(directory)}
    )
    store = await open_store(settings.store_dsn)
    try:
        await store.migrate()
        await _first_start(store, settings)
        assert await store.list_admins() == []
        assert not (tmp_path / DEMO_ADMIN_FILE).exists()
    finally:
        await store.close()
