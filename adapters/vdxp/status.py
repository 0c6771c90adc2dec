"""Whether the upstream axis is reachable, and one gate every call to it goes through.

:class:`Gate` is a circuit breaker shared by the sender (``sink``), the poller (``source``) and
the directory sync: while the upstream answers, calls go out freely; after an outage (no
answer, HTTP 5xx, a body outside the protocol) or a refusal of our credentials (``ErrorCode
-2``) it lets ONE call through after 1 s, 2 s, 4 s... (at most ``backoff_max``) and holds the
others; the first answer opens it for all. Callers that wait longer than their ``hold`` give
up with :class:`UpstreamDown`: the sender puts its package back in ``P.uplink`` untouched, the
poller skips a round. So an outage costs one probe per backoff step, whatever the backlog.

:class:`UplinkStatus` is what an operator (``/readyz`` stays green: an upstream outage is not
this node's fault), the metrics or the console read: state, since when, the last error and
counters. It is a plain mutable object owned by the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from adapters.vdxp.client import VdxpError, VdxpUnavailable
from adapters.vdxp.errors import UNAUTHORIZED, UNAVAILABLE, render

__all__ = ["Gate", "LinkState", "UplinkStatus", "UpstreamDown", "is_outage"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class LinkState(enum.StrEnum):
    STARTING = "starting"  # nothing asked yet
    UP = "up"  # the last call got an answer in the protocol
    DOWN = "down"  # no answer: connection, timeout, 5xx, not the protocol
    UNAUTHORIZED = "unauthorized"  # the axis refuses our systemId/secret (ErrorCode -2)
    STOPPED = "stopped"  # the node is shutting down


@dataclass(slots=True)
class UplinkStatus:
    """The uplink as an operator sees it (``as_dict`` is JSON-ready)."""

    endpoint: str
    system_id: str
    state: LinkState = LinkState.STARTING
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: Code and text (English) of the last failure, kept after recovery for the record.
    last_error_code: str | None = None
    last_error: str | None = None
    #: Failed calls in a row (0 while up) and when the next probe may go out.
    failures: int = 0
    next_attempt_at: datetime | None = None
    sent: int = 0  # packages sendEdoc accepted
    received: int = 0  # items downloaded and accepted here (duplicates included)
    duplicates: int = 0  # ... of which were known already (a repeat after a crash)
    acknowledged_fail: int = 0  # items refused here and acknowledged ``fail`` upstream
    dead_lettered: int = 0  # packages the axis refused for good
    deferred: int = 0  # times a package went back to P.uplink to wait for the axis
    last_sent_at: datetime | None = None
    last_received_at: datetime | None = None
    last_poll_at: datetime | None = None
    registered: int = 0  # agencies registered upstream by this node
    last_registration_at: datetime | None = None
    last_directory_sync_at: datetime | None = None
    directory_changes: int = 0  # agencies added, renamed or locked by the last sync

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            elif isinstance(value, enum.Enum):
                out[key] = value.value
        return out


class UpstreamDown(Exception):
    """The upstream stayed unreachable (or refused our credentials) for the caller's hold."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


def is_outage(exc: VdxpError) -> bool:
    """Whether ``exc`` says nothing about the call itself: the axis is down or refuses us.

    ``VdxpUnavailable`` (connection, timeout, 5xx, garbage), an HTTP error page outside the
    protocol (wrong endpoint: ``error_code`` empty), or ErrorCode -2 (authentication).
    """
    return isinstance(exc, VdxpUnavailable) or exc.error_code in ("", "-2")


class Gate:
    """The circuit breaker in front of the upstream (module doc)."""

    def __init__(
        self,
        status: UplinkStatus,
        *,
        backoff_max: float = 60.0,
        backoff_base: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[UplinkStatus], None] | None = None,
    ) -> None:
        self.status = status
        #: Called after every change of ``status.state`` (the metrics' link registry).
        self.on_change = on_change
        self.backoff_max = backoff_max
        self.backoff_base = min(backoff_base, backoff_max)
        self._clock = clock
        self._open = True  # calls go out freely (optimistic at start: the first call probes)
        self._probing = False
        self._retry_at = 0.0  # loop time when the next probe may go out
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def is_up(self) -> bool:
        return self._open

    def close(self) -> None:
        """Shutting down: every waiter gives up now (its package goes back to the queue)."""
        self._closed = True
        self.status.state = LinkState.STOPPED
        self._wake()
        self._notify()

    async def run(self, call: Callable[[], Awaitable[T]], *, hold: float) -> T:
        """``await call()`` once the upstream is thought reachable; raise :class:`UpstreamDown`
        if it stays down for ``hold`` seconds. Other :class:`VdxpError` propagate (the axis
        answered: it is up, and the refusal is about this call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold
        while True:
            await self._admit(deadline)
            try:
                result = await call()
            except VdxpError as exc:
                if not is_outage(exc):
                    self._answered()
                    raise
                self._failed(exc)
                continue
            except BaseException:
                self._release()
                raise
            self._answered()
            return result

    async def _admit(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            changed = self._changed  # captured before the checks: no wake-up is missed
            if self._closed:
                raise UpstreamDown(UNAVAILABLE.code, "the node is stopping")
            if self._open:
                return
            now = loop.time()
            if not self._probing and now >= self._retry_at:
                self._probing = True  # this caller probes; the others keep waiting
                return
            if now >= deadline:
                code = self.status.last_error_code or UNAVAILABLE.code
                raise UpstreamDown(code, self.status.last_error or "the upstream is down")
            until = deadline if self._probing else min(deadline, self._retry_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(until - now, 0.001))

    def _answered(self) -> None:
        self._probing = False
        if not self._open or self.status.state is not LinkState.UP:
            self._open = True
            self.status.state = LinkState.UP
            self.status.since = self._clock()
            self.status.failures = 0
            self.status.next_attempt_at = None
            self._wake()
            self._notify()

    def _failed(self, exc: VdxpError) -> None:
        self._probing = False
        loop = asyncio.get_running_loop()
        status = self.status
        unauthorized = not isinstance(exc, VdxpUnavailable) and exc.error_code == "-2"
        state = LinkState.UNAUTHORIZED if unauthorized else LinkState.DOWN
        if unauthorized:
            code = UNAUTHORIZED.code
            _, text = render(
                UNAUTHORIZED,
                endpoint=status.endpoint,
                system=status.system_id,
                error_code=exc.error_code,
            )
        else:
            code = UNAVAILABLE.code
            _, text = render(UNAVAILABLE, endpoint=status.endpoint, reason=exc.desc or str(exc))
        changed = self._open or status.state is not state
        if changed:
            status.since = self._clock()
        status.state = state
        status.last_error_code, status.last_error = code, text
        if self._open:
            status.failures = 0
        self._open = False
        status.failures += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(status.failures - 1, 30))
        self._retry_at = loop.time() + delay
        status.next_attempt_at = self._clock() + timedelta(seconds=delay)
        self._wake()
        if changed:
            self._notify()

    def _release(self) -> None:
        # A probe that ended without a verdict (cancelled): let another caller try at once.
        if self._probing:
            self._probing = False
            self._wake()

    def _notify(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.status)
            except Exception:  # a reporting hook must never break the link
                log.exception("uplink state hook failed")

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
