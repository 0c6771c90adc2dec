"""The exception tree: stable codes, statuses, the edxml translation and the catalogue."""

from __future__ import annotations

import re

import pytest

from edxml.errors import FormatError, SignatureError, ValidationError, XmlError
from edxml.parse import MISSING
from edxml.safexml import ENTITY_EXPANSION, TOO_LARGE
from edxml.signature import SIGNATURE_INVALID
from edxml.validate import REQUIRED, SIZE
from gateway.core import errors
from gateway.core.errors import (
    InvalidPackage,
    LocalError,
    MalformedPackage,
    PackageTooLarge,
    SenderError,
    SignatureRejected,
    from_edxml,
)


@pytest.mark.parametrize(
    ("exc", "kind", "status"),
    [
        (XmlError(ENTITY_EXPANSION), MalformedPackage, 400),
        (XmlError(TOO_LARGE, limit=10), PackageTooLarge, 413),
        (FormatError(MISSING, element="From"), MalformedPackage, 400),
        (ValidationError(REQUIRED, field="To"), InvalidPackage, 422),
        (ValidationError(SIZE, field="x", value=2, limit=1), PackageTooLarge, 413),
        (SignatureError(SIGNATURE_INVALID, index=1, reason="digest"), SignatureRejected, 422),
    ],
)
def test_edxml_errors_keep_their_code_and_messages(exc: Exception, kind: type, status: int) -> None:
    assert isinstance(exc, XmlError | FormatError | ValidationError | SignatureError)
    error = from_edxml(exc)
    assert type(error) is kind and isinstance(error, SenderError)
    assert (error.code, error.message_vi, error.message_en) == (
        exc.code,
        exc.message_vi,
        exc.message_en,
    )
    assert error.issues == exc.issues
    problem = error.problem()
    assert (problem.http_status, problem.retryable, problem.fault) == (status, False, "sender")


def test_braces_in_edxml_messages_survive() -> None:
    exc = FormatError(MISSING, element="{weird}")
    assert from_edxml(exc).message_en == exc.message_en


def test_catalogue_codes_are_stage_reason_and_bilingual() -> None:
    codes = errors.catalogue()
    assert [r.code for r in codes] == sorted(r.code for r in codes)
    stages = {"receive", "verify", "sign", "route", "deliver", "acknowledge"}
    # Shells define their refusals in the same catalogue (auth, inbox, requests, VDXP).
    stages |= {"auth", "inbox", "document", "request", "gateway", "vdxp"}
    stages |= {"uplink"}  # adapters/vdxp: why a package routed up waits or is dead-lettered
    stages |= {"ops"}  # gateway/backup.py: backup and restore refusals
    stages |= {"admin"}  # gateway/web/console and gateway/service/admin: the admin console
    stages |= {"amqp", "webhook"}  # adapters/amqp, adapters/webhook: per-agency delivery
    stages |= {"conformance"}  # adapters/conformance: the vendor certification kit
    for reason in codes:
        # stage.reason, or stage.topic.reason (admin.replay.not_dead, ops.retention.busy)
        assert re.fullmatch(r"[a-z]+(\.[a-z_]+)+", reason.code), reason.code
        assert reason.code.split(".")[0] in stages
        assert reason.vi and reason.en and reason.vi != reason.en
    assert {"receive.sender_not_registered", "route.recipient_locked"} <= {r.code for r in codes}


def test_a_code_cannot_be_defined_twice_differently() -> None:
    try:
        errors.define("test.once", "một", "one")
        assert errors.define("test.once", "một", "one").code == "test.once"
        with pytest.raises(ValueError, match="twice"):
            errors.define("test.once", "hai", "two")
    finally:
        errors._CATALOGUE.pop("test.once", None)  # keep the real catalogue clean
    with pytest.raises(ValueError, match=r"stage\.reason"):
        errors.define("nodot", "x", "y")


def test_local_errors_are_ours_and_retryable() -> None:
    error = errors.SealFailed(errors.Reason("sign.failed", "{reason}", "{reason}"), reason="k")
    assert isinstance(error, LocalError)
    assert error.problem().fault == "local" and error.retryable and error.http_status == 500
    assert error.message_en == "k"
