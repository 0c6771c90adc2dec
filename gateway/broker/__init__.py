"""The RabbitMQ shell of the gateway: topology, outbox relay, consumers (the only place that acks).

Wiring, as ``gateway/app.py`` does it (architecture §2, §6)::

    broker = await Broker.open(settings.amqp_url, prefix=settings.amqp_prefix,
                               local_keys=keys, peers=peers, delays=policy.delays())
    relay = Relay(store, await broker.channel(), node=settings.node)
    inbox = Consumer(store, await broker.channel(), broker.topology,
                     broker.topology.inbox("H53.31.21"), node=settings.node, policy=policy)
    await inbox.start(); task = asyncio.create_task(relay.run(stop))
    ...
    stop.set(); await task; await inbox.stop(); await broker.close()
"""

from gateway.broker.connection import Broker
from gateway.broker.consumer import EFFECT_CRASHED, Consumer, Effect, Handover, record_only
from gateway.broker.errors import (
    BrokerError,
    BrokerUnavailable,
    EffectDeferred,
    EffectFailed,
    PublishFailed,
    TopologyConflict,
    translate,
)
from gateway.broker.relay import Relay
from gateway.broker.topology import QueueType, Topology, bind_agency, declare, unbind_agency

__all__ = [
    "EFFECT_CRASHED",
    "Broker",
    "BrokerError",
    "BrokerUnavailable",
    "Consumer",
    "Effect",
    "EffectDeferred",
    "EffectFailed",
    "Handover",
    "PublishFailed",
    "QueueType",
    "Relay",
    "Topology",
    "TopologyConflict",
    "bind_agency",
    "declare",
    "record_only",
    "translate",
    "unbind_agency",
]
