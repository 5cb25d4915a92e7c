"""A small kustomize renderer for the features deploy/k8s uses, so the manifests are testable without kustomize.

Supported: `resources` (files and directories), `patches` with `path` (strategic merge, including
`$patch: delete`), `replicas`, `images` and `namespace`. Anything else in a kustomization is refused, so a new
feature in the manifests fails loudly here instead of being silently ignored. The tests compare this renderer's
output with `kubectl kustomize` whenever kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .helpers import load_yaml, load_yaml_all

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "replicas", "images", "namespace"}
# Strategic-merge keys of the Kubernetes list fields the patches touch; other lists are replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "topologySpreadConstraints": "topologyKey"}
BUILTIN_KINDS = {"Deployment", "Job", "Service", "ConfigMap", "Secret", "ServiceAccount", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "NetworkPolicy"}

Resource = dict[str, Any]


def render(directory: Path) -> list[Resource]:
    kustomization = load_yaml(directory / "kustomization.yaml")
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: kustomization fields not supported by the test renderer: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources += render(path) if path.is_dir() else load_yaml_all(path)
    for patch in kustomization.get("patches", []):
        for doc in load_yaml_all(directory / patch["path"]):
            index = _find(resources, doc["kind"], doc["metadata"]["name"])
            if doc.get("$patch") == "delete":
                del resources[index]
            else:
                resources[index] = _merge(resources[index], doc, field="", builtin=doc["kind"] in BUILTIN_KINDS)
    for replica in kustomization.get("replicas", []):
        resources[_find(resources, "Deployment", replica["name"])]["spec"]["replicas"] = replica["count"]
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in _containers(resource):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in kustomization:
        for resource in resources:
            resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def _find(resources: list[Resource], kind: str, name: str) -> int:
    matches = [i for i, r in enumerate(resources) if r["kind"] == kind and r["metadata"]["name"] == name]
    if len(matches) != 1:
        raise KeyError(f"patch target {kind}/{name} matches {len(matches)} resources")
    return matches[0]


def _containers(resource: Resource) -> list[dict[str, Any]]:
    if resource["kind"] not in {"Deployment", "Job"}:
        return []
    pod = resource["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _merge(base: Any, patch: Any, *, field: str, builtin: bool) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if key == "$patch":
                continue
            merged[key] = _merge(base[key], value, field=key, builtin=builtin) if key in base else value
        return merged
    key = MERGE_KEYS.get(field)
    if builtin and key and isinstance(base, list) and isinstance(patch, list):
        merged_list = copy.deepcopy(base)
        added = []
        for item in patch:
            at = next((i for i, old in enumerate(merged_list) if old.get(key) == item.get(key)), None)
            if at is None:
                added.append(copy.deepcopy(item))
            else:
                merged_list[at] = _merge(merged_list[at], item, field="", builtin=builtin)
        # Like kustomize, items only in the patch come first.
        return added + merged_list
    return copy.deepcopy(patch)
