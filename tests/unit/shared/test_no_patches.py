"""No code of antq patches a third-party library: nothing assigns to (or `setattr`s on) an attribute of a module,
class or function imported from outside the project. Such a patch is applied at import time and breaks in silence
when the library changes; the spine's pull loop is its own code (shared/bus/pull.py) for that reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIRST_PARTY = ("shared", "services")


def _third_party_names(tree: ast.AST) -> set[str]:
    """Names bound anywhere in the module (module level or inside a function) by importing another package."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in FIRST_PARTY:
                    names.add((alias.asname or alias.name).split(".")[0])
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and node.module.split(".")[0] not in FIRST_PARTY):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def patches_in(source: str) -> list[str]:
    """`line: target` of every assignment to an attribute of something imported from a third-party package."""
    tree = ast.parse(source)
    imported = _third_party_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("setattr", "delattr") and node.args):
            if _root(node.args[0]) in imported:
                found.append(f"{node.lineno}: {node.func.id}({ast.unparse(node.args[0])}, ...)")
            continue
        found.extend(f"{node.lineno}: {ast.unparse(target)}" for target in targets
                     if isinstance(target, ast.Attribute) and _root(target) in imported)
    return found


def test_no_module_of_antq_patches_a_third_party_library() -> None:
    patches = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            found = patches_in(path.read_text(encoding="utf-8"))
            if found:
                patches[str(path.relative_to(ROOT))] = found
    assert patches == {}, f"patches of third-party code: {patches}"


def test_the_check_finds_the_patches_it_is_meant_to_find() -> None:
    assert patches_in("""
def _patch():
    from faststream.nats.subscriber.usecases import stream_pull_subscriber
    stream_pull_subscriber.TimeoutError = TimeoutError
    stream_pull_subscriber.BatchPullStreamSubscriber._consume_pull = _consume_pull
""") == ["4: stream_pull_subscriber.TimeoutError",
         "5: stream_pull_subscriber.BatchPullStreamSubscriber._consume_pull"]
    assert patches_in("import nats.js\nnats.js.client.X = 1\nsetattr(nats, 'y', 2)\n") == [
        "2: nats.js.client.X", "3: setattr(nats, ...)"]
    # Assigning to one's own objects, or to an instance of a library's class, is not a patch.
    assert patches_in("from shared.bus import pull\npull.FIRST_MESSAGE_WAIT = 1\n") == []
    assert patches_in("import logging\nlog = logging.getLogger()\nlog.level = 1\n") == []
