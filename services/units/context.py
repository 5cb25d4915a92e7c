"""The units service context: what routes, handlers and jobs need besides the request, built once in app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.units.domain import AgencyTrust, EvidenceRules
from shared.blobs import BlobStorage
from shared.db import Database


@dataclass
class UnitsContext:
    """`clock` follows the service's (tests move `service.clock`); `now()` is the one way to read the time."""

    db: Database
    clock: Callable[[], datetime]
    trust: AgencyTrust  # which agencies' incident reports count on arrival
    evidence_rules: EvidenceRules
    evidence_storage: BlobStorage
    import_chunk_rows: int  # import rows committed per transaction
    batch_max_items: int  # items in one batch request
    stats_max_age: float = 0.0  # seconds a nation's or a province's /stats snapshot is served; 0: always live

    def now(self) -> datetime:
        return self.clock()
