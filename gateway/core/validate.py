"""Validate a received package against the edXML schema and rules, in the submitter's mode.

Lenient accepts what the wild sends and reports deviations as warnings; strict accepts the
canonical form only (edxml.validate). Errors reject the package with every issue listed;
warnings travel on with it (trace counts, response to the sender).
"""

from __future__ import annotations

from edxml.validate import Report
from edxml.validate import validate as validate_package
from gateway.core.receive import Received
from gateway.core.trace import OK, VALIDATE, Trail
from gateway.core.values import Submission

__all__ = ["validate"]


def validate(received: Received, submission: Submission, trail: Trail) -> Report:
    """Schema + semantic checks with the system's mode and size limits; raises on errors."""
    with trail.stage(VALIDATE):
        report = validate_package(
            received.parsed, mode=submission.mode, policy=submission.limits, size=received.size
        )
        report.raise_for_errors()  # an edxml ValidationError: the trail translates it
        trail.record(
            VALIDATE,
            OK,
            mode=submission.mode.value,
            warnings=len(report.warnings),
            codes=sorted({issue.code for issue in report.warnings}),
        )
    return report
