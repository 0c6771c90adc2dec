"""The broker shell's exception tree, and the one place aio-pika/aiormq errors are translated.

Every error has a stable code, an HTTP status, a ``retryable`` flag and a message in Vietnamese
and English (style.md §6)::

    BrokerError             broker.internal           500  an AMQP error we did not expect (a bug)
    ├── BrokerUnavailable   broker.unavailable        503  retryable: RabbitMQ cannot be reached,
    │                                                      the connection or channel was lost
    ├── PublishFailed       broker.publish_failed     503  retryable: the broker nacked a publish,
    │                                                      returned it (no queue at all), or the
    │                                                      confirm did not arrive in time
    ├── TopologyConflict    broker.topology_conflict  500  an exchange or queue exists with other
    │                                                      arguments (e.g. classic vs quorum)
    └── EffectFailed        <the effect's own code>   -    a consumer effect (webhook push, peer
                                                           hand-over) failed; ``retryable`` says
                                                           whether a retry may help
    EffectDeferred          <the effect's own code>   -    the effect's destination is down: the
                                                           message goes back untouched (uplink)

:func:`translate` maps foreign exceptions, most specific class first (httpx
``map_httpcore_exceptions``); nothing else in ``gateway/broker`` inspects aio-pika or aiormq
exception types. ``EffectFailed`` is raised by effects, never by translation: the consumer turns
it into a :class:`gateway.core.deliver.Failure` and lets ``decide`` pick Retry or DeadLetter.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import aiormq.exceptions

from gateway.core.deliver import Failure

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "EffectDeferred",
    "EffectFailed",
    "PublishFailed",
    "TopologyConflict",
    "redact",
    "translate",
    "unavailable",
]

_START_HINT_VI = (
    "khởi động RabbitMQ: `rabbitmq-server -detached` hoặc `systemctl start rabbitmq-server`"
)
_START_HINT_EN = "start it with `rabbitmq-server -detached` or `systemctl start rabbitmq-server`"


class BrokerError(Exception):
    """Base of every broker error; ``code`` is stable, the messages are for people."""

    code: ClassVar[str] = "broker.internal"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message_vi: str, message_en: str) -> None:
        self.message_vi = message_vi
        self.message_en = message_en
        super().__init__(f"{self.code}: {message_vi} / {message_en}")


class BrokerUnavailable(BrokerError):
    """RabbitMQ cannot be reached, or the connection/channel went away; try again later."""

    code = "broker.unavailable"
    http_status = 503
    retryable = True


class PublishFailed(BrokerError):
    """The broker did not take responsibility for a message (nack, return, no confirm)."""

    code = "broker.publish_failed"
    http_status = 503
    retryable = True


class TopologyConflict(BrokerError):
    """A declared exchange or queue already exists with different arguments."""

    code = "broker.topology_conflict"


class EffectFailed(Exception):
    """Raised by a consumer effect: ``code`` (``webhook.http_503``…) and whether to retry.

    Not a :class:`BrokerError`: the code belongs to the effect, and the consumer does not
    propagate it; it becomes a ``Failure`` for ``gateway.core.deliver.decide``.
    """

    def __init__(self, code: str, *, retryable: bool, message: str = "") -> None:
        self.code = code
        self.retryable = retryable
        super().__init__(f"{code}: {message}" if message else code)

    @property
    def failure(self) -> Failure:
        return Failure(self.code, self.retryable)


class EffectDeferred(Exception):
    """Raised by a consumer effect that could not even be tried: its destination is down.

    An upstream axis outage is nobody's failed attempt: the consumer puts the message back
    in its queue untouched (``basic.nack(requeue=True)``, no attempt counted, no state
    change), so a long outage leaves a backlog that drains afterwards instead of burning
    retries into dead letters. The effect itself waits before raising (no hot loop).
    """

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {message}" if message else code)


def redact(url: str) -> str:
    """The URL without its password, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def unavailable(url: str, reason: object) -> BrokerUnavailable:
    """The error an operator sees when RabbitMQ cannot be reached: the URL and how to start it."""
    where = redact(url)
    return BrokerUnavailable(
        f"không kết nối được RabbitMQ tại {where} ({reason}); {_START_HINT_VI}",
        f"cannot reach RabbitMQ at {where} ({reason}); {_START_HINT_EN}",
    )


def translate(exc: BaseException, *, url: str = "") -> BrokerError:
    """Map an aio-pika/aiormq/OS exception to the broker's tree, most specific class first."""
    if isinstance(exc, BrokerError):
        return exc
    what = _describe(exc)
    if isinstance(exc, aiormq.exceptions.DeliveryError | aiormq.exceptions.PublishError):
        # DeliveryError: Basic.Nack/Reject; PublishError: Basic.Return (routed to no queue).
        return PublishFailed(
            f"RabbitMQ không nhận thông điệp: {what}",
            f"RabbitMQ did not accept the message: {what}",
        )
    if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed):
        return TopologyConflict(
            f"hàng đợi/exchange đã tồn tại với tham số khác (đổi loại hàng đợi cần xóa hàng đợi "
            f"cũ sau khi đã rút hết): {what}",
            f"an exchange or queue exists with other arguments (changing the queue type needs "
            f"the old queue drained and deleted first): {what}",
        )
    if isinstance(
        exc,
        aiormq.exceptions.AuthenticationError | aiormq.exceptions.ProbableAuthenticationError,
    ):
        return unavailable(url, f"authentication refused, check user/password/vhost: {what}")
    if isinstance(
        exc,
        aiormq.exceptions.AMQPConnectionError
        | aiormq.exceptions.ChannelInvalidStateError
        | aiormq.exceptions.ChannelClosed
        | ConnectionError
        | OSError
        | TimeoutError
        | asyncio.CancelledError,  # aiormq cancels pending confirms when a channel closes
    ):
        return unavailable(url, what)
    return BrokerError(f"lỗi AMQP không lường trước: {what}", f"unexpected AMQP error: {what}")


def _describe(exc: BaseException) -> str:
    # aiormq's __repr__ can itself raise on a half-built exception; an error path must not.
    try:
        return repr(exc)
    except Exception:
        return type(exc).__name__
