"""`schemathesis run --checks all` against the OpenAPI document of every service that takes bearer tokens (units,
tips, awards, notify), as an admin, an officer of area 79, a unit and an anonymous caller (the public routes; the
others must answer 401).

Each service runs in this process (uvicorn on 127.0.0.1, configured as `antq serve` does, with its real database
and NATS); the schemathesis command line runs against it with tests/security/schemathesis.toml and the hooks of
tests/security/fuzz_hooks.py. All checks: server errors, status codes, content types, headers and bodies as
documented, schema-valid requests accepted (a documented 422 only for rules a schema cannot state, never from
the request model), schema-invalid ones refused, missing headers, unsupported methods and their `Allow`, auth
that is not ignored, resources that stay available, and the stateful phase's links.

`make test` runs the short variant (ANTQ_OPENAPI_EXAMPLES, default 3 per operation, as an admin and anonymously,
seeded and deterministic); `make fuzz` the long one (ANTQ_FUZZ_EXAMPLES, every caller).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shared.settings import SERVICES, Settings
from tests.security.live import serve

HERE = Path(__file__).parent
CONFIG = HERE / "schemathesis.toml"
CALLERS = ("admin", "officer", "unit", "none")
SHORT_CALLERS = ("admin", "none")  # make test; make fuzz runs every caller
SHORT = int(os.environ.get("ANTQ_OPENAPI_EXAMPLES", "3"))
SEED = 20261203


def schemathesis_command(base: str, examples: int, token: str | None) -> list[str]:
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG), "run",
               f"{base}/openapi.json", "--checks", "all", "--max-examples", str(examples), "--seed", str(SEED),
               "--generation-deterministic", "--workers", "1",
               "--suppress-health-check", "all", "--exclude-path", "/readyz", "--no-color"]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    return command


def run_checks(service_name: str, settings: Settings, examples: int, workdir: Path,
               callers: tuple[str, ...] = CALLERS) -> list[str]:
    """Run schemathesis once per caller; the failures' reports (empty when every check passed). It runs in
    `workdir`, so that no failure stored by an earlier run (.schemathesis/) is replayed."""
    service = importlib.import_module(f"services.{service_name}.app").build(settings)
    tokens: dict[str, str | None] = {
        "admin": service.tokens.issue(role="admin", sub="checks-admin"),
        "officer": service.tokens.issue(role="officer", area="79", sub="checks-officer"),
        "unit": service.tokens.issue(role="unit", unit="u-checks", sub="checks-unit"),
        "none": None}
    failures: list[str] = []
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.security.fuzz_hooks", "NO_COLOR": "1",
                   "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    with serve(service) as base:
        # The port came free from a shared range: make sure this service, not another process, answers on it.
        assert httpx.get(f"{base}/healthz", timeout=5).json().get("service") == service_name, base
        for caller in callers:
            run = subprocess.run(schemathesis_command(base, examples, tokens[caller]), capture_output=True,
                                 text=True, env=environment, timeout=1800, check=False, cwd=workdir)
            if run.returncode != 0:
                failures.append(f"{service_name} as {caller} (exit {run.returncode}):\n{run.stdout[-6000:]}"
                                f"{run.stderr[-2000:]}")
    return failures


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("service_name", SERVICES)
def test_schemathesis_all_checks(service_name: str, backend: str, settings_factory: Callable[..., Settings],
                                 database_url: Callable[[str], str], tmp_path: Path) -> None:
    config = settings_factory(**{f"{s}_database_url": database_url(s) for s in (*SERVICES, "console")})
    failures = run_checks(service_name, config, SHORT, tmp_path, SHORT_CALLERS)
    assert not failures, "\n\n".join(failures)


@pytest.mark.fuzz
@pytest.mark.slow
@pytest.mark.timeout(7200)
@pytest.mark.skipif(not os.environ.get("ANTQ_FUZZ_EXAMPLES"), reason="long run: make fuzz (ANTQ_FUZZ_EXAMPLES)")
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("service_name", SERVICES)
def test_schemathesis_all_checks_long(service_name: str, backend: str, settings_factory: Callable[..., Settings],
                                      database_url: Callable[[str], str], tmp_path: Path) -> None:
    config = settings_factory(**{f"{s}_database_url": database_url(s) for s in (*SERVICES, "console")})
    failures = run_checks(service_name, config, int(os.environ["ANTQ_FUZZ_EXAMPLES"]), tmp_path)
    assert not failures, "\n\n".join(failures)
