"""Who may do what in the awards service: role × action × scope, consulted by every endpoint."""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import Forbidden
from shared.policy import OFFICERS, Policy, Rule

POLICY = Policy([
    Rule("awards.read", {"admin": "any", "officer": "area", "unit": "unit"},
         description="List and read awards: officers within their area, a unit its own collective awards"),
    Rule("awards.nominate", {**OFFICERS, "unit": "unit"},
         description="Manual nomination (e.g. the commemorative medal); a unit proposes itself (collective award)"),
    Rule("awards.review", dict(OFFICERS), description="The managing level has examined the dossier"),
    Rule("awards.approve", dict(OFFICERS), description="Approve with a decision number (quota enforced)"),
    Rule("awards.reject", dict(OFFICERS), description="Reject a pending proposal with a reason"),
    Rule("awards.grant", dict(OFFICERS), description="Issue and sign the certificate of an approved award"),
    Rule("awards.annul", dict(OFFICERS), description="Annul an approved or granted award (fraud) with a reason"),
    Rule("awards.stats", dict(OFFICERS), description="Figures for the dashboard, within the officer's area"),
    Rule("rules.read", public=True, description="The award rules in force are public regulation"),
    Rule("keys.read", public=True, description="The public keys that verify certificates"),
    Rule("certificates.read", public=True, description="A certificate and its current status"),
    Rule("certificates.verify", public=True, description="Verify a certificate: valid, revoked or invalid"),
    Rule("rewards.claim", public=True, description="An anonymous reporter's reward status, by receipt"),
])

# Approving levels and the reach an officer's token needs to decide at them: national levels need an unscoped
# token; provincial levels a province-wide (or unscoped) token; commune and unit levels any officer whose area
# covers the award (checked by the policy's area scope).
NATIONAL_LEVELS = frozenset({"ministry"})
PROVINCIAL_LEVELS = frozenset({"province", "police_unit"})


def authorize_level(principal: Principal, level: str) -> None:
    """Refuse a decision at a level above the reach of the caller's token (403 forbidden_level)."""
    if principal.role == "admin" or principal.area is None:
        return
    if level in NATIONAL_LEVELS:
        raise Forbidden(f"level {level} is decided nationally; an area-scoped token may not decide it",
                        code="forbidden_level", details={"level": level})
    if level in PROVINCIAL_LEVELS and "." in principal.area:
        raise Forbidden(f"level {level} is decided by the province; a commune-scoped token may not decide it",
                        code="forbidden_level", details={"level": level})
