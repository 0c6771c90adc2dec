"""Seal a verified package with the hub's signature and TraceHeader (architecture.md §5).

The seal appends this hub's TraceHeader and a detached signature over the sender's parts plus
that TraceHeader, leaving the sender's signature and earlier seals valid (edxml.signature), so
the next hop can verify the sender and every hop. The sealed bytes are what the shell stores
(under ``blob_key``) and forwards; the received bytes are only hashed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from edxml.build import serialize
from edxml.signature import seal as seal_tree
from gateway.core.errors import SealFailed, define
from gateway.core.receive import Received
from gateway.core.trace import OK, SEAL, Trail
from gateway.core.values import Context

__all__ = ["FAILED", "Sealed", "blob_key", "seal"]

FAILED = define(
    "sign.failed",
    "Trục không thể ký niêm phong gói tin ({reason}); lỗi cấu hình của trục, hãy gửi lại sau",
    "The hub could not seal the package ({reason}); a hub configuration error, send again later",
)


@dataclass(frozen=True, slots=True)
class Sealed:
    """The sealed package bytes and the claim-check key they are stored under."""

    data: bytes
    sha256: str
    blob_key: str


def blob_key(sha256: str) -> str:
    """Content-addressed: the same bytes always land under the same key."""
    return f"sha256/{sha256}"


def seal(received: Received, ctx: Context, trail: Trail) -> Sealed:
    """Append the hub's TraceHeader (time ``ctx.now``) and seal the tree; serialise it once."""
    with trail.stage(SEAL):
        try:
            key = ctx.signing_key
            seal_tree(received.parsed.tree, key, ctx.hub_organ_id, at=ctx.now)
        except ValueError as exc:
            # Our key does not load or belongs to another organ id: our configuration, not the
            # sender's package (a malformed package raises edxml errors, translated by the trail).
            raise SealFailed(FAILED, reason=str(exc)) from exc
        data = serialize(received.parsed.tree)
        digest = hashlib.sha256(data).hexdigest()
        sealed = Sealed(data, digest, blob_key(digest))
        trail.record(
            SEAL, OK, hub=ctx.hub_organ_id, size=len(data), sha256=digest, blob_key=sealed.blob_key
        )
    return sealed
