"""Benchmark of the library's full path against a raw lxml + signxml loop, in the same run.

``python -m edxml.bench`` prints a Markdown table: packages/s of the library's full receive
path (safe parse + model, XSD + semantic validation, sender-signature verification against a
trust store, hub seal, serialisation) beside a raw loop doing the same physical work with bare
lxml and signxml (parse, XSD, signxml verify, signxml sign, serialise), for packages of 1 KiB
to 20 MiB; and the peak memory of validating and hashing a 20 MiB package from a file, measured
in a fresh process. Absolute figures drift with the machine; the ratio is the figure to watch.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

import edxml
from edxml import devpki, signature
from edxml.build import serialize
from edxml.compose import new_document
from edxml.trust import TrustStore
from edxml.validate import _lxml_schema

SIZES = {"1k": 1024, "10k": 10 * 1024, "100k": 100 * 1024, "2m": 2 * 1024**2, "20m": 20 * 1024**2}


@dataclass
class Keys:
    trust: TrustStore
    agency: signature.SigningKey
    hub: signature.SigningKey
    raw_key_pem: bytes
    raw_cert_pem: bytes


def make_keys() -> Keys:
    """RSA keys (the common case in government PKI) from a throwaway development CA."""
    ca = devpki.make_ca("Bench CA", kind="rsa")
    agency = devpki.make_leaf(ca, "UBND huyện Bến Cầu", "000.00.31.H53", kind="rsa")
    hub = devpki.make_leaf(ca, "Trục liên thông (bench)", "00.53.W00", kind="rsa")
    pem_key = agency.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem_cert = agency.cert.public_bytes(serialization.Encoding.PEM)
    return Keys(TrustStore((ca.cert,)), agency.signing_key, hub.signing_key, pem_key, pem_cert)


def make_package(size: int, keys: Keys) -> bytes:
    """A sender-signed document package of about ``size`` bytes (one PDF attachment)."""
    overhead = 4200
    payload = max(size - overhead, 64) * 3 // 4
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + os.urandom(payload)
    doc = new_document(
        sender="000.00.31.H53",
        recipients=["000.21.31.H53", "000.20.31.H53"],
        subject="V/v triển khai kết nối liên thông văn bản điện tử",
        code_number="12",
        code_notation="UBND-VP",
        signer="Nguyễn Văn A",
        place="Bến Cầu",
        files=[edxml.Attachment("1", "cv12.pdf", "application/pdf", pdf)],
    )
    tree = edxml.build_tree(doc)
    signature.sign(tree, keys.agency)
    return serialize(tree)


def library_path(data: bytes, keys: Keys) -> bytes:
    """What a hub does with each received package, through the library's public API."""
    parsed = edxml.read(data)
    edxml.validate(parsed, size=len(data)).raise_for_errors()
    signature.verify_package(parsed.tree, keys.trust)
    signature.seal(parsed.tree, keys.hub, "00.53.W00")
    return serialize(parsed.tree)


def make_raw(keys: Keys, data: bytes) -> tuple[Callable[[bytes], bytes], bytes]:
    """The raw loop: the same physical work with bare lxml and signxml, nothing else."""
    schema = _lxml_schema("edoc")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    package = edxml.parse(data)
    assert isinstance(package, edxml.DocumentPackage)
    cert_pem = keys.raw_cert_pem.decode()
    signer._parser = parser  # type: ignore[assignment]  # signxml's own parser refuses the >10 MB text nodes of big scans
    unsigned = etree.fromstring(edxml.build(dataclasses.replace(package, signatures=())), parser)
    signed = etree.tostring(signer.sign(unsigned, key=keys.agency.key, cert=cert_pem))

    def raw(blob: bytes) -> bytes:
        root = etree.fromstring(blob, parser)
        schema.validate(root)
        XMLVerifier().verify(root, x509_cert=cert_pem, parser=parser)
        out = signer.sign(root, key=keys.agency.key, cert=cert_pem)
        return bytes(etree.tostring(out))

    return raw, signed


def rate(fn: Callable[[bytes], bytes], data: bytes, seconds: float, rounds: int) -> float:
    """Median packages/s over ``rounds`` rounds of at least ``seconds`` each."""
    fn(data)  # warm caches (schema compile, imports)
    results = []
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while True:
            fn(data)
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        results.append(n / elapsed)
    return statistics.median(results)


def _peak_child(path: str) -> None:
    """In a fresh process: validate and hash one package; print baseline and peak RSS."""
    import edxml as lib
    from edxml.validate import _lxml_schema as schema

    schema("edoc")
    gc.collect()
    # ru_maxrss is useless here: Linux carries the parent's high-water mark across fork and
    # exec. Reset this process's peak (clear_refs 5) and read VmHWM afterwards instead.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _status_kib("VmRSS") * 1024
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    lib.check(path)
    peak = _status_kib("VmHWM") * 1024
    print(base, peak, digest.hexdigest())


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(data: bytes) -> tuple[int, int]:
    with tempfile.NamedTemporaryFile(suffix=".edxml", delete=False) as fh:
        fh.write(data)
    try:
        proc = subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "edxml.bench", "--peak-child", fh.name],
            capture_output=True,
            text=True,
            check=True,
        )
        base, peak, _ = proc.stdout.split()
        return int(base), int(peak)
    finally:
        os.unlink(fh.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edxml.bench", description=__doc__)
    ap.add_argument("--sizes", default="1k,10k,100k,2m,20m")
    ap.add_argument("--seconds", type=float, default=2.0, help="per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peak-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peak_child:
        _peak_child(args.peak_child)
        return 0
    keys = make_keys()
    print(
        f"edxml {edxml.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPU, median of {args.rounds} rounds x {args.seconds:g} s\n"
    )
    print(
        "| package | bytes | library full path (pkg/s) | raw lxml+signxml loop (pkg/s) "
        "| ratio | peak RSS over baseline (validate+hash, fresh process) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name in args.sizes.split(","):
        data = make_package(SIZES[name], keys)
        raw, raw_input = make_raw(keys, data)
        seconds = args.seconds if len(data) < 5 * 1024**2 else max(args.seconds, 3.0)
        lib_rate = rate(lambda d: library_path(d, keys), data, seconds, args.rounds)
        raw_rate = rate(raw, raw_input, seconds, args.rounds)
        base, peak = peak_memory(data)
        extra = peak - base
        print(
            f"| {name} | {len(data):,} | {lib_rate:,.1f} | {raw_rate:,.1f} | "
            f"{lib_rate / raw_rate:.0%} | {extra / 1024**2:,.1f} MiB = "
            f"{extra / len(data):.2f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
