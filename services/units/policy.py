"""Who may do what in the units service: role × action × scope, consulted by every endpoint.

Officers act within their area (a province token covers its communes); a unit's own staff act on their unit
only; agencies (other systems) read. Frameworks are published rules and are public.
"""

from __future__ import annotations

from shared.policy import Policy, Rule, Scope

READERS: dict[str, Scope] = {"admin": "any", "officer": "area", "unit": "unit", "agency": "any"}
UNIT_OR_OFFICER: dict[str, Scope] = {"admin": "any", "officer": "area", "unit": "unit"}
OFFICER: dict[str, Scope] = {"admin": "any", "officer": "area"}

POLICY = Policy([
    Rule("units.create", dict(OFFICER), description="register a unit in the registry"),
    Rule("units.list", dict(READERS), description="search the registry (results limited to the caller's scope)"),
    Rule("units.read", dict(READERS), description="read one unit"),
    Rule("units.update", dict(UNIT_OR_OFFICER),
         description="change a unit; unit staff may change only contacts, headcount, address and models"),
    Rule("units.history", dict(UNIT_OR_OFFICER), description="read a unit's change history"),
    Rule("units.import", dict(OFFICER), description="bulk import (rows outside an officer's area are rejected)"),
    Rule("frameworks.read", public=True, description="criteria frameworks and incident categories"),
    Rule("areas.read", public=True, description="the national list of provinces and communes, and local areas"),
    Rule("cycles.read", dict(READERS), description="read a unit's yearly cycle"),
    Rule("cycles.workboard", dict(OFFICER),
         description="the year's workboard of an area: every in-scope unit with its dossier state and counts"),
    Rule("cycles.register", dict(UNIT_OR_OFFICER), description="register a unit for a year"),
    Rule("cycles.score", dict(UNIT_OR_OFFICER), description="record criteria results and self-assess"),
    Rule("cycles.submit", dict(UNIT_OR_OFFICER), description="send the dossier to the police"),
    Rule("cycles.appraise", dict(OFFICER), description="police appraisal"),
    Rule("cycles.decide", dict(OFFICER), description="record the People's Committee decision"),
    Rule("cycles.revoke", dict(OFFICER), description="revoke a recognition (fraud, late incident)"),
    Rule("evidence.upload", {"admin": "any", "unit": "unit"},
         description="upload evidence documents for the unit's own dossier"),
    Rule("evidence.read", dict(UNIT_OR_OFFICER), description="list and download a dossier's evidence documents"),
    Rule("incidents.create", dict(OFFICER), description="record an incident at a unit"),
    Rule("incidents.confirm", dict(OFFICER),
         description="confirm an agency's incident report (until then it does not count)"),
    Rule("incidents.withdraw", dict(OFFICER),
         description="withdraw an incident recorded by mistake, with a reason (may restore a recognition)"),
    Rule("incidents.read", dict(READERS), description="a unit's incidents"),
    Rule("activities.create", dict(UNIT_OR_OFFICER), description="report a movement activity"),
    Rule("activities.read", dict(READERS), description="a unit's activities"),
    Rule("activity_kinds.read", public=True, description="the activity kinds and the figures each carries"),
    Rule("history.import", dict(OFFICER),
         description="import past years' results and awards held (province officers; rows outside the area are "
                     "rejected)"),
    Rule("history.read", dict(READERS), description="a unit's imported past results and awards"),
    Rule("stats.read", {"admin": "any", "officer": "area", "leader": "area", "agency": "any"},
         description="report figures (leaders read their area's, as the console's reports do)"),
    Rule("batches.run", dict(OFFICER), description="batch registration, scoring, appraisal and decisions"),
    Rule("audit.read", {"admin": "any"}, description="the hash-chained trail of cycle commands and imports"),
])

# What a unit's own staff may change about their unit (identity, area and scope are the police's business).
UNIT_STAFF_FIELDS = frozenset({
    "address", "head_of_unit", "security_focal", "security_force_full_time", "security_force_part_time", "models",
})
