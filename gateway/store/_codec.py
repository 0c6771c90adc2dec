"""Value encodings shared by both backends: UTC timestamps, canonical JSON and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.store.errors import BadCursor, StoreInvalid

__all__ = [
    "canonical",
    "dumps",
    "from_text",
    "json_value",
    "loads",
    "pack_cursor",
    "to_text",
    "unpack_cursor",
    "utc",
]

# One fixed-width format with microseconds: SQLite compares timestamps as text, so every
# stored value must sort lexicographically in time order (isoformat() drops ".000000").
_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is a bug in the caller (whose local time is it?)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreInvalid(f"naive datetime {value.isoformat()}: the store only takes aware ones")
    return value.astimezone(UTC)


def to_text(value: datetime) -> str:
    """The canonical text of a timestamp (SQLite column values, the trace hash)."""
    u = utc(value)
    if u.year >= 1000:
        # The same text as the format below, ~3x faster (every trace event and row pays it):
        # isoformat of a UTC datetime ends in "+00:00". strftime's %Y does not pad years
        # before 1000 (glibc), so those keep the slow path and its exact text.
        return u.isoformat(timespec="microseconds")[:-6] + "Z"
    return u.strftime(_TEXT_FORMAT)


def from_text(text: str) -> datetime:
    # fromisoformat reads the canonical form ~4x faster than strptime (every row read decodes
    # a few of these); anything else still goes through the one format, which refuses it.
    if len(text) == 27 and text[-1] == "Z" and text[10] == "T" and text[19] == ".":
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(text, _TEXT_FORMAT).replace(tzinfo=UTC)


def json_value(value: Any) -> Any:
    """A JSON value normalised so that it survives PostgreSQL ``jsonb`` unchanged.

    ``jsonb`` keeps numbers as ``numeric``: ``1e20`` comes back as the integer
    100000000000000000000 and ``-0.0`` as ``0.0``, which would break the trace hash on
    verification. Integral floats that large become ints and ``-0.0`` becomes ``0.0`` up front;
    NUL characters, which ``jsonb`` refuses, are refused here for both backends alike.
    """
    # Exact built-in types first: trace details are dicts of strings and ints, and every
    # event's detail passes here (an ABC isinstance check costs ~10x a type comparison).
    # Anything else (subclasses, enums, Mappings, floats) takes the general path below.
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is dict:
        return {_key(k): json_value(v) for k, v in value.items()}
    if kind is int or kind is bool or value is None:
        return value
    return _general(value)


def _general(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_key(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StoreInvalid(f"{value!r} is not a JSON number")
        if value == 0.0:
            return 0.0
        if value.is_integer() and abs(value) >= 1e15:
            return int(value)
        return value
    if isinstance(value, str):
        return _text(value)
    raise StoreInvalid(f"{type(value).__name__} is not a JSON value")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise StoreInvalid(f"JSON object keys must be strings, not {type(key).__name__}")
    return _text(key)


def _text(text: str) -> str:
    if "\x00" in text:
        raise StoreInvalid("JSON strings must not contain NUL characters")
    if not text.isascii():
        # A lone surrogate ("\ud800", which json.loads accepts from a request body) has no
        # UTF-8 form: neither the chain's hash nor PostgreSQL could take it.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreInvalid("JSON strings must not contain lone surrogates") from None
    return text


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 characters kept (for hashing and storing)."""
    return canonical(json_value(value))


def canonical(value: Any) -> str:
    """:func:`dumps` of a value :func:`json_value` already normalised (not again)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def pack_cursor(*parts: str) -> str:
    """An opaque cursor for keyset pagination (URL-safe, no padding)."""
    raw = json.dumps(["v1", *parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack_cursor(cursor: str, arity: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor("the cursor is not one this store issued") from exc
    ok = (
        isinstance(parts, list)
        and len(parts) == arity + 1
        and parts[0] == "v1"
        and all(isinstance(p, str) for p in parts)
    )
    if not ok:
        raise BadCursor("the cursor is not one this store issued")
    return list(parts[1:])
