"""The event loop ``edxgw serve`` runs on (setting ``event_loop``).

The loop process is the gateway's narrowest part under load: one thread answers HTTP, drives
the worker pool, publishes to and consumes from RabbitMQ, and hands statements to the store's
threads, and every package passes through it several times. uvloop runs the loop, its
callbacks and its socket transports in C (libuv) instead of Python; with the bench's load
(``gateway.bench``, 12-second closed loops alternating with and without it) it raised the
throughput by about 7%. It is a drop-in ``asyncio`` loop: nothing else in the gateway knows
which one it runs on.

:func:`freeze_heap` is the other process-wide tuning: Python's cyclic garbage collector now
and then walks every object the process holds (a "generation 2" collection), and while it
walks nothing else runs. In the loop process, after start (~80,000 objects: modules, the
directory, aiohttp's and aio-pika's machinery), each walk took 25-50 ms, twice in an 8-second
bench run, and in each worker ~30 ms: pauses every package in flight waited out, the tail of
the latency. Objects alive once the gateway has started live as long as it does; frozen
(``gc.freeze``), the collector no longer walks them, and its full walks cover only what came
after.
"""

from __future__ import annotations

import asyncio
import gc
import logging

__all__ = ["freeze_heap", "loop_kind", "new_event_loop"]

log = logging.getLogger(__name__)


def new_event_loop(kind: str = "uvloop") -> asyncio.AbstractEventLoop:
    """A new loop of ``kind`` (``uvloop`` or ``asyncio``); asyncio if uvloop is missing."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning(
                "event_loop = uvloop, but the uvloop package is not installed: running on "
                "asyncio's own loop (pip install uvloop) / chưa cài uvloop, dùng vòng asyncio"
            )
        else:
            return uvloop.new_event_loop()
    elif kind != "asyncio":
        raise ValueError(f"unknown event loop {kind!r} (uvloop or asyncio)")
    return asyncio.new_event_loop()


def loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what ``loop`` is (for the start banner and the tests)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def freeze_heap() -> int:
    """Collect, then leave every object alive now out of the collector's walks (module doc);
    objects frozen earlier are judged again first (a value replaced since, such as an old
    directory, is collected instead of kept). Returns how many objects are frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
