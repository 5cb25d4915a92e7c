"""The tips service context: what routes, handlers and tasks need besides the request.

`app.py` builds one `TipsContext` and installs it (`shared.deps.install_context`); routes take it as `ctx: Ctx`,
handlers and tasks as an argument. Time is `ctx.now()`, read through the service's clock so that a test replacing
`service.clock` moves every handler's time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.tips.domain import (
    AttachmentRules,
    CategorySet,
    DeadlineRules,
    IdentityCipher,
    InboundKeyring,
    ReceiptKeys,
    TriageRules,
    load_attachment_rules,
    load_categories,
    load_deadline_rules,
    load_triage_rules,
)
from services.tips.metrics import TipsMetrics
from shared.blobs import BlobStorage as AttachmentStorage
from shared.db import Database
from shared.ratelimit import RateLimiter


class RateLimits:
    """The public routes' limits, per client address (staff entering tips for reporters: per person)."""

    def __init__(self, *, submit_per_minute: float = 10, follow_up_per_minute: float = 20,
                 staff_submit_per_minute: float = 120, lookup_per_minute: float = 120):
        self.submit = RateLimiter("tip submission", rate=submit_per_minute, per=60)
        # The submission form's lists (a province's communes, a commune's units): a few per form filled in.
        self.lookup = RateLimiter("submission form lists", rate=lookup_per_minute, per=60)
        self.follow_up = RateLimiter("tip follow-up", rate=follow_up_per_minute, per=60)
        self.staff_submit = RateLimiter("tip entry by staff", rate=staff_submit_per_minute, per=60)


def _no_clock() -> datetime:
    raise AssertionError("the composition root sets the clock")


@dataclass
class TipsContext:
    """The database, the clock, the rules in force, the identity cipher, the keys that open identities sealed by
    other agencies, the receipt keys, attachment storage, the public routes' rate limits and metrics."""

    db: Database
    cipher: IdentityCipher
    storage: AttachmentStorage
    # Read at each use, so that a key added by a rotation opens identities without a restart.
    inbound_keys: Callable[[], InboundKeyring] = InboundKeyring
    # The composition root reads them from settings or the key file; a random key here serves tests only.
    receipts: ReceiptKeys = field(default_factory=lambda: ReceiptKeys([ReceiptKeys.generate_key()]))
    categories: CategorySet = field(default_factory=load_categories)
    deadline_rules: DeadlineRules = field(default_factory=load_deadline_rules)
    attachment_rules: AttachmentRules = field(default_factory=load_attachment_rules)
    triage_rules: TriageRules = field(default_factory=load_triage_rules)
    metrics: TipsMetrics | None = None
    # app.py: `lambda: service.clock()`, so that a test replacing service.clock moves every handler's time.
    clock: Callable[[], datetime] = _no_clock
    # The composition root builds them from settings; the defaults here are the settings' defaults.
    limits: RateLimits = field(default_factory=RateLimits)
    # The intake desk's area (tips with no area wait there); None: every province-level officer.
    intake_desk: str | None = None
    # An agency's registered public JWK set (receipts are encrypted to it), read at each use; None: none.
    agency_keys: Callable[[str], Mapping[str, Any] | None] = field(default=lambda agency: None)

    def now(self) -> datetime:
        return self.clock()
