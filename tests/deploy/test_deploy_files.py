"""Static checks of the production deployment files: Docker cannot run here, so the YAML is parsed instead.

Worker kinds come from services/worker_kinds.py, so adding a kind without deploying it fails here, and
every command a compose file or manifest runs is resolved against the CLI itself, with no exemptions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.workers import WORKER_KINDS

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "REDIS_URL",
    "SENTRY_DSN",
    "TEPPAN_API_TOKEN",
    "TEPPAN_PARTITIONS",
    "TEPPAN_DATA_DIR",
)
INFRA = ("kafka", "postgres", "redis")
# A whole value that is one compose variable reference: ${VAR}, ${VAR:-default} or ${VAR:?message}.
VAR_REF = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:?[-?][^}]*)?\}$")
# A URI whose password, if any, is a variable reference.
URI_SECRET = re.compile(r"^[a-z]+://[^:@/]*:(?P<password>[^@]*)@")


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _dockerfile_entrypoint() -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, "Dockerfile has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def _argv(service: dict[str, Any]) -> list[str]:
    entry = service.get("entrypoint") or _dockerfile_entrypoint()
    command = service.get("command") or []
    entry = entry.split() if isinstance(entry, str) else list(entry)
    command = command.split() if isinstance(command, str) else list(command)
    return entry + command


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name not in INFRA}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _worker_services(compose: dict[str, Any]) -> dict[str, list[str]]:
    """kind -> names of the services that run `teppan worker <kind>`."""
    found: dict[str, list[str]] = {}
    for name, svc in compose["services"].items():
        argv = _argv(svc)
        if argv[:2] == ["teppan", "worker"] and len(argv) == 3:
            found.setdefault(argv[2], []).append(name)
    return found


def test_worker_kinds_are_known() -> None:
    assert WORKER_KINDS, "services/worker_kinds.py lists no worker kinds"


def test_one_service_per_worker_kind(compose: dict[str, Any]) -> None:
    base = _worker_services(compose)
    for kind in WORKER_KINDS:
        assert len(base.get(kind, [])) == 1, f"worker kind {kind!r} needs exactly one compose service"


def _compose_files() -> list[Path]:
    return sorted(ROOT.glob("docker-compose*.yml"))


def _every_deployed_command() -> list[tuple[str, list[str]]]:
    """(where, argv after `teppan`) for every container of every compose file and Kubernetes manifest."""
    commands: list[tuple[str, list[str]]] = []
    for path in _compose_files():
        for name, svc in (_load(path.name).get("services") or {}).items():
            argv = _argv(svc) if "image" not in svc or "teppan" in str(svc.get("image")) else []
            if argv[:1] == ["teppan"]:
                commands.append((f"{path.name}:{name}", argv[1:]))
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("Deployment", "Job", "CronJob", "StatefulSet"):
                template = doc["spec"].get("jobTemplate", {}).get("spec", doc["spec"])["template"]
                for container in template["spec"]["containers"]:
                    argv = [*container.get("command", []), *container.get("args", [])]
                    commands.append((f"{path.name}:{doc['metadata']['name']}", argv))
    return commands


def _cli_accepts(argv: list[str]) -> str | None:
    """None if the real `teppan` CLI has this command (and worker kind); else why not."""
    import click
    import typer.main

    from services.cli import app

    def is_group(command: Any) -> bool:
        # Typer's group is click's in spirit but not always by class: ask for the group's method.
        return hasattr(command, "list_commands")

    command: Any = typer.main.get_command(app)
    words = [word for word in argv if not word.startswith("-")]
    for index, word in enumerate(words):
        if is_group(command):
            sub = command.get_command(click.Context(command), word)
            if sub is None:
                return f"no command {' '.join(words[: index + 1])!r}"
            command = sub
        else:
            break
    if is_group(command):
        return f"{' '.join(words)!r} is a group, not a command"
    if command.name == "worker" and (len(words) < 2 or words[1] not in WORKER_KINDS):
        return f"unknown worker kind in {argv}"
    return None


def test_every_command_a_deploy_file_runs_exists_in_the_cli() -> None:
    commands = _every_deployed_command()
    assert len(commands) >= len(WORKER_KINDS) * 2, "expected the compose file and the manifests to run workers"
    problems = {where: why for where, argv in commands if (why := _cli_accepts(argv))}
    assert not problems, problems


def test_the_cli_check_can_fail() -> None:
    assert _cli_accepts(["worker", "escalation"]) == "unknown worker kind in ['worker', 'escalation']"
    assert _cli_accepts(["telepathy"]) == "no command 'telepathy'"
    assert _cli_accepts(["db", "migrate"]) is None


def test_one_shot_jobs_and_http(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _argv(services["migrate"]) == ["teppan", "db", "migrate"]
    assert _argv(services["topics"]) == ["teppan", "topics", "create"]
    http = _argv(services["http"])
    assert http[:2] == ["teppan", "serve"]
    assert "8000" in http and "0.0.0.0" in http  # reachable from outside the container
    assert any(str(p).endswith(":8000") for p in services["http"]["ports"])
    for job in ("migrate", "topics"):
        assert services[job]["restart"] == "no"


def test_every_app_service_has_every_setting(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    reference = _env(compose["services"]["http"])
    assert set(SETTINGS) <= set(reference)
    for name, svc in apps.items():
        env = _env(svc)
        missing = set(SETTINGS) - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        # One anchor: the same value everywhere, so no service talks to a different server.
        assert {k: env[k] for k in SETTINGS} == {k: reference[k] for k in SETTINGS}, name


def test_secrets_come_from_the_environment() -> None:
    for data in (_load(path.name) for path in _compose_files()):
        for name, svc in data["services"].items():
            env = _env(svc)
            for key, value in env.items():
                if key in ("SENTRY_DSN", "TEPPAN_API_TOKEN") or "PASSWORD" in key or key == "REDISCLI_AUTH":
                    assert VAR_REF.match(value), f"{name}.{key} must be a ${{VAR}} reference, not a literal"
                if key in ("DATABASE_URL", "REDIS_URL"):
                    match = URI_SECRET.match(value)
                    assert match and VAR_REF.match(match.group("password")), f"{name}.{key} password"


def test_apps_wait_for_healthy_servers(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    for name, svc in apps.items():
        deps = svc["depends_on"]
        needs = {"migrate": ("postgres",), "topics": ("kafka",)}.get(name, INFRA)
        for server in needs:
            assert deps[server]["condition"] == "service_healthy", f"{name} -> {server}"
        if name not in ("migrate", "topics"):
            for job in ("migrate", "topics"):
                assert deps[job]["condition"] == "service_completed_successfully", f"{name} -> {job}"


def test_servers_images_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    assert not any("zookeeper" in name for name in services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    expected = {"kafka": "kafka-broker-api-versions", "postgres": "pg_isready", "redis": "redis-cli ping"}
    for name, needle in {**expected, "http": "/healthz"}.items():
        test = services[name]["healthcheck"]["test"]
        text = test if isinstance(test, str) else " ".join(test)
        assert needle in text, f"{name} healthcheck should use {needle}"


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"pip install\b[^\n]*\s\.(\s|$)", text)
    assert _dockerfile_entrypoint() == ["teppan"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^teppan = "services\.cli:main"', pyproject, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and ".teppan" in ignored


def _deployments(k8s: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s if d["kind"] == "Deployment"}


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]


def test_k8s_deployment_per_worker_kind(k8s: list[dict[str, Any]]) -> None:
    deployments = _deployments(k8s)
    for kind in WORKER_KINDS:
        dep = deployments.get(f"teppan-{kind}")
        assert dep, f"deploy/k8s has no Deployment teppan-{kind}"
        assert _containers(dep)[0]["args"] == ["worker", kind]


def test_k8s_settings_and_secrets(k8s: list[dict[str, Any]]) -> None:
    workloads = [d for d in k8s if d["kind"] in ("Deployment", "Job")]
    assert workloads
    for doc in workloads:
        for container in _containers(doc):
            env = {e["name"]: e for e in container["env"]}
            assert set(SETTINGS) <= set(env), doc["metadata"]["name"]
            for key in ("DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "TEPPAN_API_TOKEN"):
                assert "secretKeyRef" in env[key]["valueFrom"], f"{key} must come from a Secret"
    assert not [d for d in k8s if d["kind"] == "Secret"], "secrets are created out of band, never committed"


def test_kustomization_lists_every_manifest() -> None:
    k8s_dir = ROOT / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s_dir / "kustomization.yaml").read_text())
    manifests = {p.name for p in k8s_dir.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
