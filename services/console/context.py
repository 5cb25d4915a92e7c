"""The console's context: what its pages and background jobs need besides the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.console.clients import ProviderSignIn, ServiceApis
from services.console.handlers import Accounts
from services.console.metrics import ConsoleMetrics
from services.console.tasks import ImportJobs, LiveHub
from shared.db import Database, utcnow
from shared.settings import Settings


@dataclass
class ConsoleContext:
    settings: Settings
    db: Database  # the console's own tables (accounts, sessions, preferences), through `accounts`
    accounts: Accounts
    apis: ServiceApis
    metrics: ConsoleMetrics
    live: LiveHub
    # app.py sets `lambda: service.clock()`, so a test that replaces the service's clock moves every page.
    clock: Callable[[], datetime] = utcnow
    provider: ProviderSignIn | None = None  # sign-in with the site's OIDC provider, when configured
    imports: ImportJobs = field(default_factory=ImportJobs)  # the bulk imports of units in progress

    def now(self) -> datetime:
        return self.clock()

    @property
    def password_sign_in(self) -> bool:
        return self.provider is None or self.settings.console_password_sign_in
