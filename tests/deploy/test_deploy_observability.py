"""Prometheus config, alert rules (checked and unit-tested by promtool) and dashboards use only catalogued metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import DEPLOY, exposed_names, load_yaml, metric_catalogue, metric_names_in

OBS = DEPLOY / "observability"
DASHBOARDS = sorted((OBS / "grafana" / "dashboards").glob("*.json"))
ALERTS = OBS / "alerts.yml"


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=OBS, capture_output=True, text=True, timeout=120, check=False)


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard.get("templating", {}).get("list", []) if "definition" in v]
    return exprs


def test_metric_catalogue_is_well_formed() -> None:
    catalogue = metric_catalogue()
    assert len(catalogue) >= 20
    for name, meta in catalogue.items():
        assert meta["type"] in {"counter", "gauge", "histogram"}, name
        assert isinstance(meta["labels"], list), name
        assert meta["service"] in {"all", "units", "tips", "awards", "notify", "console", "nats-exporter",
                                   "prometheus"}, name
        if meta["type"] == "counter":
            assert name.endswith("_total"), f"{name}: counters are listed under their scraped name"
        if meta["service"] == "all":
            assert "service" in meta["labels"], f"{name}: spine metrics carry the service label"


def test_prometheus_config_passes_promtool(promtool: str) -> None:
    result = _promtool(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_service_and_the_nats_exporter() -> None:
    config = load_yaml(OBS / "prometheus.yml")
    targets = {t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    assert {"units:8080", "tips:8080", "awards:8080", "notify:8080", "console:8080", "nats-exporter:7777"} <= targets


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    result = _promtool(promtool, "test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_runbook_section() -> None:
    rules = [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"]]
    tests = load_yaml(OBS / "alerts.test.yml")["tests"]
    tested = {a["alertname"] for t in tests for a in t["alert_rule_test"] if a.get("exp_alerts")}
    operations = (DEPLOY.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    for rule in rules:
        assert rule["alert"] in tested, f"{rule['alert']} never shown firing in alerts.test.yml"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert f"### {rule['alert']}" in operations, f"{rule['alert']} not explained in docs/operations.md"


def test_alerts_cover_the_required_situations() -> None:
    exprs = " ".join(r["expr"] for g in load_yaml(ALERTS)["groups"] for r in g["rules"])
    for metric in ("nats_consumer_num_pending", "antq_dlq_messages_total", "antq_outbox_pending_events",
                   "antq_outbox_oldest_pending_age_seconds", "antq_tips_overdue_tips",
                   "antq_tips_deadline_approaching_tips", "antq_notify_deliveries_total", "antq_service_ready"):
        assert metric in exprs


def test_alerts_use_only_catalogued_metrics() -> None:
    known = exposed_names(metric_catalogue())
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            unknown = metric_names_in(rule["expr"]) - known
            assert not unknown, f"{rule['alert']} uses {unknown}"


def test_there_is_a_dashboard_for_each_topic() -> None:
    titles = {json.loads(p.read_text(encoding="utf-8"))["title"] for p in DASHBOARDS}
    assert titles == {"antq / Platform health", "antq / Movement figures", "antq / Tip deadlines",
                      "antq / Notification delivery"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: Path(p).stem)
def test_dashboard_uses_only_catalogued_metrics(path: Path) -> None:
    known = exposed_names(metric_catalogue())
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    exprs = _exprs(dashboard)
    assert exprs, "a dashboard without queries"
    used = set().union(*(metric_names_in(e) for e in exprs))
    assert used, "no antq or nats metric referenced"
    assert not used - known, f"unknown metrics: {sorted(used - known)}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: Path(p).stem)
def test_dashboard_panels_use_the_provisioned_datasource_and_do_not_overlap(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["uid"].startswith("antq-")
    cells: set[tuple[int, int]] = set()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        assert p["datasource"]["uid"] == "prometheus"
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
    provisioning = load_yaml(OBS / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert provisioning["datasources"][0]["uid"] == "prometheus"


def test_metric_checker_rejects_an_unknown_name() -> None:
    # Guards the guard: a typo in a dashboard must be caught.
    known = exposed_names(metric_catalogue())
    assert metric_names_in("rate(antq_tips_recieved_total[5m])") - known == {"antq_tips_recieved_total"}
    assert metric_names_in("histogram_quantile(0.9, rate(antq_http_request_seconds_bucket[5m]))") <= known
