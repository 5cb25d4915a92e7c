"""The console's HTML pages and forms. Each module is a group of pages with its own router; `pages` holds the
helpers they share (the session, the page's language, rendering, the API calls). app.py includes `ROUTERS` in
this order (the first route that matches a path answers)."""

from __future__ import annotations

from services.console.web import (
    admin,
    awards,
    inbox,
    oidc,
    preferences,
    registry,
    reports,
    session,
    tips,
    units,
)

ROUTERS = (session.router, tips.router, inbox.router, preferences.router, oidc.router, units.router,
           registry.router, reports.router, awards.router, admin.router)
