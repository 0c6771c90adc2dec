"""Agency identifiers: every form of edxml.md §3, its hierarchy and its routing key."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edxml.errors import Code, FormatError
from edxml.organ import (
    MAX_LENGTH,
    ORGAN_ID_INVALID,
    ORGAN_ID_MISSING,
    ORGAN_ID_TOO_LONG,
    OrganIdForm,
    is_valid_organ_id,
    parse_organ_id,
)

QCVN = OrganIdForm.QCVN102
QD20 = OrganIdForm.QD20
HUB = OrganIdForm.HUB
LEGACY = OrganIdForm.LEGACY
OTHER = OrganIdForm.OTHER

# text, form, groups (level 1 first), canonical, routing key, parent's canonical
PARSED = [
    # The Tây Ninh directory of edxml.md §3.1, with its levels and parents.
    ("000.00.00.H53", QCVN, ("H53",), "000.00.00.H53", "H53", None),
    ("000.00.01.H53", QCVN, ("H53", "01"), "000.00.01.H53", "H53.01", "000.00.00.H53"),
    ("000.00.11.H53", QCVN, ("H53", "11"), "000.00.11.H53", "H53.11", "000.00.00.H53"),
    ("000.00.31.H53", QCVN, ("H53", "31"), "000.00.31.H53", "H53.31", "000.00.00.H53"),
    ("000.01.01.H53", QCVN, ("H53", "01", "01"), "000.01.01.H53", "H53.01.01", "000.00.01.H53"),
    ("000.12.31.H53", QCVN, ("H53", "31", "12"), "000.12.31.H53", "H53.31.12", "000.00.31.H53"),
    ("000.20.31.H53", QCVN, ("H53", "31", "20"), "000.20.31.H53", "H53.31.20", "000.00.31.H53"),
    ("000.21.31.H53", QCVN, ("H53", "31", "21"), "000.21.31.H53", "H53.31.21", "000.00.31.H53"),
    (
        "001.01.07.H53",
        QCVN,
        ("H53", "07", "01", "001"),
        "001.01.07.H53",
        "H53.07.01.001",
        "000.01.07.H53",
    ),
    # Non-numeric level-1 parts; the axis's own code skips level 3, and the gap is kept.
    (
        "001.00.20.TT2",
        QCVN,
        ("TT2", "20", "00", "001"),
        "001.00.20.TT2",
        "TT2.20.00.001",
        "000.00.20.TT2",
    ),
    (
        "001.00.20.JB2",
        QCVN,
        ("JB2", "20", "00", "001"),
        "001.00.20.JB2",
        "JB2.20.00.001",
        "000.00.20.JB2",
    ),
    (
        "777.77.01.D77",
        QCVN,
        ("D77", "01", "77", "777"),
        "777.77.01.D77",
        "D77.01.77.777",
        "000.77.01.D77",
    ),
    ("000.00.00.G22", QCVN, ("G22",), "000.00.00.G22", "G22", None),
    # QCVN shapes are read case-insensitively and surrounding whitespace is dropped.
    ("000.12.31.h53", QCVN, ("H53", "31", "12"), "000.12.31.H53", "H53.31.12", "000.00.31.H53"),
    (" 000.00.31.H53\n", QCVN, ("H53", "31"), "000.00.31.H53", "H53.31", "000.00.00.H53"),
    # Hubs: no hierarchy, keys outside the agency key space.
    ("00.53.W00", HUB, ("00.53.W00",), "00.53.W00", "hub.00.53.W00", None),
    ("00.36.W00", HUB, ("00.36.W00",), "00.36.W00", "hub.00.36.W00", None),
    ("00.22.w00", HUB, ("00.22.W00",), "00.22.W00", "hub.00.22.W00", None),
    # Legacy right-to-left codes.
    ("28.22.H17", LEGACY, ("H17", "22", "28"), "28.22.H17", "H17.22.28", "00.22.H17"),
    ("01.02.G22", LEGACY, ("G22", "02", "01"), "01.02.G22", "G22.02.01", "00.02.G22"),
    ("00.22.H17", LEGACY, ("H17", "22"), "00.22.H17", "H17.22", "00.00.H17"),
    ("00.00.H17", LEGACY, ("H17",), "00.00.H17", "H17", None),
    ("31.H53", LEGACY, ("H53", "31"), "31.H53", "H53.31", "00.H53"),
    # QĐ 20/2020: level 1 first.
    ("H37.02.02", QD20, ("H37", "02", "02"), "H37.02.02", "H37.02.02", "H37.02"),
    ("H37.DN.001", QD20, ("H37", "DN", "001"), "H37.DN.001", "H37.DN.001", "H37.DN"),
    ("G22.10", QD20, ("G22", "10"), "G22.10", "G22.10", "G22"),
    ("H53", QD20, ("H53",), "H53", "H53", None),
    # Sandbox and other transport-acceptable ids: opaque, case kept.
    ("vxp.saas.02", OTHER, ("vxp.saas.02",), "vxp.saas.02", "other.vxp.saas.02", None),
    ("vxp.saas.03", OTHER, ("vxp.saas.03",), "vxp.saas.03", "other.vxp.saas.03", None),
    ("h37.02.02", OTHER, ("h37.02.02",), "h37.02.02", "other.h37.02.02", None),
    ("0101234567", OTHER, ("0101234567",), "0101234567", "other.0101234567", None),
]


@pytest.mark.parametrize(
    ("text", "form", "groups", "canonical", "routing_key", "parent"),
    PARSED,
    ids=[repr(case[0]) for case in PARSED],
)
def test_parse(
    text: str,
    form: OrganIdForm,
    groups: tuple[str, ...],
    canonical: str,
    routing_key: str,
    parent: str | None,
) -> None:
    organ = parse_organ_id(text)
    assert organ.raw == text.strip()
    assert organ.form is form
    assert organ.groups == groups
    assert organ.level == len(groups)
    assert organ.canonical == canonical
    assert str(organ) == canonical
    assert organ.routing_key == routing_key
    assert organ.is_hub is (form is HUB)
    if parent is None:
        assert organ.parent is None
        assert organ.ancestors() == ()
    else:
        assert organ.parent is not None
        assert organ.parent.canonical == parent
        # A derived parent is exactly what parsing its spelling gives.
        assert organ.parent == parse_organ_id(parent)
        assert organ.parent.level < organ.level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # The "Level" column of the Tây Ninh table, edxml.md §3.1.
        ("000.00.00.H53", 1),
        ("000.00.01.H53", 2),
        ("000.00.11.H53", 2),
        ("000.00.31.H53", 2),
        ("000.01.01.H53", 3),
        ("000.12.31.H53", 3),
        ("000.20.31.H53", 3),
        ("000.21.31.H53", 3),
        ("001.01.07.H53", 4),
        # Level = the deepest non-zero group, even across an unused level.
        ("001.00.20.TT2", 4),
    ],
)
def test_level_is_deepest_non_zero_group(text: str, level: int) -> None:
    assert parse_organ_id(text).level == level


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        ("000.12.31.H53", ("000.00.31.H53", "000.00.00.H53")),
        ("001.01.07.H53", ("000.01.07.H53", "000.00.07.H53", "000.00.00.H53")),
        # The unused level 3 is skipped: its parent is level 2, not a level-3 "00".
        ("001.00.20.TT2", ("000.00.20.TT2", "000.00.00.TT2")),
        ("28.22.H17", ("00.22.H17", "00.00.H17")),
        ("H37.DN.001", ("H37.DN", "H37")),
        ("000.00.00.H53", ()),
        ("00.53.W00", ()),
        ("vxp.saas.02", ()),
    ],
)
def test_ancestors(text: str, chain: tuple[str, ...]) -> None:
    assert tuple(a.canonical for a in parse_organ_id(text).ancestors()) == chain


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("28.22.H17", LEGACY),  # level-1 group last, digits before: right to left
        ("H37.02.02", QD20),  # level-1 group first: left to right
        ("H53", QD20),  # reads the same both ways
        ("H37.02.G22", QD20),  # letter-led at both ends: QĐ 20 wins
        ("ABC.02.H37", QD20),
        ("DN.02.H37", OTHER),  # letters in a lower group: neither direction
        ("H370.02", OTHER),  # a level-1 group is exactly three characters
        ("000.00.53.W00", HUB),  # any right-anchored code with level 1 W00
        ("00.53.W00", HUB),  # not LEGACY, though it has the legacy shape
        ("vxp.saas.02", OTHER),  # lower case never reads as QĐ 20 "VXP"
    ],
)
def test_form_ambiguity_rule(text: str, form: OrganIdForm) -> None:
    assert parse_organ_id(text).form is form


@pytest.mark.parametrize(
    ("qcvn", "qd20"),
    [
        ("000.00.00.H53", "H53"),
        ("000.00.31.H53", "H53.31"),
        ("000.12.31.H53", "H53.31.12"),
        ("001.01.07.H53", "H53.07.01.001"),
        ("000.00.00.G22", "G22"),
        ("28.22.H17", "H17.22.28"),
    ],
)
def test_qcvn_and_qd20_spellings_share_routing_key(qcvn: str, qd20: str) -> None:
    old, new = parse_organ_id(qcvn), parse_organ_id(qd20)
    assert old.form is not new.form
    assert old.routing_key == new.routing_key
    assert old.is_within(new)
    assert new.is_within(old)


@pytest.mark.parametrize(
    ("child", "ancestor", "expected"),
    [
        ("000.12.31.H53", "000.12.31.H53", True),
        ("000.12.31.H53", "000.00.31.H53", True),
        ("000.12.31.H53", "000.00.00.H53", True),
        ("000.12.31.H53", "H53.31", True),  # across forms: one key space
        ("H53.31.12", "000.00.31.H53", True),
        ("000.00.31.H53", "000.12.31.H53", False),  # a parent is not within its child
        ("000.12.31.H53", "000.00.01.H53", False),  # a sibling branch
        ("000.12.31.H53", "000.00.00.H37", False),  # another province
        ("000.01.01.H53", "001.00.01.H53", False),  # the kept zero group keeps them apart
        ("00.53.W00", "00.53.W00", True),
        ("00.53.W00", "000.00.00.H53", False),  # a hub is not inside an agency
        ("000.00.00.H53", "00.53.W00", False),
        ("vxp.saas.02", "vxp.saas.02", True),
        ("vxp.saas.02", "vxp.saas.03", False),
        ("vxp.saas.02", "VXP", False),  # not the QĐ 20 agency "VXP"
    ],
)
def test_is_within(child: str, ancestor: str, expected: bool) -> None:
    assert parse_organ_id(child).is_within(parse_organ_id(ancestor)) is expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ORGAN_ID_MISSING),
        ("   ", ORGAN_ID_MISSING),
        ("null", ORGAN_ID_MISSING),  # a TraceHeader OrganId returned by the axis, §5
        ("NULL", ORGAN_ID_MISSING),
        ("None", ORGAN_ID_MISSING),
        ("N/A", ORGAN_ID_MISSING),
        ("A" * (MAX_LENGTH + 1), ORGAN_ID_TOO_LONG),
        ("000.00.00.H53." + "0" * 30, ORGAN_ID_TOO_LONG),
        ("000.00.31 .H53", ORGAN_ID_INVALID),
        ("000 00 31 H53", ORGAN_ID_INVALID),
        ("000.00..H53", ORGAN_ID_INVALID),
        (".H53", ORGAN_ID_INVALID),
        ("H53.", ORGAN_ID_INVALID),
        ("H53-01", ORGAN_ID_INVALID),
        ("H53*", ORGAN_ID_INVALID),
        ("H53.#", ORGAN_ID_INVALID),
        ("Sở.TC", ORGAN_ID_INVALID),
        ("Ｈ53", ORGAN_ID_INVALID),  # full-width letter
        ("000.00.31.H53;DROP", ORGAN_ID_INVALID),
    ],
)
def test_invalid(text: str, code: Code) -> None:
    with pytest.raises(FormatError) as info:
        parse_organ_id(text, path="/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId")
    assert info.value.code == code.code
    assert info.value.path == "/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId"
    assert not is_valid_organ_id(text)


def test_error_messages_name_the_value_bilingually() -> None:
    with pytest.raises(FormatError) as info:
        parse_organ_id("H53\n.01")
    assert info.value.code == "edxml.organ_id_invalid"
    # repr(): a newline in the value cannot forge a log line.
    assert "'H53\\n.01'" in info.value.message_en
    assert "'H53\\n.01'" in info.value.message_vi
    assert info.value.message_vi.startswith("Mã định danh cơ quan")


def test_error_message_cuts_long_values() -> None:
    with pytest.raises(FormatError) as info:
        parse_organ_id("X" * 10_000)
    assert info.value.code == "edxml.organ_id_too_long"
    assert len(info.value.message_en) < 200


@pytest.mark.parametrize(
    ("text", "strict", "expected"),
    [
        ("000.00.31.H53", True, True),
        ("000.00.31.H53", False, True),
        ("001.00.20.TT2", True, False),  # non-numeric level 1
        ("001.00.20.TT2", False, True),
        ("00.53.W00", True, False),
        ("00.53.W00", False, True),
        ("H37.02.02", True, False),
        ("H37.02.02", False, True),
        ("vxp.saas.02", True, False),
        ("vxp.saas.02", False, True),
        ("000.00.31.h53", True, False),  # strict: no case folding
        (" 000.00.31.H53", True, False),  # strict: no whitespace
        ("000.00.31.H53\n", True, False),  # fullmatch, not `$`
        ("null", False, False),
        ("", False, False),
    ],
)
def test_is_valid_organ_id(text: str, strict: bool, expected: bool) -> None:
    assert is_valid_organ_id(text, strict=strict) is expected


@pytest.mark.parametrize("text", [case[0] for case in PARSED])
def test_routing_keys_are_amqp_safe(text: str) -> None:
    organ = parse_organ_id(text)
    key = organ.routing_key
    assert "*" not in key
    assert "#" not in key
    assert all(key.split("."))
    assert len(key.encode()) <= 255
    # Hub and OTHER keys start with a lower-case word no agency key can start with.
    assert (key[0].islower()) is (organ.form in {HUB, OTHER})


# --- properties -------------------------------------------------------------------------------

LEVEL1 = st.from_regex(r"[A-Z][0-9A-Z]{2}", fullmatch=True).filter(lambda g: g != "W00")


def _digits(width: int) -> st.SearchStrategy[str]:
    return st.from_regex(rf"[0-9]{{{width}}}", fullmatch=True)


QCVN_CODES = st.builds(
    lambda v, z, y, m: f"{v}.{z}.{y}.{m}", _digits(3), _digits(2), _digits(2), LEVEL1
)
LEGACY_CODES = st.builds(lambda z, y, m: f"{z}.{y}.{m}", _digits(2), _digits(2), LEVEL1)
QD20_CODES = st.builds(
    lambda first, rest: ".".join([first, *rest]),
    LEVEL1,
    st.lists(st.from_regex(r"[0-9A-Z]{1,4}", fullmatch=True), max_size=7),
).filter(lambda code: len(code) <= 35)  # QĐ 20 caps codes at 35 characters
AGENCY_CODES = st.one_of(QCVN_CODES, LEGACY_CODES, QD20_CODES)


@settings(database=None)
@given(AGENCY_CODES)
def test_parent_chain_ends_at_level_1_and_contains_self(text: str) -> None:
    organ = parse_organ_id(text)
    chain = organ.ancestors()
    levels = [organ.level, *(a.level for a in chain)]
    assert levels == sorted(levels, reverse=True)
    assert len(set(levels)) == len(levels)  # strictly decreasing
    assert (chain[-1] if chain else organ).level == 1
    assert (chain[-1] if chain else organ).groups == organ.groups[:1]
    for ancestor in chain:
        assert ancestor.form is organ.form
        assert organ.is_within(ancestor)
        assert not ancestor.is_within(organ)
        assert organ.routing_key.startswith(ancestor.routing_key + ".")
        assert parse_organ_id(ancestor.canonical) == ancestor


@settings(database=None)
@given(st.one_of(QCVN_CODES, LEGACY_CODES), st.booleans())
def test_right_to_left_codes_fold_case(text: str, lower: bool) -> None:
    organ = parse_organ_id(text.lower() if lower else text)
    assert organ.canonical == text
    assert parse_organ_id(organ.canonical).groups == organ.groups


@settings(database=None)
@given(QD20_CODES)
def test_qd20_codes_are_case_sensitive(text: str) -> None:
    assert parse_organ_id(text).form is QD20
    assert parse_organ_id(text.lower()).form is OTHER


@settings(database=None)
@given(st.text(max_size=40))
def test_anything_parses_or_raises_format_error(text: str) -> None:
    if not is_valid_organ_id(text):
        with pytest.raises(FormatError) as info:
            parse_organ_id(text)
        assert info.value.code in {
            ORGAN_ID_MISSING.code,
            ORGAN_ID_TOO_LONG.code,
            ORGAN_ID_INVALID.code,
        }
        return
    organ = parse_organ_id(text)
    assert organ.level >= 1
    assert re.fullmatch(r"[0-9A-Za-z.]{1,35}", organ.raw)
    assert "*" not in organ.routing_key
    assert "#" not in organ.routing_key
