"""Awards use cases: one function per command or event, one transaction each, events out via the outbox."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.awards import store
from shared.bus.consumer import Delivery
from shared.contracts.events import CertificationRevoked, UnitCertified
from shared.db import UnitOfWork, utcnow


async def on_units_event(delivery: Delivery, uow: UnitOfWork) -> None:
    """Record certifications and revocations; either may arrive first, the end state is the same."""
    data = delivery.data
    t = store.unit_certifications
    now = utcnow()
    dialect = uow.session.bind.dialect.name if uow.session.bind else "sqlite"
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if isinstance(data, UnitCertified):
        current = (await uow.session.execute(select(t.c.status).where(
            t.c.unit_id == data.unit_id, t.c.year == data.year))).first()
        if current is not None and current[0] == "revoked":
            # The revocation arrived first: keep it, but remember what it revoked.
            await uow.session.execute(update(t).where(t.c.unit_id == data.unit_id, t.c.year == data.year).values(
                rating=data.rating, decision_no=data.decision_no, consecutive_years=data.consecutive_years,
                certified_event_id=delivery.event_id, updated_at=now))
            return
        stmt = insert_fn(t).values(unit_id=data.unit_id, year=data.year, status="certified", rating=data.rating,
                                   decision_no=data.decision_no, consecutive_years=data.consecutive_years,
                                   certified_event_id=delivery.event_id, updated_at=now)
        await uow.session.execute(stmt.on_conflict_do_update(
            index_elements=[t.c.unit_id, t.c.year],
            set_={"status": "certified", "rating": data.rating, "decision_no": data.decision_no,
                  "consecutive_years": data.consecutive_years, "certified_event_id": delivery.event_id,
                  "updated_at": now}))
    elif isinstance(data, CertificationRevoked):
        stmt = insert_fn(t).values(unit_id=data.unit_id, year=data.year, status="revoked",
                                   revoked_event_id=delivery.event_id, revoked_reason=data.reason, updated_at=now)
        await uow.session.execute(stmt.on_conflict_do_update(
            index_elements=[t.c.unit_id, t.c.year],
            set_={"status": "revoked", "revoked_event_id": delivery.event_id, "revoked_reason": data.reason,
                  "updated_at": now}))
