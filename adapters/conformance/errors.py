"""The conformance kit's failure codes: why a step of a scenario failed (registered catalogue).

A report names the code of every failed step, so a vendor can look it up in the README::

    agency scenario (edxgw conformance agency)
        conformance.unreachable          the gateway cannot be reached or refuses the kit's token
        conformance.not_registered       the kit's system may not send as --from
        conformance.samples_missing      the official samples folder is missing or incomplete
        conformance.send_refused         the gateway refused a package the kit sent
        conformance.no_receipt           the agency did not acknowledge a delivery in time
        conformance.receipt_failed       the agency acknowledged a valid package as failed
        conformance.status_missing       an expected status (01, 03, 06) did not come in time
        conformance.status_rejected      the agency answered a valid document with 02
        conformance.bad_status           a status package from the agency is wrong (not about
                                         the document, not from the agency, unreadable)
        conformance.recall_unanswered    a recall (13) got neither 15 nor 16 in time
    axis scenario (edxgw conformance axis)
        conformance.axis_refused         the axis answered FAIL (or no protocol) to a valid call
        conformance.axis_accepts_bad_hmac  the axis accepted a call signed with a wrong secret
        conformance.axis_missing         a sent package or status never reached the other side
        conformance.axis_mismatch        what came out differs from what went in
"""

from __future__ import annotations

from gateway.core.errors import Reason, define

__all__ = [
    "AXIS_ACCEPTS_BAD_HMAC",
    "AXIS_MISMATCH",
    "AXIS_MISSING",
    "AXIS_REFUSED",
    "BAD_STATUS",
    "NOT_REGISTERED",
    "NO_RECEIPT",
    "RECALL_UNANSWERED",
    "RECEIPT_FAILED",
    "SAMPLES_MISSING",
    "SEND_REFUSED",
    "STATUS_MISSING",
    "STATUS_REJECTED",
    "UNREACHABLE",
    "Reason",
]

UNREACHABLE = define(
    "conformance.unreachable",
    "Không làm việc được với trục tại {url}: {reason}",
    "Cannot work with the gateway at {url}: {reason}",
)
NOT_REGISTERED = define(
    "conformance.not_registered",
    "Hệ thống của bộ kiểm thử ({system}) không được gửi thay {organ}; đơn vị của nó: {agencies}",
    "The kit's system ({system}) may not send as {organ}; its agencies: {agencies}",
)
SAMPLES_MISSING = define(
    "conformance.samples_missing",
    "Không tìm thấy bộ gói tin mẫu chính thức tại {path} (thiếu {missing}); dùng --samples",
    "The official samples are not at {path} ({missing} missing); use --samples",
)
SEND_REFUSED = define(
    "conformance.send_refused",
    "Trục từ chối gói tin {name}: {code} {reason}",
    "The gateway refused package {name}: {code} {reason}",
)
NO_RECEIPT = define(
    "conformance.no_receipt",
    "Đơn vị không xác nhận đã nhận {name} trong {seconds} giây (trạng thái lượt chuyển: {state})",
    "The agency did not acknowledge {name} within {seconds} s (delivery state: {state})",
)
RECEIPT_FAILED = define(
    "conformance.receipt_failed",
    "Đơn vị xác nhận {name} là lỗi (fail) dù gói tin hợp lệ: {reason}",
    "The agency acknowledged the valid package {name} as failed: {reason}",
)
STATUS_MISSING = define(
    "conformance.status_missing",
    "Không nhận được trạng thái {code} cho {name} trong {seconds} giây (đã nhận: {seen})",
    "Status {code} for {name} did not come within {seconds} s (received: {seen})",
)
STATUS_REJECTED = define(
    "conformance.status_rejected",
    "Đơn vị từ chối tiếp nhận (02) văn bản hợp lệ {name}",
    "The agency refused (02) the valid document {name}",
)
BAD_STATUS = define(
    "conformance.bad_status",
    "Gói tin trạng thái {doc_id} của đơn vị không đúng: {reason}",
    "The agency's status package {doc_id} is wrong: {reason}",
)
RECALL_UNANSWERED = define(
    "conformance.recall_unanswered",
    "Yêu cầu lấy lại (13) {name} không được trả lời 15 hoặc 16 trong {seconds} giây",
    "The recall request (13) of {name} got neither 15 nor 16 within {seconds} s",
)
AXIS_REFUSED = define(
    "conformance.axis_refused",
    "Trục liên thông trả lời lỗi cho lệnh {call}: {reason}",
    "The axis refused the valid call {call}: {reason}",
)
AXIS_ACCEPTS_BAD_HMAC = define(
    "conformance.axis_accepts_bad_hmac",
    "Trục liên thông chấp nhận lệnh {call} ký bằng khóa bí mật sai",
    "The axis accepted the call {call} signed with a wrong secret",
)
AXIS_MISSING = define(
    "conformance.axis_missing",
    "{what} không xuất hiện ở phía nhận trong {seconds} giây",
    "{what} did not reach the other side within {seconds} s",
)
AXIS_MISMATCH = define(
    "conformance.axis_mismatch",
    "{what}: nhận được khác với đã gửi ({detail})",
    "{what}: what came out differs from what went in ({detail})",
)
