"""The worker pool that runs the pipeline: answers, errors, parallelism, a worker's death."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from gateway.service.pool import WorkerCrashed, WorkerPool, batched, shared


def pid() -> int:
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def busy(seconds: float) -> int:
    """Burn CPU (not sleep) so that parallel runs show in wall time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return os.getpid()


def busy_span(seconds: float) -> tuple[int, float, float]:
    """``busy`` that also says when it ran (monotonic clock, shared by all processes)."""
    start = time.monotonic()
    busy(seconds)
    return os.getpid(), start, time.monotonic()


def die() -> None:
    os._exit(3)


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    p = WorkerPool(2)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def test_calls_run_in_other_processes(pool: WorkerPool) -> None:
    pids = set(await asyncio.gather(*(pool.run(pid) for _ in range(8))))
    assert os.getpid() not in pids
    assert pids <= set(pool.pids) and len(pids) == 2  # spread over both workers


async def test_exceptions_come_back_as_they_were(pool: WorkerPool) -> None:
    with pytest.raises(ValueError, match="bad package"):
        await pool.run(fail, "bad package")
    assert await pool.run(pid) in pool.pids  # the worker lives on


async def test_two_workers_run_cpu_work_in_parallel(pool: WorkerPool) -> None:
    await asyncio.gather(pool.run(busy, 0.01), pool.run(busy, 0.01))  # warm
    spans = await asyncio.gather(*(pool.run(busy_span, 0.4) for _ in range(2)))
    assert len({pid for pid, _, _ in spans}) == 2
    # Both calls were burning CPU at the same moment (CLOCK_MONOTONIC is one clock for every
    # process): the later start comes before the earlier end. No wall-time threshold.
    assert max(start for _, start, _ in spans) < min(end for _, _, end in spans), spans


async def test_a_dead_worker_fails_its_calls_and_is_replaced(pool: WorkerPool) -> None:
    before = set(pool.pids)
    with pytest.raises(WorkerCrashed):
        await pool.run(die)
    assert len(pool.pids) == 2
    assert set(pool.pids) != before
    assert await pool.run(pid) in pool.pids


async def test_workers_ignore_sigterm_and_close_drains(pool: WorkerPool) -> None:
    await asyncio.gather(*(pool.run(pid) for _ in range(4)))  # started (handlers installed)
    workers = set(pool.pids)
    for worker_pid in workers:
        os.kill(worker_pid, signal.SIGTERM)  # e.g. `kill` on the process group
    task = asyncio.create_task(pool.run(busy, 0.2))
    await asyncio.sleep(0.05)
    await pool.close()  # waits for the running call
    assert task.done() and task.result() in workers  # finished by a worker that got SIGTERM
    with pytest.raises(RuntimeError, match="not running"):
        await pool.run(pid)


def read_shared(name: str) -> object:
    return shared(name)


async def test_shared_values_reach_every_worker_in_order_and_survive_a_death(
    pool: WorkerPool,
) -> None:
    """share(): sent once, seen by the calls after it, given again to a replacement worker."""
    pool.share("directory", {"version": 1})
    before = await asyncio.gather(*(pool.run(read_shared, "directory") for _ in range(6)))
    assert before == [{"version": 1}] * 6
    # FIFO per pipe: a call queued after the new value sees it, on every worker.
    pool.share("directory", {"version": 2})
    after = await asyncio.gather(*(pool.run(read_shared, "directory") for _ in range(6)))
    assert after == [{"version": 2}] * 6
    deaths = await asyncio.gather(*(pool.run(die) for _ in range(2)), return_exceptions=True)
    assert all(isinstance(d, WorkerCrashed) for d in deaths), deaths
    again = await asyncio.gather(*(pool.run(read_shared, "directory") for _ in range(6)))
    assert again == [{"version": 2}] * 6
    with pytest.raises(KeyError):
        await pool.run(read_shared, "never shared")


def length(data: bytes) -> int:
    return len(data)


def freeze_count() -> int:
    import gc

    return gc.get_freeze_count()


async def test_a_worker_freezes_its_heap_after_each_share(pool: WorkerPool) -> None:
    """Shared values (keys, directory) live until the next share: out of the collector's
    walks (gateway.loop.freeze_heap), so no full collection pauses a package for them."""
    assert set(await asyncio.gather(*(pool.run(freeze_count) for _ in range(4)))) == {0}
    pool.share("directory", {"version": 1})
    counts = await asyncio.gather(*(pool.run(freeze_count) for _ in range(4)))
    assert all(n > 1000 for n in counts), counts


async def test_a_big_call_to_a_busy_worker_does_not_block_the_event_loop() -> None:
    """Calls the pipe cannot take yet wait in the pool's buffer, not in a blocking write."""
    pool = WorkerPool(1)
    await pool.start()
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:  # how long the loop went without running us
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - last)
            last = loop.time()

    ticks = asyncio.ensure_future(ticker())
    try:
        busy_call = asyncio.ensure_future(pool.run(busy, 1.0))
        await asyncio.sleep(0.1)  # the worker is now inside busy()
        big = [asyncio.ensure_future(pool.run(length, b"x" * (4 << 20))) for _ in range(3)]
        assert await asyncio.gather(*big) == [4 << 20] * 3
        assert await busy_call > 0
    finally:
        stop.set()
        await ticks
        await pool.close()
    # A blocking write would have frozen the loop until busy() ended (~0.9 s).
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f} s"


def sized(n: int, seed: int) -> bytes:
    """An answer of ``n`` bytes that says which call it belongs to."""
    return seed.to_bytes(4, "big") * (n // 4)


def test_big_answers_arriving_in_parts_on_uvloop() -> None:
    """uvloop's add_reader makes the pipe non-blocking: an answer bigger than the socket
    buffer arrives in parts, and must be gathered, not taken for a dead worker."""
    import uvloop

    async def main() -> list[bytes]:
        p = WorkerPool(2)
        await p.start()
        try:
            sizes = [4, 300_000, 12_000, 1_500_000, 64_000] * 8
            answers = await asyncio.gather(*(p.run(sized, n, i) for i, n in enumerate(sizes)))
            assert [len(a) for a in answers] == [n // 4 * 4 for n in sizes]
            return answers
        finally:
            await p.close()

    answers = uvloop.run(main())
    assert all(a == sized(len(a), i) for i, a in enumerate(answers))


# -- batched calls --------------------------------------------------------------------------------


def _begin(value: int) -> tuple[int, object]:
    busy(0.01)  # the next calls queue up meanwhile
    if value < 0:
        raise ValueError(f"negative {value}")
    return value, shared("tag") if "tag" in _shared_names() else None


def _shared_names() -> set[str]:
    from gateway.service import pool as p

    return set(p._SHARED)


def _finish(begun: list[tuple[int, object]]) -> list[tuple[int, int, object]]:
    # Each answer says how many calls were finished together, and what "tag" each saw.
    return [(value * 2, len(begun), tag) for value, tag in begun]


@batched(_begin, _finish, limit=4, window=1.0)
def double(value: int) -> tuple[int, int, object]:
    return _finish([_begin(value)])[0]


async def test_queued_calls_to_a_batched_function_finish_together() -> None:
    pool = WorkerPool(1)
    await pool.start()
    try:
        alone = await pool.run(double, 1)
        assert alone == (2, 1, None)  # nothing waiting: finished at once, alone
        answers = await asyncio.gather(*(pool.run(double, v) for v in range(10)))
        assert [a[0] for a in answers] == [v * 2 for v in range(10)]  # each its own answer
        sizes = [a[1] for a in answers]
        assert max(sizes) == 4 and sum(1 for s in sizes if s > 1) >= 8, sizes  # the limit
        # A failing call fails alone; the calls batched with it are answered.
        results = await asyncio.gather(
            *(pool.run(double, v) for v in (1, -1, 3)), return_exceptions=True
        )
        assert results[0][0] == 2 and results[2][0] == 6  # type: ignore[index]
        assert isinstance(results[1], ValueError)
        # A share between calls ends the batch: the call before it sees the old value.
        first = asyncio.ensure_future(pool.run(double, 5))
        second = asyncio.ensure_future(pool.run(double, 6))
        await asyncio.sleep(0)  # both calls are written to the pipe...
        pool.share("tag", "new")  # ...then the share
        third = asyncio.ensure_future(pool.run(double, 7))
        done = await asyncio.gather(first, second, third)
        assert [d[2] for d in done] == [None, None, "new"], done
        assert done[2][1] == 1  # not batched with the two before the share
    finally:
        await pool.close()
