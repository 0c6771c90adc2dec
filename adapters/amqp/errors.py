"""The AMQP adapter's error codes (registered in the gateway's catalogue) and its exception.

::

    gateway side (adapters.amqp.sink: consumer effect failures, retried by the broker shell)
        amqp.unavailable         the hub cannot reach RabbitMQ to hand the delivery over   retry
        amqp.publish_failed      RabbitMQ did not confirm the copy to the agency's queue   retry
        amqp.package_unreadable  the sealed package is missing or does not match          retry
    administration (edxgw systems amqp-grant / amqp-revoke)
        amqp.grant_refused       the system or agency cannot be granted a queue
        amqp.admin_failed        rabbitmqctl (or the broker) refused the user or permissions
    agency side (adapters.amqp.source)
        amqp.bad_message         a message in the agency's queue lacks the hub's headers
"""

from __future__ import annotations

from gateway.core.errors import Reason, define

__all__ = [
    "ADMIN_FAILED",
    "BAD_MESSAGE",
    "GRANT_REFUSED",
    "PACKAGE_UNREADABLE",
    "PUBLISH_FAILED",
    "UNAVAILABLE",
    "AmqpError",
]

UNAVAILABLE = define(
    "amqp.unavailable",
    "Trục không kết nối được RabbitMQ để chuyển văn bản vào hàng đợi của đơn vị ({reason})",
    "The hub cannot reach RabbitMQ to hand the delivery to the agency's queue ({reason})",
)
PUBLISH_FAILED = define(
    "amqp.publish_failed",
    "RabbitMQ không xác nhận bản sao vào hàng đợi {queue} ({reason})",
    "RabbitMQ did not confirm the copy to queue {queue} ({reason})",
)
PACKAGE_UNREADABLE = define(
    "amqp.package_unreadable",
    "Không đọc được gói tin đã niêm phong {blob_key} ({reason})",
    "The sealed package {blob_key} cannot be read ({reason})",
)
GRANT_REFUSED = define(
    "amqp.grant_refused",
    "Không cấp được hàng đợi AMQP: {detail_vi}",
    "Cannot grant an AMQP queue: {detail_en}",
)
ADMIN_FAILED = define(
    "amqp.admin_failed",
    "Lệnh quản trị RabbitMQ thất bại ({command}): {reason}",
    "The RabbitMQ administration command failed ({command}): {reason}",
)
BAD_MESSAGE = define(
    "amqp.bad_message",
    "Thông điệp trong hàng đợi thiếu tiêu đề {header} của trục",
    "The queued message lacks the hub's {header} header",
)


class AmqpError(Exception):
    """A refusal with a stable ``code`` and its message in Vietnamese and English."""

    def __init__(self, why: Reason, /, **params: object) -> None:
        self.code = why.code
        self.message_vi = why.vi.format(**params)
        self.message_en = why.en.format(**params)
        super().__init__(f"{self.code}: {self.message_en} / {self.message_vi}")
