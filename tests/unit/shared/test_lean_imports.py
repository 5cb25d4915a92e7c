"""What a service at rest does not load (docs/benchmarks.md, memory at rest): libraries that are only needed on a
rare path, or never, and cost a service's resident memory when loaded at start.

- Alembic (with Mako), 11 MiB: only where a migration runs; compose and Kubernetes migrate in a job.
- vietnam-provinces' package code (2 MiB of code enumerations): `shared.places` reads its JSON file only.
- aiohttp, 8 MiB: nats-py's WebSocket transport, unused; loaded on first use (`shared/__init__.py`).
- rich and pygments, 2 MiB: httpx's command-line tool, never run in a service (`shared/__init__.py`).
- pydantic.v1, 2 MiB: FastAPI imports it only to refuse version 1 models (`shared/__init__.py`).
- websockets: uvicorn's WebSocket protocol; no route is a WebSocket (`shared/server.py`).
- the console's report files (openpyxl, fpdf2, fontTools, Pillow, lxml), 27 MiB: loaded by the first export.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

AT_REST = ("alembic", "mako", "vietnam_provinces", "aiohttp", "yarl", "rich", "pygments", "websockets",
           "pydantic.v1")
CONSOLE_AT_REST = ("openpyxl", "fpdf", "fontTools", "PIL", "lxml")


def _run(probe: str) -> str:
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("service", ["units", "tips", "awards", "notify", "console"])
def test_a_service_and_the_command_line_load_no_migration_tool(service: str) -> None:
    probe = (f"import sys, services.cli, services.{service}.app as app\n"
             "services.cli._mount_service_commands()  # every command mounted, as for `antq --help`\n"
             "print(','.join(m for m in ('alembic', 'mako') if m in sys.modules))")
    assert _run(probe) == ""


@pytest.mark.parametrize("service", ["units", "tips", "awards", "notify", "console"])
def test_a_service_as_served_loads_nothing_it_uses_only_on_a_rare_path(service: str) -> None:
    """What `antq serve <service>` imports and configures before it answers, without its I/O: the settings, the
    service's application (its routes, handlers and bus), and uvicorn's configuration loaded as the server loads
    it."""
    heavy = AT_REST + (CONSOLE_AT_REST if service == "console" else ())
    probe = (f"import sys, services.cli, services.{service}.app as app\n"
             "from shared.server import server_config\n"
             "from shared.settings import load_settings\n"
             "config = server_config(lambda scope, receive, send: None, load_settings(), port=0)\n"
             "config.load()\n"
             f"print(','.join(m for m in {heavy!r} if sys.modules.get(m) is not None))")
    assert _run(probe) == ""


def test_the_nats_transport_loads_aiohttp_on_its_first_use_and_the_others_get_the_real_one() -> None:
    probe = ("import sys, shared, nats.aio.transport as transport\n"
             "assert 'aiohttp' not in sys.modules\n"
             "assert transport.aiohttp  # nats-py's check that the WebSocket transport is available\n"
             "binary = transport.aiohttp.WSMsgType.BINARY\n"
             "import aiohttp\n"
             "assert sys.modules['aiohttp'] is aiohttp and binary is aiohttp.WSMsgType.BINARY\n"
             "assert transport.aiohttp.ClientSession is aiohttp.ClientSession\n"
             "print('ok')")
    assert _run(probe) == "ok"


def test_httpx_works_without_its_command_line_tool() -> None:
    probe = ("import sys, shared, httpx\n"
             "assert 'rich' not in sys.modules and 'pygments' not in sys.modules\n"
             "print(httpx.Request('GET', 'http://example.test/a').url.path)")
    assert _run(probe) == "/a"

