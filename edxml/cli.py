"""The ``edxml`` command: inspect, validate, compose, sign and verify packages from a shell.

Exit codes: 0 success; 1 at least one package rejected or a signature invalid; 2 usage error.
Messages for people are bilingual; ``--json`` output is for programs and keeps the codes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from edxml import signature
from edxml.attachments import sniff
from edxml.build import build, serialize
from edxml.compose import document_from_mapping, new_status
from edxml.errors import EdxmlError, FormatError, Issue
from edxml.model import DocumentPackage, StatusPackage
from edxml.parse import read
from edxml.trust import SigningKey, TrustStore
from edxml.validate import Mode, check

__all__ = ["main"]


class _Progress:
    """A one-line progress bar on stderr, shown only when it is a terminal (or forced)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0
        self.start = time.monotonic()

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {rate:,.0f}/s"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def _expand(paths: Sequence[str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(p.rglob("*.edxml"))
        else:
            yield p


def _issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "code": issue.code,
        "severity": issue.severity.value,
        "path": issue.path,
        "line": issue.line,
        "column": issue.column,
        "message_en": issue.message_en,
        "message_vi": issue.message_vi,
    }


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    mode = Mode.STRICT if args.strict else Mode.LENIENT
    files = list(_expand(args.files))
    if not files:
        err.write("edxml: no .edxml file given / không có tệp nào\n")
        return 2
    progress = _Progress(len(files), err, args.progress or (len(files) > 20 and err.isatty()))
    failed = 0
    for path in files:
        result: dict[str, Any] = {"file": str(path)}
        try:
            parsed, report = check(path, mode=mode)
            result.update(
                accepted=True,
                kind=parsed.package.kind,
                issues=[_issue_json(i) for i in report.issues],
            )
            line = f"{path}: OK ({parsed.package.kind}, {len(report.warnings)} warning(s))"
        except EdxmlError as exc:
            failed += 1
            result.update(
                accepted=False, code=exc.code, issues=[_issue_json(i) for i in exc.issues]
            )
            line = f"{path}: REJECTED {exc.code}{' at ' + exc.issue.where() if exc.issue.where() else ''}: {exc.message_en} / {exc.message_vi}"  # noqa: E501
        except OSError as exc:
            failed += 1
            result.update(accepted=False, code="io", issues=[])
            line = f"{path}: REJECTED io: {exc.strerror or exc}"
        if args.json:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        elif not result["accepted"] or args.verbose:
            out.write(line + "\n")
            if args.verbose:
                for issue in result["issues"]:
                    out.write(
                        f"    {issue['severity']}: {issue['code']} {issue['path']}: "
                        f"{issue['message_en']} / {issue['message_vi']}\n"
                    )
        else:
            out.write(line + "\n")
        progress.step()
    return 1 if failed else 0


def _describe(pkg: DocumentPackage | StatusPackage) -> dict[str, Any]:
    if isinstance(pkg, StatusPackage):
        code = pkg.code
        return {
            "kind": "status",
            "from": pkg.from_.organ_id,
            "to (ResponseFor/OrganId)": pkg.response_for.organ_id,
            "document": pkg.response_for.document_id,
            "status": f"{pkg.status_code} {code.name_vi if code else '(unknown)'}",
            "description": pkg.description,
            "timestamp": pkg.timestamp.isoformat() if pkg.timestamp else None,
        }
    atts = []
    for a in pkg.attachments:
        entry: dict[str, Any] = {
            "name": a.name,
            "claimed_type": a.content_type,
            "size": len(a.data),
        }
        try:
            real = sniff(a)
            entry.update(
                real_name=real.name,
                real_type=real.content_type,
                real_size=real.size,
                unzipped=real.unzipped,
            )
        except FormatError as exc:
            entry.update(error=exc.code)
        atts.append(entry)
    return {
        "kind": "edoc",
        "document_id": pkg.document_id,
        "from": f"{pkg.from_.organ_id} {pkg.from_.organ_name or ''}".strip(),
        "to": [f"{t.organ_id} {t.organ_name or ''}".strip() for t in pkg.to],
        "code": str(pkg.code),
        "date": pkg.promulgation.date.isoformat() if pkg.promulgation.date else None,
        "subject": pkg.subject,
        "business_type": int(pkg.business_type),
        "trace": [
            f"{t.organ_id or '?'} {t.timestamp.isoformat() if t.timestamp else ''}".strip()
            for t in pkg.trace_headers
        ],
        "attachments": atts,
    }


def cmd_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    parsed = read(Path(args.file))
    info = _describe(parsed.package)
    info["signatures"] = [
        {
            "index": s.index,
            "kind": str(s.kind),
            "subject": s.signer_subject,
            "organ_id": s.signer_organ_id,
            "references": list(s.references),
        }
        for s in signature.inspect_signatures(parsed.tree)
    ]
    if args.json:
        out.write(json.dumps(info, ensure_ascii=False, indent=2) + "\n")
        return 0
    for key, value in info.items():
        if isinstance(value, list):
            out.write(f"{key}:\n")
            for item in value:
                out.write(f"  - {item}\n")
        else:
            out.write(f"{key}: {value}\n")
    return 0


def _write(data: bytes, output: str | None, out: TextIO) -> None:
    if output and output != "-":
        Path(output).write_bytes(data)
    else:
        out.flush()
        sys.stdout.buffer.write(data)


def cmd_new(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    desc_path = Path(args.description)
    with desc_path.open("rb") as fh:
        desc = tomllib.load(fh)
    package = document_from_mapping(desc, desc_path.parent)
    data = build(package)
    if args.key:
        data = _sign_bytes(data, args)
    _write(data, args.output, out)
    return 0


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    original = read(Path(args.original)).package
    if not isinstance(original, DocumentPackage):
        err.write("edxml: the original must be a document package / gói tin gốc phải là văn bản\n")
        return 2
    package = new_status(
        original,
        sender=args.sender,
        code=args.code,
        description=args.description,
        recipient=args.recipient,
    )
    data = build(package)
    if args.key:
        data = _sign_bytes(data, args)
    _write(data, args.output, out)
    return 0


def _signing_key(args: argparse.Namespace) -> SigningKey:
    chain = tuple(args.chain or ())
    return SigningKey.from_pem_files(args.key, args.cert, chain)


def _sign_bytes(data: bytes, args: argparse.Namespace) -> bytes:
    parsed = read(data)
    key = _signing_key(args)
    if getattr(args, "seal", None):
        signature.seal(parsed.tree, key, args.seal)
    else:
        signature.sign(parsed.tree, key)
    return serialize(parsed.tree)


def cmd_sign(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data = Path(args.file).read_bytes()
    _write(_sign_bytes(data, args), args.output, out)
    return 0


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    trust = TrustStore.from_files(args.ca, args.crl or ())
    policy = signature.SignaturePolicy(args.policy)
    at = dt.datetime.fromisoformat(args.at) if args.at else None
    failed = 0
    for path in _expand(args.files):
        parsed = read(path)
        try:
            result = signature.verify_package(parsed.tree, trust, policy=policy, at=at)
        except EdxmlError as exc:
            failed += 1
            out.write(f"{path}: INVALID {exc.code}: {exc.message_en} / {exc.message_vi}\n")
            continue
        out.write(f"{path}: OK\n")
        for rep in result.reports:
            state = "valid" if rep.valid else f"INVALID {rep.failure.code if rep.failure else ''}"
            if args.cross_check and rep.kind is signature.SignatureKind.XMLDSIG:
                try:
                    signature.cross_check(parsed.tree, rep.index)
                    state += ", signxml: valid"
                except EdxmlError as exc:
                    state += f", signxml: INVALID {exc.code}"
            out.write(
                f"  #{rep.index} {rep.kind} {rep.role or ''} {rep.signer_subject or ''} "
                f"[{', '.join(rep.references)}]: {state}\n"
            )
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edxml", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate packages (exit 0 only if all are accepted)")
    v.add_argument("files", nargs="+", help="files or folders of .edxml files")
    v.add_argument("--strict", action="store_true", help="canonical form only")
    v.add_argument("--json", action="store_true", help="one JSON object per file")
    v.add_argument("--verbose", "-v", action="store_true", help="list warnings too")
    v.add_argument("--progress", action="store_true", help="force the progress bar")
    v.set_defaults(func=cmd_validate)

    i = sub.add_parser("inspect", help="show sender, recipients, attachments, signatures")
    i.add_argument("file")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_inspect)

    def signing(sp: argparse.ArgumentParser, required: bool) -> None:
        sp.add_argument("--key", required=required, help="PEM private key")
        sp.add_argument("--cert", required=required, help="PEM certificate of the key")
        sp.add_argument("--chain", action="append", help="PEM intermediate certificate")

    n = sub.add_parser("new", help="build a document package from a TOML description")
    n.add_argument("description", help="TOML file (see README)")
    n.add_argument("--output", "-o")
    signing(n, False)
    n.set_defaults(func=cmd_new)

    s = sub.add_parser("status", help="build a status package about an original document")
    s.add_argument("original", help="the original document package")
    s.add_argument("--from", dest="sender", required=True, help="organ id sending the status")
    s.add_argument(
        "--code", required=True, choices=["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    )
    s.add_argument("--description")
    s.add_argument("--to", dest="recipient", help="for 13: the receiver to recall from")
    s.add_argument("--output", "-o")
    signing(s, False)
    s.set_defaults(func=cmd_status)

    g = sub.add_parser("sign", help="add a sender signature, or a hub seal with --seal")
    g.add_argument("file")
    g.add_argument("--seal", metavar="ORGAN_ID", help="append a TraceHeader and a hub seal")
    g.add_argument("--output", "-o")
    signing(g, True)
    g.set_defaults(func=cmd_sign)

    r = sub.add_parser("verify", help="verify every signature against trusted CAs")
    r.add_argument("files", nargs="+")
    r.add_argument("--ca", action="append", required=True, help="trusted CA certificate (PEM)")
    r.add_argument("--crl", action="append", help="CRL (PEM or DER)")
    r.add_argument("--policy", choices=["strict", "lenient", "off"], default="lenient")
    r.add_argument("--at", help="verification time (ISO 8601), default now")
    r.add_argument(
        "--cross-check", action="store_true", help="also ask signxml (independent implementation)"
    )
    r.set_defaults(func=cmd_verify)
    return p


def main(
    argv: Iterable[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        code: int = args.func(args, out, err)
    except EdxmlError as exc:
        err.write(f"edxml: {exc}\n")
        return 1
    except OSError as exc:
        err.write(f"edxml: {exc}\n")
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
