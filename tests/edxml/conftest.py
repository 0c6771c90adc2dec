"""Fixtures shared by the edxml tests: the official VPCP sample packages."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "vpcp-official"


@pytest.fixture(scope="session")
def sample_bytes() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SAMPLES.glob("*.edxml"))}
