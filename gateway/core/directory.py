"""An immutable, in-memory snapshot of the agency directory that routing reads (architecture.md §4).

The shell builds a :class:`Directory` from the store (``list_agencies`` + aliases) or a
directory file (``gateway.dirfile``) and replaces the whole snapshot when the directory
changes; the core never sees a half-applied edit. Lookups spell organ ids the way
:mod:`edxml.organ` does (``canonical``: trimmed, upper-cased unless a sandbox id), so
``28.22.h17`` finds the alias ``28.22.H17``. Merges are *not* followed here: that is a routing
decision, traced by :mod:`gateway.core.route`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from edxml.errors import FormatError
from edxml.organ import OrganId, parse_organ_id
from gateway.store.base import Agency

__all__ = ["Directory", "canonical_id", "organ_or_none"]


def organ_or_none(organ_id: str) -> OrganId | None:
    """The parsed id, or ``None`` for something no form accepts (validation reports it)."""
    try:
        return parse_organ_id(organ_id)
    except FormatError:
        return None


def canonical_id(organ_id: str) -> str:
    """The spelling used as a key: edxml's canonical form, or the trimmed text if unparseable."""
    if len(organ_id) <= _CACHED_LENGTH:
        return _canonical_cached(organ_id)
    return _canonical(organ_id)


def _canonical(organ_id: str) -> str:
    organ = organ_or_none(organ_id)
    return organ.canonical if organ is not None else organ_id.strip()


# A pure function of a short string, asked several times per package (the sender's system,
# routing, the directory): remembered. Long inputs (only malformed ones) are not, so the
# cache stays small whatever a package carries.
_CACHED_LENGTH = 64
_canonical_cached = lru_cache(maxsize=8192)(_canonical)


@dataclass(frozen=True, slots=True, init=False)
class Directory:
    """Agencies by canonical organ id, and aliases (QĐ 20, legacy codes) → canonical id.

    Frozen and picklable (plain dicts inside, never handed out): treat it as a value.
    """

    _agencies: dict[str, Agency]
    _aliases: dict[str, str]

    def __init__(self, agencies: Iterable[Agency] = (), aliases: Mapping[str, str] | None = None):
        by_id = {canonical_id(a.organ_id): a for a in agencies}
        links: dict[str, str] = {}
        for alias, target in (aliases or {}).items():
            key = canonical_id(target)
            if key not in by_id:
                raise ValueError(f"alias {alias!r} points at {target!r}, which is not listed")
            links[canonical_id(alias)] = key
        object.__setattr__(self, "_agencies", by_id)
        object.__setattr__(self, "_aliases", links)

    def __len__(self) -> int:
        return len(self._agencies)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self._agencies.values())

    def __contains__(self, organ_id: object) -> bool:
        return isinstance(organ_id, str) and self.resolve(organ_id) is not None

    def canonical(self, organ_id: str) -> str:
        """The canonical id of ``organ_id`` through the aliases; its own spelling if unknown."""
        key = canonical_id(organ_id)
        return self._aliases.get(key, key)

    def resolve(self, organ_id: str) -> Agency | None:
        """The entry for a canonical id or an alias, ``None`` if unknown; merges not followed."""
        return self._agencies.get(self.canonical(organ_id))

    def compact(self) -> Directory:
        """The same routing decisions from fewer entries, for shipping to worker processes.

        A national directory (~120k agencies synced from the axis) pickles to megabytes, too
        much to send with every package to a process pool. Routing needs no entry for a plain
        uplink agency (active, no peer of its own, no alias or merger pointing at it, not under
        a downlink peer): an unknown id goes uplink just the same. What is left is this hub's
        own agencies, its peers' subtrees and the exceptions.
        """
        targets = set(self._aliases.values())
        targets |= {canonical_id(a.successor_id) for a in self if a.successor_id}
        keep = [
            a
            for key, a in self._agencies.items()
            if key in targets or not _plain_uplink(a) or self._under_downlink(key)
        ]
        return Directory(keep, self._aliases)

    def downlink_peer(self, organ_id: str) -> str | None:
        """The downlink peer hub that hosts ``organ_id``, or ``None``.

        The agency's own entry decides when it has one (a peer's agency, or local, or
        uplink); an agency this hub does not list belongs to the peer hosting its nearest
        listed ancestor, which is what the peer's ``<subtree>.#`` binding does with its mail.
        """
        agency = self.resolve(organ_id)
        if agency is not None:
            return agency.peer if agency.host == "downlink" else None
        organ = organ_or_none(self.canonical(organ_id))
        for ancestor in organ.ancestors() if organ is not None else ():
            above = self.resolve(ancestor.canonical)
            if above is not None:
                return above.peer if above.host == "downlink" else None
        return None

    def _under_downlink(self, key: str) -> bool:
        organ = organ_or_none(key)
        for ancestor in organ.ancestors() if organ is not None else ():
            above = self._agencies.get(ancestor.canonical)
            if above is not None and above.host == "downlink":
                return True
        return False

    @property
    def fingerprint(self) -> str:
        """A digest of every entry and alias: equal fingerprints, equal routing."""
        text = repr((sorted(self._agencies.items()), sorted(self._aliases.items())))
        return hashlib.sha256(text.encode()).hexdigest()

    def aliases_of(self, organ_id: str) -> tuple[str, ...]:
        key = self.canonical(organ_id)
        return tuple(sorted(alias for alias, target in self._aliases.items() if target == key))


def _plain_uplink(agency: Agency) -> bool:
    return agency.host == "uplink" and agency.state == "active" and agency.peer is None
