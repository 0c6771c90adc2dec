"""Parse agency identifiers ("mã định danh", edxml.md §3) and derive the hierarchy used for routing.

Every identifier seen in real traffic falls into one of five forms (:class:`OrganIdForm`):

============  ======================  ==========================================================
form          example                 reading
============  ======================  ==========================================================
``QCVN102``   ``000.12.31.H53``       ``V.Z.Y.M``, level 1 is the *rightmost* group (§3.1)
``LEGACY``    ``28.22.H17``           older right-anchored spellings: 1-3 digit groups, level 1
                                      last (§3.1 "legacy 3-group codes", lenient regex)
``QD20``      ``H37.DN.001``          QĐ 20/2020: level 1 is the *leftmost* group, groups
                                      develop left to right (§3.3)
``HUB``       ``00.53.W00``           a "mã trung tâm liên thông", a hub and not an agency (§3.1)
``OTHER``     ``vxp.saas.02``         sandbox and anything else the transport accepts
                                      (``^[0-9A-Za-z.]{1,35}$``); opaque, no hierarchy
============  ======================  ==========================================================

**Which way to read a code.** Both directions put the level-1 code (``G22``, ``H53``, ``TT2``) in
a letter-led group ``[A-Z][0-9A-Z]{2}``; the form is decided by where that group sits:

1. level-1 group *last* and every other group 2-3 digits (``000.12.31.H53``, ``28.22.H17``,
   ``31.H53``) → right to left: ``HUB`` if level 1 is ``W00``, ``QCVN102`` for the exact
   13-character shape, else ``LEGACY``. Case-insensitive, as these shapes cannot be mistaken for
   a sandbox name;
2. otherwise level-1 group *first* (``H37.02.02``, ``G22.10``, ``H53``) → ``QD20``. QĐ 20 allows
   upper case only (§3.3), so this test is case-sensitive: ``vxp.saas.02`` must not become an
   agency ``VXP``;
3. anything else the transport accepts is ``OTHER``.

Ambiguous cases, and how they fall: a lone ``H53`` reads the same both ways (``QD20``, level
1). When both ends are letter-led (``H37.02.G22``, ``ABC.02.H37``) rule 1 fails, because every
QCVN/legacy code seen has digit-only lower groups, and the code reads left to right as QĐ 20,
the current law. ``DN.02.H37`` (letters in a lower group, allowed by §3.1's lenient regex but
never observed) fits neither direction and is ``OTHER``. Lower-case ``h37.02.02`` is ``OTHER``.

**Hierarchy.** :attr:`OrganId.groups` lists groups level 1 first. In the right-to-left forms
zeros mean "not used" (§3.1): the unused deep levels are dropped, but a zero group *between*
used ones is kept as a placeholder, so ``001.00.20.TT2`` (appended by the axis, §3.1) is level 4
with groups ``("TT2", "20", "00", "001")``. Dropping it as well would give ``001.00.01.H53`` and
``000.01.01.H53`` the same groups. The level is the deepest non-zero group, as §3.1 says.

**Routing keys** are one key space for all agency forms: groups joined level 1 first, so
``000.00.31.H53`` and the QĐ 20 ``H53.31`` are both ``H53.31`` and a downlink hub binding
``H53.31.#`` receives the district and everything under it. Hubs and ``OTHER`` ids get keys under
the lower-case words ``hub.`` and ``other.``, which no agency key (upper case) can start with.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from edxml.errors import FormatError, define

__all__ = [
    "MAX_LENGTH",
    "ORGAN_ID_INVALID",
    "ORGAN_ID_MISSING",
    "ORGAN_ID_TOO_LONG",
    "OrganId",
    "OrganIdForm",
    "is_valid_organ_id",
    "parse_organ_id",
]

MAX_LENGTH = 35
"""QĐ 20/2020 caps a code at 35 characters (edxml.md §3.3); the transport accepts no more."""

ORGAN_ID_MISSING = define(
    "edxml.organ_id_missing",
    "Thiếu mã định danh cơ quan: giá trị rỗng hoặc chỉ là giá trị giữ chỗ {value}.",
    "The agency identifier is missing: empty or a placeholder {value}.",
)
ORGAN_ID_TOO_LONG = define(
    "edxml.organ_id_too_long",
    "Mã định danh cơ quan {value} dài hơn 35 ký tự.",
    "The agency identifier {value} is longer than 35 characters.",
)
ORGAN_ID_INVALID = define(
    "edxml.organ_id_invalid",
    "Mã định danh cơ quan {value} không đúng định dạng: chỉ được gồm chữ cái, chữ số và "
    "dấu chấm, không có nhóm rỗng.",
    "The agency identifier {value} is malformed: only letters, digits and dots are allowed, "
    "with no empty group.",
)

# A TraceHeader OrganId literally `null` has come back from the axis (edxml.md §5); these
# would otherwise pass the transport regex as sandbox ids.
_PLACEHOLDERS = frozenset({"", "null", "none", "nil", "undefined", "n/a"})

_LEVEL1 = r"[A-Z][0-9A-Z]{2}"
_HUB_LEVEL1 = "W00"
# Transport-level acceptance (edxml.md §3.1) minus empty groups, which no form has.
_TRANSPORT = re.compile(r"[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*")
_STRICT = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}")
_QCVN = re.compile(rf"[0-9]{{3}}\.[0-9]{{2}}\.[0-9]{{2}}\.{_LEVEL1}")
_RIGHT_ANCHORED = re.compile(rf"(?:[0-9]{{2,3}}\.){{1,3}}{_LEVEL1}")
_QD20 = re.compile(rf"{_LEVEL1}(?:\.[0-9A-Z]+)*")


class OrganIdForm(enum.Enum):
    """How an identifier is spelled, which decides how it is read (see the module docstring)."""

    QCVN102 = "qcvn102"
    QD20 = "qd20"
    HUB = "hub"
    LEGACY = "legacy"
    OTHER = "other"


_RIGHT_TO_LEFT = frozenset({OrganIdForm.QCVN102, OrganIdForm.LEGACY})
_AGENCY = _RIGHT_TO_LEFT | {OrganIdForm.QD20}


@dataclass(frozen=True, slots=True)
class OrganId:
    """A parsed agency identifier; build it with :func:`parse_organ_id`.

    ``groups`` runs from level 1 downward. Hubs and ``OTHER`` ids have no hierarchy: their one
    group is the whole canonical code.
    """

    raw: str
    form: OrganIdForm
    groups: tuple[str, ...]

    def __str__(self) -> str:
        return self.canonical

    @property
    def level(self) -> int:
        """1 for a top-level agency (``000.00.00.H53``, ``H53``), one more per level below."""
        return len(self.groups)

    @property
    def canonical(self) -> str:
        """The code in its own form's spelling, upper-cased unless it is an ``OTHER`` id.

        QCVN and legacy codes keep their visual, right-to-left form; they are not rewritten into
        QĐ 20 order because the directory lists both spellings as aliases (edxml.md §3.3).
        """
        # QĐ 20 codes are upper case already (rule 2); OTHER ids are case-sensitive.
        return self.raw if self.form is OrganIdForm.OTHER else self.raw.upper()

    @property
    def routing_key(self) -> str:
        """An AMQP topic routing key: ``H53.31.12`` for agencies, ``hub.…``/``other.…`` else."""
        if self.form in _AGENCY:
            return ".".join(self.groups)
        # "hub." or "other.": [0-9A-Za-z.] only and no empty word, so never a '*' or '#'.
        return f"{self.form.value}.{self.canonical}"

    @property
    def is_hub(self) -> bool:
        """A hub or system code (``…W00``), used as a systemId and hidden from agency pickers."""
        return self.form is OrganIdForm.HUB

    @property
    def parent(self) -> OrganId | None:
        """The agency one used level up, or ``None`` at level 1 and for hubs and ``OTHER``."""
        if self.form not in _AGENCY or self.level == 1:
            return None
        if self.form is OrganIdForm.QD20:
            # QĐ 20 groups develop left to right: drop the last one (edxml.md §3.3).
            return OrganId(".".join(self.groups[:-1]), self.form, self.groups[:-1])
        # QCVN 102: zero the leftmost non-zero group (edxml.md §3.1), keeping the widths so
        # that the parent is spelled as the directory spells it: 000.12.31.H53 → 000.00.31.H53.
        visual = self.canonical.split(".")
        i = next(i for i, group in enumerate(visual) if not _is_zero(group))
        visual[i] = "0" * len(visual[i])
        code = ".".join(visual)
        return OrganId(code, self.form, _right_to_left_groups(code))

    def ancestors(self) -> tuple[OrganId, ...]:
        """The parent chain, nearest first, ending at level 1; empty at level 1."""
        chain: list[OrganId] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return tuple(chain)

    def is_within(self, other: OrganId) -> bool:
        """Whether ``self`` is ``other`` or lies under it, across QCVN, legacy and QĐ 20 forms.

        This is the relation a ``<other.routing_key>.#`` binding implements.
        """
        if self.form in _AGENCY and other.form in _AGENCY:
            return self.groups[: other.level] == other.groups
        return self.routing_key == other.routing_key


def parse_organ_id(text: str, *, path: str = "") -> OrganId:
    """Parse and classify an identifier as it appears in ``From``, ``To`` or a TraceHeader.

    Surrounding whitespace is ignored. Raises :class:`~edxml.errors.FormatError` with
    ``edxml.organ_id_missing``, ``edxml.organ_id_too_long`` or ``edxml.organ_id_invalid``;
    ``path`` is the element path reported with it.
    """
    raw = text.strip()
    if raw.lower() in _PLACEHOLDERS:
        raise FormatError(ORGAN_ID_MISSING, path, value=_shown(raw))
    if len(raw) > MAX_LENGTH:
        raise FormatError(ORGAN_ID_TOO_LONG, path, value=_shown(raw))
    # ASCII only: str.isalnum() and re's \w would let Vietnamese letters through.
    if not raw.isascii() or _TRANSPORT.fullmatch(raw) is None:
        raise FormatError(ORGAN_ID_INVALID, path, value=_shown(raw))
    form = _classify(raw)
    if form in _RIGHT_TO_LEFT:
        groups = _right_to_left_groups(raw.upper())
    elif form is OrganIdForm.QD20:
        groups = tuple(raw.split("."))
    else:
        groups = (raw if form is OrganIdForm.OTHER else raw.upper(),)
    return OrganId(raw, form, groups)


def is_valid_organ_id(text: str, *, strict: bool = False) -> bool:
    """Whether :func:`parse_organ_id` accepts ``text``.

    With ``strict``, whether ``text`` is exactly a QCVN 102 code with a numeric level-1 part,
    ``^[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}$`` (edxml.md §3.1): no whitespace, no case
    folding, so ``001.00.20.TT2`` and ``00.53.W00`` are not strictly valid.
    """
    if strict:
        return _STRICT.fullmatch(text) is not None
    try:
        parse_organ_id(text)
    except FormatError:
        return False
    return True


def _classify(raw: str) -> OrganIdForm:
    # The order is the ambiguity rule of the module docstring; keep them in step.
    folded = raw.upper()
    if _RIGHT_ANCHORED.fullmatch(folded):
        if folded.endswith("." + _HUB_LEVEL1):
            return OrganIdForm.HUB
        return OrganIdForm.QCVN102 if _QCVN.fullmatch(folded) else OrganIdForm.LEGACY
    if _QD20.fullmatch(raw):
        return OrganIdForm.QD20
    return OrganIdForm.OTHER


def _right_to_left_groups(visual: str) -> tuple[str, ...]:
    """``000.12.31.H53`` → ``("H53", "31", "12")``: reversed, unused deep levels dropped."""
    groups = visual.split(".")[::-1]
    while len(groups) > 1 and _is_zero(groups[-1]):
        groups.pop()
    return tuple(groups)


def _is_zero(group: str) -> bool:
    return not group.strip("0")


def _shown(value: str) -> str:
    # repr() escapes control characters (no log injection); long junk is cut, not echoed whole.
    return repr(value if len(value) <= 48 else value[:45] + "...")
