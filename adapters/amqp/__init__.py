"""Direct AMQP delivery: an agency's system consumes its own RabbitMQ queue with its own user.

``edxgw systems amqp-grant SYSTEM`` declares ``<prefix>.agency.<organ id>`` for the system's
agencies, switches their ``delivery_mode`` to ``amqp``, creates the RabbitMQ user
``<prefix>-<system id>`` allowed to read those queues and nothing else, and prints its
credentials once. The gateway then copies every sealed package addressed to those agencies into
their queue (:mod:`adapters.amqp.sink`); the agency consumes it (:mod:`adapters.amqp.source`) and
answers over the REST API: ``POST /api/v1/inbox/{delivery_id}/ack`` and status packages to
``POST /api/v1/packages``.

Modules: :mod:`~adapters.amqp.config` (names, permission regexes, queue arguments),
:mod:`~adapters.amqp.sink` (gateway side), :mod:`~adapters.amqp.source` (agency side),
:mod:`~adapters.amqp.admin` (RabbitMQ users through ``rabbitmqctl``), :mod:`~adapters.amqp.cli`
(the ``edxgw systems amqp-*`` commands), :mod:`~adapters.amqp.errors` (the ``amqp.*`` codes).
"""

from adapters.amqp.config import (
    DELIVERY_MODE,
    INLINE_MAX_BYTES,
    public_url,
    queue_arguments,
    queue_name,
    read_pattern,
    user_name,
    vhost_of,
)
from adapters.amqp.errors import AmqpError

__all__ = [
    "DELIVERY_MODE",
    "INLINE_MAX_BYTES",
    "AmqpError",
    "public_url",
    "queue_arguments",
    "queue_name",
    "read_pattern",
    "user_name",
    "vhost_of",
]
