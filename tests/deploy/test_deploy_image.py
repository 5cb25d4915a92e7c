"""The Dockerfile builds a multi-stage, non-root image running `antq`, and .dockerignore keeps what it copies."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib

import pytest

from .helpers import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _global_args() -> dict[str, str]:
    """The build arguments declared before the first FROM, with their defaults (usable in FROM lines)."""
    found: dict[str, str] = {}
    for op, arg in _instructions():
        if op == "FROM":
            break
        if op == "ARG" and "=" in arg:
            name, default = arg.split("=", 1)
            found[name] = default
    return found


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    defaults = _global_args()
    for op, arg in _instructions():
        if op == "FROM":
            stages.append([])
            arg = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], arg)
        if stages:
            stages[-1].append((op, arg))
    return stages


def test_image_is_multi_stage_with_a_slim_runtime() -> None:
    stages = _stages()
    assert len(stages) >= 2
    runtime_from = stages[-1][0][1]
    assert "slim" in runtime_from or "distroless" in runtime_from
    # The runtime takes only the builder's wheels, never its compilers or sources.
    assert any("from=builder" in arg for _, arg in stages[-1][1:])
    assert not any(op == "COPY" and "--from" not in arg for op, arg in stages[-1])


def test_base_image_is_a_build_argument_defaulting_to_the_official_python_image() -> None:
    # A machine that cannot pull may pass a local stand-in; a real build pulls the official image.
    assert _global_args() == {"PYTHON_IMAGE": "python:3.11-slim-bookworm"}
    froms = [arg for op, arg in _instructions() if op == "FROM"]
    assert froms and all(arg.startswith("${PYTHON_IMAGE} ") for arg in froms)


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [arg for op, arg in _stages()[-1] if op == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets Kubernetes verify runAsNonRoot"


def test_entrypoint_and_default_command_are_antq_serve() -> None:
    ops = dict(_stages()[-1])
    assert json.loads(ops["ENTRYPOINT"]) == ["antq"]
    assert json.loads(ops["CMD"]) == ["serve", "units"]
    assert "/healthz" in ops["HEALTHCHECK"]
    assert "8080" in ops["EXPOSE"]


def test_console_script_matches_the_entrypoint() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "antq" in project["scripts"]


def _ignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if p.strip() and not p.startswith("#")]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").removeprefix("**/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[-1], pattern) \
                or path.startswith(pattern.rstrip("/") + "/"):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_every_copied_path_and_drops_the_rest() -> None:
    sources = []
    for op, arg in _instructions():
        if op == "COPY" and "--from" not in arg:
            sources += arg.split()[:-1]
    assert {"pyproject.toml", "shared", "services"} <= set(sources)
    for source in sources:
        assert not _ignored(source), f"{source} is copied but excluded by .dockerignore"
    for junk in (".venv", ".git", "tests", ".antq", "services/tips/__pycache__"):
        assert _ignored(junk), f"{junk} would be sent to the build context"


@pytest.mark.parametrize("source", ["pyproject.toml", "shared", "services"])
def test_copied_sources_exist(source: str) -> None:
    assert (REPO / source).exists()


def test_readme_named_by_pyproject_is_copied() -> None:
    # setuptools reads the readme while building the wheel; the builder stage must have it.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    copies = " ".join(arg for op, arg in _instructions() if op == "COPY")
    assert re.search(rf"\b{re.escape(project['readme'])}\b", copies)
