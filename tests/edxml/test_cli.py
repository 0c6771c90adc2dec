"""The edxml command: exit codes, one line per file, JSON output, composing packages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import edxml
from edxml.cli import main
from tests.edxml.conftest import SAMPLES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_validate_official_samples_outcomes() -> None:
    accepted = [str(p) for p in sorted(SAMPLES.glob("*.edxml")) if p.name != "edoc.edxml"]
    code, out, _ = run("validate", *accepted)
    assert code == 0
    assert out.count(": OK") == len(accepted) == 14

    code, out, _ = run("validate", str(SAMPLES))
    assert code == 1  # edoc.edxml is rejected, so the whole run fails
    (line,) = [ln for ln in out.splitlines() if "REJECTED" in ln]
    assert "edoc.edxml" in line and "edxml.not_well_formed" in line
    assert "line" in line and "column" in line


def test_validate_json_has_codes_and_positions() -> None:
    code, out, _ = run(
        "validate", "--json", str(SAMPLES / "edoc.edxml"), str(SAMPLES / "status_finish_06.edxml")
    )
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    bad, good = rows
    assert bad["accepted"] is False and bad["code"] == "edxml.not_well_formed"
    assert bad["issues"][0]["line"] > 1 and bad["issues"][0]["column"] is not None
    assert good["accepted"] is True and good["kind"] == "status"


def test_validate_strict_refuses_what_lenient_accepts(tmp_path: Path) -> None:
    text = (SAMPLES / "status_finish_06.edxml").read_text(encoding="utf-8")
    variant = tmp_path / "variant.edxml"
    changed = text.replace("<edXML:Timestamp>2015/09/20 ", "<edXML:Timestamp>20/09/2015 ")
    assert changed != text
    variant.write_text(changed, encoding="utf-8")
    assert run("validate", str(variant))[0] == 0
    code, out, _ = run("validate", "--strict", str(variant))
    assert code == 1 and "REJECTED" in out


def test_progress_bar_when_forced(tmp_path: Path) -> None:
    files = [str(p) for p in sorted(SAMPLES.glob("status*.edxml"))]
    code, _, err = run("validate", "--progress", *files)
    assert code == 0
    assert f"{len(files)}/{len(files)}" in err and "[" in err


def test_inspect_shows_real_attachment_types() -> None:
    code, out, _ = run("inspect", "--json", str(SAMPLES / "edoc_new.edxml"))
    assert code == 0
    info = json.loads(out)
    assert info["kind"] == "edoc" and info["business_type"] == 0
    (att,) = info["attachments"]
    assert att["claimed_type"] == "application/zip" and att["real_type"] == "application/xml"
    assert att["unzipped"] is True and att["real_size"] == 388347
    assert info["signatures"][0]["kind"] == "placeholder"


def test_new_and_status_from_a_toml_description(tmp_path: Path) -> None:
    (tmp_path / "cv.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    (tmp_path / "doc.toml").write_text(
        """
from = { organ_id = "000.00.31.H53", organ_name = "UBND huyện Bến Cầu" }
to = ["000.21.31.H53", "000.20.31.H53"]
subject = "V/v triển khai liên thông văn bản điện tử"
code = "12/UBND-VP"
date = 2026-11-20
signer = { full_name = "Nguyễn Văn A", position = "Chủ tịch", competence = "TM. UBND" }
files = ["cv.pdf"]
""",
        encoding="utf-8",
    )
    out_doc = tmp_path / "doc.edxml"
    assert run("new", str(tmp_path / "doc.toml"), "-o", str(out_doc))[0] == 0
    parsed, _ = edxml.check(out_doc, mode=edxml.Mode.STRICT)
    doc = parsed.package
    assert isinstance(doc, edxml.DocumentPackage)
    assert doc.document_id == "000.00.31.H53,2026/11/20,12/UBND-VP"
    assert [t.organ_id for t in doc.to] == ["000.21.31.H53", "000.20.31.H53"]
    assert doc.attachments[0].name == "cv.pdf"

    out_status = tmp_path / "status.edxml"
    code, _, _ = run(
        "status", str(out_doc), "--from", "000.21.31.H53", "--code", "03", "-o", str(out_status)
    )
    assert code == 0
    status = edxml.parse(out_status)
    assert isinstance(status, edxml.StatusPackage)
    assert status.status_code == "03"
    assert status.response_for.organ_id == "000.00.31.H53"  # back to the original sender
    assert status.response_for.document_id == doc.document_id

    recall = tmp_path / "recall.edxml"
    assert (
        run("status", str(out_doc), "--from", "000.00.31.H53", "--code", "13", "-o", str(recall))[0]
        == 1
    )  # 13 needs the receiver
    assert (
        run(
            "status",
            str(out_doc),
            "--from",
            "000.00.31.H53",
            "--code",
            "13",
            "--to",
            "000.21.31.H53",
            "-o",
            str(recall),
        )[0]
        == 0
    )
    again = edxml.parse(recall)
    assert isinstance(again, edxml.StatusPackage) and again.response_for.organ_id == "000.21.31.H53"


def test_bad_description_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('subject = "x"\n', encoding="utf-8")
    code, _, err = run("new", str(tmp_path / "bad.toml"))
    assert code == 1 and "edxml.bad_description" in err and "missing keys" in err


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("edxml")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    proc = subprocess.run(
        [str(exe), "validate", str(SAMPLES / "status.edxml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout


DEV = Path(__file__).resolve().parents[2] / "certs" / "dev"


def test_sign_seal_verify_with_the_dev_pki(tmp_path: Path) -> None:
    agency = ("--key", str(DEV / "agency-000.00.00.G22.key"),
              "--cert", str(DEV / "agency-000.00.00.G22.crt"))  # fmt: skip
    hub = ("--key", str(DEV / "gateway.key"), "--cert", str(DEV / "gateway.crt"))
    signed, sealed = tmp_path / "signed.edxml", tmp_path / "sealed.edxml"
    assert run("sign", str(SAMPLES / "edoc_update.edxml"), *agency, "-o", str(signed))[0] == 0
    assert run("sign", str(signed), "--seal", "00.53.W00", *hub, "-o", str(sealed))[0] == 0
    trust = ("--ca", str(DEV / "ca.crt"), "--crl", str(DEV / "ca.crl"))
    code, out, _ = run("verify", str(sealed), *trust, "--policy", "strict", "--cross-check")
    assert code == 0, out
    assert out.count("valid, signxml: valid") == 2  # sender + seal, both implementations agree
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(sealed.read_bytes().replace("Cập nhật văn bản".encode(), b"Changed"))
    code, out, _ = run("verify", str(tampered), *trust)
    assert code == 1 and "edxml.signature_invalid" in out
    # The gateway's seal appended a TraceHeader naming the hub.
    package = edxml.parse(sealed)
    assert isinstance(package, edxml.DocumentPackage)
    assert package.trace_headers[-1].organ_id == "00.53.W00"
