"""The uplink's configuration: the ``uplink_*`` settings as one frozen value, secret loaded.

An uplink is configured when ``uplink_url`` is set (``gateway/settings.py`` checks the rest at
load time); :meth:`UplinkConfig.from_settings` answers ``None`` otherwise, and the hub then runs
without one (a central axis, or a hub whose upstream is not connected yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.settings import ConfigError, Settings

__all__ = ["UplinkConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UplinkConfig:
    """Everything the uplink needs to know about its upstream axis (README "uplink")."""

    endpoint: str
    system_id: str
    secret: str = field(repr=False)
    #: The peer name this hub gives the upstream (``Settings.uplink_peer``): deliveries routed
    #: up carry it, packages downloaded from it are submitted under it.
    peer: str = "uplink"
    poll_seconds: float = 30.0
    concurrency: int = 8
    backoff_max_seconds: float = 60.0
    timeout_seconds: float = 60.0
    directory_sync_seconds: float = 86400.0
    register_agencies: bool = True
    #: How long a package waits in hand for a down upstream before it goes back to its queue
    #: (well under RabbitMQ's 30-minute consumer timeout for an unacknowledged message).
    hold_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> UplinkConfig | None:
        """The uplink of ``settings``, or ``None`` when ``uplink_url`` is empty."""
        if not settings.uplink_url:
            return None
        secret = settings.uplink_secret
        if settings.uplink_secret_file is not None:
            secret = _read_secret(settings.uplink_secret_file)
        return cls(
            endpoint=settings.uplink_url,
            system_id=settings.uplink_system_id or settings.hub_organ_id,
            secret=secret,
            peer=settings.uplink_peer,
            poll_seconds=settings.uplink_poll_seconds,
            concurrency=settings.uplink_concurrency,
            backoff_max_seconds=settings.uplink_backoff_max_seconds,
            timeout_seconds=settings.uplink_timeout_seconds,
            directory_sync_seconds=float(settings.uplink_directory_sync_seconds),
            register_agencies=settings.uplink_register_agencies,
            hold_seconds=settings.uplink_hold_seconds,
        )


def _read_secret(path: Path) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "uplink_secret_file", f"không đọc được {path}: {exc}", f"cannot read {path}: {exc}"
        ) from None
    if not secret:
        raise ConfigError("uplink_secret_file", f"{path} trống", f"{path} is empty")
    return secret
