"""The production shape, checked without a Docker engine or a cluster: docker-compose.yml against the
compose-spec JSON schema, the Kubernetes manifests against Kubernetes' schemas (kubernetes-validate,
offline), and every image, port and variable they name against the settings in code."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from common.search_attributes import cli_registrations
from common.settings import DEFAULT_TASK_QUEUE, Settings, try_load_settings
from tests.production.deploy_files import (
    COMPOSE_SCHEMA,
    K8S_DIR,
    ROOT,
    compose,
    dockerfile_instructions,
    duration_s,
    interpolate,
    k8s_documents,
    k8s_object,
    service_env,
)

SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}
# Read by the AWS SDK's standard credential chain (the payload store's bucket), not by Settings.
AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|PAYLOAD_KEYS")
WORKER_SERVICES = ("worker", "codec-server")
# Between SIGTERM and SIGKILL a worker needs its graceful-shutdown time plus this much to report the
# last activity results and disconnect (and not so much that a stuck pod lingers for minutes).
SHUTDOWN_MARGIN_S = (5, 60)


# --- docker-compose.yml ---------------------------------------------------------------------------


def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_compose_file_matches_the_compose_spec_schema() -> None:
    errors = sorted(compose_validator().iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda doc: doc["services"]["worker"].update(stop_grace_period={"seconds": 40}),
        lambda doc: doc["services"]["temporal"]["depends_on"]["temporal-schema"].update(condition="done"),
        lambda doc: doc["services"]["worker"].update(restart_policy="always"),
    ],
    ids=["wrong-type", "bad-enum", "unknown-key"],
)
def test_the_schema_check_catches_a_broken_compose_file(break_it: Any) -> None:
    broken = copy.deepcopy(compose())
    break_it(broken)
    assert list(compose_validator().iter_errors(broken))


def all_images() -> list[tuple[str, str]]:
    images = [
        (f"compose:{name}", svc["image"]) for name, svc in compose()["services"].items() if "image" in svc
    ]
    for path, document in k8s_documents():
        spec = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            images.append((f"{path.name}:{container['name']}", container["image"]))
    for keyword, args in dockerfile_instructions():
        if keyword == "ARG" and args.startswith("PYTHON_IMAGE="):
            images.append(("Dockerfile", args.split("=", 1)[1]))
    return images


@pytest.mark.parametrize(("where", "image"), all_images())
def test_every_image_is_pinned_to_a_version(where: str, image: str) -> None:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"{where}: {image} has no tag"
    dated_release = re.fullmatch(r"RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z", tag)  # MinIO's versions
    assert tag != "latest" and (re.search(r"\d+\.\d+", tag) or dated_release), (
        f"{where}: {image} is not pinned to a version"
    )


def test_secrets_in_compose_come_only_from_the_environment() -> None:
    for name in compose()["services"]:
        for variable, value in service_env(name).items():
            if not SECRET_NAME.search(variable) or value is None:
                continue  # None: passed through from the host environment
            assert re.fullmatch(r"\$\{[A-Z_]+:[?-][^}]*\}", value), (
                f"{name}.{variable} is written in the file"
            )
    # The database password is required: compose refuses to start without it.
    for service, variable in [("postgresql", "POSTGRES_PASSWORD"), ("temporal", "POSTGRES_PWD")]:
        assert (service_env(service)[variable] or "").startswith("${POSTGRES_PASSWORD:?"), (service, variable)
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(service_env("temporal")["POSTGRES_PWD"] or "", env={})


@pytest.mark.parametrize("service", WORKER_SERVICES)
def test_worker_variables_are_settings_and_their_values_load(service: str) -> None:
    environment = service_env(service)
    unknown = {
        v for v in environment if v not in SETTINGS_VARIABLES | AWS_CREDENTIALS and not v.startswith("OTEL_")
    }
    assert not unknown, f"{service} sets variables no setting reads: {sorted(unknown)}"
    values = {
        name.lower(): interpolate(value, env={})
        for name, value in environment.items()
        if value is not None and name.lower() in Settings.model_fields
    }
    loaded = try_load_settings(**values, _env_file=None)
    assert loaded.temporal_task_queue == DEFAULT_TASK_QUEUE


def test_workers_scale_without_collisions() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / worker["build"]["context"] / worker["build"]["dockerfile"]).is_file()


def test_compose_stop_grace_period_covers_the_graceful_shutdown() -> None:
    worker = compose()["services"]["worker"]
    graceful = float(service_env("worker")["WORKER_GRACEFUL_SHUTDOWN_S"] or "")
    margin = duration_s(worker["stop_grace_period"]) - graceful
    assert SHUTDOWN_MARGIN_S[0] <= margin <= SHUTDOWN_MARGIN_S[1]


def published_ports(service: str) -> dict[int, int]:
    """container port -> host port."""
    ports = {}
    for entry in compose()["services"][service].get("ports", []):
        host, _, container = str(entry).rpartition(":")
        ports[int(container)] = int(host)
    return ports


def host_port(address: str) -> tuple[str, int]:
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    assert parsed.hostname and parsed.port, address
    return parsed.hostname, parsed.port


def test_addresses_name_services_and_ports_that_exist() -> None:
    services = compose()["services"]
    worker_env = service_env("worker")
    # The worker reaches the Temporal frontend on the port the server publishes and settings default to.
    temporal_host, temporal_port = host_port(worker_env["TEMPORAL_ADDRESS"] or "")
    default_port = host_port(Settings.model_fields["temporal_address"].default)[1]
    assert temporal_host in services and temporal_port == default_port
    assert temporal_port in published_ports(temporal_host)
    # Traces go to the collector's OTLP/HTTP receiver, the collector forwards to Jaeger.
    otel_host, otel_port = host_port(worker_env["OTEL_EXPORTER_OTLP_ENDPOINT"] or "")
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    receiver_ports = {
        host_port(protocol["endpoint"])[1]
        for protocol in collector["receivers"]["otlp"]["protocols"].values()
    }
    assert otel_host in services and otel_port in receiver_ports
    # Published on the host as well, so a starter run from the host exports its root span.
    assert receiver_ports <= {p for p, host in published_ports(otel_host).items() if host == p}
    jaeger_host, _ = host_port(collector["exporters"]["otlp/jaeger"]["endpoint"])
    assert jaeger_host in services
    # The codec server listens where it is published; its CORS origin is the Web UI's host address.
    codec_env = service_env("codec-server")
    codec_port = host_port(codec_env["CODEC_SERVER_BIND"] or "")[1]
    assert codec_port in published_ports("codec-server")
    ui_origin = f"http://localhost:{published_ports('temporal-ui')[8080]}"
    assert ui_origin in (codec_env["CODEC_SERVER_ALLOWED_ORIGINS"] or "").split(",")
    assert ui_origin in (service_env("temporal-ui")["TEMPORAL_CORS_ORIGINS"] or "")


def test_search_attributes_registered_at_start_are_the_ones_in_code() -> None:
    registered = (service_env("temporal-setup")["SEARCH_ATTRIBUTES"] or "").split()
    assert sorted(registered) == sorted(cli_registrations())


def test_mounted_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_otel_collector_pipelines_use_defined_components() -> None:
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector[kind], f"{component} is not defined under {kind}"
    assert set(collector["service"]["extensions"]) <= set(collector["extensions"])


def test_dynamic_config_entries_are_value_lists() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "dynamic-config.yaml").read_text())
    assert config
    for key, entries in config.items():
        assert re.fullmatch(r"[a-z]+(\.[A-Za-z]+)+", key), key
        assert isinstance(entries, list) and all("value" in entry for entry in entries), key


def test_namespace_setup_script_registers_the_search_attributes_on_a_real_server(
    dev_server_env: Any, tmp_path: Any
) -> None:
    """deploy/temporal/setup-namespace.sh with the same `temporal` CLI the admin-tools image has,
    against the dev server: a new namespace with our search attributes; a second run changes nothing."""
    address = dev_server_env.client.service_client.config.target_host
    namespace = f"setup-{tmp_path.name[-8:].lower().replace('_', '-')}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "SEARCH_ATTRIBUTES": " ".join(cli_registrations()),
    }
    script = str(ROOT / "deploy" / "temporal" / "setup-namespace.sh")
    first = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("exists") == len(cli_registrations())
    listed = subprocess.run(
        ["temporal", "operator", "search-attribute", "list", "--namespace", namespace, "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for pair in cli_registrations():
        name, kind = pair.split("=")
        assert re.search(rf"{name}\s+{kind}\b", listed.stdout), listed.stdout


# --- Kubernetes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document", [d for _, d in k8s_documents()], ids=[f"{p.name}:{d['kind']}" for p, d in k8s_documents()]
)
def test_manifest_is_valid_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(k8s_object("Deployment", "ai-workflows-worker"))
    broken["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "forty-five"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_existing_manifests_but_not_the_secret() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S_DIR / resource).is_file(), resource
    assert not any("secret" in resource for resource in kustomization["resources"])


def worker_container() -> dict[str, Any]:
    deployment = k8s_object("Deployment", "ai-workflows-worker")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_k8s_termination_grace_period_matches_the_graceful_shutdown() -> None:
    deployment = k8s_object("Deployment", "ai-workflows-worker")
    config = k8s_object("ConfigMap", "ai-workflows-config")["data"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    margin = grace - float(config["WORKER_GRACEFUL_SHUTDOWN_S"])
    assert SHUTDOWN_MARGIN_S[0] <= margin <= SHUTDOWN_MARGIN_S[1]
    assert worker_container()["command"] == ["python", "-m", "worker"]


def test_k8s_config_keys_are_settings_and_load() -> None:
    config = k8s_object("ConfigMap", "ai-workflows-config")["data"]
    secret = k8s_object("Secret", "ai-workflows-secrets")["stringData"]
    explicit = {e["name"] for _, d in k8s_documents() for e in _containers_env(d)}
    for variable in {*config, *secret, *explicit}:
        assert variable in SETTINGS_VARIABLES | AWS_CREDENTIALS or variable.startswith("OTEL_"), variable
    assert all(value == "" for value in secret.values()), "the example Secret must hold no values"
    loaded = try_load_settings(**{k.lower(): v for k, v in config.items()}, _env_file=None)
    assert loaded.temporal_task_queue == DEFAULT_TASK_QUEUE


def test_k8s_workers_do_not_keep_the_payload_store_in_a_per_pod_volume() -> None:
    """A payload one pod stored must be readable by every other pod (a run moves between workers):
    with per-pod state volumes the store is a bucket, never the local directory."""
    config = k8s_object("ConfigMap", "ai-workflows-config")["data"]
    volumes = k8s_object("Deployment", "ai-workflows-worker")["spec"]["template"]["spec"]["volumes"]
    per_pod = any("emptyDir" in volume for volume in volumes if volume["name"] == "state")
    assert not per_pod or config.get("PAYLOAD_STORE") in ("s3", "off")


def test_k8s_uses_the_s3_payload_store_everywhere_it_is_read() -> None:
    """Workers, the codec server (it resolves references for the Web UI) and the retention sweep
    all reach the same bucket."""
    config = k8s_object("ConfigMap", "ai-workflows-config")["data"]
    loaded = try_load_settings(**{k.lower(): v for k, v in config.items()}, _env_file=None)
    assert loaded.payload_store == "s3" and loaded.payload_store_s3_bucket
    codec = k8s_object("Deployment", "ai-workflows-codec-server")["spec"]["template"]["spec"]["containers"][0]
    from_config = {
        e["name"]
        for e in codec["env"]
        if e.get("valueFrom", {}).get("configMapKeyRef", {}).get("name") == config_name()
    }
    assert {"PAYLOAD_STORE", "PAYLOAD_STORE_S3_BUCKET", "PAYLOAD_STORE_S3_PREFIX"} <= from_config
    sweep = k8s_object("CronJob", "ai-workflows-payload-sweep")["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]
    [container] = sweep["containers"]
    assert container["command"] == ["python", "-m", "worker.payload_sweep", "--delete"]
    assert {"configMapRef": {"name": config_name()}} in container["envFrom"]
    assert sweep["securityContext"]["runAsNonRoot"] is True


def config_name() -> str:
    return str(k8s_object("ConfigMap", "ai-workflows-config")["metadata"]["name"])


def test_compose_workers_and_codec_server_share_the_minio_bucket() -> None:
    services = compose()["services"]
    setup = " ".join(services["minio-setup"]["entrypoint"])
    for service in WORKER_SERVICES:
        environment = service_env(service)
        assert environment["PAYLOAD_STORE"] == "s3", service
        bucket = environment["PAYLOAD_STORE_S3_BUCKET"] or ""
        assert f"mc mb --ignore-existing store/{bucket}" in setup, service
        endpoint_host, endpoint_port = host_port(environment["AWS_ENDPOINT_URL"] or "")
        assert endpoint_host == "minio" and endpoint_port in published_ports("minio")
        # The workers' key is MinIO's root user, their secret its (required) root password.
        assert environment["AWS_ACCESS_KEY_ID"] == service_env("minio")["MINIO_ROOT_USER"]
        assert environment["AWS_SECRET_ACCESS_KEY"] == service_env("minio")["MINIO_ROOT_PASSWORD"]
    assert services["worker"]["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"


def _containers_env(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {}).get("template", {}).get("spec", {})
    return [entry for container in spec.get("containers", []) for entry in container.get("env", [])]


def test_k8s_ports_match_the_settings() -> None:
    config = k8s_object("ConfigMap", "ai-workflows-config")["data"]
    ports = {p["name"]: p["containerPort"] for p in worker_container()["ports"]}
    assert host_port(config["METRICS_PROMETHEUS_BIND"])[1] == ports["metrics"]
    codec = k8s_object("Deployment", "ai-workflows-codec-server")["spec"]["template"]["spec"]["containers"][0]
    assert host_port(config["CODEC_SERVER_BIND"])[1] == codec["ports"][0]["containerPort"]


def test_pods_run_unprivileged() -> None:
    for _, document in k8s_documents():
        if document["kind"] != "Deployment":
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_is_slim_non_root_and_runs_the_worker() -> None:
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 2  # build stage + runtime stage
    final_stage = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [args for keyword, args in final_stage if keyword == "USER"]
    assert users and not users[-1].startswith(("root", "0")), "the runtime stage must drop root"
    assert ("CMD", '["python", "-m", "worker"]') in final_stage
    assert any(k == "RUN" and "pip install --no-cache-dir ." in a for k, a in instructions)
    assert any("slim" in a for k, a in instructions if k == "ARG")


def test_dockerfile_copies_every_package_it_installs() -> None:
    import tomllib

    copied = {
        args.split()[0]
        for keyword, args in dockerfile_instructions()
        if keyword == "COPY" and "--from" not in args
    }
    includes = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
    packages = {pattern.rstrip("*") for pattern in includes if (ROOT / pattern.rstrip("*")).is_dir()}
    assert packages - {"bench"} <= copied, f"the image misses {sorted(packages - {'bench'} - copied)}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".state", "tests"} <= set(ignored)
