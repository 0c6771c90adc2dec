"""The uplink's gate: one probe per backoff step while the axis is down, all calls once it is up.

Pure asyncio (the calls are coroutines the test controls); the whole uplink runs against real
gateways in ``test_tree.py`` and ``test_outage.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from adapters.vdxp.client import VdxpError, VdxpUnavailable
from adapters.vdxp.status import Gate, LinkState, UplinkStatus, UpstreamDown, is_outage


def _status() -> UplinkStatus:
    return UplinkStatus(endpoint="http://axis.example", system_id="00.53.W00")


class Axis:
    """A fake upstream that is down until told otherwise; counts calls and calls in flight."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.error: VdxpError | None = None

    async def call(self) -> str:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            if self.error is not None:
                raise self.error
            if not self.up:
                raise VdxpUnavailable("/sendEdoc", "-1", "ClientConnectorError: refused")
            return "DocId"
        finally:
            self.in_flight -= 1


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (VdxpUnavailable("/x", "-1", "timeout"), True),
        (VdxpError("/x", "", "HTTP 404, not a JSON answer", http_status=404), True),
        (VdxpError("/x", "-2", "bad signature"), True),
        (VdxpError("/x", "-1", "internal"), False),
        (VdxpError("/x", "-3", "Don vi gui X khong dung voi ma da dang ky"), False),
        (VdxpError("/x", "-5", "edxml.schema"), False),
    ],
)
def test_what_counts_as_an_outage(error: VdxpError, outage: bool) -> None:
    assert is_outage(error) is outage


async def test_an_outage_lets_one_probe_through_at_a_time_then_everyone() -> None:
    status, axis = _status(), Axis()
    changes: list[LinkState] = []
    gate = Gate(
        status, backoff_max=0.02, backoff_base=0.01, on_change=lambda s: changes.append(s.state)
    )
    with pytest.raises(UpstreamDown):  # the first call finds the axis down
        await gate.run(axis.call, hold=0.0)
    assert status.state is LinkState.DOWN and not gate.is_up
    assert status.last_error_code == "uplink.unavailable"
    assert "http://axis.example" in (status.last_error or "")
    axis.most_in_flight = 0
    waiting = [asyncio.create_task(gate.run(axis.call, hold=30.0)) for _ in range(10)]
    await until(lambda: axis.calls >= 6)
    # Ten callers wait, but while the axis is down only one probe is ever out at a time.
    assert axis.most_in_flight == 1
    assert axis.calls - status.failures in (0, 1)  # every finished probe counted
    assert not any(t.done() for t in waiting)
    axis.up = True
    assert await asyncio.gather(*waiting) == ["DocId"] * 10
    assert status.state is LinkState.UP and gate.is_up and status.failures == 0
    assert status.next_attempt_at is None
    assert changes == [LinkState.DOWN, LinkState.UP]


async def test_a_caller_gives_up_after_its_hold() -> None:
    status, axis = _status(), Axis()
    gate = Gate(status, backoff_max=10.0, backoff_base=10.0)
    with pytest.raises(UpstreamDown) as info:
        await gate.run(axis.call, hold=0.2)
    assert info.value.code == "uplink.unavailable"
    assert axis.calls == 1  # the next probe is 10 s away: nothing more was sent
    assert status.next_attempt_at is not None
    # A caller with no hold at all is refused at once while the next probe is not due.
    with pytest.raises(UpstreamDown):
        await gate.run(axis.call, hold=0.0)
    assert axis.calls == 1


async def test_refused_credentials_hold_like_an_outage_and_say_so() -> None:
    status, axis = _status(), Axis()
    axis.error = VdxpError("/sendEdoc", "-2", "XroadVnpt-hash-header khong khop")
    gate = Gate(status, backoff_max=0.05, backoff_base=0.05)
    with pytest.raises(UpstreamDown) as info:
        await gate.run(axis.call, hold=0.3)
    assert info.value.code == "uplink.unauthorized"
    assert status.state is LinkState.UNAUTHORIZED
    assert "uplink_secret" in (status.last_error or "")


async def test_a_refusal_of_the_call_itself_passes_through_and_the_axis_counts_as_up() -> None:
    status, axis = _status(), Axis()
    axis.error = VdxpError("/sendEdoc", "-5", "goi tin khong hop le")
    gate = Gate(status)
    with pytest.raises(VdxpError) as info:
        await gate.run(axis.call, hold=1.0)
    assert info.value.error_code == "-5"
    assert status.state is LinkState.UP and axis.calls == 1


async def test_close_releases_every_waiter() -> None:
    status, axis = _status(), Axis()
    gate = Gate(status, backoff_max=60.0, backoff_base=60.0)
    with pytest.raises(UpstreamDown):
        await gate.run(axis.call, hold=0.0)
    waiting = asyncio.create_task(gate.run(axis.call, hold=30.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.close()
    with pytest.raises(UpstreamDown):
        await waiting
    assert status.state is LinkState.STOPPED and axis.calls == 1


async def test_a_cancelled_probe_lets_the_next_caller_probe() -> None:
    status = _status()
    gate = Gate(status, backoff_max=0.01, backoff_base=0.01)
    hang = asyncio.Event()

    async def down() -> str:
        raise VdxpUnavailable("/x", "-1", "refused")

    async def hanging() -> str:
        await hang.wait()
        return "never"

    with pytest.raises(UpstreamDown):
        await gate.run(down, hold=0.0)
    await asyncio.sleep(0.02)
    probe = asyncio.create_task(gate.run(hanging, hold=5.0))
    await asyncio.sleep(0.02)

    async def up() -> str:
        return "ok"

    other = asyncio.create_task(gate.run(up, hold=5.0))
    await asyncio.sleep(0.05)
    assert not other.done()  # the probe is out: the other caller waits for its verdict
    probe.cancel()
    assert await asyncio.wait_for(other, 2.0) == "ok"
    assert status.state is LinkState.UP
