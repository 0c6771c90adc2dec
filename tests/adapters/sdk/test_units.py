"""The SDK's pure parts, table-driven: calls and error mapping, receipts, configuration, compose."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

import edxml
from adapters.sdk import _protocol as P
from adapters.sdk import compose
from adapters.sdk.config import ClientConfig, KeyPair
from adapters.sdk.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PackageRejected,
    PackageTooLarge,
    ProblemError,
    ProtocolError,
    ServerError,
    TransportError,
    Unauthenticated,
    UsageError,
)
from adapters.sdk.receipts import Receipt, verify_signed_receipt
from edxml.devpki import make_ca, make_leaf
from edxml.model import DocumentPackage, StatusPackage
from edxml.signature import SignaturePolicy, verify_package
from edxml.trust import SigningKey, TrustStore
from tests.adapters.sdk.fixtures import CERTS, HUYEN, XA, key_pair

# -- errors -----------------------------------------------------------------------------------


def _problem(status: int, code: str, **extra: Any) -> bytes:
    body = {"code": code, "status": status, "message_vi": "vi", "message_en": "en", **extra}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, BadRequest, False),
        (401, Unauthenticated, False),
        (403, Forbidden, False),
        (404, NotFound, False),
        (409, Conflict, False),
        (413, PackageTooLarge, False),
        (422, PackageRejected, False),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_problem_documents_map_to_typed_errors(
    status: int, kind: type[ProblemError], retryable: bool
) -> None:
    body = _problem(status, "x.y", retryable=retryable, doc_id="d-1", issues=[{"code": "edxml.a"}])
    error = P.error_for(status, {}, body)
    assert type(error) is kind
    assert isinstance(error, ProblemError)
    assert (error.code, error.status, error.retryable, error.doc_id) == (
        "x.y",
        status,
        retryable,
        "d-1",
    )
    assert error.issues == [{"code": "edxml.a"}]
    assert (error.message_vi, error.message_en) == ("vi", "en")


def test_an_answer_that_is_no_problem_document_keeps_its_status() -> None:
    error = P.error_for(502, {"retry-after": "7"}, b"<html>Bad gateway</html>")
    assert isinstance(error, ServerError)
    assert (error.code, error.retryable, error.retry_after) == ("http.502", True, 7.0)
    assert "Bad gateway" in error.message_en
    assert P.delay(0, 0.5, error) == 7.0  # the server's Retry-After wins
    lost = P.error_for(404, {}, b"not here")
    assert isinstance(lost, BadRequest | NotFound) and not lost.retryable


def test_backoff_doubles_and_is_capped() -> None:
    error = TransportError("down")
    assert [P.delay(n, 0.5, error) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_calls_name_their_parameters() -> None:
    since = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    call = P.inbox(organs=["a", "b"], state="delivered", kind="edoc", since=since, cursor="c")
    assert (call.method, call.path) == ("GET", "/api/v1/inbox")
    assert call.params == (
        ("organ", "a"),
        ("organ", "b"),
        ("state", "delivered"),
        ("kind", "edoc"),
        ("since", "2026-01-02T03:04:00+00:00"),
        ("limit", "100"),
        ("cursor", "c"),
    )
    with pytest.raises(UsageError):
        P.inbox(since=dt.datetime(2026, 1, 2))
    assert P.ack("a/b", ok=False, reason="hỏng").path == "/api/v1/inbox/a%2Fb/ack"
    assert P.ack("x", ok=False, reason="hỏng").json == {"result": "fail", "reason": "hỏng"}
    assert P.submit(b"<x/>", "status").params == (("kind", "status"),)


def test_malformed_success_answers_are_protocol_errors() -> None:
    reply = P.Reply(200, {}, b"{not json")
    with pytest.raises(ProtocolError):
        P.track("d").parse(reply)
    with pytest.raises(ProtocolError, match="documented form"):
        P.track("d").parse(P.Reply(200, {}, b'{"doc_id": "d"}'))


# -- receipts ---------------------------------------------------------------------------------


def _hub_keys() -> list[SigningKey]:
    rsa = SigningKey.from_pem_files(CERTS / "gateway.key", CERTS / "gateway.crt")
    ca = make_ca("Test CA")
    ec = make_leaf(ca, "Hub EC", organ_id="00.53.W00", kind="ec").signing_key
    return [rsa, ec]


@pytest.mark.parametrize("index", [0, 1], ids=["RS256", "ES256"])
def test_receipts_signed_by_the_gateway_verify_here(index: int) -> None:
    # The gateway's own signer (gateway.core.receipt) and the SDK's verifier must agree on
    # the wire format; the SDK itself may not import the gateway (import-linter).
    from gateway.core.receipt import sign_receipt

    key = _hub_keys()[index]
    payload = {
        "version": 1,
        "doc_id": "d-1",
        "sha256": "ab" * 32,
        "size": 10,
        "received_at": "2026-01-02T03:04:05.000+00:00",
        "hub": "00.53.W00",
        "node": "node-1",
        "kind": "edoc",
        "sender": XA,
        "document_id": f"{XA},2026/01/02,1/UBND-VP",
    }
    signed = sign_receipt(payload, key)
    receipt = Receipt.from_signed(signed)
    assert receipt.verify(key.certificate) and receipt.verify()
    assert (receipt.doc_id, receipt.size, receipt.sender) == ("d-1", 10, XA)
    assert Receipt.from_json(receipt.to_json()) == receipt
    tampered = {**signed, "receipt": {**signed["receipt"], "doc_id": "d-2"}}
    assert not verify_signed_receipt(tampered, key.certificate)
    other = _hub_keys()[1 - index].certificate
    assert not receipt.verify(other)
    with pytest.raises(ProtocolError):
        Receipt.from_signed({"receipt": {"doc_id": "x"}})


@pytest.mark.parametrize("size", [2, 3, 5, 8])
def test_batched_receipts_signed_by_the_gateway_verify_here(size: int) -> None:
    from gateway.core.receipt import sign_receipts

    key = _hub_keys()[0]
    payloads = [
        {"version": 1, "doc_id": f"d-{i}", "sha256": f"{i:02x}" * 32, "size": 10 + i}
        for i in range(size)
    ]
    signed = sign_receipts(payloads, key)
    assert len({s["signature"] for s in signed}) == 1  # one signature for the batch
    for i, one in enumerate(signed):
        assert one["batch"]["index"] == i and one["batch"]["size"] == size
        assert verify_signed_receipt(one, key.certificate)
        # Another receipt of the batch with this one's proof, or a changed statement: refused.
        moved = {**one, "receipt": signed[(i + 1) % size]["receipt"]}
        assert not verify_signed_receipt(moved, key.certificate)
        changed = {**one, "receipt": {**one["receipt"], "size": 999}}
        assert not verify_signed_receipt(changed, key.certificate)
        shortened = {**one, "batch": {**one["batch"], "path": one["batch"]["path"][:-1]}}
        assert not verify_signed_receipt(shortened, key.certificate)
        resized = {**one, "batch": {**one["batch"], "size": size + 1}}
        assert not verify_signed_receipt(resized, key.certificate)


# -- configuration ----------------------------------------------------------------------------


def test_config_from_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    config = ClientConfig.from_env(
        {
            "EDXGW_URL": "https://gw.example/",
            "EDXGW_TOKEN_FILE": str(token_file),
            "EDXGW_SIGNING_KEY": str(CERTS / f"agency-{XA}.key"),
            "EDXGW_SIGNING_CERT": str(CERTS / f"agency-{XA}.crt"),
            "EDXGW_RETRIES": "5",
            "EDXGW_VERIFY_RECEIPTS": "no",
            "OTHER": "ignored",
        }
    )
    assert (config.url, config.token, config.retries, config.verify_receipts) == (
        "https://gw.example",
        "s3cret",
        5,
        False,
    )
    assert "s3cret" not in repr(config)
    assert list(config.signing_key_map()) == [XA]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "url is required"),
        ({"url": "gw.example"}, "http://"),
        ({"url": "http://x", "colour": "red"}, "unknown client settings: colour"),
        ({"url": "http://x", "client_cert": "a.crt"}, "go together"),
        ({"url": "http://x", "signing_key": "a.key"}, "go together"),
        ({"url": "http://x", "retries": "many"}, "bad client setting"),
        ({"url": "http://x", "verify_receipts": "maybe"}, "not a boolean"),
        ({"url": "http://x", "signing_keys": [{"key_file": "k"}]}, "key_file and cert_file"),
    ],
)
def test_bad_configuration_is_a_usage_error(values: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ClientConfig.from_mapping(values)
    assert caught.value.code == "sdk.usage"
    assert caught.value.message_vi != caught.value.message_en


def test_relative_key_paths_and_missing_keys(tmp_path: Path) -> None:
    config = ClientConfig.from_mapping(
        {"url": "http://x", "signing_keys": [{"key_file": "a.key", "cert_file": "a.crt"}]},
        base=tmp_path,
    )
    assert config.signing_keys == (KeyPair(tmp_path / "a.key", tmp_path / "a.crt"),)
    with pytest.raises(UsageError, match="cannot load the signing key"):
        config.signing_key_map()


# -- compose ----------------------------------------------------------------------------------


def _trust() -> TrustStore:
    return TrustStore.from_files([CERTS / "ca.crt"], [CERTS / "ca.crl"])


def test_a_composed_document_is_signed_and_carries_its_files(tmp_path: Path) -> None:
    pdf = tmp_path / "cv12.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    key = key_pair(XA).load()
    out = compose.document(
        sender=XA,
        recipients=[HUYEN],
        subject="V/v triển khai liên thông",
        code="12/UBND-VP",
        signer="Nguyễn Văn A",
        files=[pdf, compose.File("phu-luc.txt", "Phụ lục".encode())],
        key=key,
        date=dt.date(2026, 1, 2),
    )
    assert out.signed_by == XA and out.sender == XA and out.kind == "edoc"
    assert out.document_id == f"{XA},2026/01/02,12/UBND-VP"
    report = verify_package(out.data, _trust(), policy=SignaturePolicy.STRICT)
    assert report.sender is not None and report.sender.valid
    parsed = edxml.parse(out.data)
    assert isinstance(parsed, DocumentPackage)
    assert [(a.name, a.content_type, a.data) for a in parsed.attachments] == [
        ("cv12.pdf", "application/pdf", b"%PDF-1.4 test"),
        ("phu-luc.txt", "text/plain", "Phụ lục".encode()),
    ]
    # Unsigned without a key; a key of another agency is refused.
    assert compose.sign_package(parsed, None).signed_by is None
    with pytest.raises(UsageError, match="certificate is"):
        compose.sign_package(parsed, key_pair(HUYEN).load())
    # Already signed bytes are passed through unchanged.
    assert compose.sign_package(out.data, key).data == out.data


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "12"}, "number/notation"),
        ({"recipients": []}, "at least one recipient"),
        ({"business_type": 1}, "revises="),
        ({"business_type": 7}, "business_type is"),
        ({"files": ["/nonexistent/x.pdf"]}, "attachment not found"),
    ],
)
def test_compose_refuses_bad_input(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "sender": XA,
        "recipients": [HUYEN],
        "subject": "s",
        "code": "1/UBND",
        "signer": "A",
    }
    with pytest.raises(UsageError, match=message):
        compose.document(**{**base, **fields})


def test_statuses_go_back_to_the_sender_and_recalls_to_the_recipient() -> None:
    original = compose.document(
        sender=XA, recipients=[HUYEN], subject="s", code="7/UBND", signer="A"
    )
    for code in ("01", "02", "03", "04", "05", "06", "15", "16"):
        st = compose.status(original.data, code=code, comment="ok", key=key_pair(HUYEN).load())
        package = st.package
        assert isinstance(package, StatusPackage)
        assert (package.from_.organ_id, package.response_for.organ_id) == (HUYEN, XA)
        assert package.status_code == code and st.signed_by == HUYEN
        assert package.response_for.document_id == original.document_id
    recall = compose.status(original.package, code="13", recipient=HUYEN)
    assert isinstance(recall.package, StatusPackage)
    assert (recall.package.from_.organ_id, recall.package.response_for.organ_id) == (XA, HUYEN)
    with pytest.raises(UsageError, match="recipient="):
        compose.status(original.package, code="13")
    for bad in ("07", "14", "99", "x"):
        with pytest.raises(UsageError, match="status code must be one of"):
            compose.status(original.package, code=bad)
    two = compose.document(
        sender=XA, recipients=[HUYEN, "000.00.00.H53"], subject="s", code="8/UBND", signer="A"
    )
    with pytest.raises(UsageError, match="sender="):
        compose.status(two.package, code="01")
    assert isinstance(compose.status(two.package, code="1", sender=HUYEN).package, StatusPackage)


def test_revisions_name_the_original() -> None:
    original = compose.document(
        sender=XA, recipients=[HUYEN], subject="s", code="9/UBND", signer="A"
    )
    assert isinstance(original.package, DocumentPackage)
    revoke = compose.document(
        sender=XA,
        recipients=[HUYEN],
        subject="Thu hồi",
        code="10/UBND",
        signer="A",
        business_type=1,
        reason="Sai sót",
        revises=original.package,
    )
    package = revoke.package
    assert isinstance(package, DocumentPackage) and package.business is not None
    assert package.business_type == 1
    assert package.response_for[0].document_id == original.document_id


def test_a_hub_certificate_that_does_not_load_is_reported(tmp_path: Path) -> None:
    from adapters.sdk import Client

    bad = tmp_path / "hub.crt"
    bad.write_text("not a certificate")
    with pytest.raises(UsageError, match="hub_certificate"):
        Client(ClientConfig(url="http://127.0.0.1:9", hub_certificate=bad))
    assert isinstance(
        x509.load_pem_x509_certificate((CERTS / "gateway.crt").read_bytes()), x509.Certificate
    )
