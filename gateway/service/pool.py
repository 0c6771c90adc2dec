"""A pool of worker processes driven straight from the event loop, for the CPU-heavy pipeline.

Why not ``concurrent.futures.ProcessPoolExecutor``: it feeds its workers through a management
thread and a queue only ``workers + 1`` deep. Under load that thread competes for the GIL with
the event loop serving HTTP, and the workers sit idle between packages: measured here with
two workers, they were busy ~45% of the time while requests queued for 200 ms. This pool has
no thread at all: each worker has a pipe, the loop writes pickled calls to it and
``add_reader`` wakes the loop when an answer is ready; several calls are pipelined per worker,
so a worker always has the next package waiting while it finishes one (its fsync included).
Writes never block the loop: what the pipe cannot take yet (a 1 MiB package while the worker
is busy with the previous one) waits in the worker's buffer and goes out with ``add_writer``.

A worker that dies (killed, out of memory) fails the calls it held with
:class:`WorkerCrashed` and is replaced; nothing else is affected. Calls are plain picklable
functions and arguments (module-level functions, frozen values), as with the executor.

Values every call needs and that seldom change (the hub's keys and its directory: a
province's directory of a few thousand agencies pickles to ~200 KB, ~30 ms a package) are
sent once per worker with :meth:`WorkerPool.share` and read inside a call with
:func:`shared`. A pipe is first in, first out, so a call sent after ``share`` sees the new
value and a call sent before it the old one; a replacement worker gets every shared value
before its first call.

A function marked with :func:`batched` may finish several calls together: the worker runs each
call's ``begin`` part as it reads it and, while more calls to the same function are already
waiting in its pipe (up to a limit and a time window), it begins those too; then one
``finish`` completes them all and each gets its own answer. The hub uses it to sign the
receipts of packages that queued up together with one signature (gateway.core.receipt). A
worker with nothing waiting finishes a call alone, at once: batching only happens when calls
already queue, and costs the first of them at most ``window`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from gateway.loop import freeze_heap

__all__ = ["Batch", "WorkerCrashed", "WorkerPool", "batched", "shared"]

log = logging.getLogger(__name__)

T = TypeVar("T")


#: In a worker process: the values the parent shared (WorkerPool.share), by name.
_SHARED: dict[str, Any] = {}
#: The call id of a ``share`` message: the worker installs the value and does not answer.
_SHARE = -1


def shared(name: str) -> Any:
    """In a worker: the value the parent last shared under ``name`` (KeyError if none)."""
    return _SHARED[name]


@dataclass(frozen=True, slots=True)
class Batch:
    """How a :func:`batched` function runs in a worker: ``begin(*args)`` per call, then
    ``finish(begun)`` once for every call begun, returning one answer per call, in order."""

    begin: Callable[..., Any]
    finish: Callable[[list[Any]], list[Any]]
    limit: int = 8  # calls finished together at most
    window: float = 0.02  # seconds from the first begin after which no more are begun


def batched(
    begin: Callable[..., Any],
    finish: Callable[[list[Any]], list[Any]],
    *,
    limit: int = 8,
    window: float = 0.02,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Mark a module-level function as batchable in a worker (module doc); calling it directly
    (or alone) must give the same answer as ``finish([begin(*args)])[0]``."""

    def mark(fn: Callable[..., T]) -> Callable[..., T]:
        fn.__pool_batch__ = Batch(begin, finish, limit, window)  # type: ignore[attr-defined]
        return fn

    return mark


class WorkerCrashed(RuntimeError):
    """The worker process running a call died before answering (the call may be retried)."""


#: Bytes read from a worker's pipe per wake-up (answers are a few KB; a small package's
#: sealed bytes up to inline_package_bytes). Below malloc's mmap threshold.
_READ_SIZE = 1 << 16


def _framed(buffer: bytearray) -> tuple[int, int] | None:
    """Where the first whole message in ``buffer`` lies (multiprocessing's framing: a 4-byte
    big-endian size, or -1 and an 8-byte size), or None if it is not all there yet."""
    if len(buffer) < 4:
        return None
    (size,) = struct.unpack_from("!i", buffer)
    start = 4
    if size == -1:
        if len(buffer) < 12:
            return None
        (size,) = struct.unpack_from("!Q", buffer, 4)
        start = 12
    end = start + size
    return (start, end) if len(buffer) >= end else None


def _serve(conn: Connection) -> None:
    """The worker's loop: read a call, run it, answer; exit when the pipe closes."""
    # Ctrl-C and `kill` on the process group reach the workers too: they ignore both and
    # leave the shutdown to the gateway, which drains them and then closes their pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    held: tuple[int, Any, Any] | None = None  # read while batching, not part of the batch
    while True:
        if held is not None:
            call_id, fn, args = held
            held = None
        else:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return
            call_id, fn, args = pickle.loads(message)  # noqa: S301 - our own parent process
        if call_id == _SHARE:
            name, value = args
            _SHARED[name] = value
            # Shared values (keys, directory) and the modules their unpickling imported live
            # until the next share: out of the garbage collector's walks (gateway.loop).
            freeze_heap()
            continue
        batch: Batch | None = getattr(fn, "__pool_batch__", None)
        if batch is None:
            try:
                _answer(conn, call_id, True, fn(*args))
            except BaseException as exc:
                _answer(conn, call_id, False, exc)
            continue
        held = _run_batch(conn, batch, fn, call_id, args)


def _run_batch(conn: Connection, batch: Batch, fn: Any, call_id: int, args: Any) -> Any:
    """Begin this call and those to ``fn`` already waiting, finish them together, answer each.

    Returns a message read that is not part of the batch (another function, a share), which
    the caller handles next, in pipe order."""
    begun: list[tuple[int, Any]] = []
    held = None
    started = time.monotonic()
    while True:
        try:
            begun.append((call_id, batch.begin(*args)))
        except BaseException as exc:
            _answer(conn, call_id, False, exc)
        if len(begun) >= batch.limit or time.monotonic() - started >= batch.window:
            break
        try:
            if not conn.poll(0):
                break
            message = conn.recv_bytes()
        except (EOFError, OSError):
            break  # the parent is gone: answer what was begun; the next read returns
        call_id, other, args = pickle.loads(message)  # noqa: S301 - our own parent process
        if other is not fn:
            held = (call_id, other, args)
            break
    if not begun:
        return held
    try:
        answers = batch.finish([state for _, state in begun])
        if len(answers) != len(begun):
            raise RuntimeError(f"finish gave {len(answers)} answers for {len(begun)} calls")
    except BaseException as exc:
        for begun_id, _ in begun:
            _answer(conn, begun_id, False, exc)
        return held
    for (begun_id, _), value in zip(begun, answers, strict=True):
        _answer(conn, begun_id, True, value)
    return held


def _answer(conn: Connection, call_id: int, ok: bool, value: Any) -> None:
    try:
        data = pickle.dumps((call_id, ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        data = pickle.dumps((call_id, False, RuntimeError(f"unpicklable answer: {exc!r}")))
    conn.send_bytes(data)


class _Worker:
    def __init__(self, ctx: multiprocessing.context.SpawnContext, index: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.index = index
        self.conn: Connection = parent
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child,), name=f"edxgw-worker-{index}", daemon=True
        )
        self.process.start()
        child.close()
        self.calls: dict[int, asyncio.Future[Any]] = {}
        # The parent's end again, for non-blocking sends (MSG_DONTWAIT: reads stay blocking).
        self.sock = socket.socket(fileno=os.dup(parent.fileno()))
        self.out: deque[memoryview] = deque()  # what the pipe could not take yet
        self.inbox = bytearray()  # what was read of answers not yet whole
        self.writing = False  # add_writer is on

    def close(self) -> None:
        self.out.clear()
        self.sock.close()
        self.conn.close()


class WorkerPool:
    """``await pool.run(fn, *args)`` runs ``fn(*args)`` in a worker process."""

    def __init__(self, workers: int | None = None) -> None:
        self.size = workers or os.cpu_count() or 1
        self._ctx = multiprocessing.get_context("spawn")  # the parent runs threads and a loop
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._shared: dict[str, bytes] = {}  # name -> the pickled share message

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for i in range(self.size):
            self._add(i)

    def _add(self, index: int) -> _Worker:
        assert self._loop is not None
        worker = _Worker(self._ctx, index)
        for data in self._shared.values():  # before any call can reach it
            with contextlib.suppress(OSError):  # died at once: the reader sees EOF, replaces it
                self._send(worker, data)
        self._loop.add_reader(worker.conn.fileno(), self._readable, worker)
        if index < len(self._workers):
            self._workers[index] = worker
        else:
            self._workers.append(worker)
        return worker

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    @property
    def in_flight(self) -> int:
        return sum(len(w.calls) for w in self._workers)

    def share(self, name: str, value: Any) -> None:
        """Give every worker ``value`` under ``name`` (read with :func:`shared` in a call).

        Pickled once; calls sent after this see it. Meant for rare changes: the write blocks
        until each worker has room in its pipe.
        """
        data = pickle.dumps((_SHARE, None, (name, value)), protocol=pickle.HIGHEST_PROTOCOL)
        self._shared[name] = data
        for worker in list(self._workers):
            try:
                self._send(worker, data)
            except OSError:
                self._replace(worker)  # the replacement is sent every shared value

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed or self._loop is None:
            raise RuntimeError("the worker pool is not running")
        worker = min(self._workers, key=lambda w: len(w.calls))
        call_id = next(self._ids)
        future: asyncio.Future[T] = self._loop.create_future()
        data = pickle.dumps((call_id, fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        worker.calls[call_id] = future
        try:
            self._send(worker, data)
        except OSError:
            worker.calls.pop(call_id, None)
            self._replace(worker)
            raise WorkerCrashed(f"worker {worker.index} is gone") from None
        return await future

    def _send(self, worker: _Worker, data: bytes) -> None:
        """Queue one message (multiprocessing's framing, which the worker's recv_bytes reads)
        and write as much as the pipe takes now; raises OSError if the worker is gone."""
        size = len(data)
        header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
        worker.out.append(memoryview(header))
        worker.out.append(memoryview(data))
        if not worker.writing:
            self._flush(worker)

    def _flush(self, worker: _Worker) -> None:
        assert self._loop is not None
        while worker.out:
            buffer = worker.out[0]
            try:
                sent = worker.sock.send(buffer, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            if sent < len(buffer):
                worker.out[0] = buffer[sent:]
                if not worker.writing:
                    self._loop.add_writer(worker.sock.fileno(), self._writable, worker)
                    worker.writing = True
                return
            worker.out.popleft()
        if worker.writing:
            self._loop.remove_writer(worker.sock.fileno())
            worker.writing = False

    def _writable(self, worker: _Worker) -> None:
        try:
            self._flush(worker)
        except OSError:
            self._replace(worker)

    def _readable(self, worker: _Worker) -> None:
        """Read what the worker wrote, without blocking, and settle every answer now whole.

        An answer may arrive in parts (a sealed package of 100 KB comes back in several
        writes), and the pipe may be non-blocking (uvloop's ``add_reader`` makes it so): the
        bytes are gathered here and split by multiprocessing's framing, never read blocking.
        """
        try:
            chunk = worker.sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._replace(worker)
            return
        if not chunk:  # EOF: the worker is gone
            self._replace(worker)
            return
        buffer = worker.inbox
        buffer += chunk
        while (framed := _framed(buffer)) is not None:
            start, end = framed
            with memoryview(buffer) as view, view[start:end] as message:
                call_id, ok, value = pickle.loads(message)  # noqa: S301 - our own worker
            del buffer[:end]
            future = worker.calls.pop(call_id, None)
            if future is None or future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _replace(self, worker: _Worker) -> None:
        """A worker died: fail what it held, start another in its place."""
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_reader(worker.conn.fileno())
        if worker.writing:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(worker.sock.fileno())
        worker.close()
        for future in worker.calls.values():
            if not future.done():
                future.set_exception(
                    WorkerCrashed(f"worker {worker.index} (pid {worker.process.pid}) died")
                )
        worker.calls.clear()
        with contextlib.suppress(Exception):
            worker.process.join(timeout=0.1)
        if not self._closed:
            log.error(
                "worker %d (pid %s) died with exit code %s; starting another",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
            self._add(worker.index)

    async def close(self, timeout: float = 10.0) -> None:
        """Let running calls finish, then stop every worker."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        self._closed = True
        for worker in self._workers:
            with contextlib.suppress(Exception):
                loop.remove_reader(worker.conn.fileno())
                if worker.writing:
                    loop.remove_writer(worker.sock.fileno())
            worker.close()  # the worker sees EOF and returns
        for worker in self._workers:
            await asyncio.to_thread(worker.process.join, 5)
            if worker.process.is_alive():
                worker.process.kill()
