"""Drain a running node without losing anything: ``edxgw drain``, SIGTERM, and the control socket.

``setup(app)`` (called by ``gateway/app.py``) gives the application a :class:`Drain`
(``app[DRAIN]``), a middleware counting the HTTP requests in progress, a readiness check
``accepting``, and a cleanup context that — when the node owns its process (``edxgw serve``,
i.e. ``web.run_app`` installed a SIGTERM handler) — does two more things:

- **SIGTERM drains first** (``docker stop``, systemd, Kubernetes): the steps of
  ``gateway/core/drain.py``, then the process exits 0 through aiohttp's own shutdown. A second
  SIGTERM exits at once (the operator insists); SIGINT (Ctrl-C) stays aiohttp's quick stop.
- **A control socket** ``<control_dir>/edxgw-<node>.sock`` (mode 0600, in a 0700 folder: the
  file system is the authentication, as for a database's local socket) answers
  ``GET /status`` and ``POST /drain``; ``edxgw drain`` talks to it, prints the steps as they
  happen and returns once the node has exited. A socket rather than an HTTP admin endpoint:
  the API port faces agencies and the load balancer, and nothing there should stop a node.

Starting a node whose socket answers (the same node name running twice on one host) is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.core.drain import DrainState
from gateway.settings import Settings
from gateway.store.base import TraceEvent
from gateway.web.state import CHECKS, HUB, SETTINGS, STORE

__all__ = ["DRAIN", "Drain", "control_path", "setup"]

log = logging.getLogger(__name__)

#: The trace stage of a node's drain (an admin action: no DocId).
STAGE = "node.drain"
_POLL = 0.05


def control_path(settings: Settings) -> Path:
    """Where a node's control socket is: one per node name, so nodes can share a host."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.node)
    return Path(settings.control_dir) / f"edxgw-{safe}.sock"


class Drain:
    """The drain of one node: its state, the steps done, and the procedure (module doc)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.state = DrainState.SERVING
        self.reason: str | None = None
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.steps: list[dict[str, Any]] = []
        self.requests = 0  # HTTP requests in progress (the middleware counts them)
        #: Set by the cleanup context when this node owns its process: exit once drained.
        self.exit: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._extra: list[tuple[str, Callable[[float], Awaitable[object]]]] = []

    # -- what others use ------------------------------------------------------------------------
    def add_step(self, name: str, step: Callable[[float], Awaitable[object]]) -> None:
        """Run ``await step(seconds_left)`` after the built-in steps (e.g. an adapter's own
        consumers); its result, if a dict, goes into the step's report."""
        self._extra.append((name, step))

    async def ready(self) -> bool:
        """The readiness check ``accepting``: False from the first step on."""
        return self.state is DrainState.SERVING

    def status(self) -> dict[str, Any]:
        settings = self.app[SETTINGS]
        runtime = _runtime(self.app)
        consumers = list(runtime.consumers.values()) if runtime is not None else []
        return {
            "node": settings.node,
            "pid": os.getpid(),
            "state": self.state.value,
            "reason": self.reason,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "requests": self.requests,
            "consumers": len(consumers),
            "in_flight": sum(c.in_flight for c in consumers),
            "exits": self.exit is not None,
            "steps": list(self.steps),
        }

    # -- the procedure --------------------------------------------------------------------------
    def begin(self, reason: str) -> bool:
        """Step ``refuse``: stop taking new work now; False if the drain had already begun."""
        if self.state is not DrainState.SERVING:
            return False
        self.state = DrainState.DRAINING
        self.reason = reason
        self.started_at = datetime.now(UTC)
        if HUB in self.app:
            self.app[HUB].accepting = False
        self._done("refuse", reason=reason)
        log.warning("node draining (%s): new packages are refused from now on", reason)
        return True

    def start(self, reason: str) -> asyncio.Task[None]:
        """Begin (if not yet) and run the whole drain in a task; every caller gets the same."""
        self.begin(reason)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="drain")
        return self._task

    async def run(self, reason: str) -> dict[str, Any]:
        """Drain to the end (or to the timeout) and return the status."""
        await asyncio.shield(self.start(reason))
        return self.status()

    async def _run(self) -> None:
        settings = self.app[SETTINGS]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.drain_grace_seconds + settings.drain_timeout_seconds
        try:
            await self._trace("started", reason=self.reason)
            await asyncio.sleep(settings.drain_grace_seconds)
            self._done("grace", seconds=settings.drain_grace_seconds)
            await self._requests(deadline)
            await self._relay(deadline)
            await self._consumers(deadline)
            for name, step in self._extra:
                result = await _bounded(step(max(deadline - loop.time(), 0.0)), deadline)
                self._done(name, **(result if isinstance(result, dict) else {}))
        except Exception:
            # Nothing is lost all the same: unacknowledged messages are redelivered and the
            # outbox waits in the store for any relay.
            log.exception("a drain step failed; the node stops all the same")
        finally:
            self.state = DrainState.DRAINED
            self.finished_at = datetime.now(UTC)
            with contextlib.suppress(Exception):
                await self._trace("done", steps=[s["step"] for s in self.steps])
            log.warning(
                "node drained in %s", self.finished_at - (self.started_at or self.finished_at)
            )
            if self.exit is not None:
                self.exit()

    async def _requests(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while self.requests > 0 and loop.time() < deadline:
            await asyncio.sleep(_POLL)
        self._done("requests", unfinished=self.requests)

    async def _relay(self, deadline: float) -> None:
        runtime = _runtime(self.app)
        if runtime is None:
            self._done("relay", published=0)
            return
        loop = asyncio.get_running_loop()
        relay = runtime.relay
        before = relay.stats["published"]
        # Publish what this node (and others) committed and nobody holds: a drained single
        # node leaves an empty outbox behind when RabbitMQ is up. Rows held under another
        # relay's lease are that relay's; a batch whose publishes fail ends the loop.
        while loop.time() < deadline:
            published = relay.stats["published"]
            try:
                claimed = await relay.relay_once()
            except Exception as exc:  # the store is down: the rows wait there for any relay
                log.warning("drain: the relay could not publish what is left: %s", exc)
                break
            if claimed == 0 or relay.stats["published"] == published:
                break
        runtime.stop.set()  # the relay's own batches finish; the directory watcher stops
        tasks = [t for t in runtime.tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.1))
        self._done("relay", published=relay.stats["published"] - before)

    async def _consumers(self, deadline: float) -> None:
        runtime = _runtime(self.app)
        consumers = list(runtime.consumers.values()) if runtime is not None else []
        loop = asyncio.get_running_loop()
        holding = sum(c.in_flight for c in consumers)
        timeout = max(deadline - loop.time(), 0.1)
        await asyncio.gather(*(c.stop(timeout=timeout) for c in consumers))
        self._done("consumers", stopped=len(consumers), finished=holding)

    def _done(self, step: str, **detail: Any) -> None:
        self.steps.append({"step": step, "at": _iso(datetime.now(UTC)), **detail})

    async def _trace(self, outcome: str, **detail: Any) -> None:
        settings = self.app[SETTINGS]
        event = TraceEvent(node=settings.node, stage=STAGE, outcome=outcome, detail=detail)
        try:
            await self.app[STORE].append_trace([event])
        except Exception as exc:  # the store may be why we drain: never block on the trace
            log.warning("could not trace the drain (%s): %s", outcome, exc)


def _runtime(app: web.Application) -> Any:
    from gateway.app import BROKER  # the composition root imports this module

    return app.get(BROKER)


async def _bounded(awaitable: Awaitable[object], deadline: float) -> object:
    left = max(deadline - asyncio.get_running_loop().time(), 0.1)
    try:
        return await asyncio.wait_for(awaitable, left)
    except TimeoutError:
        return {"timed_out": True}


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when is not None else None


# -- wiring -------------------------------------------------------------------------------------

DRAIN = web.AppKey("drain", Drain)


@web.middleware
async def _track(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    drain = request.app[DRAIN]
    drain.requests += 1
    try:
        return await handler(request)
    finally:
        drain.requests -= 1


def setup(app: web.Application) -> None:
    """The drain, its request counter and readiness check; the context that owns signals and
    the control socket and runs periodic retention. Call it last in ``make_app`` so that its
    context opens after (and closes before) the broker's."""
    app[DRAIN] = Drain(app)
    app.middlewares.append(_track)
    app.cleanup_ctx.append(_ctx)


async def _ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.ops.retention import start_periodic

    drain = app[DRAIN]
    settings = app[SETTINGS]
    app[CHECKS]["accepting"] = drain.ready
    loop = asyncio.get_running_loop()
    control: web.AppRunner | None = None
    if _take_sigterm(loop, drain):
        # A moment after the last step, so that edxgw drain reads the final status.
        def exit_soon() -> None:
            loop.call_later(0.5, _graceful_exit)

        drain.exit = exit_soon
        control = await _start_control(app, control_path(settings))
    stop_retention = start_periodic(app)
    try:
        yield
    finally:
        await stop_retention()
        if control is not None:
            await control.cleanup()


def _graceful_exit() -> None:
    # What aiohttp's own signal handler raises: run_app then shuts the application down.
    raise web.GracefulExit()


def _take_sigterm(loop: asyncio.AbstractEventLoop, drain: Drain) -> bool:
    """Replace the SIGTERM handler ``web.run_app`` installed with a drain; False (and nothing
    changed) when there was none: the application runs inside someone else's process."""
    try:
        if not loop.remove_signal_handler(signal.SIGTERM):
            return False
    except (NotImplementedError, RuntimeError, ValueError):
        return False

    def on_sigterm() -> None:
        if drain.state is DrainState.SERVING:
            log.warning("SIGTERM: draining before exit (send it again to stop at once)")
            drain.start("SIGTERM")
        else:
            _graceful_exit()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    return True


# -- the control socket -------------------------------------------------------------------------

_PARENT = web.AppKey("parent", web.Application)


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[_PARENT][DRAIN].status())


async def _drain(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    reason = str(body.get("reason") or "edxgw drain") if isinstance(body, dict) else "edxgw drain"
    drain = request.app[_PARENT][DRAIN]
    drain.start(reason)
    return web.json_response(drain.status(), status=202)


async def _start_control(app: web.Application, path: Path) -> web.AppRunner | None:
    """Serve the control socket; refuse to start next to a live node of the same name."""
    if len(os.fsencode(path)) > 100:  # sun_path is 108 bytes with its NUL on Linux
        raise OSError(
            errno.ENAMETOOLONG,
            f"the control socket path {path} is too long: set a shorter control_dir"
            f" / đường dẫn socket điều khiển quá dài: đặt control_dir ngắn hơn",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        log.warning("no control socket (edxgw drain unavailable; SIGTERM drains): %s", exc)
        return None
    if await asyncio.to_thread(_answers, path):
        raise OSError(
            errno.EADDRINUSE,
            f"node {app[SETTINGS].node} is already running here ({path} answers)"
            f" / nút {app[SETTINGS].node} đang chạy ở đây rồi",
        )
    path.unlink(missing_ok=True)  # a stale socket of a node that was killed
    control = web.Application()
    control[_PARENT] = app
    control.router.add_get("/status", _status)
    control.router.add_post("/drain", _drain)
    runner = web.AppRunner(control, access_log=None, handle_signals=False)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    # Owner only; the folder was created 0700, so nobody else could connect in between.
    os.chmod(path, 0o600)
    return runner


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


async def wait_gone(path: Path, timeout: float) -> bool:
    """True once nothing answers on ``path`` any more (the node exited) within ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not await asyncio.to_thread(_answers, path):
            return True
        await asyncio.sleep(0.2)
    return False
