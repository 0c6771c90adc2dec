"""The ordering rule for edXML business statuses: a pure, order-free fold into a progress row.

Statuses arrive late, duplicated, skipped and out of order (architecture §3.6), so the rule
is a *join*: folding the same set of events in any order gives the same :class:`Progress`.
That is what lets the store apply each event once, as it arrives, and never reject one.

- Level (edxml.md §2.3): 01 < 03 < 04 < 05 < 06, and 02 (rejected) is terminal and absorbs
  everything, whichever arrives first: a 03+ after 02 is a protocol error that the store keeps
  as an event but does not let move the level. ``level_at`` is the *first* time the level was
  reached (05 repeats).
- Change (the recall/update sub-protocol): 13 (requested) < 15 (accepted) | 16 (refused). Of
  two answers the later by status Timestamp wins (ties: 15 over 16, to stay deterministic), so a
  receiver who first refuses and later agrees ends as accepted. A 13 that arrives after an
  answer never re-opens the request: the event is stored, the answer stands.
- Any other code (07–12, 14, 0, -1) is stored by the caller and ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

__all__ = ["CHANGE_CODES", "LEVEL_CODES", "Progress", "advance", "normalise_code"]

# 02 ranks above everything: once rejected, nothing moves the level again.
_LEVEL_RANK = {"01": 1, "03": 3, "04": 4, "05": 5, "06": 6, "02": 100}
_CHANGE_RANK = {"13": 1, "15": 2, "16": 2}

LEVEL_CODES: frozenset[str] = frozenset(_LEVEL_RANK)
CHANGE_CODES: frozenset[str] = frozenset(_CHANGE_RANK)


@dataclass(frozen=True, slots=True)
class Progress:
    """What one recipient has done with one document, as far as the statuses tell."""

    level: str | None = None
    level_at: datetime | None = None
    change_state: str | None = None
    change_at: datetime | None = None


def normalise_code(code: str) -> str:
    """``"1"`` and ``" 01"`` mean ``"01"``: some systems drop the leading zero."""
    code = code.strip()
    return code.zfill(2) if code.isdigit() and len(code) == 1 else code


def advance(current: Progress, code: str, at: datetime) -> Progress:
    """Fold one status event (``code`` at status Timestamp ``at``) into ``current``."""
    code = normalise_code(code)
    if code in _LEVEL_RANK:
        return _advance_level(current, code, at)
    if code in _CHANGE_RANK:
        return _advance_change(current, code, at)
    return current


def _advance_level(p: Progress, code: str, at: datetime) -> Progress:
    if p.level is None or p.level_at is None:
        return replace(p, level=code, level_at=at)
    new, old = _LEVEL_RANK[code], _LEVEL_RANK[p.level]
    if new > old:
        return replace(p, level=code, level_at=at)
    if new == old and at < p.level_at:
        return replace(p, level_at=at)  # the same level, reached earlier than we knew
    return p


def _advance_change(p: Progress, code: str, at: datetime) -> Progress:
    if p.change_state is None or p.change_at is None:
        return replace(p, change_state=code, change_at=at)
    new, old = _CHANGE_RANK[code], _CHANGE_RANK[p.change_state]
    if new > old:
        return replace(p, change_state=code, change_at=at)
    if new == old == 1 and at < p.change_at:
        return replace(p, change_at=at)  # the first request is the one being answered
    # Two answers: the later one wins; "15" > "16" is false, so invert to prefer 15 on ties.
    if new == old == 2 and (at, code == "15") > (p.change_at, p.change_state == "15"):
        return replace(p, change_state=code, change_at=at)
    return p
