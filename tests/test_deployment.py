"""The container deployment (Dockerfile, .dockerignore, docker-compose.yml) stays in step with the server.

Docker is not needed: the files are parsed and checked against the settings object, so a change to either
side that would break `docker compose up` fails here first. When a `docker compose` client is available,
the compose file is also validated by it (offline, no engine needed).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from soundtime.config import Settings, env_names

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

#: Variables the compose file reads from .env that are not server settings.
COMPOSE_ONLY_VARIABLES = frozenset({"POSTGRES_PASSWORD", "SOUNDTIME_HTTP_PORT"})
#: Variables a user must set; compose must refuse to start without them.
REQUIRED_VARIABLES = frozenset({"POSTGRES_PASSWORD", "JWT_SECRET"})
#: Services running the soundtime image.
SOUNDTIME_SERVICES = ("app", "migrate")

_INTERPOLATION = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<escaped>\$))")
_REFERENCE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.DOTALL)


# --- helpers ------------------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def _service(name: str) -> dict[str, Any]:
    services = _compose().get("services") or {}
    assert name in services, f"docker-compose.yml has no `{name}` service"
    return dict(services[name])


def _strings(node: Any) -> list[str]:
    """Every string in the parsed compose file (keys included), so comments never count."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _references(text: str) -> list[tuple[str, str | None, str]]:
    """The ``${NAME<op>arg}`` / ``$NAME`` references in one value, as (name, op, arg)."""
    found: list[tuple[str, str | None, str]] = []
    for match in _INTERPOLATION.finditer(text):
        if match["escaped"]:
            continue
        if match["bare"]:
            found.append((match["bare"], None, ""))
            continue
        reference = _REFERENCE.match(match["braced"])
        assert reference, f"docker-compose.yml: cannot read the interpolation ${{{match['braced']}}}"
        found.append((reference["name"], reference["op"], reference["arg"] or ""))
    return found


def _all_references() -> list[tuple[str, str | None, str]]:
    return [ref for text in _strings(_compose()) for ref in _references(text)]


def _interpolate(text: str, variables: dict[str, str]) -> str:
    """Resolve compose interpolation the way `docker compose` does, for the forms we use."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["bare"]:
            return variables.get(match["bare"], "")
        reference = _REFERENCE.match(match["braced"])
        assert reference
        name, op, arg = reference["name"], reference["op"], reference["arg"] or ""
        value = variables.get(name)
        unset_or_empty = not value if op and op.startswith(":") else value is None
        if op in {":-", "-"}:
            return arg if unset_or_empty else str(value)
        if op in {":?", "?"}:
            if unset_or_empty:
                raise LookupError(f"{name}: {arg}")
            return str(value)
        if op in {":+", "+"}:
            return "" if unset_or_empty else arg
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _ports(service: dict[str, Any]) -> list[tuple[str | None, int, str]]:
    """Published ports as (host side, container port, protocol), from short or long syntax."""
    published: list[tuple[str | None, int, str]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published.append(
                (
                    None if entry.get("published") is None else str(entry["published"]),
                    int(entry["target"]),
                    str(entry.get("protocol", "tcp")),
                )
            )
            continue
        spec, _, protocol = str(entry).partition("/")
        # Split on the last colon that is outside ${...}: the host side may hold an interpolation.
        depth, split = 0, -1
        for index, char in enumerate(spec):
            depth += char == "{"
            depth -= char == "}"
            if char == ":" and depth == 0:
                split = index
        host, container = (spec[:split], spec[split + 1 :]) if split >= 0 else (None, spec)
        published.append((host, int(container), protocol or "tcp"))
    return published


def _named_volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount point -> volume name, for the service's named volumes (not bind mounts)."""
    mounts: dict[str, str] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type", "volume") == "volume" and entry.get("source"):
                mounts[str(entry["target"])] = str(entry["source"])
            continue
        source, _, rest = str(entry).partition(":")
        target = rest.split(":")[0]
        if target and not source.startswith((".", "/", "~", "$")):
            mounts[target] = source
    return mounts


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def _healthcheck_command(service: dict[str, Any]) -> str:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    if check.get("disable") or test is None or test == ["NONE"]:
        return ""
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends with a line continuation"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _args(args: str) -> list[str]:
    """Arguments in exec (JSON) or shell form."""
    if args.startswith("["):
        return [str(part) for part in json.loads(args)]
    return shlex.split(args)


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """The .dockerignore rules as (is_exception, regex), in file order (the last match decides)."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").strip().lstrip("/")))
        regex, index = "", 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif pattern.startswith("**", index):
                regex, index = regex + ".*", index + 2
            else:
                char = pattern[index]
                regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
                index += 1
        # A rule that matches a directory also covers everything inside it.
        rules.append((exception, re.compile(regex + "(?:/.*)?")))
    return rules


def _ignored(path: str) -> bool:
    ignored = False
    for exception, regex in _dockerignore_patterns():
        if regex.fullmatch(path):
            ignored = not exception
    return ignored


def _context_copies() -> list[str]:
    """Sources of every COPY/ADD that reads the build context (not another stage)."""
    sources = []
    for keyword, args in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        parts = _args(args)
        flags = [part for part in parts if part.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue
        sources += [part for part in parts if not part.startswith("--")][:-1]
    return sources


# --- docker-compose.yml: variables and settings ----------------------------------------------------------


def test_compose_reads_only_settings_and_known_compose_variables() -> None:
    unknown = {name for name, _, _ in _all_references()} - env_names() - COMPOSE_ONLY_VARIABLES
    assert not unknown, (
        f"docker-compose.yml reads {sorted(unknown)} from .env, which is neither a soundtime setting "
        f"(soundtime.config) nor a compose-only variable ({sorted(COMPOSE_ONLY_VARIABLES)})"
    )


@pytest.mark.parametrize("name", SOUNDTIME_SERVICES)
def test_soundtime_services_are_given_only_real_settings(name: str) -> None:
    unknown = set(_environment(_service(name))) - env_names()
    assert not unknown, f"the `{name}` service sets {sorted(unknown)}, which soundtime never reads (typo?)"


def test_app_and_migrate_get_the_same_environment() -> None:
    assert _environment(_service("app")) == _environment(_service("migrate")), (
        "`app` and `migrate` must share one environment (the YAML anchor), or migrations could run "
        "against another database than the server uses"
    )


@pytest.mark.parametrize("name", sorted(REQUIRED_VARIABLES))
def test_secrets_must_be_set_by_the_user(name: str) -> None:
    uses = [(op, arg) for ref, op, arg in _all_references() if ref == name]
    assert uses, f"docker-compose.yml never reads {name}"
    for op, arg in uses:
        assert op == ":?", (
            f"every use of {name} must be ${{{name}:?message}}, so that compose refuses to start "
            f"when it is unset or empty instead of running with a blank secret"
        )
        assert arg.strip(), f"${{{name}:?…}} needs a message telling the user what to set"


@pytest.mark.parametrize(("variable", "expected"), [("SOUNDTIME_ENV", "production"), ("SOUNDTIME_HOST", "0.0.0.0")])
def test_server_runs_in_production_mode_on_all_interfaces(variable: str, expected: str) -> None:
    value = _environment(_service("app")).get(variable)
    assert value == expected, f"the app service must set {variable}={expected} (found {value!r})"


def test_database_url_points_at_the_db_service_with_asyncpg() -> None:
    url = _environment(_service("app")).get("DATABASE_URL", "")
    db_env = _environment(_service("db"))
    user, database = db_env.get("POSTGRES_USER"), db_env.get("POSTGRES_DB")
    match = re.fullmatch(r"postgresql\+asyncpg://([^:@/]+):(.+)@([^:/@]+):(\d+)/([^/?]+)", url)
    assert match, f"DATABASE_URL must be postgresql+asyncpg://USER:PASSWORD@db:5432/DB, found {url!r}"
    assert (match[3], match[4]) == ("db", "5432"), f"DATABASE_URL must reach the `db` service on 5432: {url!r}"
    assert (match[1], match[5]) == (user, database), (
        f"DATABASE_URL uses user/database {match[1]}/{match[5]} but the db service creates {user}/{database}"
    )
    assert [ref for ref, _, _ in _references(match[2])] == ["POSTGRES_PASSWORD"], (
        "the password in DATABASE_URL must be ${POSTGRES_PASSWORD...}, the one the db service is created with"
    )
    assert [ref for ref, _, _ in _references(db_env.get("POSTGRES_PASSWORD", ""))] == ["POSTGRES_PASSWORD"], (
        "the db service must take POSTGRES_PASSWORD from .env"
    )


def test_compose_environment_is_accepted_by_the_settings() -> None:
    # What a user gets after `cp .env.example .env` and setting the two secrets (hex, as documented).
    # model_validate checks exactly these values: neither the process environment nor a .env file is read.
    dotenv = {"POSTGRES_PASSWORD": "ab" * 32, "JWT_SECRET": "cd" * 32}
    env = {key: _interpolate(value, dotenv) for key, value in _environment(_service("app")).items()}
    try:
        settings = Settings.model_validate(env)
    except ValidationError as exc:
        pytest.fail(f"soundtime refuses the environment docker-compose.yml gives it:\n{exc}")
    assert settings.is_production
    assert settings.database_url == f"postgresql+asyncpg://soundtime:{'ab' * 32}@db:5432/soundtime"
    assert str(settings.data_dir) == env["SOUNDTIME_DATA_DIR"]


# --- docker-compose.yml: ports, volumes, health, order -----------------------------------------------------


def test_app_publishes_http_and_p2p_ports() -> None:
    ports = {(container, protocol) for _, container, protocol in _ports(_service("app"))}
    http = Settings.model_fields["port"].default
    p2p = Settings.model_fields["p2p_bind_port"].default
    assert (http, "tcp") in ports, f"the app must publish its HTTP port {http}/tcp (SOUNDTIME_PORT default)"
    assert (p2p, "udp") in ports, f"the app must publish the iroh port {p2p}/udp (P2P_BIND_PORT default)"
    assert "SOUNDTIME_PORT" not in _environment(_service("app")), (
        "SOUNDTIME_PORT must stay at its default in the container (the published port, the healthcheck); "
        "the host side is changed with SOUNDTIME_HTTP_PORT"
    )


def test_database_is_not_published() -> None:
    assert not _service("db").get("ports"), "the db service must not publish PostgreSQL on the host"


def test_data_lives_in_named_volumes() -> None:
    declared = set((_compose().get("volumes") or {}).keys())
    db_mounts = _named_volume_mounts(_service("db"))
    app_mounts = _named_volume_mounts(_service("app"))
    assert "/var/lib/postgresql/data" in db_mounts, "the db service must keep its data in a named volume"
    data_dir = _environment(_service("app")).get("SOUNDTIME_DATA_DIR")
    assert data_dir in app_mounts, (
        f"SOUNDTIME_DATA_DIR={data_dir} is not a named volume mount of the app "
        f"(mounts: {sorted(app_mounts)}): audio, blobs and the node key would be lost with the container"
    )
    missing = {db_mounts["/var/lib/postgresql/data"], app_mounts[data_dir]} - declared
    assert not missing, f"volumes {sorted(missing)} are used but not declared under the top-level `volumes:`"


def test_db_and_app_have_healthchecks() -> None:
    db_check = _healthcheck_command(_service("db"))
    assert "pg_isready" in db_check, "the db service needs a pg_isready healthcheck"
    for option in ("-U soundtime", "-d soundtime"):
        assert option in db_check, f"the db healthcheck must pass {option} to pg_isready: {db_check!r}"
    app_check = _healthcheck_command(_service("app"))
    port = Settings.model_fields["port"].default
    assert f"127.0.0.1:{port}/healthz" in app_check, (
        f"the app healthcheck must request http://127.0.0.1:{port}/healthz, found {app_check!r}"
    )


def test_app_starts_after_the_database_is_healthy_and_migrations_succeeded() -> None:
    depends = _depends_on(_service("app"))
    assert depends.get("db") == "service_healthy", "app must depend on db with condition service_healthy"
    assert depends.get("migrate") == "service_completed_successfully", (
        "app must depend on migrate with condition service_completed_successfully"
    )
    assert _depends_on(_service("migrate")).get("db") == "service_healthy", "migrate must wait for db to be healthy"


def test_migrate_runs_the_migrate_command_once() -> None:
    migrate = _service("migrate")
    assert migrate.get("command") == ["migrate"], f"migrate must run `soundtime migrate`: {migrate.get('command')}"
    assert str(migrate.get("restart", "no")) == "no", 'migrate is a one-shot job: restart must be "no"'


def test_app_and_migrate_run_the_same_image() -> None:
    app, migrate = _service("app"), _service("migrate")
    assert app.get("image"), "the app service needs an `image:` name so that migrate can run the same image"
    assert app.get("image") == migrate.get("image"), (
        "app and migrate must name the same image, or migrate could run another version's migrations"
    )
    assert app.get("build") == migrate.get("build") == ".", "app and migrate must both build from ."


def test_app_serves_without_migrating_itself() -> None:
    command = _service("app").get("command")
    assert command == ["serve", "--no-migrate"], f"the app must run `serve --no-migrate`, found {command}"


def test_compose_file_has_no_obsolete_version_key() -> None:
    assert "version" not in _compose(), "remove `version:` from docker-compose.yml (obsolete in Compose)"


# --- Dockerfile and .dockerignore ------------------------------------------------------------------------


def test_dockerfile_is_multi_stage() -> None:
    named = [args for keyword, args in _dockerfile_instructions() if keyword == "FROM"]
    assert len(named) >= 2, "the Dockerfile must build in one stage and run from another"
    assert all(re.search(r"\sAS\s+\S+$", args, re.IGNORECASE) for args in named), (
        f"every stage needs a name (FROM … AS name): {named}"
    )


def test_dockerfile_installs_the_locked_dependencies_without_dev_tools() -> None:
    syncs = [args for keyword, args in _dockerfile_instructions() if keyword == "RUN" and "uv sync" in args]
    assert syncs, "the Dockerfile must install with `uv sync`"
    for args in syncs:
        assert "--frozen" in args, f"`uv sync` must use --frozen (the lock file, unchanged): {args}"
        for extra in ("--extra dev", "--all-extras"):
            assert extra not in args, f"dev tools would end up in the image: {args}"
    assert any("--no-install-project" not in args for args in syncs), "soundtime itself is never installed"


def test_dockerfile_rebuilds_soundtime_from_the_copied_source() -> None:
    final_sync = next(
        args for keyword, args in reversed(_dockerfile_instructions()) if keyword == "RUN" and "uv sync" in args
    )
    assert "--reinstall-package soundtime" in final_sync or "--no-cache" in final_sync, (
        "uv reuses its cached wheel of the project while pyproject.toml is unchanged; the last `uv sync` "
        "needs --reinstall-package soundtime or code changes never reach the image"
    )


def test_the_image_serves_the_browser_app_built_from_the_lock_file() -> None:
    stages = {args.split()[-1]: stage for stage in _stages() for keyword, args in stage[:1] if keyword == "FROM"}
    web = [args for keyword, args in stages["web"] if keyword == "RUN"]
    assert any("npm ci" in args for args in web), "the web stage must install from web/package-lock.json (npm ci)"
    assert any("npm run build" in args for args in web), "the web stage must build the app"
    builder = stages["builder"]
    copied = next(i for i, (keyword, args) in enumerate(builder) if keyword == "COPY" and "--from=web" in args)
    assert builder[copied][1].endswith("/soundtime/web/dist ./soundtime/web/dist"), builder[copied]
    last_sync = max(i for i, (keyword, args) in enumerate(builder) if keyword == "RUN" and "uv sync" in args)
    assert copied < last_sync, "the app must be in place before soundtime's wheel is built"


def test_the_image_builds_the_app_with_the_node_that_make_pins() -> None:
    pinned = re.search(r"^NODE_VERSION := (\S+)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    image = re.search(r"^ARG NODE_IMAGE=node:(\S+?)-", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert pinned, "the Makefile pins NODE_VERSION"
    assert image, "the Dockerfile names its NODE_IMAGE with a version"
    assert image[1] == pinned[1], f"Dockerfile builds with Node {image[1]}, make with {pinned[1]}"


def test_image_exposes_http_and_p2p_ports() -> None:
    exposed = set()
    for args in (args for keyword, args in _stages()[-1] if keyword == "EXPOSE"):
        for port in args.split():
            number, _, protocol = port.partition("/")
            exposed.add((int(number), protocol or "tcp"))
    http = Settings.model_fields["port"].default
    p2p = Settings.model_fields["p2p_bind_port"].default
    assert {(http, "tcp"), (p2p, "udp")} <= exposed, f"EXPOSE {http}/tcp and {p2p}/udp (found {exposed})"


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in _stages()[-1] if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the runtime stage runs as {users[-1]}"


def test_image_healthcheck_requests_healthz() -> None:
    checks = [args for keyword, args in _stages()[-1] if keyword == "HEALTHCHECK"]
    assert checks, "the runtime stage needs a HEALTHCHECK"
    assert "/healthz" in checks[-1], f"the image HEALTHCHECK must request /healthz: {checks[-1]}"


def test_image_entrypoint_is_the_soundtime_command() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    entrypoints = [_args(args) for keyword, args in _stages()[-1] if keyword == "ENTRYPOINT"]
    assert entrypoints, "the runtime stage needs an ENTRYPOINT"
    assert entrypoints[-1][-1] in scripts, (
        f"ENTRYPOINT {entrypoints[-1]} does not end with a console script of pyproject.toml ({sorted(scripts)})"
    )


def test_dockerfile_copies_only_files_that_exist() -> None:
    sources = _context_copies()
    assert sources, "the Dockerfile copies nothing from the build context"
    missing = [source for source in sources if not list(REPO.glob(source.lstrip("/").rstrip("/") or "."))]
    assert not missing, f"the Dockerfile copies {missing}, which do not exist in the repository"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    dropped = []
    for source in _context_copies():
        for path in REPO.glob(source.lstrip("/").rstrip("/")):
            files = [path] if path.is_file() else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
            candidates = [path, *files]
            dropped += [str(p.relative_to(REPO)) for p in candidates if _ignored(str(p.relative_to(REPO)))]
    assert not dropped, f".dockerignore leaves out {sorted(dropped)}, which the Dockerfile copies"


@pytest.mark.parametrize("path", [".env", ".git/config", "data/jwt_secret", ".venv/bin/python", "tests"])
def test_dockerignore_keeps_secrets_and_local_state_out(path: str) -> None:
    assert _ignored(path), f".dockerignore must leave {path} out of the build context"


# --- docker compose itself, when installed -------------------------------------------------------------


def _compose_cli() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    return ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE)]


def _compose_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in env_names() | COMPOSE_ONLY_VARIABLES}
    return env | variables


def test_docker_compose_accepts_the_file() -> None:
    command = [*_compose_cli(), "config", "--quiet"]
    env = _compose_env(POSTGRES_PASSWORD="ab" * 32, JWT_SECRET="cd" * 32)
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=REPO)
    assert result.returncode == 0, f"docker compose config rejects docker-compose.yml:\n{result.stderr}"


@pytest.mark.parametrize("missing", sorted(REQUIRED_VARIABLES))
def test_docker_compose_refuses_to_run_without_a_secret(missing: str) -> None:
    command = [*_compose_cli(), "config", "--quiet"]
    given = {name: "ab" * 32 for name in REQUIRED_VARIABLES if name != missing}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=_compose_env(**given), cwd=REPO)
    assert result.returncode != 0, f"docker compose config accepted the file without {missing}"
    assert missing in result.stderr, f"the error does not name {missing}:\n{result.stderr}"
