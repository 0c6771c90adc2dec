"""Verify a package's signatures under the submitter's policy, and that the signer is the sender.

edxml.signature checks each signature (chain, validity at ``ctx.now``, CRL, wrapping) and
applies the policy: ``strict`` needs a valid sender signature, ``lenient`` rejects only real
signatures that fail and records placeholders, ``off`` checks nothing (architecture.md §5).
This stage adds what only the gateway can judge, with the directory: the certificate of the
sender signature must belong to the ``From`` agency (its organ id in the subject serialNumber).

A package sealed by a hub but never signed by its agency shows the hub's seal as its first
signature (edxml.signature "Kinds and roles"): ``lenient`` accepts that with a warning, since
district hubs forward unsigned agency mail; ``strict`` refuses it, as it refuses a certificate
that names no organ id. A valid signature of a different *agency* is refused under any policy:
it is someone else's document.
"""

from __future__ import annotations

import dataclasses

from edxml.errors import Issue, Severity
from edxml.signature import SignatureKind, SignaturePolicy, VerificationResult, verify_package
from gateway.core.directory import organ_or_none
from gateway.core.errors import NotAuthorized, Reason, define
from gateway.core.receive import Received
from gateway.core.trace import OK, VERIFY, Trail
from gateway.core.values import Context, Submission

__all__ = ["SIGNED_BY_HUB", "SIGNER_MISMATCH", "SIGNER_UNKNOWN", "VERDICTS", "verdict", "verify"]

SIGNER_MISMATCH = define(
    "verify.signer_mismatch",
    "Gói tin được ký bởi chứng thư số của {signer}, không phải của đơn vị gửi {sender}",
    "The package is signed with the certificate of {signer}, not of the sending agency {sender}",
)
SIGNER_UNKNOWN = define(
    "verify.signer_unknown",
    "Chứng thư số ký gói tin không ghi mã định danh (serialNumber); không xác nhận được đó là "
    "đơn vị gửi {sender}",
    "The signing certificate names no organ id (serialNumber); it cannot be matched to the "
    "sending agency {sender}",
)
SIGNED_BY_HUB = define(
    "verify.signed_by_hub",
    "Gói tin không có chữ ký của đơn vị gửi {sender}; chữ ký đầu tiên là niêm phong của trục "
    "{signer}",
    "The package carries no signature of the sending agency {sender}; the first signature is "
    "the seal of hub {signer}",
)


def verify(
    received: Received, submission: Submission, ctx: Context, trail: Trail
) -> VerificationResult:
    """Check signatures at ``ctx.now``; the result's ``findings`` are warnings to pass on."""
    policy = submission.signatures
    with trail.stage(VERIFY):
        result = verify_package(received.parsed.tree, ctx.trust, policy=policy, at=ctx.now)
        findings = result.findings + _signer_findings(result, received, ctx, policy)
        result = dataclasses.replace(result, findings=findings)
        trail.record(
            VERIFY,
            OK,
            policy=policy.value,
            signatures=[
                {
                    "index": r.index,
                    "kind": r.kind.value,
                    "role": r.role.value if r.role else None,
                    "valid": r.valid,
                    "signer": r.signer_organ_id,
                }
                for r in result.reports
            ],
            findings=[issue.code for issue in findings],
        )
    return result


#: What :func:`verdict` says of a sender's signature (the ``messages.signature`` column).
VERDICTS = ("verified", "unattributed", "unverified", "placeholder", "absent", "unchecked")


def verdict(result: VerificationResult) -> str:
    """The hub's one-word verdict on the sender's signature, kept with the message.

    ``verified``: a valid signature whose certificate names the sending agency (a legally
    valid electronic document without paper, Nghị định 30/2020); ``unattributed``: valid, but
    the certificate names no organ id or only a hub sealed it; ``unverified``: a real XMLDSig
    signature lenient accepted without verifying (unsupported profile); ``placeholder``: only
    placeholder or empty signatures; ``absent``: none; ``unchecked``: policy ``off``.
    """
    if result.policy is SignaturePolicy.OFF:
        return "unchecked"
    if result.sender is not None:
        borrowed = {SIGNED_BY_HUB.code, SIGNER_UNKNOWN.code}
        return "unattributed" if any(f.code in borrowed for f in result.findings) else "verified"
    kinds = {r.kind for r in result.reports}
    if SignatureKind.XMLDSIG in kinds:
        return "unverified"
    return "placeholder" if kinds else "absent"


def _signer_findings(
    result: VerificationResult, received: Received, ctx: Context, policy: SignaturePolicy
) -> tuple[Issue, ...]:
    signature = result.sender
    if signature is None:
        return ()  # nothing valid to attribute (policy off, or lenient with placeholders)
    raw = signature.signer_organ_id
    signer = ctx.directory.canonical(raw) if raw else None
    if signer == received.sender:
        return ()
    params = {"signer": signer or "?", "sender": received.sender}
    organ = organ_or_none(signer) if signer else None
    lenient = policy is SignaturePolicy.LENIENT
    if signer is None and lenient:  # a trusted certificate that names no organ id
        return (_warning(SIGNER_UNKNOWN, params),)
    if organ is not None and organ.is_hub and lenient:
        return (_warning(SIGNED_BY_HUB, params),)
    raise NotAuthorized(
        SIGNER_MISMATCH, trace=params, signer=params["signer"], sender=received.sender
    )


def _warning(reason: Reason, params: dict[str, str]) -> Issue:
    vi, en = reason.vi.format_map(params), reason.en.format_map(params)
    return Issue(reason.code, vi, en, "/edXML/edXMLEnvelope/edXMLHeader", Severity.WARNING)
