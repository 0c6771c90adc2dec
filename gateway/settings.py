"""The gateway's configuration, read once from a TOML file and the environment into one value.

Nothing else in the gateway reads ``os.environ``: the entry point passes ``os.environ`` (tests
pass a dict) to :meth:`Settings.load`. Precedence: built-in defaults < TOML file < environment
variables ``EDXGW_<KEY>`` (upper case, ``.`` of nested keys as ``__``). The defaults run a demo
hub with nothing configured: SQLite and blobs under ``./var/``, RabbitMQ on localhost, the
development certificates of ``certs/dev/`` and the demo directory — and in production mode
(``production = true``) the gateway refuses to start with any of that development material.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edxml.trust import is_development_certificate, load_certificates

__all__ = ["ConfigError", "Settings"]

_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIRECTORY = Path(__file__).resolve().parent / "data" / "demo-directory.toml"
DEV_CERTS = _ROOT / "certs" / "dev"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why (bilingual)."""

    code = "config.invalid"

    def __init__(self, key: str, vi: str, en: str) -> None:
        self.key = key
        super().__init__(f"{key}: {en} / {vi}")


#: The most ``inline_package_bytes`` may be: a row, not a file, is read whole into memory.
_INLINE_MAX = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, with the defaults of a local demo hub."""

    #: This hub's own code (a hub ``W00`` code or an agency code): its TraceHeaders and seals.
    hub_organ_id: str = "00.53.W00"
    #: Name of this process among the nodes of one hub (trace events, outbox leases).
    node: str = "node-1"
    production: bool = False
    #: ``sqlite:///var/edxgw.db`` (relative to the working directory) or ``postgresql://...``.
    store_dsn: str = "sqlite:///var/edxgw.db"
    blob_dir: Path = Path("var/blobs")
    #: Large request bodies wait here while they are processed (node-local, not shared).
    spool_dir: Path = Path("var/spool")
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    #: Prefix of every exchange and queue this hub declares (several hubs can share a broker).
    amqp_prefix: str = "edxgw"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    key_file: Path = DEV_CERTS / "gateway.key"
    cert_file: Path = DEV_CERTS / "gateway.crt"
    ca_files: tuple[Path, ...] = (DEV_CERTS / "ca.crt",)
    crl_files: tuple[Path, ...] = (DEV_CERTS / "ca.crl",)
    directory_file: Path | None = DEMO_DIRECTORY
    #: Defaults for agency systems that do not set their own policy.
    validation_mode: str = "lenient"
    signature_policy: str = "lenient"
    max_package_bytes: int = 64 * 1024 * 1024
    #: Sealed packages of this many bytes or fewer are kept in the store, committed with the
    #: package itself (no blob file to create and fsync); bigger ones are blob files.
    #: 0: every package is a blob file.
    inline_package_bytes: int = 128 * 1024
    delivery_max_attempts: int = 8
    #: Processes that parse, validate, verify and seal (0: one per CPU core).
    workers: int = 0
    #: ``quorum`` (replicated, the default) or ``classic`` (faster on a single node).
    amqp_queue_type: str = "quorum"
    #: How ``edxgw systems amqp-grant`` reaches RabbitMQ's user database: the ``rabbitmqctl``
    #: command line to run (e.g. ``docker compose exec -T rabbitmq rabbitmqctl``).
    amqp_admin_command: str = "rabbitmqctl"
    #: The broker address agency systems connect to for direct AMQP delivery, as printed by
    #: ``amqp-grant`` (e.g. ``amqps://mq.tinh.gov.vn:5671``); empty: the host of ``amqp_url``.
    amqp_public_url: str = ""
    #: The peer name of the upstream axis (``P.uplink`` deliveries name it).
    uplink_peer: str = "uplink"
    #: Serve HTTPS with ``cert_file``/``key_file``; clients may present certificates (mTLS)
    #: issued by ``ca_files``.
    tls: bool = False
    #: How often a running node re-reads the directory (changes made with ``edxgw directory``).
    directory_refresh_seconds: int = 5
    #: fsync every blob before the commit that points at it (never turn off in production).
    fsync: bool = True
    #: The event loop ``edxgw serve`` runs on: ``uvloop`` (libuv, the default: the loop
    #: process spends less CPU per package on sockets and callbacks) or ``asyncio`` (the
    #: standard library's). Without the uvloop package the node falls back to asyncio and
    #: logs it.
    event_loop: str = "uvloop"
    log_level: str = "INFO"
    #: Web console sessions end after this many idle minutes, and at the latest after
    #: ``admin_session_hours``.
    admin_session_idle_minutes: int = 30
    admin_session_hours: int = 12
    #: This many failed logins of one username within ``admin_lockout_minutes`` lock it for
    #: that long.
    admin_lockout_failures: int = 5
    admin_lockout_minutes: int = 15
    #: ``json`` (one object per line, for a log collector) or ``console`` (for a terminal).
    log_format: str = "json"
    #: How often the node re-reads what its metrics need from the store and RabbitMQ (outbox
    #: lag, queue depths); a scrape of ``/metrics`` never waits for them.
    metrics_refresh_seconds: int = 5
    #: When set, ``/metrics`` wants ``Authorization: Bearer <metrics_token>``.
    metrics_token: str = field(default="", repr=False)
    #: Draining (``edxgw drain`` or SIGTERM): for this long ``/readyz`` answers 503 and new
    #: packages are refused while requests are still served, so load balancers move away;
    #: then in-flight work gets up to ``drain_timeout_seconds`` before the node exits.
    drain_grace_seconds: int = 5
    drain_timeout_seconds: int = 20
    #: The node's control socket (``edxgw drain``) is ``<control_dir>/edxgw-<node>.sock``.
    control_dir: Path = Path("var/run")
    #: How long a relay's claim on outbox rows holds: a node killed mid-publish leaves its
    #: rows to the other nodes after this long.
    relay_lease_seconds: int = 30
    #: Retention: trace events and packages of finished documents are archived and purged
    #: after this many days (``edxgw retention run``; in the node every
    #: ``retention_interval_hours``, 0 = only by command). Archives go to ``archive_dir``.
    retention_days: int = 365
    retention_interval_hours: int = 0
    archive_dir: Path = Path("var/archive")
    #: The upstream axis this hub is a system of (VDXP endpoint URL, e.g. the national axis
    #: adapter ``http://10.0.0.5:8080/XrdAdapter/adapter``); empty: no uplink (adapters/vdxp).
    uplink_url: str = ""
    #: This hub's systemId upstream; empty: ``hub_organ_id`` (the axis names hubs by W00 code).
    uplink_system_id: str = ""
    #: The HMAC secret of that system; better in ``uplink_secret_file`` (read at start).
    uplink_secret: str = field(default="", repr=False)
    uplink_secret_file: Path | None = None
    #: Seconds between two polls of getReceivedEdocList (documents, then statuses).
    uplink_poll_seconds: float = 30.0
    #: Packages sent upstream, and items downloaded, at once.
    uplink_concurrency: int = 8
    #: While the upstream is down it is tried again after 1 s, 2 s, 4 s... at most this long.
    uplink_backoff_max_seconds: float = 60.0
    #: Timeout of one call to the upstream axis.
    uplink_timeout_seconds: float = 60.0
    #: How long a package waits in hand for a down upstream before it goes back to P.uplink
    #: (keep it well under RabbitMQ's consumer_timeout, 30 min by default).
    uplink_hold_seconds: float = 30.0
    #: How often the directory is synchronised from getSynchronizeUnit (0: never).
    uplink_directory_sync_seconds: int = 86400
    #: Register this hub's agencies (and its downlink hubs') upstream with registerAgency.
    uplink_register_agencies: bool = True
    #: VDXP door: refuse calls whose ``XroadVnpt-timestamp`` is further than this from the
    #: hub's clock (``vdxp.stale``). 0 = off, the default: the SDK fixes the timestamp once
    #: per process and real systems run for months (vdxp-wire.md).
    vdxp_max_clock_skew_seconds: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then the TOML file (``path`` or ``EDXGW_CONFIG``), then ``EDXGW_*``."""
        environ = environ or {}
        values: dict[str, Any] = {}
        path = path or environ.get("EDXGW_CONFIG")
        if path:
            try:
                with open(path, "rb") as fh:
                    values.update(_flatten(tomllib.load(fh)))
            except OSError as exc:
                raise ConfigError(
                    "config",
                    f"không đọc được tệp cấu hình: {exc}",
                    f"cannot read the configuration file: {exc}",
                ) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    "config",
                    f"tệp cấu hình sai cú pháp TOML: {exc}",
                    f"the configuration file is not valid TOML: {exc}",
                ) from None
        for name, value in environ.items():
            if name.startswith("EDXGW_") and name != "EDXGW_CONFIG":
                values[name[6:].lower().replace("__", ".")] = value
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build from flat ``key: value`` pairs (strings are converted to each field's type)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace(".", "_")
            if name not in known or name == "extra":
                extra[key] = value
                continue
            kwargs[name] = _convert(name, known[name].type, value)
        settings = cls(**kwargs, extra=extra)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot work; in production, refuse development material."""
        if self.validation_mode not in ("lenient", "strict"):
            raise ConfigError(
                "validation_mode", "phải là lenient hoặc strict", "must be lenient or strict"
            )
        if self.signature_policy not in ("lenient", "strict", "off"):
            raise ConfigError(
                "signature_policy",
                "phải là lenient, strict hoặc off",
                "must be lenient, strict or off",
            )
        if self.amqp_queue_type not in ("quorum", "classic"):
            raise ConfigError(
                "amqp_queue_type", "phải là quorum hoặc classic", "must be quorum or classic"
            )
        if self.workers < 0:
            raise ConfigError("workers", "không được âm", "must not be negative")
        if self.event_loop not in ("uvloop", "asyncio"):
            raise ConfigError(
                "event_loop", "phải là uvloop hoặc asyncio", "must be uvloop or asyncio"
            )
        if self.uplink_url:
            self._check_uplink()
        if self.log_format not in ("json", "console"):
            raise ConfigError("log_format", "phải là json hoặc console", "must be json or console")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(
                "log_level",
                "phải là DEBUG, INFO, WARNING, ERROR hoặc CRITICAL",
                "must be DEBUG, INFO, WARNING, ERROR or CRITICAL",
            )
        if self.metrics_refresh_seconds < 1:
            raise ConfigError("metrics_refresh_seconds", "phải ít nhất 1", "must be at least 1")
        if self.vdxp_max_clock_skew_seconds < 0:
            raise ConfigError(
                "vdxp_max_clock_skew_seconds", "không được âm (0 = tắt)", "must not be negative"
            )
        for key in ("drain_grace_seconds", "drain_timeout_seconds", "retention_interval_hours"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "không được âm", "must not be negative")
        if not 0 <= self.inline_package_bytes <= _INLINE_MAX:
            raise ConfigError(
                "inline_package_bytes",
                f"phải từ 0 đến {_INLINE_MAX} byte",
                f"must be between 0 and {_INLINE_MAX} bytes",
            )
        if self.relay_lease_seconds < 1:
            raise ConfigError("relay_lease_seconds", "phải ít nhất 1", "must be at least 1")
        if self.retention_days < 1:
            raise ConfigError("retention_days", "phải ít nhất 1", "must be at least 1")
        if self.production and not self.fsync:
            raise ConfigError(
                "fsync",
                "không được tắt fsync khi vận hành",
                "fsync cannot be turned off in production",
            )
        if not (self.store_dsn.startswith("sqlite:") or self.store_dsn.startswith("postgres")):
            raise ConfigError(
                "store_dsn",
                "chỉ hỗ trợ sqlite:/// hoặc postgresql://",
                "only sqlite:/// and postgresql:// are supported",
            )
        if self.production:
            self._refuse_development_material()

    def _check_uplink(self) -> None:
        if not self.uplink_url.startswith(("http://", "https://")):
            raise ConfigError(
                "uplink_url", "phải bắt đầu bằng http:// hoặc https://", "must be an http(s) URL"
            )
        if not (self.uplink_secret or self.uplink_secret_file):
            raise ConfigError(
                "uplink_secret",
                "cần khóa bí mật của hệ thống trên trục trên (uplink_secret hoặc "
                "uplink_secret_file)",
                "the system's secret on the upstream axis is required (uplink_secret or "
                "uplink_secret_file)",
            )
        for key in (
            "uplink_poll_seconds",
            "uplink_backoff_max_seconds",
            "uplink_timeout_seconds",
            "uplink_hold_seconds",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "phải lớn hơn 0", "must be greater than 0")
        if self.uplink_concurrency < 1:
            raise ConfigError("uplink_concurrency", "phải ít nhất 1", "must be at least 1")
        if self.uplink_directory_sync_seconds < 0:
            raise ConfigError(
                "uplink_directory_sync_seconds", "không được âm", "must not be negative"
            )

    def _refuse_development_material(self) -> None:
        if self.directory_file == DEMO_DIRECTORY:
            raise ConfigError(
                "directory_file",
                "chế độ vận hành không dùng danh bạ demo",
                "production mode does not run on the demo directory",
            )
        for key, paths in (("cert_file", (self.cert_file,)), ("ca_files", self.ca_files)):
            for path in paths:
                try:
                    certs = load_certificates(Path(path).read_bytes())
                except OSError as exc:
                    raise ConfigError(
                        key, f"không đọc được {path}: {exc}", f"cannot read {path}: {exc}"
                    ) from None
                if any(is_development_certificate(c) for c in certs):
                    raise ConfigError(
                        key,
                        f"{path} là chứng thư số phát triển (certs/dev), cấm dùng khi vận hành",
                        f"{path} is a development certificate (certs/dev), refused in production",
                    )
        if Path(self.key_file).resolve().parent == DEV_CERTS.resolve():
            raise ConfigError(
                "key_file",
                "khóa bí mật phát triển bị cấm khi vận hành",
                "development private keys are refused in production",
            )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _convert(name: str, kind: object, value: Any) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return text in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind in ("Path", "Path | None"):
            return None if value in (None, "") else Path(str(value))
        if kind == "tuple[Path, ...]":
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            return tuple(Path(str(v).strip()) for v in items if str(v).strip())
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            name, f"giá trị không hợp lệ: {value!r}", f"invalid value: {value!r}"
        ) from None
