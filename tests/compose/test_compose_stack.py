"""The compose stack as operators start it: the image built from the Dockerfile, deploy/compose/compose.yaml
started with podman-compose (NATS, PostgreSQL, the stream provisioning, the migration jobs, the four services,
the console, an SMTP server and Prometheus), then the foundation journey against the running containers, and a
service and the NATS server restarted mid-stream with nothing lost. `make compose-test` runs it (root, podman)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest

from services.tips.domain import seal
from shared.calendar import assessment_year_of
from shared.settings import PROCESSES
from shared.testing import free_port
from tests.compose.stack import Stack, images, podman_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

APP_SERVICES = PROCESSES  # every service of shared/service_registry.py
MONITORING = ("prometheus",)
PORT_VARIABLES = {"units": "ANTQ_UNITS_PORT", "tips": "ANTQ_TIPS_PORT", "awards": "ANTQ_AWARDS_PORT",
                  "notify": "ANTQ_NOTIFY_PORT", "console": "ANTQ_CONSOLE_PORT", "nats": "ANTQ_NATS_PORT",
                  "prometheus": "ANTQ_PROMETHEUS_PORT", "mailpit": "ANTQ_MAILPIT_PORT", "grafana": "ANTQ_GRAFANA_PORT"}
AGENCY, AGENCY_PASSWORD = "mia-app", "dev-mia-app"  # the compose file's development default


class Running:
    def __init__(self, stack: Stack, ports: dict[str, int]):
        self.stack = stack
        self.ports = ports
        self.http = httpx.Client(timeout=15)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, *args: str) -> str:
        return self.stack.exec("tips", "antq", "token", *args)

    def auth(self, *args: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token(*args)}


def until(check: Callable[[], Any], *, timeout: float = 90, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    problem = podman_ready()
    if problem:
        pytest.skip(f"{problem}: `make compose-test` installs and configures podman (root)")
    work = tmp_path_factory.mktemp("compose")
    ports = {name: free_port() for name in PORT_VARIABLES}
    variables = images(work / "images.env")
    variables |= {PORT_VARIABLES[name]: str(port) for name, port in ports.items()}
    variables["ANTQ_PUBLISH_ADDRESS"] = "127.0.0.1"  # container traffic stays on this machine
    stack = Stack(f"antqtest{os.getpid()}", variables, work / "stack.env")
    try:
        stack.up([*APP_SERVICES, *MONITORING])
        yield Running(stack, ports)
    except Exception:
        for name in stack.started:
            print(f"--- {name}\n{stack.logs(name)}")
        raise
    finally:
        stack.down()
        assert not stack.state(), "containers left behind"


def test_every_service_answers_ready_and_every_one_shot_job_succeeded(running: Running) -> None:
    for service in APP_SERVICES:
        r = running.http.get(running.url(service) + "/readyz")
        assert r.status_code == 200, (service, r.text)
    assert running.http.get(running.url("prometheus") + "/-/ready").status_code == 200
    jobs = {c["Labels"]["com.docker.compose.service"]: c for c in running.stack.state()}
    for job in ("nats-provision", *(f"{s}-migrate" for s in APP_SERVICES)):
        assert jobs[job]["State"] == "exited" and jobs[job]["ExitCode"] == 0, job
    # The services run as the image's unprivileged user on a read-only root file system.
    assert running.stack.exec("tips", "id", "-u") == "10001"
    # /var/lib/antq belongs to that user, yet only its volumes and /tmp can be written.
    assert "Read-only file system" in running.stack.run_shell("tips", "touch /var/lib/antq/probe")
    assert running.stack.run_shell("tips", "touch /var/lib/antq/data/probe /tmp/probe && echo written") == "written\n"


def _submit(running: Running, headers: dict[str, str], description: str) -> str:
    r = running.http.post(running.url("tips") + "/tips", headers=headers, json={
        "category": "theft", "description": description, "area_code": "79", "anonymous": True})
    assert r.status_code == 202, r.text
    return str(r.json()["tip_id"])


def _inbox_links(running: Running, officer: dict[str, str]) -> set[str]:
    links: set[str] = set()
    params: dict[str, Any] = {"limit": 500}
    while True:
        r = running.http.get(running.url("notify") + "/inbox", headers=officer, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        links |= {item["link"] for item in page["items"]}
        if not page.get("next_cursor"):
            return links
        params["cursor"] = page["next_cursor"]


def test_a_tip_over_http_reaches_the_officers_inbox(running: Running) -> None:
    officer = running.auth("--role", "officer", "--area", "79")
    tip_id = _submit(running, {}, "Mất trộm xe máy trước cổng chợ, khoảng 9 giờ sáng")
    until(lambda: any(link.endswith(f"/tips/{tip_id}") for link in _inbox_links(running, officer)),
          what="the tip in the officer's inbox")


def test_an_agency_publishes_with_its_own_credentials_and_nothing_else(running: Running) -> None:
    jwks = running.http.get(running.url("tips") + "/.well-known/jwks.json").json()
    reference = f"MIA-{uuid.uuid4().hex[:8]}"
    description = f"Tin báo chuyển từ ứng dụng quốc gia {reference}"
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"agency/{AGENCY}",
                "type": "TipSubmitted.v1", "time": "2026-12-03T01:00:00Z", "datacontenttype": "application/json",
                "data": {"category": "theft", "description": description, "area_code": "79", "anonymous": False,
                         "reference": reference,
                         "reporter_jwe": seal({"name": "Phạm Thu Trang", "phone": "0912 000 111"}, jwks)}}

    async def publish() -> tuple[bool, str]:
        nc = await nats.connect(f"nats://127.0.0.1:{running.ports['nats']}", user=AGENCY, password=AGENCY_PASSWORD)
        try:
            ack = await nc.request(f"antq.inbound.{AGENCY}.TipSubmitted.v1", json.dumps(envelope).encode(),
                                   timeout=10, headers={"Nats-Msg-Id": envelope["id"]})
            stored = b'"stream"' in ack.data
            # The same credentials cannot publish as the platform: the server refuses the subject.
            errors: list[str] = []

            async def record(exc: Exception) -> None:
                errors.append(str(exc))

            nc2 = await nats.connect(f"nats://127.0.0.1:{running.ports['nats']}", user=AGENCY,
                                     password=AGENCY_PASSWORD, error_cb=record)
            await nc2.publish("antq.tips.TipReceived.v1", b"{}")
            await nc2.flush()
            await asyncio.sleep(0.5)
            await nc2.close()
            return stored, " ".join(errors)
        finally:
            await nc.close()

    officer = running.auth("--role", "officer", "--area", "79")

    def agency_tips() -> set[str]:
        r = running.http.get(running.url("tips") + "/tips", headers=officer, params={"limit": 500})
        assert r.status_code == 200, r.text
        return {item["tip_id"] for item in r.json()["items"] if item["channel"] == "agency"}

    before = agency_tips()
    stored, refusal = asyncio.run(publish())
    assert stored, "the inbound stream did not acknowledge the agency's message"
    assert "permissions violation" in refusal.lower()
    (tip_id,) = until(lambda: agency_tips() - before, what="the forwarded tip in the officer's queue")
    tip = running.http.get(running.url("tips") + f"/tips/{tip_id}", headers=officer).json()
    assert reference in tip["description"]
    assert "Phạm Thu Trang" not in json.dumps(tip, ensure_ascii=False)  # sealed: revealed only on request


def test_a_unit_goes_through_its_year(running: Running) -> None:
    admin = running.auth("--role", "admin")
    units = running.url("units")
    r = running.http.post(units + "/units", headers=admin, json={
        "name": "Trường THPT Bùi Thị Xuân", "kind": "school", "area_code": "79.26743",
        "external_key": f"MST-{uuid.uuid4().hex[:10]}"})
    assert r.status_code == 201, r.text
    unit_id = r.json()["unit_id"]
    year = assessment_year_of(datetime.now(UTC))  # the ANTT year the containers' clock is in
    base = f"{units}/units/{unit_id}/cycles/{year}"
    r = running.http.post(base, headers=admin)
    assert r.status_code == 201, r.text
    cycle = r.json()
    framework = running.http.get(f"{units}/frameworks/{cycle['framework_code']}", params={"kind": cycle["kind"]}).json()
    for criterion in (c["code"] for c in framework["criteria"] if c["derived"] is None):
        r = running.http.put(f"{base}/criteria/{criterion}", headers=admin,
                             json={"result": "met", "evidence": [f"bien-ban-{year}.pdf"]})
        assert r.status_code == 200, r.text
    for path, body in (("self-assessment", None), ("submit", None), ("appraisal", {"recommended": True}),
                       ("decision", {"recognized": True, "decision_no": f"12/{year}/QĐ-UBND"})):
        r = running.http.post(f"{base}/{path}", headers=admin, json=body)
        assert r.status_code == 200, (path, r.text)
    assert r.json()["state"] == "recognised"
    # The recognition reached notify over the bus: the unit's own inbox has the notice.
    unit = running.auth("--role", "unit", "--unit", unit_id)

    def unit_notices() -> list[dict[str, Any]]:
        r = running.http.get(running.url("notify") + "/inbox", headers=unit)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    notices = until(unit_notices, what="the recognition in the unit's inbox")
    assert any("Bùi Thị Xuân" in (n.get("title", "") + n.get("body", "")) for n in notices), notices


def test_a_service_and_the_nats_server_restarted_mid_stream_lose_nothing(running: Running) -> None:
    officer = running.auth("--role", "officer", "--area", "79")
    staff = running.auth("--role", "officer", "--area", "79", "--sub", "intake-desk")
    sent: list[str] = []
    stop = threading.Event()
    failures: list[str] = []

    def feed() -> None:
        with httpx.Client(timeout=15) as http:
            n = 0
            while not stop.is_set() and n < 60:
                r = http.post(running.url("tips") + "/tips", headers=staff, json={
                    "category": "theft", "description": f"Tin báo trong lúc khởi động lại số {n}",
                    "area_code": "79", "anonymous": True})
                if r.status_code == 202:
                    sent.append(str(r.json()["tip_id"]))
                else:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                n += 1
                time.sleep(0.2)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        until(lambda: len(sent) >= 10, what="the first tips")
        running.stack.restart("notify")
        until(lambda: len(sent) >= 25, what="tips after the notify restart")
        running.stack.restart("nats")
    finally:
        feeder.join(timeout=120)
        stop.set()
    assert not failures, failures
    assert len(sent) == 60
    for service in ("notify", "nats"):
        running.stack.wait_for(service, "service_healthy")

    def all_arrived() -> bool:
        links = _inbox_links(running, officer)
        return all(any(link.endswith(f"/tips/{tip}") for link in links) for tip in sent)

    until(all_arrived, timeout=180, what="every tip sent across the restarts in the officer's inbox")
