"""Reading a directory of agencies from a TOML or CSV file, ready to load into the store.

An administrator describes agencies by code and name; everything that follows from the code —
level, parent, the canonical spelling — is derived with :mod:`edxml.organ` rather than typed
in (architecture.md §4). Aliases (QĐ 20 codes, legacy 3-group codes) map to the canonical
entry. ``host`` says who delivers: ``local`` (this hub), ``downlink`` (a hub below, named by
``peer``) or ``uplink`` (the default for anything not listed).
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edxml.errors import FormatError
from edxml.organ import parse_organ_id
from gateway.store.base import Agency

__all__ = ["DirectoryError", "DirectoryFile", "load_directory"]

_HOSTS = ("local", "downlink", "uplink")
_STATES = ("active", "locked", "merged")


class DirectoryError(Exception):
    """A directory file that cannot be loaded; names the file, the entry and the reason."""

    code = "directory.invalid"


@dataclass(frozen=True, slots=True)
class DirectoryFile:
    hub_organ_id: str | None
    hub_name: str | None
    agencies: tuple[Agency, ...]
    #: alias → canonical organ id
    aliases: Mapping[str, str]


def _entry(raw: Mapping[str, Any], where: str, default_host: str) -> tuple[Agency, list[str]]:
    code = str(raw.get("organ_id", "")).strip()
    try:
        organ = parse_organ_id(code, path=where)
    except FormatError as exc:
        raise DirectoryError(f"{where}: {exc.message_en} / {exc.message_vi}") from None
    name = str(raw.get("name", "")).strip()
    if not name:
        raise DirectoryError(f"{where}: agency {code} has no name / thiếu tên cơ quan")
    host = str(raw.get("host", default_host))
    state = str(raw.get("state", "active"))
    if host not in _HOSTS:
        raise DirectoryError(f"{where}: host must be one of {_HOSTS}, not {host!r}")
    if state not in _STATES:
        raise DirectoryError(f"{where}: state must be one of {_STATES}, not {state!r}")
    if host == "downlink" and not raw.get("peer"):
        raise DirectoryError(f"{where}: a downlink agency names its peer hub / thiếu peer")
    successor = raw.get("successor_id")
    if state == "merged" and not successor:
        raise DirectoryError(f"{where}: a merged agency names its successor_id")
    aliases = raw.get("aliases", [])
    if isinstance(aliases, str):
        aliases = [a for a in aliases.replace(",", ";").split(";")]
    agency = Agency(
        organ_id=organ.canonical,
        name=name,
        level=organ.level,
        parent_id=organ.parent.canonical if organ.parent else None,
        host=host,  # type: ignore[arg-type]
        peer=str(raw["peer"]) if raw.get("peer") else None,
        state=state,  # type: ignore[arg-type]
        successor_id=str(successor) if successor else None,
        delivery_mode=str(raw["delivery_mode"]) if raw.get("delivery_mode") else None,
    )
    return agency, [str(a).strip() for a in aliases if str(a).strip()]


def _build(
    entries: Iterable[tuple[Mapping[str, Any], str]],
    source: str,
    hub: Mapping[str, Any],
    default_host: str,
) -> DirectoryFile:
    agencies: dict[str, Agency] = {}
    aliases: dict[str, str] = {}
    for raw, where in entries:
        agency, names = _entry(raw, where, default_host)
        if agency.organ_id in agencies:
            raise DirectoryError(f"{where}: {agency.organ_id} is listed twice / bị lặp")
        agencies[agency.organ_id] = agency
        for alias in names:
            canonical = parse_organ_id(alias, path=where).canonical
            if aliases.get(canonical, agency.organ_id) != agency.organ_id:
                raise DirectoryError(f"{where}: alias {alias} already names {aliases[canonical]}")
            aliases[canonical] = agency.organ_id
    clash = set(aliases) & set(agencies)
    if clash:
        raise DirectoryError(f"{source}: codes used both as agency and alias: {sorted(clash)}")
    for agency in agencies.values():  # successors must exist, or mail would vanish
        if agency.successor_id and agency.successor_id not in agencies:
            raise DirectoryError(
                f"{source}: {agency.organ_id} is merged into unknown {agency.successor_id}"
            )
    return DirectoryFile(
        hub_organ_id=str(hub["organ_id"]) if hub.get("organ_id") else None,
        hub_name=str(hub["name"]) if hub.get("name") else None,
        agencies=tuple(agencies.values()),
        aliases=aliases,
    )


def load_directory(path: str | Path, *, default_host: str = "local") -> DirectoryFile:
    """Load ``.toml`` (``[hub]`` plus ``[[agency]]`` tables) or ``.csv`` (a header row with
    ``organ_id,name`` and optional ``host,peer,state,successor_id,delivery_mode,aliases``;
    aliases separated by ``;``). Agencies without ``host`` get ``default_host``."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
            entries = [(row, f"{path.name}:{i}") for i, row in enumerate(rows, 2)]
            return _build(entries, path.name, {}, default_host)
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, csv.Error) as exc:
        raise DirectoryError(f"{path}: {exc}") from None
    items = data.get("agency", [])
    entries = [(item, f"{path.name} agency[{i}]") for i, item in enumerate(items, 1)]
    return _build(entries, path.name, data.get("hub", {}), default_host)
