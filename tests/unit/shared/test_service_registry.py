"""shared/service_registry.py is the one list of services: every list, port, setting, stream, NATS user and command
that names the services derives from it, so a new service is one entry there (plus its package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared import service_registry
from shared.contracts.subjects import STREAMS
from shared.settings import CONSOLE_APIS, PORT_OFFSETS, PROCESSES, SERVICES

ROOT = Path(__file__).resolve().parents[3]

# Run in a fresh interpreter: the registry gets a fake entry before anything derives from it.
PROBE = """
import json, os, sys
from shared import service_registry as registry
registry.REGISTRY = (*registry.REGISTRY, registry.ServiceSpec("parcels", 6, "Parcels and their deliveries"))
os.environ["ANTQ_PARCELS_DATABASE_URL"] = "postgresql+asyncpg://antq@db/parcels"
os.environ["ANTQ_CONSOLE_PARCELS_URL"] = "http://parcels:8080"

from typer.testing import CliRunner

from services import bus, cli, runner
from shared import settings
from shared.bus.permissions import platform_users
from shared.contracts.subjects import STREAMS, stream_for_subject
from tests.deploy import helpers as deploy
from tests.unit import test_service_layout as layout

s = settings.Settings(port_base=9000, data_dir=sys.argv[1])
user = next(u for u in platform_users({"parcels": ["UNITS"]}) if u.name == "parcels")
help_of = lambda *args: CliRunner().invoke(cli.app, [*args, "--help"], env={"COLUMNS": "200"}).output
print(json.dumps({
    "settings": [settings.SERVICES, settings.PROCESSES, settings.CONSOLE_APIS, settings.PORT_OFFSETS],
    "port": s.http_port_for("parcels"),
    "database": s.database_url_for("parcels"),
    "database_keyword": settings.Settings(parcels_database_url="sqlite+aiosqlite:///p.db").database_url_for("parcels"),
    "console_url": s.service_url_for("parcels"),
    "child_env": settings.child_environment(s, "parcels", base={})["ANTQ_PARCELS_DATABASE_URL"],
    "stream": stream_for_subject("antq.parcels.ParcelSent.v1").name,
    "streams": [spec.name for spec in STREAMS],
    "nats_user": [user.publish, user.subscribe],
    "cli_known": [cli.PROCESSES, cli.SERVICES, runner.PROCESSES, bus.SERVICES],
    "serve_help": help_of("serve"), "audit_help": help_of("audit", "verify"),
    "tests": [deploy.SERVICES, deploy.PROCESSES, layout.SERVICES, layout.BUS_SERVICES, layout.CONTEXT_CLASS],
}))
"""


def _probe(tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_todays_lists_come_from_the_registry() -> None:
    assert SERVICES == ("units", "tips", "awards", "notify")
    assert PROCESSES == ("units", "tips", "awards", "notify", "console")
    assert CONSOLE_APIS == SERVICES
    assert PORT_OFFSETS == {"units": 1, "tips": 2, "awards": 3, "notify": 4, "console": 5}
    assert [spec.name for spec in STREAMS][:4] == ["UNITS", "TIPS", "AWARDS", "NOTIFY"]
    assert [spec.context_class for spec in service_registry.REGISTRY] == [
        "UnitsContext", "TipsContext", "AwardsContext", "NotifyContext", "ConsoleContext"]


def test_a_new_entry_is_followed_by_every_derived_list(tmp_path: Path) -> None:
    got = _probe(tmp_path)
    bus, every = [*SERVICES, "parcels"], [*SERVICES, "console", "parcels"]
    assert got["settings"] == [bus, every, bus, {**PORT_OFFSETS, "parcels": 6}]
    assert got["port"] == 9006
    assert got["database"] == got["child_env"] == "postgresql+asyncpg://antq@db/parcels"
    assert got["database_keyword"] == "sqlite+aiosqlite:///p.db"
    assert got["console_url"] == "http://parcels:8080"
    assert got["stream"] == "PARCELS" and "PARCELS" in got["streams"]
    publish, subscribe = got["nats_user"]
    assert "antq.parcels.>" in publish and "antq.dlq.parcels.>" in publish and subscribe == ["_INBOX_parcels.>"]
    assert got["cli_known"] == [every, bus, every, bus]
    assert "parcels" in got["serve_help"] and "parcels" in got["audit_help"]
    assert got["tests"][:4] == [bus, every, every, bus]
    assert got["tests"][4]["parcels"] == "ParcelsContext"
