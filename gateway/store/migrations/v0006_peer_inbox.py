"""Migration 6: an index for a downlink peer hub's inbox (its copies, in delivery order).

A downlink hub fetches what this hub routed to it (route ``downlink``, its peer name) through
the VDXP door, as an agency system reads its local inbox (``Store.list_inbox(peers=...)``);
the index mirrors ``deliveries_inbox``, keyed by peer instead of recipient.
"""

from __future__ import annotations

from gateway.store.migrations import Migration

_INDEX = (
    "CREATE INDEX deliveries_peer_inbox ON deliveries (peer, delivered_at, delivery_id)"
    " WHERE route = 'downlink'"
)

MIGRATION = Migration(version=6, name="peer_inbox", sqlite=(_INDEX,), postgres=(_INDEX,))
