"""``edxgw systems amqp-grant`` / ``amqp-revoke``: direct AMQP delivery for an agency system.

::

    edxgw systems amqp-grant SYSTEM [--agency ORGAN ...] [--rotate]
    edxgw systems amqp-revoke SYSTEM [--reason ...]

``amqp-grant`` (for all of the system's local agencies, or those named), in this order:

1. declares each agency's queue ``<prefix>.agency.<organ id>`` (so the agency can consume at
   once, even before a gateway node picked up the change);
2. creates the RabbitMQ user ``<prefix>-<system id>`` with a generated password, or — when it
   exists — keeps its password unless ``--rotate``; sets its permissions in the hub's vhost to
   configure ``^$``, write ``^$``, read = exactly those queues (``adapters/amqp/config.py``);
3. switches the agencies' ``delivery_mode`` to ``amqp``: running nodes start copying their
   deliveries into the queues within ``directory_refresh_seconds``;
4. traces ``admin.amqp_grant`` and prints the user, the password (once) and the URL.

Running it again after the system's agencies changed updates the permissions. ``amqp-revoke``
deletes the user (its connections are closed by RabbitMQ) and puts the agencies back to
``pull``; their queues stay (already-delivered copies; drain or delete them with rabbitmqctl),
and every delivery remains available over REST.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
from typing import Any, TextIO

from adapters.amqp.admin import Rabbitmqctl
from adapters.amqp.config import (
    DELIVERY_MODE,
    NO_PERMISSION,
    public_url,
    queue_arguments,
    queue_name,
    read_pattern,
    user_name,
    vhost_of,
)
from adapters.amqp.errors import GRANT_REFUSED, AmqpError
from gateway.settings import Settings
from gateway.store.base import Agency, Store, System, TraceEvent

__all__ = [
    "Granted",
    "add_parser",
    "cmd_grant",
    "cmd_revoke",
    "grant",
    "on_system_revoked",
    "revoke",
]


def _event(settings: Settings, stage: str, detail: dict[str, Any]) -> TraceEvent:
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


def _refused(vi: str, en: str) -> AmqpError:
    return AmqpError(GRANT_REFUSED, detail_vi=vi, detail_en=en)


async def _agencies(store: Store, system: System, wanted: list[str]) -> list[Agency]:
    """The local agencies to grant: those named (each must be the system's), else all."""
    if system.revoked:
        raise _refused(
            f"hệ thống {system.system_id} đã bị thu hồi", f"system {system.system_id} is revoked"
        )
    mine = {a: await store.resolve(a) for a in system.agencies}
    canonical = {agency.organ_id for agency in mine.values() if agency is not None}
    chosen: list[Agency] = []
    for organ in wanted or list(system.agencies):
        agency = await store.resolve(organ)
        if agency is None or agency.organ_id not in canonical:
            raise _refused(
                f"{organ} không thuộc hệ thống {system.system_id}",
                f"{organ} is not an agency of system {system.system_id}",
            )
        if agency.host != "local":
            if wanted:
                raise _refused(
                    f"{organ} không thuộc trục này", f"{organ} is not hosted by this hub"
                )
            continue
        chosen.append(agency)
    if not chosen:
        raise _refused(
            f"hệ thống {system.system_id} không có đơn vị nào thuộc trục này",
            f"system {system.system_id} has no agency hosted by this hub",
        )
    return chosen


async def _declare(settings: Settings, queues: list[str]) -> None:
    import aio_pika  # only this command needs the broker client

    from gateway.broker.errors import redact

    try:
        connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    except Exception as exc:
        raise _refused(
            f"không kết nối được RabbitMQ tại {redact(settings.amqp_url)}: {exc}",
            f"cannot reach RabbitMQ at {redact(settings.amqp_url)}: {exc}",
        ) from exc
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.declare_queue(
                queue,
                durable=True,
                arguments=queue_arguments(settings.amqp_prefix, settings.amqp_queue_type),
            )
    finally:
        await connection.close()


@dataclasses.dataclass(frozen=True, slots=True)
class Granted:
    user: str
    password: str | None  # None: the existing password was kept
    vhost: str
    queues: tuple[str, ...]
    agencies: tuple[str, ...]


async def grant(
    settings: Settings,
    store: Store,
    system_id: str,
    agencies: list[str] | None = None,
    *,
    rotate: bool = False,
) -> Granted:
    """The grant (module doc); raises :class:`AmqpError` with ``amqp.*`` codes."""
    system = await store.get_system(system_id)
    if system is None:
        raise _refused(f"không có hệ thống {system_id}", f"no system {system_id}")
    chosen = await _agencies(store, system, agencies or [])
    queues = [queue_name(settings.amqp_prefix, a.organ_id) for a in chosen]
    await _declare(settings, queues)
    ctl = Rabbitmqctl(settings.amqp_admin_command)
    vhost = vhost_of(settings.amqp_url)
    try:
        user = user_name(settings.amqp_prefix, system.system_id)
    except ValueError as exc:
        raise _refused(str(exc), str(exc)) from None
    password: str | None = None
    if user not in await ctl.users():
        password = secrets.token_urlsafe(24)
        await ctl.add_user(user, password)
    elif rotate:
        password = secrets.token_urlsafe(24)
        await ctl.change_password(user, password)
    # Everything the system may read in this vhost, including agencies granted earlier.
    granted = {
        queue_name(settings.amqp_prefix, a.organ_id)
        for a in [await store.resolve(o) for o in system.agencies]
        if a is not None and a.delivery_mode == DELIVERY_MODE
    } | set(queues)
    await ctl.set_permissions(vhost, user, NO_PERMISSION, NO_PERMISSION, read_pattern(granted))
    for agency in chosen:
        if agency.delivery_mode != DELIVERY_MODE:
            await store.upsert_agency(
                dataclasses.replace(agency, delivery_mode=DELIVERY_MODE),
                [
                    _event(
                        settings,
                        "admin.agency_upsert",
                        {"organ_id": agency.organ_id, "delivery_mode": DELIVERY_MODE},
                    )
                ],
            )
    detail = {
        "system_id": system.system_id,
        "user": user,
        "vhost": vhost,
        "queues": sorted(granted),
        "password_changed": password is not None,
    }
    await store.append_trace([_event(settings, "admin.amqp_grant", detail)])
    return Granted(user, password, vhost, tuple(sorted(granted)), tuple(a.organ_id for a in chosen))


async def cmd_grant(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    try:
        result = await grant(s, store, args.system_id, args.agency, rotate=args.rotate)
    except AmqpError as exc:
        out.write(f"{exc.code}: {exc.message_en}\n{exc.code}: {exc.message_vi}\n")
        return 1
    out.write(
        f"system {args.system_id}: direct AMQP delivery for {', '.join(result.agencies)} / "
        f"đã cấp hàng đợi AMQP\n"
    )
    out.write(f"user: {result.user}\nvhost: {result.vhost}\n")
    for queue in result.queues:
        out.write(f"queue: {queue}\n")
    if result.password is not None:
        out.write(f"amqp password (shown once / chỉ hiện một lần): {result.password}\n")
        url = public_url(s.amqp_url, result.user, result.password, s.amqp_public_url)
        out.write(f"url (shown once / chỉ hiện một lần): {url}\n")
    else:
        out.write(
            "password unchanged (--rotate for a new one) / mật khẩu giữ nguyên (--rotate để đổi)\n"
        )
    out.write(
        "acknowledge and send statuses over the REST API with the system's token / "
        "xác nhận và gửi trạng thái qua REST API bằng mã truy cập của hệ thống\n"
    )
    return 0


async def revoke(
    settings: Settings, store: Store, system: System, reason: str | None
) -> tuple[str, list[str]]:
    """Delete the system's RabbitMQ user and put its ``amqp`` agencies back to ``pull``."""
    ctl = Rabbitmqctl(settings.amqp_admin_command)
    user = user_name(settings.amqp_prefix, system.system_id)
    if user in await ctl.users():
        await ctl.delete_user(user)
    moved = []
    for organ in system.agencies:
        agency = await store.resolve(organ)
        if agency is not None and agency.delivery_mode == DELIVERY_MODE:
            await store.upsert_agency(
                dataclasses.replace(agency, delivery_mode="pull"),
                [
                    _event(
                        settings,
                        "admin.agency_upsert",
                        {"organ_id": agency.organ_id, "delivery_mode": "pull"},
                    )
                ],
            )
            moved.append(agency.organ_id)
    detail = {"system_id": system.system_id, "user": user, "agencies": moved, "reason": reason}
    await store.append_trace([_event(settings, "admin.amqp_revoke", detail)])
    return user, moved


async def cmd_revoke(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    system = await store.get_system(args.system_id)
    if system is None:
        out.write(f"no system {args.system_id} / không có hệ thống {args.system_id}\n")
        return 1
    try:
        user, moved = await revoke(s, store, system, args.reason)
    except AmqpError as exc:
        out.write(f"{exc.code}: {exc.message_en}\n{exc.code}: {exc.message_vi}\n")
        return 1
    out.write(
        f"user {user} deleted; {', '.join(moved) or 'no agency'} back to pull / "
        f"đã xóa người dùng AMQP, các đơn vị trở lại kiểu kéo (pull)\n"
    )
    return 0


async def on_system_revoked(settings: Settings, store: Store, system: System, out: TextIO) -> None:
    """``edxgw systems remove``: a revoked system must not keep reading its queues either.

    Does nothing (and runs no rabbitmqctl) unless one of its agencies is in ``amqp`` mode.
    """
    modes = [await store.resolve(o) for o in system.agencies]
    if not any(a is not None and a.delivery_mode == DELIVERY_MODE for a in modes):
        return
    try:
        user, _ = await revoke(settings, store, system, "system revoked")
    except AmqpError as exc:
        out.write(
            f"WARNING {exc.code}: the system's RabbitMQ user could not be deleted, do it by "
            f"hand: {exc.message_en}\nCẢNH BÁO: chưa xóa được người dùng RabbitMQ của hệ thống: "
            f"{exc.message_vi}\n"
        )
        return
    out.write(f"RabbitMQ user {user} deleted / đã xóa người dùng RabbitMQ {user}\n")


def add_parser(systems: Any) -> None:
    """Register ``amqp-grant`` and ``amqp-revoke`` on the ``edxgw systems`` sub-parsers."""
    g = systems.add_parser(
        "amqp-grant", help="own RabbitMQ queue + user for the system's agencies; prints it once"
    )
    g.add_argument("system_id")
    g.add_argument("--agency", action="append", help="only these agencies (repeatable)")
    g.add_argument("--rotate", action="store_true", help="new password for an existing user")
    g.set_defaults(func=cmd_grant)
    r = systems.add_parser("amqp-revoke", help="delete the system's RabbitMQ user; back to pull")
    r.add_argument("system_id")
    r.add_argument("--reason")
    r.set_defaults(func=cmd_revoke)
