"""process(): official samples in, Accepted/Rejected out, with the right routes and trace."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import edxml
from edxml.build import build_tree, serialize
from edxml.model import DocumentPackage, StatusPackage
from edxml.signature import SignaturePolicy, SignatureRole, seal, verify_package
from edxml.validate import Mode, Policy
from gateway.core import Accepted, Context, Keys, Rejected, process
from tests.gateway.core.factories import HUB, NOW, agency_key, document, submission
from tests.pki import make_ca, make_leaf

DOCUMENTS = [
    "edoc_new.edxml",
    "edoc_replacement.edxml",
    "edoc_revocation.edxml",
    "edoc_update.edxml",
]
STATUSES = [
    "status.edxml",
    "status_inbox_01.edxml",
    "status_rejection_02.edxml",
    "status_acceptance_03.edxml",
    "status_assignment_04.edxml",
    "status_processing_05.edxml",
    "status_finish_06.edxml",
    "status_cancellation_13.edxml",
    "status_change-acceptance_15.edxml",
    "status_change-rejection_16.edxml",
]
# Where the demo directory sends each addressee of the samples.
EXPECTED_ROUTES = {
    "28.22.H17": ("000.00.00.H17", "local", None, "H17"),  # legacy alias
    "000.00.00.H41": ("000.00.00.H41", "uplink", "vdxp", "H41"),
    "000.00.00.H14": ("000.00.00.H14", "local", None, "H14"),
    "000.00.00.G17": ("000.00.00.G17", "uplink", "vdxp", "G17"),  # not in the directory
    "000.00.00.G22": ("000.00.00.G22", "uplink", "vdxp", "G22"),
}


def run(data: bytes, ctx: Context, **fields: object) -> Accepted | Rejected:
    """Submit ``data`` as its own From (a correctly registered system)."""
    sender = edxml.parse(data).from_.organ_id
    return process(submission(data, sender, **fields), ctx)


def accepted(result: Accepted | Rejected) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def rejected(result: Accepted | Rejected, code: str) -> Rejected:
    assert isinstance(result, Rejected), result
    assert result.error.code == code, result.error
    return result


def stages(result: Accepted | Rejected) -> list[tuple[str, str]]:
    return [(e.stage, e.outcome) for e in result.trace]


# -- the official samples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_sample_document_is_routed_to_each_to(
    name: str, samples: dict[str, bytes], ctx: Context
) -> None:
    package = edxml.parse(samples[name])
    assert isinstance(package, DocumentPackage)
    result = accepted(run(samples[name], ctx))
    expected = [EXPECTED_ROUTES[org.organ_id] for org in package.to]
    got = [
        (d.recipient, d.route, d.peer, o.routing_key)
        for d, o in zip(result.deliveries, result.outbox, strict=True)
    ]
    assert got == expected
    assert stages(result) == [(s, "ok") for s in ("receive", "validate", "verify", "seal", "route")]
    m = result.message
    assert (m.kind, m.sender, m.document_id) == (
        "edoc",
        package.from_.organ_id,
        package.document_id,
    )
    assert m.business_type == package.business_type
    assert m.sha256 == hashlib.sha256(samples[name]).hexdigest()
    assert m.size == len(samples[name])
    assert m.blob_key == "sha256/" + hashlib.sha256(result.sealed).hexdigest()
    assert m.received_at == NOW and m.system_id == "qlvb-1"
    assert result.status is None and result.original is None


@pytest.mark.parametrize("name", STATUSES)
def test_every_sample_status_is_routed_to_response_for(
    name: str, samples: dict[str, bytes], ctx: Context
) -> None:
    package = edxml.parse(samples[name])
    assert isinstance(package, StatusPackage)
    result = accepted(run(samples[name], ctx))
    target = package.response_for.organ_id
    assert [(d.recipient, d.route) for d in result.deliveries] == [(target, "uplink")]
    status = result.status
    assert status is not None and status.doc_id is None
    assert status.status_doc_id == result.doc_id
    assert status.code == package.status_code and status.at == package.timestamp
    assert status.from_organ == package.from_.organ_id
    assert result.message.kind == "status" and result.message.status_code == package.status_code
    assert result.original is not None
    assert result.original.document_id == package.response_for.document_id
    if package.status_code == "13":  # the original sender recalls from the receiver (§2.2)
        assert status.recipient == target == "000.00.00.H41"
        assert result.original.sender == package.from_.organ_id == "000.00.00.G22"
    else:  # the receiver reports on its own progress to the original sender
        assert status.recipient == package.from_.organ_id == "000.00.00.H41"
        assert result.original.sender == target == "000.00.00.G22"


def test_the_broken_sample_is_rejected_with_its_position(
    samples: dict[str, bytes], ctx: Context
) -> None:
    result = process(submission(samples["edoc.edxml"], "000.00.00.G22"), ctx)
    rejected(result, "edxml.not_well_formed")
    assert isinstance(result, Rejected)
    assert result.error.http_status == 400 and not result.error.retryable
    assert result.error.issues[0].line is not None
    (event,) = result.trace
    assert (event.stage, event.outcome, event.doc_id) == ("receive", "rejected", result.doc_id)
    assert event.detail["sha256"] == hashlib.sha256(samples["edoc.edxml"]).hexdigest()


# -- outputs the shell relies on ------------------------------------------------------------------


def test_outbox_rows_are_claim_checks(samples: dict[str, bytes], ctx: Context) -> None:
    result = accepted(run(samples["edoc_update.edxml"], ctx))
    assert len(result.outbox) == len(result.deliveries) == 3
    sealed_sha = hashlib.sha256(result.sealed).hexdigest()
    for delivery, row in zip(result.deliveries, result.outbox, strict=True):
        assert row.delivery_id == delivery.delivery_id and row.exchange == ctx.exchange
        assert row.headers == {
            "doc_id": result.doc_id,
            "delivery_id": delivery.delivery_id,
            "kind": "edoc",
            "sender": "000.00.00.G22",
            "recipient": delivery.recipient,
            "route": delivery.route,
            **({"peer": delivery.peer} if delivery.peer else {}),
        }
        assert json.loads(row.body) == {
            "doc_id": result.doc_id,
            "delivery_id": delivery.delivery_id,
            "blob_key": result.message.blob_key,
            "sha256": sealed_sha,
        }
        assert len(row.body) < 300  # never the package itself


def test_ids_come_from_the_factory_in_order(samples: dict[str, bytes], ctx: Context) -> None:
    result = accepted(run(samples["edoc_update.edxml"], ctx))
    assert result.doc_id == "id-1"
    assert [d.delivery_id for d in result.deliveries] == ["id-2", "id-3", "id-4"]
    assert {e.doc_id for e in result.trace} == {"id-1"}
    assert {e.at for e in result.trace} == {NOW}


def test_same_inputs_give_the_same_result(
    samples: dict[str, bytes], make_ctx: Callable[..., Context]
) -> None:
    # No clock, no randomness inside: the hub key is RSA (deterministic PKCS#1 v1.5).
    first = run(samples["edoc_new.edxml"], make_ctx())
    second = run(samples["edoc_new.edxml"], make_ctx())
    assert first == second


def test_sealed_bytes_verify_and_carry_the_hub_trace_header(
    samples: dict[str, bytes], ctx: Context
) -> None:
    result = accepted(run(samples["edoc_revocation.edxml"], ctx))
    package = edxml.parse(result.sealed)
    assert isinstance(package, DocumentPackage)
    assert [(t.organ_id, t.timestamp) for t in package.trace_headers][-1] == (HUB, NOW)
    check = verify_package(result.sealed, ctx.trust, policy=SignaturePolicy.LENIENT, at=NOW)
    assert [r.valid for r in check.reports if r.kind == "xmldsig"] == [True]


def test_a_signed_package_keeps_the_sender_signature_after_the_seal(ctx: Context) -> None:
    data = document("000.21.31.H53", ["000.00.00.H53"], signed_by=agency_key("000.21.31.H53"))
    result = accepted(run(data, ctx, signatures=SignaturePolicy.STRICT, mode=Mode.STRICT))
    check = verify_package(result.sealed, ctx.trust, policy=SignaturePolicy.STRICT, at=NOW)
    assert [(r.role, r.signer_organ_id, r.valid) for r in check.reports] == [
        (SignatureRole.SENDER, "000.21.31.H53", True),
        (SignatureRole.SEAL, HUB, True),
    ]
    verify_event = next(e for e in result.trace if e.stage == "verify")
    assert verify_event.detail["signatures"] == [
        {"index": 1, "kind": "xmldsig", "role": "sender", "valid": True, "signer": "000.21.31.H53"}
    ]
    assert result.warnings == ()


def test_a_spooled_file_is_processed_like_bytes(
    samples: dict[str, bytes], make_ctx: Callable[..., Context], tmp_path: Path
) -> None:
    spooled = tmp_path / "upload.edxml"
    spooled.write_bytes(samples["edoc_new.edxml"])
    from_bytes = run(samples["edoc_new.edxml"], make_ctx())
    sub = dataclasses.replace(submission(b"x", "000.00.00.A80"), data=None, path=str(spooled))
    assert process(sub, make_ctx()) == from_bytes


# -- de-duplication keys (architecture.md §3.3) ------------------------------------------------


def test_the_same_package_twice_has_the_same_dedup_key(
    samples: dict[str, bytes], make_ctx: Callable[..., Context]
) -> None:
    later = NOW.replace(hour=17)
    first = accepted(run(samples["edoc_update.edxml"], make_ctx()))
    again = accepted(run(samples["edoc_update.edxml"], make_ctx(now=later)))
    assert first.message.dedup_key == again.message.dedup_key
    assert first.message.dedup_key == (
        "000.00.00.G22|000.00.00.G22,2015/09/30,7816/VPCP-TTĐT|2|edoc"
    )


def test_dedup_keys_tell_business_types_and_statuses_apart(
    samples: dict[str, bytes], ctx: Context
) -> None:
    keys = [accepted(run(samples[n], ctx)).message.dedup_key for n in DOCUMENTS + STATUSES]
    assert len(set(keys)) == len(keys)


def test_a_recall_from_two_recipients_is_two_statuses(
    samples: dict[str, bytes], ctx: Context
) -> None:
    recall = samples["status_cancellation_13.edxml"]
    other = recall.replace(b"<edXML:OrganId>000.00.00.H41<", b"<edXML:OrganId>000.00.00.H14<")
    assert other != recall
    first, second = (accepted(run(data, ctx)) for data in (recall, other))
    assert first.message.dedup_key != second.message.dedup_key
    assert first.message.dedup_key.startswith("000.00.00.G22|000.00.00.H41|")


# -- who may send ---------------------------------------------------------------------------------


def test_a_system_may_only_send_as_its_agencies(samples: dict[str, bytes], ctx: Context) -> None:
    sub = submission(samples["edoc_new.edxml"], "000.00.00.H53", "000.00.00.H14")
    result = rejected(process(sub, ctx), "receive.sender_not_registered")
    assert result.error.http_status == 403
    assert result.error.message_vi == (
        "Don vi gui 000.00.00.A80 khong dung voi ma da dang ky: qlvb-1"
    )
    assert "000.00.00.A80" in result.error.message_en
    (event,) = result.trace
    assert event.detail["code"] == "receive.sender_not_registered"
    assert event.detail["sender"] == "000.00.00.A80" and event.detail["system_id"] == "qlvb-1"


def test_a_status_sender_is_its_from(samples: dict[str, bytes], ctx: Context) -> None:
    data = samples["status_acceptance_03.edxml"]
    # The system is registered for the ResponseFor agency, not for the From: refused.
    rejected(process(submission(data, "000.00.00.G22"), ctx), "receive.sender_not_registered")
    accepted(process(submission(data, "000.00.00.H41"), ctx))


def test_senders_match_through_aliases(ctx: Context) -> None:
    data = document("28.22.H17", ["000.00.00.H53"])
    result = accepted(process(submission(data, "000.00.00.H17"), ctx))
    assert result.message.sender == "000.00.00.H17"


def test_a_signature_of_another_agency_is_refused(ctx: Context) -> None:
    data = document("000.00.00.H53", ["000.00.00.H14"], signed_by=agency_key("000.21.31.H53"))
    result = rejected(run(data, ctx), "verify.signer_mismatch")
    assert result.error.http_status == 403
    assert result.trace[-1].detail["signer"] == "000.21.31.H53"


def test_strict_policy_refuses_the_sample_placeholders(
    samples: dict[str, bytes], ctx: Context
) -> None:
    result = run(samples["edoc_new.edxml"], ctx, signatures=SignaturePolicy.STRICT)
    result = rejected(result, "edxml.signature_placeholder")
    assert result.error.http_status == 422
    assert stages(result)[-1] == ("verify", "rejected")


# -- refusals of hostile or oversized input ------------------------------------------------------


def test_billion_laughs_is_rejected_and_traced_without_content(ctx: Context) -> None:
    levels = [b'<!ENTITY lol0 "lol">']
    levels += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    xml = b"<?xml version='1.0'?><!DOCTYPE lolz [" + b"".join(levels) + b"]><lolz>&lol9;</lolz>"
    result = rejected(process(submission(xml, "000.00.00.H53"), ctx), "edxml.entity_expansion")
    assert result.error.http_status == 400 and result.error.fault == "sender"
    assert result.error.message_vi and result.error.message_en
    (event,) = result.trace
    assert (event.stage, event.outcome) == ("receive", "rejected")
    assert set(event.detail) <= {
        "code",
        "http_status",
        "issues",
        "count",
        "system_id",
        "size",
        "sha256",
    }
    assert "lol" not in repr(event.detail)


def test_an_oversized_package_is_refused_before_parsing(
    samples: dict[str, bytes], ctx: Context
) -> None:
    result = run(samples["edoc_new.edxml"], ctx, limits=Policy(max_package_bytes=100_000))
    result = rejected(result, "receive.too_large")
    assert result.error.http_status == 413
    (event,) = result.trace
    assert event.detail["size"] == len(samples["edoc_new.edxml"]) and "sha256" not in event.detail


def test_a_lying_message_type_is_refused(samples: dict[str, bytes], ctx: Context) -> None:
    result = run(samples["status.edxml"], ctx, declared_kind="edoc")
    result = rejected(result, "receive.kind_mismatch")
    assert result.error.http_status == 422


def test_validation_errors_list_every_issue(ctx: Context) -> None:
    data = document("000.00.00.H53", ["000.00.00.H14"]).replace(b"<edXML:Subject>", b"<edXML:X>")
    data = data.replace(b"</edXML:Subject>", b"</edXML:X>")
    result = run(data, ctx, mode=Mode.STRICT)
    assert isinstance(result, Rejected)
    assert result.error.code.startswith("edxml.") and result.error.http_status == 422
    assert len(result.error.issues) >= 1
    assert stages(result) == [("receive", "ok"), ("validate", "rejected")]


# -- whose signature (architecture.md §5) ---------------------------------------------------------


def test_a_package_sealed_by_a_hub_but_unsigned_by_its_agency(ctx: Context) -> None:
    tree = build_tree(edxml.parse(document("000.21.31.H53", ["000.00.00.H53"])))
    seal(tree, ctx.signing_key, HUB, at=NOW)  # a hub forwarded it without an agency signature
    data = serialize(tree)
    lenient = accepted(run(data, ctx))
    assert "verify.signed_by_hub" in [w.code for w in lenient.warnings]
    verify_event = next(e for e in lenient.trace if e.stage == "verify")
    assert "verify.signed_by_hub" in verify_event.detail["findings"]
    strict = rejected(run(data, ctx, signatures=SignaturePolicy.STRICT), "verify.signer_mismatch")
    assert strict.error.http_status == 403


def test_a_certificate_without_organ_id(keys: Keys, make_ctx: Callable[..., Context]) -> None:
    ca = make_ca("Test CA")
    leaf = make_leaf(ca, "Văn thư không mã", organ_id=None)
    pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    ctx = make_ctx(keys=dataclasses.replace(keys, ca_certs=(*keys.ca_certs, pem)))
    data = document("000.00.00.H53", ["000.00.00.H14"], signed_by=leaf.signing_key)
    lenient = accepted(run(data, ctx))
    assert [w.code for w in lenient.warnings] == ["verify.signer_unknown"]
    rejected(run(data, ctx, signatures=SignaturePolicy.STRICT), "verify.signer_mismatch")
