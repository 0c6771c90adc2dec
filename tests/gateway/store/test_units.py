"""The pure helpers under the store: canonical JSON, timestamps, cursors, the chain's form."""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import StoreInvalid, _codec
from gateway.store.chain import GENESIS, entry_hash, text_hash
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


#: Any character the store takes: no NUL, no lone surrogate (both are store.invalid).
_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(_CHARS),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_TEXT = st.text(_CHARS, max_size=20)


@given(
    st.integers(1, 2**62),
    st.none() | _TEXT,
    _TEXT,
    _TEXT,
    _TEXT,
    _JSON,
    st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)),
    _TEXT,
)
def test_the_appenders_joined_form_is_the_canonical_array(
    seq: int, doc_id: str | None, node: str, stage: str, outcome: str, detail: object,
    at: datetime, prev: str,
) -> None:  # fmt: skip
    """The appender joins pre-serialised parts (chain.text_hash): the same text, the same hash,
    as serialising the whole array at once (the form the verifier reads, pinned above)."""
    whole = _codec.dumps([seq, doc_id, node, stage, outcome, detail, _codec.to_text(at), prev])
    expected = hashlib.sha256(whole.encode()).hexdigest()
    assert entry_hash(seq, doc_id, node, stage, outcome, detail, at, prev) == expected
    text = text_hash(
        seq, doc_id, node, stage, outcome, _codec.dumps(detail), _codec.to_text(at), prev
    )
    assert text == expected


def test_text_hash_refuses_nul_like_the_canonical_form() -> None:
    with pytest.raises(StoreInvalid):
        text_hash(1, "doc\x00", "gw", "accept", "ok", "{}", "2025-07-01T08:00:00.000000Z", GENESIS)
    with pytest.raises(StoreInvalid):  # no UTF-8 form to hash (was a UnicodeEncodeError)
        text_hash(
            1, "doc", "gw\ud800", "accept", "ok", "{}", "2025-07-01T08:00:00.000000Z", GENESIS
        )


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


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
    )
)
def test_timestamp_text_is_exactly_the_strftime_form(value: datetime) -> None:
    """to_text's isoformat fast path (years 1000 and later) writes what the one format writes:
    the text is hashed into the chain, so not one character may differ."""
    expected = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert _codec.to_text(value) == expected


class _Level(enum.IntEnum):
    HIGH = 3


class _Word(enum.StrEnum):
    OK = "ok"


class _Dict(dict[str, object]):
    pass


@given(_JSON)
def test_json_value_fast_path_is_the_general_path(value: object) -> None:
    fast, general = _codec.json_value(value), _codec._general(value)
    assert fast == general
    assert _codec.canonical(fast) == _codec.canonical(general)


@pytest.mark.parametrize(
    "value",
    [_Level.HIGH, _Word.OK, True, _Dict(a=_Level.HIGH, b=(1, 2.0)), {"k": [_Word.OK, None]}],
)
def test_json_value_subclasses_take_the_general_path(value: object) -> None:
    assert _codec.canonical(_codec.json_value(value)) == _codec.canonical(_codec._general(value))
    assert json.loads(_codec.dumps({"v": value})) == json.loads(
        json.dumps({"v": value}, default=str)
    )


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
    "bad",
    [
        {"x": float("nan")},
        {"x": "a\x00b"},
        {1: "int key"},
        {"x": object()},
        {"x": "ủy\ud800"},
        {"\udfff": 1},
    ],
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
