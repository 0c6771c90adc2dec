"""Names and permissions of direct AMQP delivery: the agency's queue, its user, its regexes.

An agency in ``amqp`` delivery mode gets its own durable queue ``<prefix>.agency.<organ id>``
in the hub's vhost. The gateway's consumer of the agency's inbox copies each sealed package
into it (``adapters.amqp.sink``); the agency's system consumes it with its OWN RabbitMQ user,
``<prefix>-<system id>``, whose permissions in that vhost are::

    configure  ^$                           declares nothing, deletes nothing
    write      ^$                           publishes nothing (statuses go over REST)
    read       ^(<its queues>)$             consumes its own agencies' queues only

(RabbitMQ checks ``read`` on basic.consume/basic.get; a passive queue.declare needs no
permission, basic.qos and basic.ack none either.) Everything it might want to say back —
done/fail, statuses 01-06, 13/15/16 — goes over the REST API with the system's token, through
the same validation, signatures and trace as every other package: one door for input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "DELIVERY_MODE",
    "INLINE_MAX_BYTES",
    "NO_PERMISSION",
    "public_url",
    "queue_arguments",
    "queue_name",
    "read_pattern",
    "user_name",
    "vhost_of",
]

#: The ``Agency.delivery_mode`` whose deliveries are copied into the agency's own queue.
DELIVERY_MODE = "amqp"
#: Packages up to this size travel inside the message; bigger ones carry only their identity
#: and the agency fetches them over REST (invariant §3.5: big payloads by reference).
INLINE_MAX_BYTES = 4 * 1024 * 1024
#: The permission pattern that matches no resource name.
NO_PERMISSION = "^$"
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def queue_name(prefix: str, organ_id: str) -> str:
    """The agency's own delivery queue."""
    return f"{prefix}.agency.{organ_id}"


def user_name(prefix: str, system_id: str) -> str:
    """The RabbitMQ user of an agency system (one per system, per hub prefix)."""
    name = f"{prefix}-{system_id}"
    if not _SAFE.match(name):
        raise ValueError(f"cannot derive a RabbitMQ user name from system id {system_id!r}")
    return name


def read_pattern(queues: Iterable[str]) -> str:
    """The ``read`` regex that matches exactly these queue names and nothing else."""
    names = sorted(set(queues))
    if not names:
        return NO_PERMISSION
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


def queue_arguments(prefix: str, queue_type: str) -> dict[str, Any]:
    """Arguments of an agency queue: the hub's queue type, dead letters to ``<prefix>.dead``.

    A message the agency rejects (requeue=False) is parked with the hub's dead letters rather
    than dropped. For quorum queues, at-least-once dead-lettering, as the topology does for
    every queue (gateway/broker/topology.py): it needs reject-publish overflow.
    """
    args: dict[str, Any] = {
        "x-queue-type": queue_type,
        "x-dead-letter-exchange": f"{prefix}.dead",
    }
    if queue_type == "quorum":
        args["x-dead-letter-strategy"] = "at-least-once"
        args["x-overflow"] = "reject-publish"
    return args


def vhost_of(amqp_url: str) -> str:
    """The vhost an ``amqp://`` URL names (``/`` when it names none)."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def public_url(amqp_url: str, user: str, password: str, public: str = "") -> str:
    """The URL an agency connects with: the public broker address (or the hub's own), its
    credentials, the hub's vhost."""
    base = urlsplit(public or amqp_url)
    host = base.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if base.port:
        netloc += f":{base.port}"
    vhost = vhost_of(amqp_url)
    return urlunsplit((base.scheme or "amqp", netloc, "/" + quote(vhost, safe=""), "", ""))
