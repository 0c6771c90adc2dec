"""Settings (defaults, file, environment, production refusals) and directory files."""

from __future__ import annotations

from pathlib import Path

import pytest

from edxml.organ import parse_organ_id
from gateway.dirfile import DirectoryError, load_directory
from gateway.settings import DEMO_DIRECTORY, ConfigError, Settings
from tests.edxml.conftest import SAMPLES


def test_defaults_run_a_demo_hub() -> None:
    s = Settings.load(environ={})
    assert s.store_dsn.startswith("sqlite:///var/")
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert s.cert_file.name == "gateway.crt" and s.cert_file.exists()
    assert s.directory_file == DEMO_DIRECTORY and not s.production
    assert s.inline_package_bytes == 128 * 1024
    assert Settings.load(environ={"EDXGW_INLINE_PACKAGE_BYTES": "0"}).inline_package_bytes == 0


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "edxgw.toml"
    cfg.write_text('node = "a"\nhttp_port = 9000\n[store]\ndsn = "postgresql://x/y"\n')
    s = Settings.load(cfg, {"EDXGW_HTTP_PORT": "9100", "EDXGW_NODE": "b"})
    assert (s.node, s.http_port, s.store_dsn) == ("b", 9100, "postgresql://x/y")
    s = Settings.load(environ={"EDXGW_CONFIG": str(cfg)})
    assert s.node == "a"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"http_port": "eighty"}, "http_port"),
        ({"validation_mode": "sloppy"}, "validation_mode"),
        ({"store_dsn": "mysql://x"}, "store_dsn"),
        ({"production": "maybe"}, "production"),
        ({"event_loop": "trio"}, "event_loop"),
        ({"inline_package_bytes": "-1"}, "inline_package_bytes"),
        ({"inline_package_bytes": str(64 * 1024 * 1024)}, "inline_package_bytes"),
    ],
)
def test_bad_values_name_their_key(values: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping(values)
    assert info.value.key == key


def test_production_refuses_development_material(tmp_path: Path) -> None:
    own_dir = tmp_path / "dir.toml"
    own_dir.write_text('[[agency]]\norgan_id = "000.00.00.H53"\nname = "UBND tỉnh"\n')
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"production": True})
    assert info.value.key == "directory_file"
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"production": True, "directory_file": str(own_dir)})
    assert info.value.key == "cert_file" and "development" in str(info.value)


def test_demo_directory_holds_every_sample_organ_id() -> None:
    directory = load_directory(DEMO_DIRECTORY)
    known = {a.organ_id for a in directory.agencies} | set(directory.aliases)
    import re

    for sample in SAMPLES.glob("*.edxml"):
        for code in re.findall(r"<edXML:OrganId>([^<]+)</edXML:OrganId>", sample.read_text()):
            assert parse_organ_id(code).canonical in known, (sample.name, code)
    assert directory.aliases["28.22.H17"] == "000.28.22.H17"
    levels = {a.level for a in directory.agencies}
    assert {1, 2, 3} <= levels  # province/central, district, commune
    commune = next(a for a in directory.agencies if a.organ_id == "000.21.31.H53")
    assert commune.parent_id == "000.00.31.H53" and commune.host == "local"


def test_csv_directory_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "d.csv"
    good.write_text(
        "organ_id,name,host,peer,state,successor_id,aliases\n"
        "000.00.31.H53,UBND huyện Bến Cầu,downlink,hub-ben-cau,active,,\n"
        "000.21.31.H53,UBND xã An Thạnh,downlink,hub-ben-cau,merged,000.20.31.H53,H53.31.21\n"
        "000.20.31.H53,UBND thị trấn Bến Cầu,downlink,hub-ben-cau,active,,\n",
        encoding="utf-8",
    )
    d = load_directory(good)
    merged = next(a for a in d.agencies if a.organ_id == "000.21.31.H53")
    assert merged.state == "merged" and merged.successor_id == "000.20.31.H53"
    assert d.aliases == {"H53.31.21": "000.21.31.H53"}
    bad = tmp_path / "bad.csv"
    bad.write_text("organ_id,name,state,successor_id\n000.21.31.H53,Xã,merged,000.99.31.H53\n")
    with pytest.raises(DirectoryError, match="unknown"):
        load_directory(bad)
    bad.write_text("organ_id,name\nUBND xã,Xã\n")
    with pytest.raises(DirectoryError, match=r"bad\.csv:2"):
        load_directory(bad)
