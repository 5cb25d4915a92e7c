"""Who may open which console page: the console's rows of the role × action × scope policy.

The console decides only which pages a signed-in person sees; what each page reads or changes is decided again
by the service it calls, with the person's own token (the tips queue is scoped by the officer's area there).
"""

from __future__ import annotations

from shared.policy import Policy, Rule, Scope

STAFF: dict[str, Scope] = {"admin": "any", "officer": "area", "leader": "area", "unit": "unit"}
TIP_DESK: dict[str, Scope] = {"admin": "any", "officer": "area"}
REPORTERS: dict[str, Scope] = {"admin": "any", "officer": "area", "leader": "area"}
# --- leaders and admins ---
AWARD_DESK: dict[str, Scope] = {"admin": "any", "officer": "area", "leader": "area"}
ADMINS: dict[str, Scope] = {"admin": "any"}

POLICY = Policy([
    Rule("console.sign_in", public=True, description="The sign-in form and its handler"),
    Rule("console.home", dict(STAFF), description="The person's main page (a redirect)"),
    Rule("console.tips", dict(TIP_DESK), description="The tip queue of the officer's area and one tip's page"),
    Rule("console.tip_action", dict(TIP_DESK),
         description="Triage, verify, extend, close, messages, duplicates, reveal (the tips service decides)"),
    Rule("console.inbox", dict(STAFF), description="The person's notifications; mark as read; live updates"),
    Rule("console.preferences", dict(STAFF), description="Language, notification channels, quiet hours"),
    Rule("console.unit_desk", {"unit": "unit"},
         description="The unit's own page and dossier: profile, criteria, evidence, self-assessment, submission, "
                     "activities (the units service decides)"),
    Rule("console.units", dict(TIP_DESK), description="Search the registry of the officer's area; one unit's page"),
    Rule("console.units_import", dict(TIP_DESK),
         description="Bulk import of units with its progress and per-row report (the units service decides)"),
    Rule("console.workboard", dict(TIP_DESK), description="The year's workboard of the officer's area"),
    Rule("console.workboard_action", dict(TIP_DESK),
         description="Batch appraisal and decision of the selected dossiers (the units service decides)"),
    Rule("console.sign_out", dict(STAFF), description="End this session, or every session of the account"),
    Rule("console.reports", dict(REPORTERS),
         description="The movement's report of an area and year, and its XLSX and PDF exports (the services' /stats)"),
    # --- leaders and admins ---
    Rule("console.awards", dict(AWARD_DESK),
         description="Award proposals and decided awards with their dossier; the printable certificate"),
    Rule("console.award_action", dict(AWARD_DESK),
         description="Approve (one or the selected rows), reject, grant (the awards service checks area and level)"),
    Rule("console.admin", dict(ADMINS),
         description="Accounts (create, disable, reset, role and area); read-only DLQ and audit trails"),
])
