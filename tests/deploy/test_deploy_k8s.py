"""deploy/k8s renders (kustomize, or the test renderer), validates against the Kubernetes schemas, and is safe."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.bus import consumed_streams
from shared.bus.permissions import helm_accounts

from .helpers import DEPLOY, PROCESSES, SERVICES, load_yaml
from .kustomize_render import render

K8S = DEPLOY / "k8s"
TARGETS = ["base", "overlays/dev", "overlays/production"]
# The oldest supported minor and the newest the validator knows: the manifests must be valid for both.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
STREAMS = {"UNITS", "TIPS", "AWARDS", "NOTIFY", "INBOUND", "DLQ"}

Resource = dict[str, Any]


def _key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, render(K8S / request.param)


def _by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.skipif(shutil.which("kubectl") is None and shutil.which("kustomize") is None,
                    reason="neither kubectl nor kustomize installed; the test renderer is used alone")
@pytest.mark.parametrize("target", TARGETS)
def test_test_renderer_agrees_with_kustomize(target: str) -> None:
    command = ["kubectl", "kustomize"] if shutil.which("kubectl") else ["kustomize", "build"]
    out = subprocess.run([*command, str(K8S / target)], capture_output=True, text=True, timeout=120, check=True)
    reference = {_key(r): r for r in yaml.safe_load_all(out.stdout) if r}
    mine = {_key(r): r for r in render(K8S / target)}
    assert mine.keys() == reference.keys()
    for key, resource in mine.items():
        assert resource == reference[key], f"{key} differs from kustomize's rendering"


def test_every_builtin_resource_validates_against_the_kubernetes_schema(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    for resource in resources:
        if resource["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked by test_scaled_objects_use_the_nats_jetstream_scaler
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(resource, version, strict=True)


def test_schema_validation_rejects_a_misspelt_field() -> None:
    deployment = next(r for r in render(K8S / "base") if r["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_deployments_have_probes_resources_and_a_locked_down_security_context(
        rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployments = _by_kind(resources, "Deployment")
    assert set(deployments) == set(PROCESSES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        port_names = {p["name"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in port_names
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{name} lacks {bound}"
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        # A read-only root needs a writable /tmp.
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_every_deployment_has_a_service_a_pdb_and_exactly_one_autoscaler(
        rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    deployments = _by_kind(resources, "Deployment")
    services = _by_kind(resources, "Service")
    pdbs = _by_kind(resources, "PodDisruptionBudget")
    hpa_targets = [h["spec"]["scaleTargetRef"]["name"] for h in _by_kind(resources, "HorizontalPodAutoscaler").values()]
    keda_targets = [s["spec"]["scaleTargetRef"]["name"] for s in _by_kind(resources, "ScaledObject").values()]
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert services[name]["spec"]["selector"].items() <= labels.items()
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # Two autoscalers on one Deployment fight each other: KEDA owns an HPA of its own.
        assert (hpa_targets + keda_targets).count(name) == 1, name
    assert keda_targets and hpa_targets


def test_scaled_objects_use_the_nats_jetstream_scaler(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    scaled = _by_kind(resources, "ScaledObject")
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        spec = obj["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        nats_triggers = [t for t in spec["triggers"] if t["type"] == "nats-jetstream"]
        assert nats_triggers
        for trigger in nats_triggers:
            meta = trigger["metadata"]
            assert {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"} <= set(meta)
            assert meta["account"] == "ANTQ"
            assert meta["stream"] in STREAMS
            assert re.fullmatch(rf"{name}-[a-z]+", meta["consumer"]), "consumers are named <service>-<purpose>"
            assert int(meta["lagThreshold"]) > 0
            assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"


def test_migrations_run_as_a_job_with_every_database(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    job = _by_kind(resources, "Job")["antq-migrate"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    env = {e["name"] for e in container["env"]}
    assert {f"ANTQ_{s.upper()}_DATABASE_URL" for s in PROCESSES} <= env
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_streams_are_provisioned_by_a_job_with_the_admin_credentials(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    job = _by_kind(resources, "Job")["antq-nats-provision"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["nats", "provision", "--agency", "mia-app"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert secrets["ANTQ_NATS_USER"]["name"] == secrets["ANTQ_NATS_PASSWORD"]["name"] == "antq-nats-admin"
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # No service runs with the provisioning credentials.
    for deployment in _by_kind(resources, "Deployment").values():
        text = yaml.safe_dump(deployment)
        assert "antq-nats-admin" not in text


def test_network_policies_deny_by_default_and_allow_nats_dns_and_http(rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    policies = _by_kind(resources, "NetworkPolicy")
    deny = policies["antq-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    egress_ports = {p["port"] for pol in policies.values() for rule in pol["spec"].get("egress", [])
                    for p in rule.get("ports", [])}
    assert {53, 4222, 5432} <= egress_ports
    ingress_ports = {p["port"] for pol in policies.values() for rule in pol["spec"].get("ingress", [])
                     for p in rule.get("ports", [])}
    assert ingress_ports == {8080}
    selector = deny["spec"]["podSelector"]["matchLabels"]
    for deployment in _by_kind(resources, "Deployment").values():
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_referenced_secret_key_has_a_placeholder() -> None:
    placeholders = {r["metadata"]["name"]: set(r["stringData"])
                    for r in render(K8S / "base" / "placeholder-secrets")}
    resources = render(K8S / "base")
    text = yaml.safe_dump_all(resources)
    refs = re.findall(r"secretKeyRef:\n\s+key: (\S+)\n\s+name: (\S+)", text)
    assert refs
    for key, name in refs:
        assert key in placeholders.get(name, set()), f"{name}/{key} has no placeholder"
    volumes = {v["secret"]["secretName"] for r in resources if r["kind"] == "Deployment"
               for v in r["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert volumes <= set(placeholders)


def test_production_has_no_placeholder_secrets_and_runs_three_replicas() -> None:
    resources = render(K8S / "overlays" / "production")
    assert not _by_kind(resources, "Secret")
    assert "REPLACE_ME" not in yaml.safe_dump_all(resources)
    config = _by_kind(resources, "ConfigMap")["antq-config"]["data"]
    assert config["ANTQ_STREAM_REPLICAS"] == "3"
    for deployment in _by_kind(resources, "Deployment").values():
        assert deployment["spec"]["replicas"] == 3
        assert deployment["metadata"]["namespace"] == "antq"
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert not image.endswith(":latest")
    for hpa in _by_kind(resources, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3


def test_dev_keeps_placeholders_and_runs_one_replica_with_single_replica_streams() -> None:
    resources = render(K8S / "overlays" / "dev")
    assert _by_kind(resources, "Secret")
    assert _by_kind(resources, "ConfigMap")["antq-config"]["data"]["ANTQ_STREAM_REPLICAS"] == "1"
    assert {d["spec"]["replicas"] for d in _by_kind(resources, "Deployment").values()} == {1}


def test_helm_values_run_three_fsyncing_jetstream_servers_with_the_same_accounts() -> None:
    values = load_yaml(K8S / "nats" / "values.yaml")
    config = values["config"]
    assert config["cluster"]["enabled"] is True and config["cluster"]["replicas"] == 3
    assert config["jetstream"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    assert config["jetstream"]["merge"]["sync_interval"] == "always"
    assert config["monitor"]["enabled"] is True
    # The same definition as deploy/nats/accounts.conf (tests/deploy/test_deploy_nats.py checks that file).
    assert config["merge"]["accounts"] == helm_accounts(consumed_streams(), ["mia-app"]), (
        "regenerate the accounts with `antq nats accounts --helm --agency mia-app`")
    exporter_args = " ".join(values["promExporter"]["merge"]["args"])
    assert "-jsz=all" in exporter_args and "-prefix=nats" in exporter_args
    env_secrets = set(values["container"]["env"])
    used = set(re.findall(r"<< \$(\w+) >>", yaml.safe_dump(values)))
    assert used <= env_secrets, f"variables without a source: {used - env_secrets}"


def test_base_config_points_at_the_helm_release() -> None:
    config = load_yaml(K8S / "base" / "configmap.yaml")["data"]
    assert config["ANTQ_NATS_URL"] == "nats://nats.nats.svc.cluster.local:4222"
    assert config["ANTQ_HTTP_PORT"] == "8080"
    assert config["ANTQ_MIGRATE_ON_START"] == "false"




def test_the_console_reaches_the_services_over_http_and_holds_no_nats_credentials(
        rendered: tuple[str, list[Resource]]) -> None:
    _, resources = rendered
    (container,) = _by_kind(resources, "Deployment")["console"]["spec"]["template"]["spec"]["containers"]
    assert not [e for e in container.get("env", []) if e["name"].startswith("ANTQ_NATS")]
    config = _by_kind(resources, "ConfigMap")["antq-config"]["data"]
    assert {config[f"ANTQ_CONSOLE_{s.upper()}_URL"] for s in SERVICES} == {f"http://{s}" for s in SERVICES}
    policies = _by_kind(resources, "NetworkPolicy")
    out = policies["antq-console-allow-api-out"]["spec"]
    assert out["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "console"
    assert [p["port"] for rule in out["egress"] for p in rule["ports"]] == [8080]
    into = policies["antq-allow-api-in-from-console"]["spec"]
    sources = [f["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for f in into["ingress"][0]["from"]]
    assert sources == ["console"]
