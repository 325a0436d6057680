"""The production deployment: docker-compose.yml, the Dockerfile and deploy/.

No Docker engine runs here, so the stack is checked by reading its files (the
production properties: pinned images, health-gated start order, a scalable
worker, settings that engine.settings accepts), by running the PostgreSQL init
script against the machine's PostgreSQL, and by `docker compose config` where
the docker CLI and its compose plugin are installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from connectors.registry import default_registry
from engine.settings import Settings
from engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

EXPECTED_SERVICES = {
    "postgresql",
    "temporal-admin-tools",
    "temporal",
    "temporal-create-namespace",
    "temporal-ui",
    "api",
    "worker",
}
CXFLOW_SERVICES = ("api", "worker")
# Settings.from_env reads CXFLOW_<FIELD>; these are the names it knows.
SETTING_VARIABLES = {f"CXFLOW_{name.upper()}" for name in Settings.model_fields}
TEST_SECRET = "compose-test-secret"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message};
# `$${...}` is an escaped dollar that compose leaves to the container's shell.
_VARIABLE = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)

POSTGRES_URL = os.environ.get(
    "CXFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as plain data (the safe loader resolves `<<:` merges)."""
    data = YAML(typ="safe", pure=True).load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    found = services[name]
    assert isinstance(found, dict)
    return found


def environment(name: str) -> dict[str, str]:
    """A service's environment as a mapping (compose also allows a KEY=VALUE list)."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Resolve compose's ${...} the way compose does, for the forms the file uses."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and (current is None or (op == ":?" and not current)):
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(replace, value).replace("$$", "$")


def default_of(expression: str) -> str:
    """The default a single `${NAME:-default}` expression falls back to."""
    match = _VARIABLE.fullmatch(expression)
    assert match and match["op"] == ":-", f"{expression!r} is not ${{NAME:-default}}"
    return match["arg"]


def seconds(duration: str) -> float:
    """A compose duration such as 45s, 1m30s or 1h."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def depends_on(name: str) -> dict[str, str]:
    """{dependency: condition} of a service; the long form is required."""
    found = service(name).get("depends_on", {})
    assert isinstance(found, dict), f"{name}: use depends_on with conditions"
    return {dep: spec.get("condition", "") for dep, spec in found.items()}


def host_path(mount: str) -> Path:
    """The host side of a `./path:/container/path[:ro]` bind mount."""
    source = mount.split(":", 1)[0]
    assert source.startswith("./"), f"{mount!r} is not a bind mount relative to the repo"
    return ROOT / source


def bind_mounts(name: str) -> dict[str, Path]:
    """{container path: host path} of a service's bind mounts."""
    mounts: dict[str, Path] = {}
    for volume in service(name).get("volumes", []):
        if isinstance(volume, str) and volume.startswith("./"):
            mounts[volume.split(":")[1]] = host_path(volume)
    return mounts


def resolved_cxflow_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment with every variable at its default (plus the secret)."""
    env = {"CXFLOW_SECRET_KEY": TEST_SECRET, **(extra or {})}
    return {key: interpolate(value, env) for key, value in environment("worker").items()}


# --- the stack ------------------------------------------------------------------


def test_every_service_is_there() -> None:
    assert set(compose()["services"]) == EXPECTED_SERVICES


def test_third_party_images_are_pinned_through_variables_with_defaults() -> None:
    pins = {
        "postgresql": ("postgres", "POSTGRESQL_VERSION"),
        "temporal-admin-tools": ("temporalio/admin-tools", "TEMPORAL_ADMINTOOLS_VERSION"),
        "temporal": ("temporalio/server", "TEMPORAL_VERSION"),
        "temporal-create-namespace": ("temporalio/admin-tools", "TEMPORAL_ADMINTOOLS_VERSION"),
        "temporal-ui": ("temporalio/ui", "TEMPORAL_UI_VERSION"),
    }
    defaults: dict[str, str] = {}
    for name, (repository, variable) in pins.items():
        image = service(name)["image"]
        assert image.startswith(f"{repository}:${{{variable}:-"), f"{name}: {image}"
        tag = default_of(image.split(":", 1)[1])
        assert re.fullmatch(r"\d+(\.\d+)*", tag), f"{name}: pin a version, not {tag!r}"
        assert defaults.setdefault(variable, tag) == tag, f"{variable} has two defaults"
    # Schema tooling and server must be the same release.
    assert defaults["TEMPORAL_ADMINTOOLS_VERSION"] == defaults["TEMPORAL_VERSION"]
    assert defaults["POSTGRESQL_VERSION"] == "16"


def test_no_service_has_a_fixed_container_name() -> None:
    named = [name for name, spec in compose()["services"].items() if "container_name" in spec]
    assert named == []


def test_postgresql_is_health_checked_persistent_and_private() -> None:
    postgresql = service("postgresql")
    test = " ".join(postgresql["healthcheck"]["test"])
    assert "pg_isready" in test
    # TCP, so the entrypoint's socket-only init server does not count as ready.
    assert "-h 127.0.0.1" in test
    data = [v for v in postgresql["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert len(data) == 1
    volume = data[0].split(":")[0]
    assert volume in compose()["volumes"], "the data volume must be a named volume"
    assert "ports" not in postgresql, "PostgreSQL stays inside the compose network"


def test_postgresql_credentials_come_from_the_environment_with_defaults() -> None:
    env = environment("postgresql")
    for variable in (
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "CXFLOW_DB_NAME",
        "CXFLOW_DB_USER",
        "CXFLOW_DB_PASSWORD",
    ):
        assert default_of(env[variable]), f"{variable} needs ${{{variable}:-default}}"
        assert env[variable].startswith(f"${{{variable}:-"), env[variable]


def test_postgresql_runs_the_cxflow_database_init_script() -> None:
    mounts = bind_mounts("postgresql")
    inits = {c: h for c, h in mounts.items() if c.startswith("/docker-entrypoint-initdb.d/")}
    assert len(inits) == 1, mounts
    container_path, script = next(iter(inits.items()))
    assert container_path.endswith(".sh")
    assert script.is_file(), f"{script} is missing"
    assert os.access(script, os.X_OK), f"{script} must be executable"
    body = script.read_text(encoding="utf-8")
    assert "CREATE ROLE" in body
    assert "CREATE DATABASE" in body
    for variable in ("CXFLOW_DB_NAME", "CXFLOW_DB_USER", "CXFLOW_DB_PASSWORD"):
        assert variable in body
        assert variable in environment("postgresql")


def test_temporal_schema_setup_runs_temporal_sql_tool_on_both_databases() -> None:
    assert depends_on("temporal-admin-tools") == {"postgresql": "service_healthy"}
    admin = service("temporal-admin-tools")
    mounts = bind_mounts("temporal-admin-tools")
    scripts = [host for container, host in mounts.items() if container in admin["command"]]
    assert len(scripts) == 1, (admin["command"], mounts)
    body = scripts[0].read_text(encoding="utf-8")
    assert "temporal-sql-tool --plugin postgres12" in body
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in body
    assert "/temporal/versioned" in body
    assert "/visibility/versioned" in body
    env = environment("temporal-admin-tools")
    assert env["DBNAME"] == "temporal"
    assert env["VISIBILITY_DBNAME"] == "temporal_visibility"
    assert not str(admin.get("restart", "no")).startswith(("always", "unless-stopped")), (
        "a one-shot job must be allowed to complete"
    )


def test_temporal_server_runs_on_postgresql() -> None:
    env = environment("temporal")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["BIND_ON_IP"] == "0.0.0.0"
    admin = environment("temporal-admin-tools")
    for variable in ("POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME"):
        assert env[variable] == admin[variable], f"server and schema setup disagree on {variable}"
    assert env["POSTGRES_PWD"] == environment("postgresql")["POSTGRES_PASSWORD"]
    assert env["POSTGRES_USER"] == environment("postgresql")["POSTGRES_USER"]
    assert int(default_of(env["NUM_HISTORY_SHARDS"])) >= 1


def test_temporal_server_starts_after_its_schema_and_is_health_checked() -> None:
    assert depends_on("temporal") == {
        "postgresql": "service_healthy",
        "temporal-admin-tools": "service_completed_successfully",
    }
    assert "7233" in " ".join(service("temporal")["healthcheck"]["test"])
    assert any(port.endswith(":7233") for port in service("temporal")["ports"])


def test_temporal_dynamic_config_is_mounted_and_valid() -> None:
    path = environment("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = bind_mounts("temporal")
    folder = str(Path(path).parent)
    assert folder in mounts, f"{path} is not inside a mounted folder: {mounts}"
    host_file = mounts[folder] / Path(path).name
    assert host_file.is_file(), f"{host_file} is missing"
    config = YAML(typ="safe", pure=True).load(host_file.read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert isinstance(values, list) and values, f"{key}: a list of values"
        assert all("value" in entry for entry in values), key


def test_namespace_is_created_once_temporal_is_healthy() -> None:
    assert depends_on("temporal-create-namespace") == {"temporal": "service_healthy"}
    env = environment("temporal-create-namespace")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The namespace the workers use, with the same default.
    assert env["NAMESPACE"] == environment("worker")["CXFLOW_NAMESPACE"]
    (script,) = [
        host
        for container, host in bind_mounts("temporal-create-namespace").items()
        if container in service("temporal-create-namespace")["command"]
    ]
    body = script.read_text(encoding="utf-8")
    assert "temporal operator namespace describe" in body
    assert "temporal operator namespace create" in body


def test_temporal_ui_serves_on_8080() -> None:
    assert depends_on("temporal-ui") == {"temporal": "service_healthy"}
    assert environment("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert any(port.endswith(":8080") for port in service("temporal-ui")["ports"])


# --- cxflow's services ------------------------------------------------------------


@pytest.mark.parametrize("name", CXFLOW_SERVICES)
def test_cxflow_services_wait_for_their_dependencies(name: str) -> None:
    assert depends_on(name) == {
        "postgresql": "service_healthy",
        "temporal": "service_healthy",
        "temporal-create-namespace": "service_completed_successfully",
    }
    spec = service(name)
    assert spec["build"]["context"] == "."
    assert spec["image"] == service("api")["image"], "api and worker run one image"
    assert spec["restart"] == "unless-stopped"
    assert spec.get("init") is True, "an init process forwards signals and reaps children"


def test_api_runs_the_event_api_on_8000_with_a_health_check() -> None:
    api = service("api")
    assert api["command"] == ["cxflow", "api", "--host", "0.0.0.0", "--port", "8000"]
    assert any(str(port).endswith(":8000") for port in api["ports"])
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "no curl in slim images: probe with Python"
    assert re.search(r"http://(localhost|127\.0\.0\.1):8000/healthz", test[3])
    compile(test[3], "<healthcheck>", "exec")


def test_worker_scales_and_stops_gracefully() -> None:
    worker = service("worker")
    assert worker["command"] == ["python", "-m", "worker"]
    assert "container_name" not in worker, "a fixed name breaks --scale worker=N"
    assert "ports" not in worker, "a published port breaks --scale worker=N"
    assert worker["restart"] == "unless-stopped"
    grace = float(resolved_cxflow_environment()["CXFLOW_SHUTDOWN_GRACE_SECONDS"])
    assert seconds(worker["stop_grace_period"]) > grace, (
        "Docker must wait longer than the worker's own shutdown grace before SIGKILL"
    )
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_sets_only_real_settings_and_all_of_them() -> None:
    api, worker = environment("api"), environment("worker")
    assert api == worker, "the API and the workers must be configured alike"
    cxflow_variables = {key for key in worker if key.startswith("CXFLOW_")}
    assert cxflow_variables <= SETTING_VARIABLES, cxflow_variables - SETTING_VARIABLES
    assert cxflow_variables == SETTING_VARIABLES, (
        f"settings compose leaves at their development defaults: "
        f"{sorted(SETTING_VARIABLES - cxflow_variables)}"
    )
    # Every CXFLOW_ variable anywhere in the file is a setting, a connector's setting
    # (named in the comment on cxflow.env), or a name the file itself defines for the
    # stack (the cxflow database's role and name).
    stack_variables = {"CXFLOW_DB_NAME", "CXFLOW_DB_USER", "CXFLOW_DB_PASSWORD"}
    stack_variables |= {"CXFLOW_IMAGE", "CXFLOW_API_PORT"}
    connector_variables = {
        connector.config.variable(setting.key)
        for connector in default_registry()
        for setting in connector.declared_settings()
    }
    mentioned = set(re.findall(r"\bCXFLOW_[A-Z0-9_]+", COMPOSE_FILE.read_text("utf-8")))
    known = SETTING_VARIABLES | stack_variables | connector_variables
    assert mentioned <= known, f"not settings: {sorted(mentioned - known)}"


def test_compose_defaults_are_settings_the_engine_accepts() -> None:
    settings = Settings.from_env(resolved_cxflow_environment())
    assert settings.temporal_address == "temporal:7233"
    assert settings.secret_key == TEST_SECRET
    url = make_url(settings.database_url)
    postgresql = {k: interpolate(v, {}) for k, v in environment("postgresql").items()}
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port) == ("postgresql", 5432)
    assert url.database == postgresql["CXFLOW_DB_NAME"]
    assert url.database not in ("temporal", "temporal_visibility")
    assert url.username == postgresql["CXFLOW_DB_USER"]
    assert url.password == postgresql["CXFLOW_DB_PASSWORD"]
    assert url.username != postgresql["POSTGRES_USER"], "cxflow has its own role"


def test_overrides_reach_the_settings() -> None:
    extra = {"CXFLOW_DB_PASSWORD": "s3cret", "CXFLOW_NAMESPACE": "prod"}
    settings = Settings.from_env(resolved_cxflow_environment(extra))
    assert make_url(settings.database_url).password == "s3cret"
    assert settings.namespace == "prod"
    assert interpolate(environment("temporal-create-namespace")["NAMESPACE"], extra) == "prod"


def test_secret_key_has_no_default() -> None:
    expression = environment("worker")["CXFLOW_SECRET_KEY"]
    assert expression.startswith("${CXFLOW_SECRET_KEY:?"), (
        "a production secret must be set, never defaulted"
    )
    with pytest.raises(KeyError, match="CXFLOW_SECRET_KEY"):
        interpolate(expression, {})


# --- the image -------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text_ = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text_.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_builds_on_python_311_slim() -> None:
    steps = dockerfile_instructions()
    args = dict(rest.split("=", 1) for kw, rest in steps if kw == "ARG" and "=" in rest)
    bases = [rest.split()[0] for kw, rest in steps if kw == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base) for base in bases]
    assert resolved and all(base == "python:3.11-slim" for base in resolved), resolved


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [rest for kw, rest in dockerfile_instructions() if kw == "USER"]
    assert users, "the image must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user


def test_dockerfile_installs_the_package_without_dev_tools() -> None:
    steps = dockerfile_instructions()
    runs = " ".join(rest for kw, rest in steps if kw == "RUN")
    assert "pip install --no-cache-dir ." in runs
    for dev_tool in ("[test]", "pytest", "mypy", "ruff", "-e ."):
        assert dev_tool not in runs, dev_tool
    copied = {
        Path(source).as_posix().rstrip("/")
        for kw, rest in steps
        if kw == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
        if not source.startswith("--")
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in setuptools["py-modules"]}
    needed = packages | modules | {"pyproject.toml", "README.md", "journeys", "schemas"}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    cmd = [rest for kw, rest in steps if kw == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["python", "-m", "worker"]


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".git", ".cxflow", "**/__pycache__", ".pytest_cache", ".env"):
        assert required in patterns, required
    for needed in ("pyproject.toml", "README.md", "engine", "worker.py", "journeys", "schemas"):
        assert needed not in patterns, f"{needed} is copied by the Dockerfile"


# --- the PostgreSQL init script, run for real ----------------------------------------


@pytest.fixture
def postgres_env() -> Iterator[dict[str, str]]:
    """libpq settings for the machine's PostgreSQL (as the store tests use it)."""
    if shutil.which("psql") is None:
        pytest.skip("psql (PostgreSQL's client) is not installed")
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0]
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({reason}): start it "
            "(CI does) or point CXFLOW_TEST_POSTGRES_URL at a server",
            pytrace=False,
        )
    finally:
        engine.dispose()
    url = make_url(POSTGRES_URL)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.database or "postgres",
        "PGCONNECT_TIMEOUT": "5",
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    yield env


def test_init_script_creates_a_cxflow_database_the_store_can_use(
    postgres_env: dict[str, str],
) -> None:
    (script,) = [
        host
        for container, host in bind_mounts("postgresql").items()
        if container.startswith("/docker-entrypoint-initdb.d/")
    ]
    name = f"cxflow_init_{uuid.uuid4().hex[:10]}"
    env = {
        **postgres_env,
        "CXFLOW_DB_NAME": name,
        "CXFLOW_DB_USER": name,
        "CXFLOW_DB_PASSWORD": 'it\'s a "quoted" pass',
    }
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        for _ in range(2):  # the second run must change nothing and succeed
            result = subprocess.run(
                ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
        with admin.connect() as connection:
            owner = connection.execute(
                text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
                {"n": name},
            ).scalar_one()
        assert owner == name
        url = make_url(POSTGRES_URL).set(
            username=name, password=env["CXFLOW_DB_PASSWORD"], database=name
        )
        store = Store.open(url.render_as_string(hide_password=False))
        store.dispose()
        as_cxflow = create_engine(url)
        try:
            with as_cxflow.connect() as connection:
                owners = set(
                    connection.execute(
                        text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
                    ).scalars()
                )
        finally:
            as_cxflow.dispose()
        assert owners == {name}, "the store's tables belong to cxflow's role"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


# --- docker compose itself -----------------------------------------------------------


@pytest.fixture(scope="module")
def docker_compose() -> list[str]:
    """`docker compose`, or a skip saying which part is missing."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed, so `docker compose config` cannot run")
    try:
        version = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"`docker compose version` did not run: {error}")
    if version.returncode != 0:
        pytest.skip(
            "the docker CLI has no compose plugin (`docker compose version`: "
            f"{' '.join((version.stderr or version.stdout).split()[:8])})"
        )
    return [docker, "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE)]


def compose_environment(**extra: str) -> dict[str, str]:
    """The caller's environment minus anything the compose file would read."""
    referenced = {m["name"] for m in _VARIABLE.finditer(COMPOSE_FILE.read_text("utf-8"))}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in referenced and not key.startswith("COMPOSE_")
    }
    return {**env, **extra}


def run_compose(command: list[str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        cwd=ROOT,
        env=compose_environment(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_docker_compose_accepts_the_file(docker_compose: list[str]) -> None:
    result = run_compose(docker_compose, "config", "--quiet", CXFLOW_SECRET_KEY=TEST_SECRET)
    assert result.returncode == 0, result.stderr


def test_docker_compose_lists_the_services(docker_compose: list[str]) -> None:
    result = run_compose(docker_compose, "config", "--services", CXFLOW_SECRET_KEY=TEST_SECRET)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == EXPECTED_SERVICES


def test_docker_compose_refuses_to_run_without_a_secret_key(docker_compose: list[str]) -> None:
    result = run_compose(docker_compose, "config", "--quiet")
    assert result.returncode != 0
    assert "CXFLOW_SECRET_KEY" in result.stderr


def test_docker_compose_resolves_settings_the_engine_accepts(docker_compose: list[str]) -> None:
    result = run_compose(
        docker_compose, "config", "--format", "json", CXFLOW_SECRET_KEY=TEST_SECRET
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in CXFLOW_SERVICES:
        settings = Settings.from_env(services[name]["environment"])
        assert settings.temporal_address == "temporal:7233"
        assert settings.database_url.startswith("postgresql+psycopg://")
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker
    conditions = {dep: spec["condition"] for dep, spec in worker["depends_on"].items()}
    assert conditions["temporal-create-namespace"] == "service_completed_successfully"


def test_connector_settings_come_from_an_optional_env_file_for_api_and_workers() -> None:
    for service in CXFLOW_SERVICES:
        env_files = compose()["services"][service]["env_file"]
        assert env_files == [{"path": "cxflow.env", "required": False}]
