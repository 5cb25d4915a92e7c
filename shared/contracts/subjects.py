"""The stream and subject registry: which stream holds which subjects, and how DLQ subjects are named."""

from __future__ import annotations

from dataclasses import dataclass

DLQ_PREFIX = "antq.dlq"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("UNITS", ("antq.units.>",), "Units registry and the yearly ANTT cycle"),
    StreamSpec("TIPS", ("antq.tips.>",), "Crime tips and their legal deadlines"),
    StreamSpec("AWARDS", ("antq.awards.>",), "Commendations and certificates"),
    StreamSpec("NOTIFY", ("antq.notify.>",), "Notification delivery outcomes"),
    StreamSpec("INBOUND", ("antq.inbound.>",), "Events published by other agencies' systems"),
    StreamSpec("DLQ", (f"{DLQ_PREFIX}.>",), "Messages a consumer could not process, with the reason"),
)


def stream_for_subject(subject: str) -> StreamSpec:
    for spec in STREAMS:
        prefix = spec.subjects[0].removesuffix(">")
        if subject.startswith(prefix):
            return spec
    raise KeyError(f"no stream holds subject {subject!r}")


def dlq_subject(service: str, original_type: str) -> str:
    """`antq.dlq.<service>.<original type>`; a type that is not a safe subject becomes `unknown`."""
    safe = original_type if original_type and all(ch.isalnum() or ch in "._-" for ch in original_type) else "unknown"
    safe = ".".join(tok for tok in safe.split(".") if tok) or "unknown"
    return f"{DLQ_PREFIX}.{service}.{safe}"
