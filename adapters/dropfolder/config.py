"""The drop folder's configuration: one TOML file, read once into a frozen value.

::

    root = "/srv/qlvb/edxgw"            # outbox/ sent/ failed/ inbox/ status/ and .edxgw/ inside
    poll_seconds = 5                    # how often outbox/, status/ and the inbox are looked at
    settle_seconds = 2                  # a dropped file is taken once unchanged this long
    organs = ["000.21.31.H53"]          # whose inboxes to read (default: all of the system's)
    send_received_status = true         # answer 01 "Đã đến" for each document put in inbox/
    sign_edxml = false                  # sign dropped .edxml packages that carry no signature
    receive = true                      # read the inbox (false: a send-only drop folder)

    [gateway]                           # the SDK's settings (adapters.sdk.config)
    url = "https://truc.tayninh.gov.vn"
    token_file = "token.txt"            # relative paths are from this file's folder
    hub_certificate = "hub.crt"
    signing_keys = [{ key_file = "agency.key", cert_file = "agency.crt" }]

Without a ``[gateway]`` table, the ``EDXGW_*`` environment variables are used
(:meth:`adapters.sdk.ClientConfig.from_env`). Every folder must be on the same file system
as ``root`` (renames are the commit points): :func:`check_folders` says so at start-up.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.sdk import ClientConfig, UsageError

__all__ = ["FOLDERS", "DropFolderConfig", "check_folders"]

#: The folders under ``root``; their names are part of the contract with the legacy system.
FOLDERS = ("outbox", "sent", "failed", "inbox", "status")


@dataclass(frozen=True, slots=True, kw_only=True)
class DropFolderConfig:
    root: Path
    client: ClientConfig
    organs: tuple[str, ...] = ()
    poll_seconds: float = 5.0
    settle_seconds: float = 2.0
    send_received_status: bool = True
    sign_edxml: bool = False
    receive: bool = True
    #: The longest wait between two attempts at a package the gateway could not take yet.
    retry_max_seconds: float = 300.0

    def folder(self, name: str) -> Path:
        return self.root / name

    @property
    def state_dir(self) -> Path:
        """The daemon's own state (journal, work and tmp folders): hidden, same file system."""
        return self.root / ".edxgw"

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, base: Path, env: Mapping[str, str]
    ) -> DropFolderConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "client"} | {"gateway"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(
                f"unknown drop-folder settings: {', '.join(unknown)}",
                f"thiết lập thư mục trao đổi không hợp lệ: {', '.join(unknown)}",
            )
        if "root" not in values:
            raise UsageError("root is required", "thiếu root (thư mục gốc)")
        gateway = values.get("gateway")
        if gateway is None:
            client = ClientConfig.from_env(env)
        elif isinstance(gateway, Mapping):
            client = ClientConfig.from_mapping(gateway, base=base)
        else:
            raise UsageError("[gateway] must be a table", "[gateway] phải là một bảng")
        root = Path(str(values["root"])).expanduser()
        organs = values.get("organs", [])
        if not isinstance(organs, list) or not all(isinstance(o, str) for o in organs):
            raise UsageError(
                "organs must be a list of organ ids", "organs phải là danh sách mã đơn vị"
            )
        try:
            return cls(
                root=root if root.is_absolute() else base / root,
                client=client,
                organs=tuple(organs),
                poll_seconds=float(values.get("poll_seconds", 5.0)),
                settle_seconds=float(values.get("settle_seconds", 2.0)),
                send_received_status=_bool(values.get("send_received_status", True)),
                sign_edxml=_bool(values.get("sign_edxml", False)),
                receive=_bool(values.get("receive", True)),
                retry_max_seconds=float(values.get("retry_max_seconds", 300.0)),
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"bad drop-folder setting: {exc}", f"thiết lập không hợp lệ: {exc}"
            ) from exc

    @classmethod
    def from_file(cls, path: Path, env: Mapping[str, str]) -> DropFolderConfig:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc}", f"không đọc được {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(
                f"{path} is not valid TOML: {exc}", f"{path} không phải TOML hợp lệ: {exc}"
            ) from exc
        return cls.from_mapping(values, base=path.resolve().parent, env=env)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, not {value!r}")


def check_folders(config: DropFolderConfig) -> None:
    """Create the folders and refuse a layout whose renames could not be atomic."""
    state = config.state_dir
    for sub in ("work", "tmp", "packages"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    device = os.stat(state).st_dev
    for name in FOLDERS:
        path = config.folder(name)
        path.mkdir(parents=True, exist_ok=True)
        if os.stat(path).st_dev != device:
            raise UsageError(
                f"{path} is on another file system than {state}: renames would not be atomic",
                f"{path} nằm trên hệ thống tệp khác với {state}: không thể đổi tên nguyên tử",
            )
