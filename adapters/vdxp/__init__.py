"""The VDXP adapter: this hub as a system of an upstream axis speaking the national-axis protocol.

The national axis (VDXP) and the provincial LGSPs that mirror it speak the protocol of
``vdxp-wire.md``; another gateway of this project serves it too (``gateway/web/vdxp.py``). So
the same software links hubs into a tree: a district hub below a province, a province below
the centre. The adapter's shape is every adapter's (style.md §5)::

    client.py     the async VDXP client (one method per call)
    config.py     UplinkConfig: the ``uplink_*`` settings
    sink.py       P.uplink → sendEdoc (the consumer's effect)
    source.py     getReceivedEdocList → getEdoc → Hub.submit → updateStatus
    directory.py  getSynchronizeUnit → the directory; our agencies → registerAgency
    status.py     the gate (circuit breaker) every call goes through; UplinkStatus
    errors.py     the ``uplink.*`` codes
    link.py       link_ctx: the downlink peer consumers and the uplink, for gateway/app.py

README: "Connecting this hub to the national axis (uplink)".
"""

from adapters.vdxp.config import UplinkConfig
from adapters.vdxp.link import UPLINK, Downlink, Uplink, link_ctx
from adapters.vdxp.status import Gate, LinkState, UplinkStatus, UpstreamDown

__all__ = [
    "UPLINK",
    "Downlink",
    "Gate",
    "LinkState",
    "Uplink",
    "UplinkConfig",
    "UplinkStatus",
    "UpstreamDown",
    "link_ctx",
]
