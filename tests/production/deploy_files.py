"""Loads the deployment files (compose, Kubernetes, Dockerfile) for the production tests."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (compose interpolation).
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation, for the operators this project uses (`:-`, `:?`)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name, "")
        if op == ":?" and not current:
            raise KeyError(f"{name}: {arg}")
        if op == ":-" and not current:
            return arg
        return current

    return INTERPOLATION.sub(replace, value)


def service_env(service: str) -> dict[str, str | None]:
    """A compose service's environment as a dict (None: passed through from the host)."""
    environment = compose()["services"][service].get("environment", {})
    if isinstance(environment, list):
        pairs = [item.split("=", 1) for item in environment]
        return {pair[0]: (pair[1] if len(pair) == 2 else None) for pair in pairs}
    return {name: (None if value is None else str(value)) for name, value in environment.items()}


@cache
def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object in deploy/k8s (the kustomization file is not one)."""
    documents = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path, document))
    return documents


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    for _, document in k8s_documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise LookupError(f"no {kind} {name} in {K8S_DIR}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def duration_s(value: str | int | float) -> float:
    """Compose durations (`40s`, `1m30s`) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)
