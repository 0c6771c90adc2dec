"""Administrator accounts: password hashing (scrypt) and the ``edxgw admins`` commands.

Passwords are hashed with scrypt (RFC 7914, ``hashlib.scrypt``: no extra dependency) at
N=2^15, r=8, p=1 — 32 MiB and ~0.1 s per guess on this project's CI machine — under a
random 16-byte salt, and stored as ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (base64), so
the cost can be raised later and old hashes still verify (:func:`needs_rehash`). The web
console (``gateway/web/console``) checks them; these commands create and change them::

    edxgw admins add USERNAME --role viewer|operator [--name NAME] [--generate | --password-stdin]
    edxgw admins list
    edxgw admins passwd USERNAME [--generate | --password-stdin]
    edxgw admins role USERNAME viewer|operator
    edxgw admins remove USERNAME [--reason TEXT]

Without ``--generate`` or ``--password-stdin`` the password is asked twice on the terminal.
Every change is an ``admin.*`` trace event; a new password or role ends the admin's sessions.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import re
import secrets
import sys
from typing import TextIO, cast

from gateway.settings import Settings
from gateway.store.admins import ROLES, Admin, Role
from gateway.store.base import Store, TraceEvent

__all__ = [
    "MIN_PASSWORD",
    "USERNAME",
    "add_parser",
    "generate_password",
    "hash_password",
    "needs_rehash",
    "password_problem",
    "verify_password",
]

#: Lower-case login names: letters, digits, dot, dash, underscore (1-64 characters).
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 12
_LOG_N, _R, _P, _DKLEN = 15, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG_N, _R, _P)
    return "$".join(
        ("scrypt", str(_LOG_N), str(_R), str(_P), _b64(salt), _b64(digest))
    )  # fmt: skip


def verify_password(password: str, encoded: str | None) -> bool:
    """True when ``password`` matches; a missing or malformed hash never matches (and costs
    the same time, so login answers do not tell which names exist)."""
    parts = (encoded or _DUMMY).split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError(encoded)
        log_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
        if not (10 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
            raise ValueError(encoded)
        if len(salt) < 8 or not 16 <= len(expected) <= 64:
            raise ValueError(encoded)
    except ValueError:  # binascii.Error is a ValueError
        _scrypt(password, b"\0" * 16, _LOG_N, _R, _P)
        return False
    digest = _scrypt(password, salt, log_n, r, p, len(expected))
    return encoded is not None and hmac.compare_digest(digest, expected)


def needs_rehash(encoded: str) -> bool:
    """True for a hash made with weaker parameters than today's."""
    return not encoded.startswith(f"scrypt${_LOG_N}${_R}${_P}$")


def password_problem(password: str, username: str) -> tuple[str, str] | None:
    """Why a new password is refused (Vietnamese, English), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD:
        return (
            f"mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự",
            f"the password must have at least {MIN_PASSWORD} characters",
        )
    if username and username.lower() in password.lower():
        return (
            "mật khẩu không được chứa tên đăng nhập",
            "the password must not contain the username",
        )
    if len(set(password)) < 5:
        return ("mật khẩu quá đơn điệu", "the password is too repetitive")
    return None


def generate_password() -> str:
    """A random password of 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int, dklen: int = _DKLEN) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log_n, r=r, p=p, maxmem=_MAXMEM, dklen=dklen
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- edxgw admins ---------------------------------------------------------------------------------


def _event(settings: Settings, stage: str, detail: dict[str, object]) -> TraceEvent:
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


def _read_password(args: argparse.Namespace, out: TextIO) -> str | None:
    """The new password: generated, one line of stdin, or typed twice on the terminal."""
    if args.generate:
        password = generate_password()
        out.write(f"password (shown once / chỉ hiện một lần): {password}\n")
        return password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        out.write(
            "no password: use --generate or --password-stdin / "
            "chưa có mật khẩu: dùng --generate hoặc --password-stdin\n"
        )
        return None
    first = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != first:
        out.write("the passwords differ / hai lần nhập không khớp\n")
        return None
    return first


def _refuse_password(password: str, username: str, out: TextIO) -> bool:
    problem = password_problem(password, username)
    if problem is not None:
        out.write(f"admin.weak_password: {problem[1]} / {problem[0]}\n")
    return problem is not None


async def cmd_add(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    username = args.username.lower()
    if not USERNAME.fullmatch(username):
        out.write(
            f"invalid username {args.username!r}: a-z 0-9 . _ - (1-64) / "
            "tên đăng nhập không hợp lệ\n"
        )
        return 2
    if await store.get_admin(username) is not None:
        out.write(f"admin {username} exists / quản trị viên {username} đã tồn tại\n")
        return 1
    password = _read_password(args, out)
    if password is None or _refuse_password(password, username, out):
        return 1
    admin = Admin(
        username=username,
        display_name=args.name or username,
        role=cast(Role, args.role),
        password_hash=hash_password(password),
    )
    detail = {"username": username, "role": args.role, "by": "cli"}
    await store.add_admin(admin, [_event(s, "admin.admin_add", detail)])
    out.write(f"admin {username} ({args.role}) added / đã thêm quản trị viên\n")
    return 0


async def cmd_list(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    admins = await store.list_admins()
    if not admins:
        out.write("no admins / chưa có quản trị viên\n")
    for a in admins:
        changed = (
            a.password_changed_at.isoformat(timespec="seconds") if a.password_changed_at else ""
        )
        out.write(f"{a.username:<24} {a.role:<9} password set {changed}  {a.display_name}\n")
    return 0


async def cmd_passwd(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    username = args.username.lower()
    if await store.get_admin(username) is None:
        out.write(f"no admin {username} / không có quản trị viên {username}\n")
        return 1
    password = _read_password(args, out)
    if password is None or _refuse_password(password, username, out):
        return 1
    detail = {"username": username, "by": "cli"}
    await store.update_admin(
        username,
        password_hash=hash_password(password),
        trace=[_event(s, "admin.admin_passwd", detail)],
    )
    out.write(f"password of {username} changed, sessions ended / đã đổi mật khẩu\n")
    return 0


async def cmd_role(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    username = args.username.lower()
    if await store.get_admin(username) is None:
        out.write(f"no admin {username} / không có quản trị viên {username}\n")
        return 1
    detail = {"username": username, "role": args.role, "by": "cli"}
    await store.update_admin(
        username, role=cast(Role, args.role), trace=[_event(s, "admin.admin_role", detail)]
    )
    out.write(f"{username} is now {args.role} / đã đổi vai trò\n")
    return 0


async def cmd_remove(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    username = args.username.lower()
    detail = {"username": username, "reason": args.reason, "by": "cli"}
    if not await store.remove_admin(username, [_event(s, "admin.admin_remove", detail)]):
        out.write(f"no admin {username} / không có quản trị viên {username}\n")
        return 1
    out.write(f"admin {username} removed / đã xóa quản trị viên\n")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``edxgw admins ...`` on the ``edxgw`` parser (``gateway.cli._parser``)."""
    ad = sub.add_parser("admins", help="web console administrators (viewer, operator)")
    adsub = ad.add_subparsers(dest="action", required=True)

    def password_options(parser: argparse.ArgumentParser) -> None:
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--generate", action="store_true", help="print a random password once")
        how.add_argument("--password-stdin", action="store_true", help="read it from stdin")

    add = adsub.add_parser("add", help="create an administrator")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--name", help="display name")
    password_options(add)
    add.set_defaults(func=cmd_add)
    adsub.add_parser("list").set_defaults(func=cmd_list)
    pw = adsub.add_parser("passwd", help="set a new password (ends the admin's sessions)")
    pw.add_argument("username")
    password_options(pw)
    pw.set_defaults(func=cmd_passwd)
    ro = adsub.add_parser("role", help="change the role (ends the admin's sessions)")
    ro.add_argument("username")
    ro.add_argument("role", choices=ROLES)
    ro.set_defaults(func=cmd_role)
    rm = adsub.add_parser("remove", help="delete an administrator (the trace keeps its actions)")
    rm.add_argument("username")
    rm.add_argument("--reason")
    rm.set_defaults(func=cmd_remove)
