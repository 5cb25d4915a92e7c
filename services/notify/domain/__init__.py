"""The pure notify domain: routing, preferences and timing, idempotency keys, retries, digests and templates."""

from services.notify.domain.digest import Digest, DigestItem, due_digests, group_digests
from services.notify.domain.identity import digest_id, notification_id
from services.notify.domain.model import (
    DEFAULT_PREFERENCES,
    ChannelName,
    DeliveryIntent,
    Directory,
    Preferences,
    QuietHours,
    Recipient,
    Subscription,
    reporter_recipient,
)
from services.notify.domain.patterns import area_covers, type_matches
from services.notify.domain.retry import (
    Backoff,
    DeliveryError,
    PermanentDeliveryError,
    RetryDecision,
    RetryPolicy,
    TransientDeliveryError,
    backoff_delay,
    classify_http_status,
    classify_smtp_code,
    default_policy,
    next_attempt,
)
from services.notify.domain.routing import RuleSet, default_rules, load_rules, route
from services.notify.domain.schedule import in_quiet_hours, when_to_send
from services.notify.domain.templates import Rendered, Templates, render, render_digest, webhook_body

__all__ = [
    "DEFAULT_PREFERENCES",
    "Backoff",
    "ChannelName",
    "DeliveryError",
    "DeliveryIntent",
    "Digest",
    "DigestItem",
    "Directory",
    "PermanentDeliveryError",
    "Preferences",
    "QuietHours",
    "Recipient",
    "Rendered",
    "RetryDecision",
    "RetryPolicy",
    "RuleSet",
    "Subscription",
    "Templates",
    "TransientDeliveryError",
    "area_covers",
    "backoff_delay",
    "classify_http_status",
    "classify_smtp_code",
    "default_policy",
    "default_rules",
    "digest_id",
    "due_digests",
    "group_digests",
    "in_quiet_hours",
    "load_rules",
    "next_attempt",
    "notification_id",
    "render",
    "render_digest",
    "reporter_recipient",
    "route",
    "type_matches",
    "webhook_body",
    "when_to_send",
]
