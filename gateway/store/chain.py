"""The trace log's hash chain: the canonical form of an entry and its SHA-256 (architecture §3.7).

Each entry's hash covers its own fields and the previous entry's hash, so changing, inserting
or deleting an entry breaks every later link; ``trace_head`` holds the last (seq, hash) so a
truncated tail is detected too. The canonical form is a JSON array, not a dict, so field
order is fixed by this file and not by any serialiser::

    [seq, doc_id, node, stage, outcome, detail, at, prev_hash]

``detail`` is canonical JSON (sorted keys, no spaces), ``at`` the UTC text
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Changing this form is a new chain version: never edit it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.store import _codec

__all__ = ["GENESIS", "entry_hash", "text_hash"]

# prev_hash of the first entry.
GENESIS = "0" * 64


def entry_hash(
    seq: int,
    doc_id: str | None,
    node: str,
    stage: str,
    outcome: str,
    detail: Any,
    at: datetime,
    prev_hash: str,
) -> str:
    """The hex SHA-256 of one entry's canonical form."""
    return text_hash(
        seq, doc_id, node, stage, outcome, _codec.dumps(detail), _codec.to_text(at), prev_hash
    )


def text_hash(
    seq: int,
    doc_id: str | None,
    node: str,
    stage: str,
    outcome: str,
    detail_json: str,
    at_text: str,
    prev_hash: str,
) -> str:
    """:func:`entry_hash` from ``detail`` already in canonical JSON and ``at`` as its text.

    The appender serialises each detail once and stores that very text; the array is then
    joined here rather than serialised again: JSON is compositional, so this is the same
    text ``_codec.dumps`` gives for the whole array (a property test holds it to that).
    """
    fields = (doc_id, node, stage, outcome, at_text, prev_hash)
    q = [_string(v) for v in fields]
    canonical = f"[{int(seq)},{q[0]},{q[1]},{q[2]},{q[3]},{detail_json},{q[4]},{q[5]}]"
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _string(value: str | None) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        # What json.dumps(value, ensure_ascii=False) returns for a str, without building an
        # encoder per field (six fields per event); NUL is refused as json_value does.
        return _quote(_codec.json_value(value))
    return json.dumps(_codec.json_value(value), ensure_ascii=False)


#: json.dumps(str, ensure_ascii=False) is JSONEncoder.encode -> encode_basestring (C if built).
_quote: Callable[[str], str] = json.encoder.encode_basestring
