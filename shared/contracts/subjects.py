"""The stream and subject registry: which stream holds which subjects, and how DLQ subjects are named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared import service_registry

DLQ_PREFIX = "antq.dlq"
# Replies to an agency (`antq.outbound.<agency>.<Type>.v1`): only that agency may read its subjects.
OUTBOUND_PREFIX = "antq.outbound"

Retention = Literal["limits", "workqueue"]


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    # "limits" keeps every message (up to the age limit); "workqueue" removes a message once its one consumer
    # has acknowledged it, so what it held does not stay on disk.
    retention: Retention = "limits"
    # Days a message is kept; None: `stream_max_age_days` of the settings (0 keeps it forever).
    max_age_days: float | None = None


# Which service publishes each reply type to agencies (for the NATS permissions and the AsyncAPI documents).
OUTBOUND_PUBLISHERS: dict[str, tuple[str, ...]] = {
    "TipAccepted.v1": ("tips",),
    "InboundRejected.v1": ("tips", "units"),  # every service that consumes an inbound stream
}

# How long replies to agencies wait for them to be read (`outbound_max_age_days` overrides it).
OUTBOUND_MAX_AGE_DAYS = 30.0

STREAMS: tuple[StreamSpec, ...] = (
    # Each service on the bus owns a stream of its own events (shared/service_registry.py).
    *(StreamSpec(spec.stream_name, (f"antq.{spec.name}.>",), spec.stream)
      for spec in service_registry.REGISTRY if spec.stream is not None),
    # The accepted inbound types are listed one by one: tips forwarded by agencies live in a stream of their own
    # (stream subjects may not overlap), and a type no service accepts has no stream, so publishing it fails.
    StreamSpec("INBOUND", ("antq.inbound.*.IncidentReported.v1", "antq.inbound.*.UnitUpserted.v1"),
               "Incidents and units published by other agencies' systems"),
    StreamSpec("INBOUND_TIPS", ("antq.inbound.*.TipSubmitted.v1",),
               "Tips forwarded by other agencies, read by the tips service alone and removed once processed",
               retention="workqueue"),
    # Replies to the agencies (TipAccepted.v1, InboundRejected.v1), each agency reading its own subjects through a
    # durable consumer of its own (`outbound_durable`); kept for a limited time, not forever.
    StreamSpec("OUTBOUND", (f"{OUTBOUND_PREFIX}.>",), "Replies to other agencies: receipts and refusals",
               max_age_days=OUTBOUND_MAX_AGE_DAYS),
    StreamSpec("DLQ", (f"{DLQ_PREFIX}.>",), "Messages a consumer could not process, with the reason"),
)


def subject_matches(filter_subject: str, subject: str) -> bool:
    """Whether a NATS subject matches a filter (`*` one token, `>` one or more at the end)."""
    f, s = filter_subject.split("."), subject.split(".")
    for i, tok in enumerate(f):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(f) == len(s)


def stream_for_subject(subject: str) -> StreamSpec:
    for spec in STREAMS:
        if any(subject_matches(pattern, subject) for pattern in spec.subjects):
            return spec
    raise KeyError(f"no stream holds subject {subject!r}")


def dlq_subject(service: str, original_type: str) -> str:
    """`antq.dlq.<service>.<original type>`; a type that is not a safe subject becomes `unknown`."""
    safe = original_type if original_type and all(ch.isalnum() or ch in "._-" for ch in original_type) else "unknown"
    safe = ".".join(tok for tok in safe.split(".") if tok) or "unknown"
    return f"{DLQ_PREFIX}.{service}.{safe}"


def outbound_subject(agency: str, reply_type: str) -> str:
    """`antq.outbound.<agency>.<Type>.v1`: a reply only that agency can read."""
    return f"{OUTBOUND_PREFIX}.{agency}.{reply_type}"


def outbound_durable(agency: str) -> str:
    """The durable consumer through which an agency reads its replies from the OUTBOUND stream."""
    return f"outbound-{agency}"


def inbound_agency(subject: str) -> str | None:
    """The publishing agency of an inbound subject (`antq.inbound.<agency>.<Type>.v1`), else None."""
    from shared.settings import valid_agency_name

    parts = subject.split(".")
    if subject.startswith("antq.inbound.") and len(parts) == 5 and valid_agency_name(parts[2]):
        return parts[2]
    return None
