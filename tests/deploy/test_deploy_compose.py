"""deploy/compose/compose.yaml is a valid Compose file and wires antq the way docs/operations.md describes."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from .helpers import DATA, DEPLOY, PROCESSES, SERVICES, load_yaml

COMPOSE_DIR = DEPLOY / "compose"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE_DIR / "compose.yaml")
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DATA / "compose-spec.json").read_text(encoding="utf-8"))
    # The schema declares draft 2019-09 under its old http:// URI, which jsonschema does not look up by name.
    assert "2019-09" in schema["$schema"]
    cls = jsonschema.Draft201909Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_compose_file_matches_the_compose_spec_schema(compose: dict[str, Any],
                                                      validator: jsonschema.protocols.Validator) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_compose_file(compose: dict[str, Any],
                                              validator: jsonschema.protocols.Validator) -> None:
    # Guards the guard: the vendored schema really constrains services.
    broken = json.loads(json.dumps(compose))
    broken["services"]["units"]["depends_on"]["units-migrate"]["condition"] = "service_finished"
    broken["services"]["tips"]["helthcheck"] = {}
    assert len(list(validator.iter_errors(broken))) >= 2


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_after_its_migration_and_nats_and_has_a_healthcheck(compose: dict[str, Any],
                                                                         service: str) -> None:
    services = compose["services"]
    spec = services[service]
    assert spec["command"] == ["serve", service]
    assert spec["depends_on"][f"{service}-migrate"] == {"condition": "service_completed_successfully"}
    # Streams are declared by the one-shot provisioning service (its own credentials), never by a service.
    assert spec["depends_on"]["nats-provision"] == {"condition": "service_completed_successfully"}
    assert "/readyz" in " ".join(spec["healthcheck"]["test"])
    env = spec["environment"]
    assert env[f"ANTQ_{service.upper()}_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env[f"ANTQ_{service.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{service}")
    assert env["ANTQ_NATS_USER"] == service
    assert env["ANTQ_HTTP_PORT"] == "8080"
    assert env["ANTQ_MIGRATE_ON_START"] == "false"
    assert spec["read_only"] is True
    migrate = services[f"{service}-migrate"]
    assert migrate["command"] == ["migrate", service]
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert migrate["environment"][f"ANTQ_{service.upper()}_DATABASE_URL"] == env[f"ANTQ_{service.upper()}_DATABASE_URL"]


def with_defaults(value: str) -> str:
    """A compose value as it reads when no variable is set: `${NAME:-default}` becomes `default`."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_host_ports_match_antq_up(compose: dict[str, Any]) -> None:
    # By default the same host ports as `antq up`; a test stack (make compose-test) publishes elsewhere, on loopback.
    ports = {name: [with_defaults(p) for p in compose["services"][name]["ports"]] for name in PROCESSES}
    assert ports == {"units": ["0.0.0.0:8001:8080"], "tips": ["0.0.0.0:8002:8080"], "awards": ["0.0.0.0:8003:8080"],
                     "notify": ["0.0.0.0:8004:8080"], "console": ["0.0.0.0:8005:8080"]}


def test_console_runs_after_its_migration_and_calls_the_services_over_http(compose: dict[str, Any]) -> None:
    services = compose["services"]
    spec = services["console"]
    assert spec["command"] == ["serve", "console"]
    assert spec["depends_on"]["console-migrate"] == {"condition": "service_completed_successfully"}
    assert "nats" not in spec["depends_on"] and "ANTQ_NATS_USER" not in spec["environment"]
    env = spec["environment"]
    assert {env[f"ANTQ_CONSOLE_{s.upper()}_URL"] for s in SERVICES} == {f"http://{s}:8080" for s in SERVICES}
    assert env["ANTQ_CONSOLE_DATABASE_URL"].endswith("@postgres:5432/console")
    assert env["ANTQ_CONSOLE_DATABASE_URL"] == services["console-migrate"]["environment"]["ANTQ_CONSOLE_DATABASE_URL"]
    # It signs the tokens of its calls with the key every service verifies.
    assert any(v.startswith("antq-keys:") for v in spec["volumes"])
    assert "/readyz" in " ".join(spec["healthcheck"]["test"]) and spec["read_only"] is True


def test_postgres_creates_one_database_per_service(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["postgres"]["volumes"]
    init = next(v for v in volumes if "docker-entrypoint-initdb.d" in v)
    sql = (COMPOSE_DIR / init.split(":")[0]).read_text(encoding="utf-8")
    assert set(re.findall(r"CREATE DATABASE (\w+)", sql)) == set(PROCESSES)


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts missing {source}"


def test_streams_are_provisioned_once_with_the_admin_credentials(compose: dict[str, Any]) -> None:
    provision = compose["services"]["nats-provision"]
    assert provision["command"] == ["nats", "provision", "--agency", "mia-app"]
    assert provision["restart"] == "no"
    assert provision["depends_on"]["nats"] == {"condition": "service_healthy"}
    assert provision["environment"]["ANTQ_NATS_USER"] == "admin"
    assert "ANTQ_NATS_PASSWORD_ADMIN" in provision["environment"]["ANTQ_NATS_PASSWORD"]
    for service in SERVICES:
        assert compose["services"][service]["environment"]["ANTQ_NATS_USER"] == service


def test_nats_uses_the_repository_config_and_every_password_it_needs(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert "../nats/nats-server.conf:/etc/nats/nats-server.conf:ro" in nats["volumes"]
    needed = set(re.findall(r"\$(ANTQ_NATS_PASSWORD_\w+)", (DEPLOY / "nats" / "accounts.conf").read_text()))
    assert needed and needed <= set(nats["environment"])


def test_cluster_profile_has_three_routed_nats_nodes(compose: dict[str, Any]) -> None:
    nodes = {n: s for n, s in compose["services"].items() if "cluster" in s.get("profiles", [])}
    assert set(nodes) == {"nats-1", "nats-2", "nats-3"}
    template = (DEPLOY / "nats" / "cluster.conf.template").read_text(encoding="utf-8")
    config_lines = "\n".join(line.split("#", 1)[0] for line in template.splitlines())
    template_vars = set(re.findall(r"\$(\w+)", config_lines))
    assert {"NATS_SERVER_NAME", "NATS_ROUTE_1", "NATS_CLUSTER_PASSWORD"} <= template_vars
    for name, spec in nodes.items():
        env = spec["environment"]
        assert env["NATS_SERVER_NAME"] == name
        assert {env[f"NATS_ROUTE_{i}"].rsplit("@", 1)[1] for i in (1, 2, 3)} == {
            "nats-1:6222", "nats-2:6222", "nats-3:6222"}
        assert template_vars <= set(env), f"{name} lacks {template_vars - set(env)}"
        assert any("cluster.conf.template" in v for v in spec["volumes"])


def test_observability_stack_is_provisioned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "grafana/provisioning" in grafana_mounts and "grafana/dashboards" in grafana_mounts
    assert "../observability/alerts.yml:/etc/prometheus/alerts.yml:ro" in services["prometheus"]["volumes"]
    assert services["notify"]["environment"]["ANTQ_NOTIFY_SMTP_HOST"] == "mailpit"
    assert "-jsz=all" in services["nats-exporter"]["command"]
