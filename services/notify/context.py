"""The notify service context: what routes, handlers and the delivery worker need besides the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from services.notify.channels import ChannelRegistry
from services.notify.domain import RuleSet, Templates
from services.notify.domain.names import Memo
from services.notify.domain.targets import Network
from services.notify.domain.templates import default_templates
from services.notify.keys import WebhookSecrets
from services.notify.metrics import NotifyMetrics
from shared.db import Database

# A hundred pages of fifty: the first pages of every desk read often. An event is about 2.8 KB in memory, a
# notice with its key about 1 KB, so both memos stay under 20 MB.
NOTICES_KEPT = 5_000


@dataclass
class NotifyContext:
    """Notify's database, clock, metrics, rules, the configured channels and the webhook secret keys."""

    db: Database
    clock: Callable[[], datetime]
    metrics: NotifyMetrics
    # The channels this deployment configured (inbox and webhooks always; email and SMS when set up).
    channels: ChannelRegistry
    # The keys that seal webhook signing secrets at rest (keys.py).
    secrets: WebhookSecrets
    rules: RuleSet | None = None
    # Where webhooks may go besides public addresses (ANTQ_NOTIFY_WEBHOOK_ALLOWED_NETWORKS); none by default.
    webhook_networks: tuple[Network, ...] = ()
    # The notice templates with the deployment's place names and console address (app.py composes them).
    templates: Templates = field(default_factory=default_templates)
    # The tips intake desk's area (ANTQ_TIPS_INTAKE_DESK_AREA); None: every province-level officer.
    intake_desk: str | None = None
    # What inbox pages already read and rendered in this process (handlers.inbox_texts): the stored cause events
    # by id, and the notices by (event, language, the directory entries they name).
    cause_events: Memo[str, dict[str, Any]] = field(default_factory=lambda: Memo(NOTICES_KEPT))
    notices: Memo[tuple[Any, ...], tuple[str, str, str | None]] = field(default_factory=lambda: Memo(NOTICES_KEPT))

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def configured(self) -> frozenset[str]:
        """The names of the configured channels (the registry does not change once built)."""
        return frozenset(self.channels.names())
