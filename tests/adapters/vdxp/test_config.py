"""The ``uplink_*`` settings: read once (file, environment), checked at load, secret from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.vdxp.config import UplinkConfig
from gateway.settings import ConfigError, Settings


def test_no_url_no_uplink() -> None:
    assert UplinkConfig.from_settings(Settings.from_mapping({})) is None


def test_the_environment_configures_an_uplink(tmp_path: Path) -> None:
    secret = tmp_path / "uplink-secret"
    secret.write_text("s3cr3t-from-file\n")
    settings = Settings.load(
        environ={
            "EDXGW_UPLINK_URL": "http://10.0.0.5:8080/XrdAdapter/adapter",
            "EDXGW_UPLINK_SECRET_FILE": str(secret),
            "EDXGW_UPLINK_SECRET": "ignored-when-a-file-is-given",
            "EDXGW_UPLINK_POLL_SECONDS": "2.5",
            "EDXGW_UPLINK_REGISTER_AGENCIES": "no",
            "EDXGW_HUB_ORGAN_ID": "00.41.W00",
        }
    )
    config = UplinkConfig.from_settings(settings)
    assert config is not None
    assert (config.endpoint, config.system_id, config.secret) == (
        "http://10.0.0.5:8080/XrdAdapter/adapter",
        "00.41.W00",  # the hub's own code, as the axis names hubs
        "s3cr3t-from-file",
    )
    assert (config.poll_seconds, config.register_agencies) == (2.5, False)
    assert "s3cr3t" not in repr(config) and "ignored" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"uplink_url": "http://axis"}, "uplink_secret"),
        ({"uplink_url": "axis.gov.vn", "uplink_secret": "x"}, "uplink_url"),
        (
            {"uplink_url": "http://axis", "uplink_secret": "x", "uplink_poll_seconds": 0},
            "uplink_poll_seconds",
        ),
        (
            {"uplink_url": "http://axis", "uplink_secret": "x", "uplink_concurrency": 0},
            "uplink_concurrency",
        ),
        (
            {"uplink_url": "http://axis", "uplink_secret": "x", "uplink_hold_seconds": "-1"},
            "uplink_hold_seconds",
        ),
        (
            {"uplink_url": "http://axis", "uplink_secret": "x", "uplink_poll_seconds": "soon"},
            "uplink_poll_seconds",
        ),
    ],
)
def test_an_unusable_uplink_is_refused_at_load(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping(values)
    assert info.value.key == key
    assert " / " in str(info.value)  # English and Vietnamese


def test_an_unreadable_secret_file_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_mapping(
        {"uplink_url": "http://axis", "uplink_secret_file": str(tmp_path / "missing")}
    )
    with pytest.raises(ConfigError) as info:
        UplinkConfig.from_settings(settings)
    assert info.value.key == "uplink_secret_file"
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ConfigError):
        UplinkConfig.from_settings(
            Settings.from_mapping(
                {"uplink_url": "http://axis", "uplink_secret_file": str(tmp_path / "empty")}
            )
        )
