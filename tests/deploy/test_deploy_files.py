"""Static checks of the production deployment files: Docker cannot run here, so the YAML is parsed instead.

Worker kinds come from schemas/workers.py, so adding a kind without deploying it fails here, and every
command a compose file or manifest runs is resolved against the CLI itself, with no exemptions. The GPU
worker (escalation) lives in docker-compose.ml.yml, on top of docker-compose.yml, and deploy/k8s/escalation.yaml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import topics
from schemas.workers import WORKER_KINDS, WORKERS_BY_KIND

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
# The operator's monitoring beside the stack (not Teppan containers): Prometheus scraping /metrics, Grafana.
MONITORING = ("prometheus", "grafana")
# A whole value that is one compose variable reference: ${VAR}, ${VAR:-default} or ${VAR:?message}.
VAR_REF = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:?[-?][^}]*)?\}$")
# A URI whose password, if any, is a variable reference.
URI_SECRET = re.compile(r"^[a-z]+://[^:@/]*:(?P<password>[^@]*)@")
# Worker kinds that need a GPU: in docker-compose.ml.yml (not the base file) and deploy/k8s/escalation.yaml.
GPU_KINDS = ("escalation",)
ML_COMPOSE = "docker-compose.ml.yml"
CUDA_DOCKERFILE = "deploy/Dockerfile.cuda"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def ml_compose() -> dict[str, Any]:
    return _load(ML_COMPOSE)


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _dockerfile_entrypoint(dockerfile: str = "Dockerfile") -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", (ROOT / dockerfile).read_text(), re.M)
    assert match, f"{dockerfile} has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def _dockerfile_of(service: dict[str, Any]) -> str:
    """The Dockerfile a compose service builds from, relative to the repository root."""
    build = service.get("build")
    if not isinstance(build, dict):
        return "Dockerfile"
    return str(Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile"))


def _argv(service: dict[str, Any]) -> list[str]:
    entry = service.get("entrypoint") or _dockerfile_entrypoint(_dockerfile_of(service))
    command = service.get("command") or []
    entry = entry.split() if isinstance(entry, str) else list(entry)
    command = command.split() if isinstance(command, str) else list(command)
    return entry + command


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name not in INFRA + MONITORING}


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
    assert WORKER_KINDS, "schemas/workers.py lists no worker kinds"
    assert set(GPU_KINDS) <= set(WORKER_KINDS)


def test_one_service_per_worker_kind(compose: dict[str, Any], ml_compose: dict[str, Any]) -> None:
    # `docker compose -f docker-compose.yml -f docker-compose.ml.yml` merges services by name: the ML file
    # only adds services, so an accidental override of a base service cannot hide here.
    assert not set(compose["services"]) & set(ml_compose["services"]), "the ML file redefines a base service"
    base, ml = _worker_services(compose), _worker_services(ml_compose)
    for kind in WORKER_KINDS:
        where, other = (ml, base) if kind in GPU_KINDS else (base, ml)
        assert len(where.get(kind, [])) == 1, f"worker kind {kind!r} needs exactly one compose service"
        assert kind not in other, f"worker kind {kind!r} is in the wrong compose file"


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
    known_options = {option for parameter in command.params for option in parameter.opts}
    unknown = [word.split("=")[0] for word in argv if word.startswith("-") and word.split("=")[0] not in known_options]
    if unknown:
        return f"{' '.join(words)!r} has no option {unknown[0]!r}"
    return None


def test_every_command_a_deploy_file_runs_exists_in_the_cli() -> None:
    commands = _every_deployed_command()
    assert len(commands) >= len(WORKER_KINDS) * 2, "expected the compose file and the manifests to run workers"
    problems = {where: why for where, argv in commands if (why := _cli_accepts(argv))}
    assert not problems, problems


def test_the_deploy_files_run_the_gpu_worker_and_its_training() -> None:
    commands = _every_deployed_command()

    def places(argv: list[str]) -> set[str]:
        return {place for place, run in commands if run == argv}

    assert places(["worker", "escalation"]) == {f"{ML_COMPOSE}:escalation", "escalation.yaml:teppan-escalation"}
    assert places(["ml", "train", "escalation"]) == {
        f"{ML_COMPOSE}:train-escalation",
        "escalation.yaml:teppan-train-escalation",
    }


def test_the_cli_check_can_fail() -> None:
    assert _cli_accepts(["worker", "telepathy"]) == "unknown worker kind in ['worker', 'telepathy']"
    assert _cli_accepts(["telepathy"]) == "no command 'telepathy'"
    assert _cli_accepts(["ml", "train", "telepathy"]) == "no command 'ml train telepathy'"
    assert _cli_accepts(["ml", "train"]) == "'ml train' is a group, not a command"
    assert _cli_accepts(["db", "migrate"]) is None
    assert _cli_accepts(["worker", "escalation"]) is None
    assert _cli_accepts(["ml", "train", "escalation"]) is None
    assert _cli_accepts(["report", "weekly", "--store"]) is None
    assert _cli_accepts(["report", "weekly", "--stash"]) == "'report weekly' has no option '--stash'"


def test_a_cron_job_stores_the_weekly_report() -> None:
    assert ("jobs.yaml:teppan-weekly-report", ["report", "weekly", "--store"]) in _every_deployed_command()


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


def test_ml_services_have_the_base_settings(compose: dict[str, Any], ml_compose: dict[str, Any]) -> None:
    reference = _env(compose["services"]["http"])
    for name, svc in ml_compose["services"].items():
        env = _env(svc)
        assert {k: env.get(k) for k in SETTINGS} == {k: reference[k] for k in SETTINGS}, name
        # The model lives under TEPPAN_DATA_DIR on the volume every Teppan container mounts.
        assert "teppan-data:/data" in svc["volumes"], name


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


def test_ml_compose_runs_the_escalation_worker_on_a_gpu(
    compose: dict[str, Any], ml_compose: dict[str, Any]
) -> None:
    services = ml_compose["services"]
    (name,) = _worker_services(ml_compose)["escalation"]
    worker = services[name]
    assert _dockerfile_of(worker) == CUDA_DOCKERFILE
    assert worker["build"]["context"] == "."  # the same context and .dockerignore as the CPU image
    assert worker["image"] != compose["services"]["http"]["image"], "the CUDA image needs a name of its own"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    for server in INFRA:
        assert worker["depends_on"][server]["condition"] == "service_healthy", server
    for job in ("migrate", "topics"):
        assert worker["depends_on"][job]["condition"] == "service_completed_successfully", job
    # The model is built by an explicit, on-demand job: `up` never starts it, and the worker never trains.
    train = services["train-escalation"]
    assert _argv(train) == ["teppan", "ml", "train", "escalation"]
    assert train["profiles"] == ["train"] and train["restart"] == "no"
    assert "train-escalation" not in worker["depends_on"]
    # Nothing but the worker holds a GPU.
    assert [n for n, svc in services.items() if "deploy" in svc] == [name]


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


def _torch_pin() -> str:
    match = re.search(r'^\s*"torch==([^"]+)",', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml pins no torch version"
    return match.group(1)


def test_cuda_dockerfile() -> None:
    text = (ROOT / CUDA_DOCKERFILE).read_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)\s*$", text, re.M))
    assert re.search(r"^FROM nvidia/cuda:\$\{CUDA_VERSION\}-runtime-ubuntu[\d.]+\s*$", text, re.M)
    # The same torch as pyproject.toml, from PyTorch's index for the base image's CUDA major.minor.
    assert args["TORCH_VERSION"] == _torch_pin()
    major, minor = args["CUDA_VERSION"].split(".")[:2]
    assert args["TORCH_INDEX_URL"] == f"https://download.pytorch.org/whl/cu{major}{minor}"
    assert 'pip install --extra-index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in text
    assert "torch.version.cuda" in text  # the build fails on a CPU build of torch
    assert re.search(r"python3\.11 -m venv", text)
    assert re.search(r"pip install \.(\s|$)", text)
    assert _dockerfile_entrypoint(CUDA_DOCKERFILE) == _dockerfile_entrypoint() == ["teppan"]
    # The same user as the CPU image, so both can share the /data volume.
    uid = re.compile(r"useradd --create-home --uid (\d+) teppan")
    cpu_uid = uid.search((ROOT / "Dockerfile").read_text())
    cuda_uid = uid.search(text)
    assert cpu_uid and cuda_uid and cpu_uid.group(1) == cuda_uid.group(1)
    assert re.search(r"^USER teppan\s*$", text, re.M)


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


def test_kustomization_sets_every_image(k8s: list[dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())
    names = {image["name"] for image in kustomization["images"]}
    used = {
        container["image"].split(":")[0]
        for doc in k8s
        if doc["kind"] in ("Deployment", "Job")
        for container in _containers(doc)
    }
    assert used == names == {"teppan", "teppan-cuda"}


def test_k8s_escalation_runs_on_a_gpu(k8s: list[dict[str, Any]]) -> None:
    deployment = _deployments(k8s)["teppan-escalation"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replicas; apply must not reset them"
    (container,) = _containers(deployment)
    assert container["image"].split(":")[0] == "teppan-cuda"
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    env = {e["name"]: e for e in container["env"]}
    model_dir = env["TEPPAN_ESCALATION_MODEL_DIR"]["value"]
    # The model comes from the claim the training Job writes to; the worker only reads it.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    (claim,) = [v for v in volumes.values() if "persistentVolumeClaim" in v]
    assert mounts[claim["name"]]["readOnly"] is True
    assert model_dir.startswith(mounts[claim["name"]]["mountPath"] + "/")
    train = next(d for d in k8s if d["kind"] == "Job" and d["metadata"]["name"] == "teppan-train-escalation")
    (trainer,) = _containers(train)
    assert trainer["args"] == ["ml", "train", "escalation"]
    assert {e["name"]: e for e in trainer["env"]}["TEPPAN_ESCALATION_MODEL_DIR"]["value"] == model_dir
    train_volumes = train["spec"]["template"]["spec"]["volumes"]
    name = claim["persistentVolumeClaim"]["claimName"]
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == name for v in train_volumes)
    claims = {d["metadata"]["name"]: d for d in k8s if d["kind"] == "PersistentVolumeClaim"}
    assert "ReadWriteMany" in claims[name]["spec"]["accessModes"]


def test_keda_scales_escalation_on_lag_and_business_hours(k8s: list[dict[str, Any]]) -> None:
    (scaled,) = [d for d in k8s if d["kind"] == "ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "teppan-escalation"
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert spec["minReplicaCount"] == 0
    partitions = int(next(d for d in k8s if d["kind"] == "ConfigMap")["data"]["TEPPAN_PARTITIONS"])
    assert 1 <= spec["maxReplicaCount"] <= partitions
    triggers = {t["type"]: t["metadata"] for t in spec["triggers"]}
    assert set(triggers) == {"kafka", "cron"}
    spec_of = WORKERS_BY_KIND["escalation"]
    kafka = triggers["kafka"]
    assert kafka["consumerGroup"] == spec_of.group == "teppan-escalation"
    assert kafka["topic"] in spec_of.consumes and kafka["topic"] == topics.ML_ESCALATIONS
    assert int(kafka["lagThreshold"]) > 0
    # The brokers come from the Deployment's own environment (the ConfigMap), not a second copy here.
    assert kafka["bootstrapServersFromEnv"] == "KAFKA_BOOTSTRAP_SERVERS"
    assert "bootstrapServers" not in kafka
    cron = triggers["cron"]
    assert cron["timezone"] and cron["start"] != cron["end"]
    assert int(cron["desiredReplicas"]) >= 1
    for key in ("start", "end"):
        assert len(cron[key].split()) == 5, f"cron {key} must be a five-field cron expression"


# --- Prometheus and Grafana -------------------------------------------------------------------------


def _dashboard_expressions() -> list[str]:
    dashboards = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert dashboards, "deploy/grafana/dashboards holds no dashboard"
    return [
        target["expr"]
        for path in dashboards
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


def test_the_grafana_dashboard_charts_only_metrics_teppan_exposes() -> None:
    exposed = set(re.findall(r'"(teppan_[a-z_]+)"', (ROOT / "services/analytics/metrics/prometheus.py").read_text()))
    assert "teppan_conversion_ratio" in exposed
    charted = {name for expr in _dashboard_expressions() for name in re.findall(r"teppan_[a-z_]+", expr)}
    assert charted, "the dashboard charts nothing"
    assert charted <= exposed, f"the dashboard charts metrics /metrics does not have: {sorted(charted - exposed)}"
    # The labels it selects on are the ones /metrics sets.
    for expr in _dashboard_expressions():
        for value in re.findall(r'quantile="([0-9.]+)"', expr):
            assert value in ("0.5", "0.95", "0.99"), expr


def test_prometheus_and_grafana_are_wired_to_teppan(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["http:8000"]
    assert "8000" in " ".join(_argv(services["http"]))  # the port `teppan serve` listens on
    # The token file Prometheus reads is the one its container writes from TEPPAN_API_TOKEN.
    token_file = job["authorization"]["credentials_file"]
    assert token_file in " ".join(services["prometheus"]["command"])
    assert VAR_REF.match(services["prometheus"]["environment"]["TEPPAN_API_TOKEN"])
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
    # Grafana: the provisioned data source is the one the dashboard names, and the dashboards' folder is mounted
    # where the provider looks.
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090"
    for path in (ROOT / "deploy/grafana/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/teppan.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{folder}:ro" in services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert VAR_REF.match(services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"])
