"""RabbitMQ users and permissions for agency systems, through ``rabbitmqctl``.

``rabbitmqctl`` is what every RabbitMQ node has (the management plugin may be off, as on this
project's CI machine); ``amqp_admin_command`` names the command line, so an operator whose broker
runs elsewhere sets it to ``docker compose exec -T rabbitmq rabbitmqctl`` or
``ssh mq1 sudo rabbitmqctl``. Passwords go to ``rabbitmqctl`` on standard input (``add_user`` and
``change_password`` read it there when the argument is omitted), never on a command line
another local user could read in the process list.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Sequence

from adapters.amqp.errors import ADMIN_FAILED, AmqpError

__all__ = ["Rabbitmqctl"]


class Rabbitmqctl:
    """The few ``rabbitmqctl`` operations a grant needs."""

    def __init__(self, command: str = "rabbitmqctl", timeout: float = 60.0) -> None:
        self.argv = shlex.split(command)
        self.timeout = timeout

    async def _run(self, *args: str, stdin: str | None = None) -> str:
        argv = [*self.argv, *args]
        shown = " ".join([*self.argv, *args[:2]])  # never more: no passwords in messages
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise AmqpError(ADMIN_FAILED, command=shown, reason=exc) from exc
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), self.timeout
            )
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AmqpError(ADMIN_FAILED, command=shown, reason="timed out") from None
        if proc.returncode != 0:
            reason = (err or out).decode(errors="replace").strip().splitlines()
            raise AmqpError(
                ADMIN_FAILED, command=shown, reason=reason[-1] if reason else proc.returncode
            )
        return out.decode(errors="replace")

    async def users(self) -> set[str]:
        out = await self._run("list_users", "--formatter", "json", "--silent")
        return {str(u["user"]) for u in json.loads(out or "[]")}

    async def add_user(self, user: str, password: str) -> None:
        await self._run("add_user", user, stdin=password + "\n")

    async def change_password(self, user: str, password: str) -> None:
        await self._run("change_password", user, stdin=password + "\n")

    async def delete_user(self, user: str) -> None:
        await self._run("delete_user", user)

    async def set_permissions(
        self, vhost: str, user: str, configure: str, write: str, read: str
    ) -> None:
        await self._run("set_permissions", "-p", vhost, user, configure, write, read)

    async def permissions(self, vhost: str) -> dict[str, Sequence[str]]:
        out = await self._run("list_permissions", "-p", vhost, "--formatter", "json", "--silent")
        return {
            str(p["user"]): (p["configure"], p["write"], p["read"]) for p in json.loads(out or "[]")
        }
