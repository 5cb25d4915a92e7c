"""The channel-traits table: every decision notify takes by channel, one row per channel.

Everything else is derived from `CHANNELS`: the names' type and its validation (the API's accepted names and
their OpenAPI enum, the domain models), the metrics' labels, which message a channel sends and so which
templates it renders, what target a subscription needs and how it is checked, whether quiet hours and digests
hold it, the words notices use for it and `GET /channels`; the configured channels are built in its order. A new
channel is a row here and an adapter module under `services/notify/channels/` that wires itself (`@wires`),
besides its settings and its name in the event contract (docs/notify.md, "How to add a channel").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

# What a channel is addressed to: nothing (the recipient's own inbox), an email address, a phone number, a URL.
Target = Literal["email", "phone", "url"]
# What a channel sends, hence what is rendered for it (domain/templates.py):
# - "notice": a title and a one-line summary (the inbox);
# - "mail": a subject, a plain text and an HTML body (email);
# - "short_text": one line of at most SMS_MAX_CHARS characters ending with the link (SMS);
# - "cloudevent": the CloudEvent itself, signed with the subscription's secret; no template (webhooks).
Message = Literal["notice", "mail", "short_text", "cloudevent"]


@dataclass(frozen=True)
class ChannelTraits:
    name: str
    label_vi: str  # the channel's name on a page (the console's preferences)
    label_en: str
    word_vi: str  # the channel's name inside a sentence of a notice ("gửi qua thư điện tử")
    word_en: str
    target: Target | None
    message: Message
    # Never held by quiet hours or parked for a digest: it interrupts nobody (inbox) or is read by machines.
    immediate: bool

    @property
    def templated(self) -> bool:
        """Whether notices are rendered from the templates for it (the webhook carries the event as it is)."""
        return self.message != "cloudevent"

    @property
    def digest(self) -> bool:
        """Whether a recipient in digest mode gets its notices once a day on it."""
        return self.templated and not self.immediate


CHANNELS: tuple[ChannelTraits, ...] = (
    ChannelTraits("inbox", label_vi="Hộp thông báo", label_en="Inbox", word_vi="hộp thư", word_en="inbox",
                  target=None, message="notice", immediate=True),
    ChannelTraits("email", label_vi="Thư điện tử", label_en="Email", word_vi="thư điện tử", word_en="email",
                  target="email", message="mail", immediate=False),
    ChannelTraits("webhook", label_vi="Webhook", label_en="Webhook", word_vi="webhook", word_en="webhook",
                  target="url", message="cloudevent", immediate=True),
    ChannelTraits("sms", label_vi="Tin nhắn SMS", label_en="SMS", word_vi="tin nhắn SMS", word_en="SMS",
                  target="phone", message="short_text", immediate=False),
)
# The in-app inbox: delivered in the consumer's transaction, read through desks (handlers.py, store.py).
INBOX = "inbox"


def all_channels() -> tuple[ChannelTraits, ...]:
    """The table's rows, in order."""
    return CHANNELS


def channel_names() -> tuple[str, ...]:
    """The channels' names, in the table's order."""
    return tuple(row.name for row in CHANNELS)


def traits(name: str) -> ChannelTraits:
    """The row of channel `name`; KeyError for a name the table does not have."""
    for row in CHANNELS:
        if row.name == name:
            return row
    raise KeyError(name)


def _expected(names: tuple[str, ...]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class _OneOfTheTable:
    """Validates a channel name against the table as it is (the same error as a `Literal` of the names), and
    documents it as a string enum of the names."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: Any) -> str:
            names = channel_names()
            if not isinstance(value, str) or value not in names:
                raise PydanticCustomError("literal_error", "Input should be {expected}",
                                          {"expected": _expected(names)})
            return value

        return core_schema.no_info_plain_validator_function(check)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"enum": list(channel_names()), "type": "string"}


# The type of a channel's name wherever one is validated (domain models, API bodies and queries).
ChannelName = Annotated[str, _OneOfTheTable()]
