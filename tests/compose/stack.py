"""deploy/compose/compose.yaml started for real with podman and podman-compose, on a machine with no registry.

`Stack` starts the services of a compose project one at a time in dependency order and honours `depends_on`
conditions itself: podman 4.3 (Debian bookworm) cannot evaluate `service_healthy` (its healthcheck timers need
systemd), so the stack runs each healthcheck with `podman healthcheck run` and waits for one-shot jobs with
`podman wait`. Everything it creates (containers, the project network, volumes) carries the project's name and is
removed by `down()`, which the tests call even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
STANDINS = COMPOSE_DIR / "standins" / "build.sh"
LOCAL_IMAGE = "localhost/antq:latest"


class StackError(RuntimeError):
    """The stack could not be built, started or checked; the message carries the containers' last output."""


def start_order(services: Mapping[str, Any], wanted: Iterable[str]) -> list[str]:
    """The wanted services and their dependencies, each after what it depends on (depth-first, stable)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise StackError(f"dependency cycle through {name}")
        visiting.add(name)
        for dep in dependencies(services[name]):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def dependencies(spec: Mapping[str, Any]) -> dict[str, str]:
    """A service's `depends_on` as {service: condition} (the short list form means `service_started`)."""
    deps = spec.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (cond or {}).get("condition", "service_started") for name, cond in deps.items()}


def run(*args: str, timeout: float = 600, check: bool = True, env: Mapping[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=dict(env or os.environ),
                            cwd=cwd)
    if check and result.returncode != 0:
        raise StackError(f"{' '.join(args[:4])} … exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    return result


def podman_ready() -> str | None:
    """None when podman can run containers here; otherwise why not (the suite installs it when it is root)."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    probe = run("podman", "info", "--format", "json", check=False, timeout=60)
    return None if probe.returncode == 0 else f"podman info failed: {probe.stderr.strip()[:300]}"


def images(env_file: Path) -> dict[str, str]:
    """The official third-party images where a registry answers, local stand-ins otherwise (build.sh), then the
    antq image from the repository's Dockerfile on the chosen Python base."""
    run("bash", str(STANDINS), str(env_file), timeout=1800)
    chosen = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    # --no-cache: podman 4.3 (buildah 1.28) reused a stale `COPY services` layer here after the sources changed.
    run("podman", "build", "-q", "--no-cache", "--format", "docker", "--network", "host", "--pull=never",
        "--build-arg", f"PYTHON_IMAGE={chosen['ANTQ_PYTHON_IMAGE']}", "-t", LOCAL_IMAGE, str(REPO), timeout=1800)
    chosen["ANTQ_IMAGE"] = LOCAL_IMAGE
    return chosen


@dataclass
class Stack:
    project: str
    variables: dict[str, str]
    env_file: Path
    profiles: tuple[str, ...] = ()
    compose: dict[str, Any] = field(init=False)
    started: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8"))
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.variables.items()))

    # --- podman-compose -------------------------------------------------------------------------------------
    def compose_cmd(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = shutil.which("podman-compose") or str(Path(sys.executable).parent / "podman-compose")
        profiles = [arg for name in self.profiles for arg in ("--profile", name)]
        return run(exe, "--env-file", str(self.env_file), "-p", self.project, *profiles, *args, timeout=timeout,
                   check=check, cwd=COMPOSE_DIR)

    def container(self, service: str) -> str:
        names = run("podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                    "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}").stdout.split()
        if not names:
            raise StackError(f"no container for {service}")
        return names[0]

    def up(self, services: Iterable[str], *, timeout: float = 240) -> None:
        for name in start_order(self.compose["services"], services):
            if name in self.started:
                continue
            for dep, condition in dependencies(self.compose["services"][name]).items():
                self.wait_for(dep, condition, timeout=timeout)
            self.compose_cmd("up", "-d", "--no-deps", name)
            self.started.append(name)
        for name in self.started:
            if "healthcheck" in self.compose["services"][name]:
                self.wait_for(name, "service_healthy", timeout=timeout)

    def wait_for(self, service: str, condition: str, *, timeout: float = 240) -> None:
        container = self.container(service)
        if condition == "service_completed_successfully":
            code = run("podman", "wait", container, timeout=timeout).stdout.strip()
            if code != "0":
                raise StackError(f"{service} exited {code}:\n{self.logs(service)}")
        elif condition == "service_healthy":
            deadline = time.monotonic() + timeout
            while run("podman", "healthcheck", "run", container, check=False, timeout=60).returncode != 0:
                if time.monotonic() > deadline:
                    raise StackError(f"{service} never became healthy:\n{self.logs(service)}")
                time.sleep(1)

    def run(self, args: tuple[str, ...]) -> str:
        """A podman command (`podman ARGS`), its output."""
        return run("podman", *args, timeout=120).stdout

    def restart(self, service: str) -> None:
        run("podman", "restart", "-t", "10", self.container(service), timeout=120)

    def logs(self, service: str, tail: int = 60) -> str:
        try:
            out = run("podman", "logs", "--tail", str(tail), self.container(service), check=False, timeout=30)
        except StackError as exc:
            return str(exc)
        return out.stdout + out.stderr

    def exec(self, service: str, *args: str) -> str:
        return run("podman", "exec", self.container(service), *args, timeout=60).stdout.strip()

    def run_shell(self, service: str, script: str) -> str:
        out = run("podman", "exec", self.container(service), "sh", "-c", "{ " + script + "; } 2>&1", timeout=60,
                  check=False)
        return out.stdout

    def state(self) -> list[dict[str, Any]]:
        out = run("podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                  "--format", "json").stdout
        return json.loads(out or "[]")  # type: ignore[no-any-return]

    def down(self) -> None:
        """Containers, the project network and volumes; then anything left with the project's label."""
        self.compose_cmd("down", "-v", "-t", "5", timeout=300, check=False)
        label = f"label=io.podman.compose.project={self.project}"
        ids = run("podman", "ps", "-aq", "--filter", label, check=False).stdout.split()
        if ids:
            run("podman", "rm", "-f", "-v", *ids, check=False)
        for kind in ("volume", "network"):
            names = run("podman", kind, "ls", "-q", "--filter", label, check=False).stdout.split()
            if names:
                run("podman", kind, "rm", "-f", *names, check=False)
