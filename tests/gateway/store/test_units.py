"""The pure helpers under the store: canonical JSON, timestamps, cursors, the chain's form."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import StoreInvalid, _codec
from gateway.store.chain import GENESIS, entry_hash
from gateway.store.errors import BadCursor

AT = datetime(2025, 7, 1, 8, 0, 0, 5, tzinfo=UTC)


def test_entry_hash_is_pinned() -> None:
    """The canonical form is part of the data format: changing it breaks every stored chain."""
    digest = entry_hash(1, "doc-1", "gw-1", "accept", "ok", {"b": [1, 2], "a": "ủy"}, AT, GENESIS)
    canonical = (
        '[1,"doc-1","gw-1","accept","ok",{"a":"ủy","b":[1,2]},'
        f'"2025-07-01T08:00:00.000005Z","{GENESIS}"]'
    )
    assert digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert entry_hash(1, "doc-1", "gw-1", "accept", "ok", {}, AT, GENESIS) != digest


def test_timestamps_are_fixed_width_utc_text() -> None:
    ict = timezone(timedelta(hours=7))
    local = datetime(2025, 7, 1, 15, 0, tzinfo=ict)
    assert _codec.to_text(local) == "2025-07-01T08:00:00.000000Z"
    assert _codec.from_text(_codec.to_text(AT)) == AT
    later = AT + timedelta(microseconds=995)
    assert _codec.to_text(AT) < _codec.to_text(later)  # text order is time order
    with pytest.raises(StoreInvalid):
        _codec.to_text(datetime(2025, 7, 1))  # naive


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_timestamp_text_round_trips_and_matches_strptime(value: datetime) -> None:
    text = _codec.to_text(value)
    assert _codec.from_text(text) == value
    assert _codec.from_text(text) == datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC
    )
    assert _codec.from_text(text).tzinfo is UTC


def test_timestamp_text_outside_the_canonical_form_is_refused() -> None:
    for bad in ("2026-11-21T18:00:00+123456Z", "2026-11-21 18:00:00.123456Z", "yesterday"):
        with pytest.raises(ValueError, match="does not match format"):
            _codec.from_text(bad)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ({"x": 1e20}, {"x": 100000000000000000000}),
        ({"x": -0.0}, {"x": 0.0}),
        ({"x": 0.1, "y": 2.5}, {"x": 0.1, "y": 2.5}),
        ({"t": (1, "a")}, {"t": [1, "a"]}),
        ({"b": True, "n": None}, {"b": True, "n": None}),
    ],
)
def test_json_value_survives_jsonb(value: object, normal: object) -> None:
    assert _codec.json_value(value) == normal
    assert json.loads(_codec.dumps(value)) == normal


@pytest.mark.parametrize(
    "bad", [{"x": float("nan")}, {"x": "a\x00b"}, {1: "int key"}, {"x": object()}]
)
def test_json_value_refuses(bad: object) -> None:
    with pytest.raises(StoreInvalid):
        _codec.dumps(bad)


def test_cursor_roundtrip_and_rejects() -> None:
    cursor = _codec.pack_cursor("2025-07-01T08:00:00.000000Z", "doc-1:R1")
    assert "=" not in cursor
    assert _codec.unpack_cursor(cursor, 2) == ["2025-07-01T08:00:00.000000Z", "doc-1:R1"]
    for bad in (cursor[:-3], "!!", _codec.pack_cursor("only-one")):
        with pytest.raises(BadCursor):
            _codec.unpack_cursor(bad, 2)
