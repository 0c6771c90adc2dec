"""Draining a node for maintenance: its states, its steps in order, and its error codes.

A node drains (``edxgw drain``, or SIGTERM from an orchestrator) in these steps, each one
finished before the next starts (``gateway/ops/drain.py`` runs them)::

    refuse     new packages get 503 ops.drain.draining, /readyz answers 503 (accepting=false)
    grace      drain_grace_seconds while requests are still served: load balancers move away
    requests   the HTTP requests already in progress finish (a submission commits and answers)
    relay      the relay publishes what is committed and claimable, finishes what it claimed,
               and stops; rows it could not publish come back to any relay after the lease
    consumers  consumers cancel (no new messages), finish and ack what they hold; anything
               unacked when the time is up is redelivered by RabbitMQ to another node
    (extra)    steps other parts registered (``Drain.add_step``): ``uplink`` (when configured)
               stops polling and sending to the upstream axis, ``downlink`` stops the peer
               queues' consumers as ``consumers`` did the inboxes' (adapters/vdxp/link.py)
    drained    the node exits 0 when it owns its process (``edxgw serve``)

Nothing is lost at any point: every piece of work is either committed in the store or
unacknowledged in RabbitMQ, and the next node (or this one, started again) picks it up.
"""

from __future__ import annotations

import enum

from gateway.core.errors import define

__all__ = ["DRAINING", "NO_NODE", "STEPS", "TIMEOUT", "DrainState"]


class DrainState(enum.StrEnum):
    SERVING = "serving"
    DRAINING = "draining"
    DRAINED = "drained"


#: The built-in steps, in order (module docstring).
STEPS = ("refuse", "grace", "requests", "relay", "consumers")

DRAINING = define(
    "ops.drain.draining",
    "Nút {node} của trục đang dừng để bảo trì, không nhận gói tin mới; hãy gửi lại (một nút "
    "khác của trục sẽ nhận)",
    "Node {node} of the hub is draining for maintenance and takes no new packages; send again "
    "(another node of the hub takes it)",
)
NO_NODE = define(
    "ops.drain.no_node",
    "Không có nút {node} nào đang chạy trả lời tại {socket}",
    "No running node {node} answers on {socket}",
)
TIMEOUT = define(
    "ops.drain.timeout",
    "Nút {node} chưa dừng xong trong {seconds} giây (bước đang chạy: {step})",
    "Node {node} did not finish draining within {seconds} s (step in progress: {step})",
)
