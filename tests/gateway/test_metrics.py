"""The pure parts of gateway.metrics: the loop's histograms, the trace mapping, link states."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Links, LinkState, Metrics
from gateway.store.base import TraceEvent


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_stage_histogram_buckets_are_cumulative_with_le_bounds() -> None:
    m = Metrics(hub="h", node="n", version="v")
    for seconds in (0.0005, 0.0006, 0.003, 0.2, 1000.0):
        m.observe("verify", seconds)
    s = samples(m)

    def bucket(le: str) -> float:
        return s[
            ("edxgw_stage_duration_seconds_bucket", frozenset({("stage", "verify"), ("le", le)}))
        ]

    assert bucket("0.0005") == 1  # le: a value on the bound counts in it
    assert bucket("0.001") == 2
    assert bucket("0.005") == 3
    assert bucket("0.25") == 4
    assert bucket("300.0") == 4
    assert bucket("+Inf") == 5
    count = ("edxgw_stage_duration_seconds_count", frozenset({("stage", "verify")}))
    total = ("edxgw_stage_duration_seconds_sum", frozenset({("stage", "verify")}))
    assert s[count] == 5
    assert abs(s[total] - 1000.2041) < 1e-9
    assert s[("edxgw_redeliveries_total", frozenset())] == 0  # unlabelled: there from the start
    assert s[("edxgw_info", frozenset({("hub", "h"), ("node", "n"), ("version", "v")}))] == 1


def ev(stage: str, outcome: str, **detail: str) -> TraceEvent:
    return TraceEvent(node="n", stage=stage, outcome=outcome, doc_id="d", detail=detail)


def test_trace_events_become_rejections_deliveries_and_answers() -> None:
    m = Metrics()
    m.traced(
        [
            ev("receive", "ok"),
            ev("verify", "rejected", code="edxml.signature_invalid"),
            ev("acknowledge", "rejected", code="acknowledge.not_found"),  # not a package
            ev("deliver", "delivered", route="local"),
            ev("deliver", "retry", route="downlink", error="webhook.http_503"),
            ev("deliver", "dead_letter", route="local", reason="deliver.max_attempts"),
            ev("acknowledge", "done"),
            ev("status", "03"),
        ]
    )
    assert m.packages_rejected.values == {("verify", "edxml.signature_invalid"): 1}
    assert m.deliveries.values == {
        ("delivered", "local"): 1,
        ("retry", "downlink"): 1,
        ("dead_letter", "local"): 1,
    }
    assert m.retries.values == {("webhook.http_503",): 1}
    assert m.dead_letters.values == {("deliver.max_attempts",): 1}
    assert m.acknowledgements.values == {("rejected",): 1, ("done",): 1}
    assert m.trace_events.get("status", "03") == 1
    assert sum(m.trace_events.values.values()) == 8


def test_links_keep_since_while_the_state_holds() -> None:
    now = [100.0]
    links = Links(clock=lambda: now[0])
    links.set("uplink", "connecting", kind="uplink")
    now[0] = 105.0
    up = links.set("uplink", LinkState.UP, kind="uplink")
    now[0] = 110.0
    again = links.set("uplink", "up", kind="uplink")
    assert (up.since, again.since) == (105.0, 105.0)
    assert [link.name for link in links] == ["uplink"]
    links.remove("uplink")
    assert len(links) == 0
