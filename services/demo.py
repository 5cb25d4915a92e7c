"""The demo province that `antq up --demo` loads (through the units service's HTTP API)."""

from services.units.demo import load_demo

__all__ = ["load_demo"]
