"""Test data for the core tests: the demo directory, packages made with edxml, submissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edxml.build import build_tree, serialize
from edxml.compose import new_document
from edxml.model import VN_TZ
from edxml.signature import sign
from edxml.trust import SigningKey, load_certificates
from gateway.core import Submission
from gateway.store.base import Agency

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "data" / "vpcp-official"
CERTS = ROOT / "certs" / "dev"
HUB = "00.53.W00"


def _clock() -> dt.datetime:
    """A fixed "now" inside the dev certificates' validity and never in the real future.

    ``certs/dev`` is regenerated with validity starting one day before its generation, so a
    hard-coded date would fall outside it some day; generation time is past on every machine.
    """
    starts = [
        load_certificates(p.read_bytes())[0].not_valid_before_utc for p in CERTS.glob("*.crt")
    ]
    return (max(starts) + dt.timedelta(days=1)).replace(second=0).astimezone(VN_TZ)


NOW = _clock()


def agency(organ_id: str, host: str = "local", **fields: Any) -> Agency:
    return Agency(organ_id=organ_id, name=f"Cơ quan {organ_id}", host=host, **fields)  # type: ignore[arg-type]


#: A provincial hub (Tây Ninh, 00.53.W00) with a district hub below it (Bến Cầu).
AGENCIES = (
    agency("000.00.00.G22", host="uplink"),  # VPCP, on the national axis
    agency("000.00.00.H41", host="uplink"),  # another province
    agency("000.00.00.H53"),  # UBND tỉnh, hosted here
    agency("000.00.00.A80"),  # sample agencies, hosted here
    agency("000.00.00.H14"),
    agency("000.00.00.H17"),
    agency("000.00.01.H53", state="locked"),  # VP UBND, locked by an admin
    agency("000.00.31.H53", host="downlink", peer="bencau"),  # district hub below
    agency("000.21.31.H53", host="downlink", peer="bencau"),  # commune under the district
    agency("000.20.31.H53", state="merged", successor_id="000.21.31.H53"),  # 2025 merger
    agency("000.12.31.H53", state="merged", successor_id="000.20.31.H53"),  # a chain of two
)
ALIASES = {"28.22.H17": "000.00.00.H17", "H53.31": "000.00.31.H53", "H53": "000.00.00.H53"}


def agency_key(organ_id: str) -> SigningKey:
    return SigningKey.from_pem_files(
        CERTS / f"agency-{organ_id}.key", CERTS / f"agency-{organ_id}.crt"
    )


def document(
    sender: str = "000.00.00.H53",
    to: Iterable[str] = ("000.00.31.H53",),
    *,
    number: str = "12",
    signed_by: SigningKey | None = None,
) -> bytes:
    """A fresh document package (composed with edxml), signed if asked."""
    package = new_document(
        sender=sender,
        recipients=to,
        subject="V/v thử nghiệm trục liên thông",
        code_number=number,
        code_notation="UBND-VP",
        signer="Nguyễn Văn A",
        now=NOW - dt.timedelta(hours=1),
    )
    tree = build_tree(package)
    if signed_by is not None:
        sign(tree, signed_by)
    return serialize(tree)


def submission(data: bytes, *senders: str, **fields: Any) -> Submission:
    return Submission(system_id="qlvb-1", senders=frozenset(senders), data=data, **fields)
