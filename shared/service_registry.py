"""The services of the platform, one entry each: the single list that everything naming the services derives from.

From this registry come the settings (each service's HTTP port `ANTQ_PORT_BASE + port_offset`, its database URL
`ANTQ_<NAME>_DATABASE_URL`, the console's `ANTQ_CONSOLE_<NAME>_URL`), the command line (`antq up` starts every
process in this order, `antq serve` and `antq migrate` accept them, `antq <name> ...` mounts a service's own
`cli.py`), the stream registry (a service on the bus owns the stream `<NAME>` of `antq.<name>.>` and the DLQ prefix
`antq.dlq.<name>`) and so the NATS users and permissions (`antq nats accounts`, with the streams each service
consumes read from its registered consumers), and the tests' lists of services.

A new service: its package under services/ (the rooms of docs/architecture.md section 2) and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the package under services/, the NATS subject token, the CLI word: lower-case letters only
    port_offset: int  # its embedded HTTP port is ANTQ_PORT_BASE + this
    # What the service's event stream holds (`antq.<name>.>`); None: the service is not on the bus (HTTP only:
    # no stream, no DLQ prefix, no NATS user, no consumers).
    stream: str | None
    console_calls: bool = True  # the console reaches its HTTP API (ANTQ_CONSOLE_<NAME>_URL)

    @property
    def on_bus(self) -> bool:
        return self.stream is not None

    @property
    def stream_name(self) -> str:
        return self.name.upper()

    @property
    def context_class(self) -> str:
        """The class of its context module (`services/<name>/context.py`), by the house plan."""
        return f"{self.name.capitalize()}Context"


REGISTRY: tuple[ServiceSpec, ...] = (
    ServiceSpec("units", 1, "Units registry and the yearly ANTT cycle"),
    ServiceSpec("tips", 2, "Crime tips and their legal deadlines"),
    ServiceSpec("awards", 3, "Commendations and certificates"),
    ServiceSpec("notify", 4, "Notification delivery outcomes"),
    ServiceSpec("console", 5, None, console_calls=False),  # the staff console: HTTP only, calls the others
)


def names(*, on_bus: bool | None = None, console_calls: bool | None = None) -> tuple[str, ...]:
    """The services' names in registry order, optionally only those on the bus / those the console calls."""
    return tuple(s.name for s in REGISTRY
                 if (on_bus is None or s.on_bus == on_bus)
                 and (console_calls is None or s.console_calls == console_calls))


def spec(name: str) -> ServiceSpec:
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    raise KeyError(f"no service {name!r} in shared/service_registry.py")
