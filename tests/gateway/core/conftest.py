"""Fixtures for the core tests: the dev PKI as Keys, the demo directory, a fixed clock and ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.core import Context, CountingIds, Directory, Keys
from tests.gateway.core.factories import AGENCIES, ALIASES, CERTS, HUB, NOW, SAMPLES


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SAMPLES.glob("*.edxml"))}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.from_files(
        key_file=CERTS / "gateway.key",
        cert_file=CERTS / "gateway.crt",
        ca_files=[CERTS / "ca.crt"],
        crl_files=[CERTS / "ca.crl"],
    )


@pytest.fixture(scope="session")
def directory() -> Directory:
    return Directory(AGENCIES, ALIASES)


@pytest.fixture
def make_ctx(keys: Keys, directory: Directory) -> Callable[..., Context]:
    def make(**fields: Any) -> Context:
        values: dict[str, Any] = {
            "node": "node-1",
            "hub_organ_id": HUB,
            "keys": keys,
            "directory": directory,
            "now": NOW,
            "ids": CountingIds("id"),
            "uplink_peer": "vdxp",
        }
        values.update(fields)
        return Context(**values)

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., Context]) -> Context:
    return make_ctx()
