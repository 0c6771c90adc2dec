"""The directory snapshot: canonical spellings, aliases, immutability."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.core import Directory, GatewayError
from gateway.core.route import destination
from tests.gateway.core.factories import agency


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("000.00.00.H53", "000.00.00.H53"),
        (" 000.00.00.h53 ", "000.00.00.H53"),  # trimmed and folded like edxml.organ
        ("28.22.H17", "000.00.00.H17"),  # legacy alias
        ("28.22.h17", "000.00.00.H17"),
        ("H53", "000.00.00.H53"),  # QĐ 20 alias
        ("000.00.00.H99", None),
        ("not an organ id", None),
    ],
)
def test_resolve_follows_aliases(asked: str, found: str | None, directory: Directory) -> None:
    entry = directory.resolve(asked)
    assert (entry.organ_id if entry else None) == found
    assert (asked in directory) == (found is not None)


def test_canonical_keeps_unknown_ids_in_their_own_spelling(directory: Directory) -> None:
    assert directory.canonical("000.00.00.h99") == "000.00.00.H99"
    assert directory.canonical("vxp.saas.02") == "vxp.saas.02"  # sandbox ids are case-sensitive


def test_merges_are_not_followed_here(directory: Directory) -> None:
    entry = directory.resolve("000.20.31.H53")
    assert entry is not None and entry.state == "merged"


def test_an_alias_must_point_at_a_listed_agency() -> None:
    with pytest.raises(ValueError, match="not listed"):
        Directory([agency("000.00.00.H53")], {"28.22.H17": "000.00.00.H17"})


def test_the_snapshot_is_frozen(directory: Directory) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        directory._agencies = {}  # type: ignore[misc]
    assert len(directory) == len(list(directory))
    assert directory.aliases_of("000.00.00.H17") == ("28.22.H17",)


def test_compact_routes_exactly_like_the_full_directory(directory: Directory) -> None:
    extra = [
        agency("000.00.00.H99", host="uplink"),  # plain: dropped
        agency("000.00.00.H98", host="uplink", peer="other-axis"),  # own peer: kept
        agency("000.23.31.H53", host="uplink"),  # under the downlink district: kept
    ]
    full = Directory([*directory, *extra], {"28.22.H17": "000.00.00.H17"})
    small = full.compact()
    assert len(small) < len(full)
    assert small.resolve("000.00.00.H99") is None and small.resolve("000.23.31.H53") is not None
    probes = [a.organ_id for a in full] + ["28.22.H17", "000.22.31.H53", "000.00.00.G17"]
    for organ_id in probes:
        try:
            expected: object = destination(organ_id, full, "vdxp")
        except GatewayError as exc:
            expected = exc.code
        try:
            got: object = destination(organ_id, small, "vdxp")
        except GatewayError as exc:
            got = exc.code
        assert got == expected, organ_id


def test_canonical_id_is_remembered_for_short_ids_only() -> None:
    from gateway.core import directory as d

    d._canonical_cached.cache_clear()
    assert d.canonical_id(" 000.00.31.h53 ") == d.canonical_id("000.00.31.H53") == "000.00.31.H53"
    assert d._canonical_cached.cache_info().currsize == 2
    long = "x" * 500  # unparseable and long: answered, not remembered
    assert d.canonical_id(long + "  ") == long
    assert d._canonical_cached.cache_info().currsize == 2
