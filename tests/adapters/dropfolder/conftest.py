"""Fixtures of the drop-folder tests: drop-folder trees for the systems of a real gateway
(``served``, from ``tests/adapters/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.sdk.fixtures import CERTS, SYSTEMS, Served

Tree = Callable[..., Path]


def write_config(served: Served, system: str, root: Path, **settings: Any) -> Path:
    """A dropfolder.toml for ``system`` with its token, dev keys and the pinned hub cert."""
    keys = [a for a in SYSTEMS[system] if (CERTS / f"agency-{a}.key").exists()]
    values: dict[str, Any] = {
        "root": str(root),
        "poll_seconds": 0.05,
        "settle_seconds": 0,
        "retry_max_seconds": 0.2,
        **settings,
    }
    lines = [f"{k} = {_toml(v)}" for k, v in values.items()]
    lines += [
        "",
        "[gateway]",
        f'url = "{served.url}"',
        f'token = "{served.token(system)}"',
        f'hub_certificate = "{CERTS / "gateway.crt"}"',
        "retries = 1",
        "backoff = 0.05",
        "signing_keys = ["
        + ", ".join(
            f'{{ key_file = "{CERTS / f"agency-{a}.key"}", cert_file = "{CERTS / f"agency-{a}.crt"}" }}'  # noqa: E501
            for a in keys
        )
        + "]",
    ]
    path = root.parent / f"{root.name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def tree(served: Served, tmp_path: Path) -> Tree:
    """``tree("xa", **settings)`` → the path of a config file for a fresh drop-folder root."""

    def make(system: str, name: str | None = None, **settings: Any) -> Path:
        root = tmp_path / (name or system)
        root.mkdir()
        return write_config(served, system, root, **settings)

    return make
