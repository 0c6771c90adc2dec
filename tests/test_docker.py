"""The container deployment of docker/ (issue 7): structure, secrets and consistency.

The files are checked as data, without a Docker engine: docker/compose.yaml and the
development override are parsed with PyYAML, the Dockerfile and nginx.conf are read
instruction by instruction, and the settings file is loaded by the gateway's own
:class:`~gateway.settings.Settings`. Two linters of the dev extra check the rest: the Compose
Specification's JSON schema (check-jsonschema) and hadolint. Where the ``docker compose``
plugin is installed, the compose files are also rendered by Compose itself (``config -q``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from gateway.cli import main as cli_main
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
OVERRIDE = DOCKER / "compose.override.yaml.example"
DOCKERFILE = DOCKER / "Dockerfile"
NGINX = DOCKER / "nginx.conf"
SETTINGS = DOCKER / "edxgw.toml"
ENV_EXAMPLE = DOCKER / ".env.example"
BIN = Path(sys.executable).parent  # the dev extra's linters live next to the interpreter

GATEWAYS = ("gateway-1", "gateway-2")
LOAD_BALANCER = "lb"
LONG_RUNNING = ("rabbitmq", "postgres", *GATEWAYS, LOAD_BALANCER)
IMAGE_SERVICES = ("migrate", *GATEWAYS)  # the services that run the gateway image
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?::?[?][^}]*)?\}$")


# --- helpers -----------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in the long form: type, source, target, read_only."""
    out = []
    for item in service.get("volumes") or []:
        if isinstance(item, dict):
            out.append(
                {
                    "type": item.get("type", "volume"),
                    "source": item.get("source", ""),
                    "target": item["target"],
                    "read_only": bool(item.get("read_only", False)),
                }
            )
            continue
        parts = str(item).split(":")
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        out.append(
            {
                "type": kind,
                "source": source,
                "target": target,
                "read_only": len(parts) > 2 and "ro" in parts[2].split(","),
            }
        )
    return out


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def covering_mount(service: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The mount whose target holds ``path`` (the deepest one, as in the container)."""
    best = None
    wanted = PurePosixPath(path)
    for mount in mounts(service):
        target = PurePosixPath(mount["target"])
        holds = wanted == target or target in wanted.parents
        # deeper wins; ties cannot happen (Docker refuses two mounts on one target)
        if holds and (best is None or len(target.parts) > len(PurePosixPath(best["target"]).parts)):
            best = mount
    return best


def strings(node: Any) -> Iterator[tuple[str, str]]:
    """Every (key, scalar) pair of a YAML tree; list items get the key of their list."""
    stack: list[tuple[str, Any]] = [("", node)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)
        elif value is not None:
            yield key, str(value)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = pending + line
        pending = ""
        word, _, args = logical.partition(" ")
        out.append((word.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1] :]


def python_code(command: list[str]) -> str:
    """The program of a ``python -c CODE`` command."""
    assert "python" in command[0] or "python" in command[1], command
    return command[command.index("-c") + 1]


def http_paths(code: str) -> set[str]:
    return set(re.findall(r"http://127\.0\.0\.1:[^/]+(/[\w-]+)", code))


def dev_tool(name: str) -> Path:
    tool = BIN / name
    assert tool.exists(), f"{name} is missing: pip install -e '.[dev]'"
    return tool


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svc = compose["services"]
    assert isinstance(svc, dict)
    return svc


@pytest.fixture(scope="module")
def override() -> dict[str, Any]:
    return load_yaml(OVERRIDE)


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    with SETTINGS.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


# --- compose.yaml ------------------------------------------------------------------------


def test_compose_has_the_hub_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"rabbitmq", "postgres", "migrate", *GATEWAYS, LOAD_BALANCER}
    rabbit = services["rabbitmq"]["image"]
    assert "management" in rabbit
    major, minor = (int(n) for n in re.findall(r":(\d+)\.(\d+)", rabbit)[0])
    assert (major, minor) >= (3, 10), "quorum queues need RabbitMQ 3.10+"
    assert services["postgres"]["image"].startswith("postgres:")
    image = services["migrate"]["image"]
    assert all(services[name]["image"] == image for name in IMAGE_SERVICES)
    assert services["migrate"]["command"] == ["migrate"]
    assert all(services[name]["command"] == ["serve"] for name in GATEWAYS)


def test_gateway_nodes_have_distinct_names(services: dict[str, dict[str, Any]]) -> None:
    nodes = [environment(services[name]).get("EDXGW_NODE", "") for name in GATEWAYS]
    assert all(nodes), nodes
    assert len(set(nodes)) == len(nodes), f"two gateway nodes share a name: {nodes}"
    assert environment(services["migrate"])["EDXGW_NODE"] not in nodes


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]], settings: dict[str, Any]
) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert isinstance(check["test"], list), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    assert services["rabbitmq"]["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    for name in GATEWAYS:
        code = python_code(services[name]["healthcheck"]["test"][1:])
        compile(code, f"{name} healthcheck", "exec")
        assert http_paths(code) == {"/readyz"}
        assert f"127.0.0.1:{settings['http_port']}/" in code
    # the one-shot migration must not count as a long-running, unhealthy service
    assert services["migrate"]["restart"] == "no"


def test_only_the_load_balancer_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    publishing = {name for name, svc in services.items() if svc.get("ports")}
    assert publishing == {LOAD_BALANCER}
    (port,) = services[LOAD_BALANCER]["ports"]
    assert str(port).rsplit(":", 1)[1] == "8080"
    listen = re.findall(r"^\s*listen\s+(\d+)\s*;", NGINX.read_text(encoding="utf-8"), re.M)
    assert listen == ["8080"]


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    for name in GATEWAYS:
        assert depends_on(services[name]) == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
        }
    assert set(depends_on(services[LOAD_BALANCER])) == set(GATEWAYS)


def test_named_volumes_are_declared_and_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = {m["source"] for svc in services.values() for m in mounts(svc) if m["type"] == "volume"}
    assert used, "no named volume"
    assert used == declared, f"declared {sorted(declared)}, used {sorted(used)}"

    def volume_at(service: str, target: str) -> str:
        mount = covering_mount(services[service], target)
        assert mount is not None, f"{service}: nothing mounted at {target}"
        assert mount["type"] == "volume", f"{service}: {target} is not on a named volume"
        return str(mount["source"])

    volume_at("rabbitmq", "/var/lib/rabbitmq")
    volume_at("postgres", "/var/lib/postgresql/data")
    assert services["rabbitmq"].get("hostname"), "RabbitMQ data is kept per node name"


def test_gateway_nodes_share_the_blob_volume(
    services: dict[str, dict[str, Any]], settings: dict[str, Any]
) -> None:
    blob_dir = settings["blob_dir"]
    assert PurePosixPath(blob_dir).is_absolute()
    found = set()
    for name in GATEWAYS:
        mount = covering_mount(services[name], blob_dir)
        assert mount is not None and mount["type"] == "volume", name
        assert not mount["read_only"], name
        found.add(mount["source"])
    assert len(found) == 1, f"the nodes keep blobs on different volumes: {found}"
    # the working directory (relative paths such as the upload spool) is each node's own
    workdir = [covering_mount(services[name], "/var/lib/edxgw/var/spool") for name in GATEWAYS]
    assert all(m is not None and m["type"] == "volume" for m in workdir), workdir
    own = {m["source"] for m in workdir if m is not None}
    assert len(own) == len(GATEWAYS) and not own & found, own


def test_configuration_and_certificates_are_mounted_read_only(
    services: dict[str, dict[str, Any]], settings: dict[str, Any]
) -> None:
    paths = [
        settings["key_file"],
        settings["cert_file"],
        *settings["ca_files"],
        *settings["crl_files"],
        settings["directory_file"],
    ]
    for name in IMAGE_SERVICES:
        env = environment(services[name])
        for path in [env["EDXGW_CONFIG"], *paths]:
            mount = covering_mount(services[name], path)
            assert mount is not None, f"{name}: {path} is not mounted"
            assert mount["type"] == "bind" and mount["read_only"], f"{name}: {path}"
        certs = covering_mount(services[name], settings["key_file"])
        assert certs is not None
        assert certs["source"] == "./certs" and certs["target"] == "/etc/edxgw/certs"
        config = covering_mount(services[name], env["EDXGW_CONFIG"])
        assert config is not None and (DOCKER / config["source"]).resolve() == SETTINGS


def test_no_password_is_written_in_the_compose_files(
    compose: dict[str, Any], override: dict[str, Any]
) -> None:
    urls_with_password = 0
    for tree in (compose, override):
        for key, value in strings(tree):
            if SECRET_NAME.search(key):
                assert REFERENCE.match(value), f"{key} holds a literal: {value!r}"
            for userinfo in re.findall(r"[a-z]+://([^@]*?)@", value):
                _, _, password = userinfo.partition(":")
                assert REFERENCE.match(password), f"{key}: literal password in {value!r}"
                urls_with_password += 1
    assert urls_with_password >= 2, "the store and broker URLs were not found"
    text = COMPOSE.read_text(encoding="utf-8")
    for name in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), f"{name} is not required"
        # a default value would be a committed password
        assert not re.search(r"\$\{" + name + r":?-", text), f"{name} has a default"


def test_env_example_names_every_variable_and_no_password(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    referenced = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    assert referenced <= set(example), f"missing in .env.example: {referenced - set(example)}"
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example gives {key} a value"
    ignored = (DOCKER / ".gitignore").read_text(encoding="utf-8").split()
    assert {".env", "certs/"} <= set(ignored)
    assert compose.get("name"), "a fixed project name keeps volume names stable"


# --- edxgw.toml and nginx.conf -----------------------------------------------------------


def test_settings_file_is_a_production_configuration(settings: dict[str, Any]) -> None:
    assert settings["production"] is True
    # secrets and per-node values come from the environment, never from this file
    for key in ("store_dsn", "amqp_url", "node"):
        assert key not in settings, key
    # the gateway itself accepts the file (production off: the certificates are not here)
    loaded = Settings.load(SETTINGS, {"EDXGW_PRODUCTION": "false"})
    assert loaded.extra == {}, f"unknown keys: {dict(loaded.extra)}"
    assert loaded.http_host == "0.0.0.0"
    for path in (loaded.key_file, loaded.cert_file, *loaded.ca_files, *loaded.crl_files):
        assert PurePosixPath(path).parent == PurePosixPath("/etc/edxgw/certs"), path
    assert loaded.directory_file is not None and loaded.directory_file.is_absolute()


def test_load_balancer_spreads_over_both_nodes(
    services: dict[str, dict[str, Any]], settings: dict[str, Any]
) -> None:
    conf = NGINX.read_text(encoding="utf-8")
    assert conf.count("{") == conf.count("}")
    (upstream,) = re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    name, body = upstream
    servers = re.findall(r"^\s*server\s+(\S+)", body, re.M)
    assert servers == [f"{node}:{settings['http_port']}" for node in GATEWAYS]
    # round robin: no other balancing method in the upstream
    assert not re.search(r"\b(ip_hash|hash|least_conn|random)\b", body)
    assert re.search(rf"proxy_pass\s+http://{name}\s*;", conf)

    size = re.findall(r"client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", conf)
    assert len(size) == 1
    number, unit = size[0]
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]
    assert int(number) * factor >= settings["max_package_bytes"]
    for timeout in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout"):
        assert re.search(rf"{timeout}\s+\d+s\s*;", conf), timeout

    lb = services[LOAD_BALANCER]
    mount = covering_mount(lb, "/etc/nginx/nginx.conf")
    assert mount is not None and mount["read_only"]
    assert (DOCKER / mount["source"]).resolve() == NGINX
    probe = " ".join(lb["healthcheck"]["test"])
    (path,) = re.findall(r"http://127\.0\.0\.1:8080(/[\w-]+)", probe)
    assert re.search(rf"location\s+=\s+{path}\s*\{{\s*[^}}]*return 200", conf)


# --- the development override ------------------------------------------------------------


def test_override_example_is_a_development_setup(
    services: dict[str, dict[str, Any]], override: dict[str, Any]
) -> None:
    dev = override["services"]
    assert set(dev) <= set(services)
    build = dev["migrate"]["build"]
    assert (DOCKER / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    image = dev["migrate"]["image"]
    for name in IMAGE_SERVICES:
        assert dev[name]["image"] == image, name
        assert environment(dev[name])["EDXGW_PRODUCTION"] == "false", name
        certs = covering_mount(dev[name], "/etc/edxgw/certs/gateway.key")
        assert certs is not None and certs["read_only"]
        assert (DOCKER / certs["source"]).resolve() == ROOT / "certs" / "dev"
        # volumes merge by target: each one must replace a production mount, not add one
        base_targets = {m["target"] for m in mounts(services[name])}
        for mount in mounts(dev[name]):
            assert mount["target"] in base_targets, f"{name}: {mount['target']}"
            assert (DOCKER / mount["source"]).resolve().exists(), mount["source"]
    published = {name: svc["ports"] for name, svc in dev.items() if svc.get("ports")}
    assert published == {
        "rabbitmq": ["127.0.0.1:15672:15672"],
        "postgres": ["127.0.0.1:5432:5432"],
    }


@pytest.mark.parametrize("path", [COMPOSE, OVERRIDE], ids=["compose", "dev-override"])
def test_compose_files_match_the_compose_specification(path: Path) -> None:
    """The Compose Specification's JSON schema (as vendored by check-jsonschema) catches
    misspelt keys and wrong shapes that the structural tests above do not look for."""
    proc = subprocess.run(
        [
            str(dev_tool("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            "--default-filetype",
            "yaml",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_a_slim_base(instructions: list[tuple[str, str]]) -> None:
    args = dict(
        a.split("=", 1) for w, a in instructions if w == "ARG" and "=" in a and " " not in a
    )
    froms = [a for w, a in instructions if w == "FROM"]
    assert len(froms) >= 2, "build and runtime stages"
    base = froms[-1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
    assert re.fullmatch(r"python:3\.1[1-9][\w.-]*-slim[\w.-]*", base), base
    runtime = final_stage(instructions)
    copies = [a for w, a in runtime if w == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies), "runtime copies a stage"


def test_dockerfile_runs_as_a_fixed_non_root_user(instructions: list[tuple[str, str]]) -> None:
    runtime = final_stage(instructions)
    users = [a for w, a in runtime if w == "USER"]
    assert users, "no USER: the gateway would run as root"
    args = dict(a.split("=", 1) for w, a in runtime if w == "ARG" and "=" in a)
    user = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), users[-1])
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER {users[-1]} -> {user}"


def test_dockerfile_runtime_settings(instructions: list[tuple[str, str]]) -> None:
    runtime = dict(final_stage(instructions))  # the last of each instruction wins anyway
    assert runtime["WORKDIR"] == "/var/lib/edxgw"
    assert set(json.loads(runtime["VOLUME"])) == {"/var/lib/edxgw", "/etc/edxgw/certs"}
    assert runtime["EXPOSE"] == "8080"
    assert json.loads(runtime["ENTRYPOINT"]) == ["edxgw"]
    assert json.loads(runtime["CMD"]) == ["serve"]
    env = " ".join(a for w, a in final_stage(instructions) if w == "ENV")
    assert "EDXGW_HTTP_HOST=0.0.0.0" in env.split()
    assert "EDXGW_PRODUCTION=true" in env.split()

    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    assert project["scripts"]["edxgw"] == "gateway.cli:main"
    assert "gateway" in project["optional-dependencies"]


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_the_image_commands_exist(
    command: str, services: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """ENTRYPOINT edxgw + CMD serve, and compose's `migrate`, are commands of the CLI."""
    assert any(svc.get("command") == [command] for svc in services.values())
    with pytest.raises(SystemExit) as exit_:
        cli_main([command, "--help"], environ={})
    assert exit_.value.code == 0, capsys.readouterr()


def test_dockerfile_healthcheck_is_python_on_healthz(instructions: list[tuple[str, str]]) -> None:
    (check,) = [a for w, a in final_stage(instructions) if w == "HEALTHCHECK"]
    options, _, command = check.partition(" CMD ")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = json.loads(command)
    assert argv[0] == "python", "the slim image has no curl or wget"
    code = python_code(argv)
    tree = ast.parse(code)  # a syntax error here would make the container unhealthy forever
    assert any(isinstance(n, ast.Call) for n in ast.walk(tree))
    assert http_paths(code) == {"/healthz"}
    assert "timeout=" in code


def test_dockerfile_copies_no_secret_and_downloads_nothing(
    instructions: list[tuple[str, str]],
) -> None:
    for word, args in instructions:
        assert not (word == "ADD" and re.search(r"https?://", args)), f"ADD of a URL: {args}"
        assert not re.search(r"\b(curl|wget)\b", args), f"download in {word} {args}"
        if word in ("COPY", "ADD"):
            sources = [s for s in args.split() if not s.startswith("--")][:-1]
            for source in sources:
                assert not re.search(r"certs|\.env|\.key$|\.pem$", source), source
                if "--from" not in args:
                    assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        # certificates are mounted at run time; the image is built without them
        assert "certs/dev" not in args, f"{word} {args}"
        assert not (word == "COPY" and re.match(r"(\S+ )?\. ", args)), "COPY of the whole context"


def test_image_has_the_postgres_client_of_the_compose_server(
    instructions: list[tuple[str, str]], services: dict[str, dict[str, Any]]
) -> None:
    """`edxgw backup`/`restore` run pg_dump/pg_restore, and pg_dump refuses a newer server: the
    image's postgresql-client-${PG_MAJOR} (from apt.postgresql.org, trusted through its key in
    /usr/share/keyrings by signed-by=) has the major version of compose's postgres image."""
    runtime = final_stage(instructions)
    args = dict(a.split("=", 1) for w, a in runtime if w == "ARG" and "=" in a)
    server = re.fullmatch(r"postgres:(\d+)([.-][\w.-]*)?", services["postgres"]["image"])
    assert server, services["postgres"]["image"]
    assert args.get("PG_MAJOR") == server.group(1), "PG_MAJOR must match compose's postgres"

    words = [w for w, _ in runtime]
    [(at, install)] = [(i, a) for i, (w, a) in enumerate(runtime) if "postgresql-client-" in a]
    assert runtime[at][0] == "RUN" and at < words.index("USER"), "installed as root, one RUN"
    assert 'apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"' in install
    keyring = re.search(r"\bkeyring=(/usr/share/keyrings/\S+);", install)
    assert keyring, "the repository's key lives in /usr/share/keyrings"
    assert "[signed-by=$keyring] https://apt.postgresql.org/pub/repos/apt " in install
    assert "${VERSION_CODENAME}-pgdg main" in install
    assert "apt-key" not in install
    assert install.index("rm -rf") > install.rindex("apt-get install")
    assert "/var/lib/apt/lists/*" in install.split("rm -rf", 1)[1], "apt lists cleaned"


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [str(dev_tool("hadolint")), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", "certs", ".env", "**/__pycache__"} <= patterns
    # what the image is built from must stay in the context
    for needed in ("pyproject.toml", "README.md", "edxml", "gateway", "adapters"):
        assert needed not in patterns, needed
    assert not any(p.startswith("!") for p in patterns), "re-inclusions are not expected"


# --- docker compose itself, where the plugin is installed ---------------------------------


def _compose_available() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on this machine"
    proc = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        return f"the docker compose plugin is not installed ({reason[0] if reason else '?'})"
    return None


@pytest.mark.parametrize(
    "files", [(COMPOSE,), (COMPOSE, OVERRIDE)], ids=["production", "with-dev-override"]
)
def test_docker_compose_accepts_the_files(tmp_path: Path, files: tuple[Path, ...]) -> None:
    missing = _compose_available()
    if missing:
        pytest.skip(missing)
    argv = ["docker", "compose"]
    for path in files:
        argv += ["-f", str(path)]
    env_file = tmp_path / "test.env"
    env_file.write_text("POSTGRES_PASSWORD=test1234\nRABBITMQ_PASSWORD=test5678\n")
    clean = {k: v for k, v in os.environ.items() if "PASSWORD" not in k}
    ok = subprocess.run(
        [*argv, "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env=clean,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # without the passwords, compose must refuse (required-variable syntax)
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = subprocess.run(
        [*argv, "--env-file", str(empty), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env=clean,
    )
    assert refused.returncode != 0
    assert "PASSWORD" in refused.stderr
