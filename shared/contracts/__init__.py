"""The public contract in code: the CloudEvents envelope, every v1 event, subjects and streams."""

from shared.contracts.envelope import CloudEvent, new_event
from shared.contracts.events import EVENT_TYPES, EventData, data_model_for
from shared.contracts.subjects import DLQ_PREFIX, STREAMS, StreamSpec, dlq_subject, stream_for_subject

__all__ = [
    "DLQ_PREFIX",
    "EVENT_TYPES",
    "STREAMS",
    "CloudEvent",
    "EventData",
    "StreamSpec",
    "data_model_for",
    "dlq_subject",
    "new_event",
    "stream_for_subject",
]
