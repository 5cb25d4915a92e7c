"""Code every antq service uses: contracts, bus, database, auth, settings and observability.

Importing the package first keeps out three libraries that other libraries import eagerly and a service uses
rarely or never (docs/benchmarks.md, memory at rest; `tests/unit/shared/test_lean_imports.py` checks):

- aiohttp (and yarl, frozenlist, aiosignal, aiohappyeyeballs with it), 8 MiB: nats-py imports it in
  `nats.aio.transport` for its WebSocket transport (`ws://` server addresses), which the platform does not use.
  That module is given a stand-in that imports aiohttp on its first use; everyone else (aiobotocore, for the S3
  object store) imports the real one when they need it.
- httpx's command-line tool (`httpx._main`, which loads rich and pygments, 2 MiB): httpx imports it only to offer
  `httpx.main`, the `httpx` command; nothing in a service runs that command, so httpx keeps its stand-in that
  says the tool is not installed.
- pydantic's compatibility package for version 1 models (`pydantic.v1`, 2 MiB): FastAPI imports it only to refuse
  such models (it supports none; it treats a pydantic without `pydantic.v1` as having none), and the platform
  has none.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any


class _ImportedOnFirstUse(types.ModuleType):
    """Stands for a module until one of its names is used, then imports it and hands out its names."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


class _NatsTransportLoader(importlib.abc.Loader):
    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: types.ModuleType) -> None:
        stand_in = None if "aiohttp" in sys.modules else _ImportedOnFirstUse("aiohttp")
        if stand_in is not None:
            sys.modules["aiohttp"] = stand_in
        try:
            self.loader.exec_module(module)
        finally:
            if stand_in is not None and sys.modules.get("aiohttp") is stand_in:
                del sys.modules["aiohttp"]

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename... for tracebacks and inspect
        return getattr(self.loader, name)


class _NatsTransportFinder(importlib.abc.MetaPathFinder):
    """Finds `nats.aio.transport` as the path finder does, with the loader above; nothing else."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "nats.aio.transport":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _NatsTransportLoader(spec.loader)
        return spec


def _defer_unused_imports() -> None:
    if "nats.aio.transport" not in sys.modules and not any(isinstance(f, _NatsTransportFinder)
                                                           for f in sys.meta_path):
        sys.meta_path.insert(0, _NatsTransportFinder())
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


_defer_unused_imports()
