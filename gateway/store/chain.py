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
from datetime import datetime
from typing import Any

from gateway.store import _codec

__all__ = ["GENESIS", "entry_hash"]

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
    canonical = _codec.dumps(
        [seq, doc_id, node, stage, outcome, detail, _codec.to_text(at), prev_hash]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
