"""Who may do what in the awards service: role × action × scope, consulted by every endpoint."""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import Forbidden
from shared.policy import OFFICERS, Policy, Rule, Scope

# Those who decide on proposals: officers, and leaders (who decide at their level, see `authorize_level`), each
# within the area their token covers.
DECIDERS: dict[str, Scope] = {**OFFICERS, "leader": "area"}

POLICY = Policy([
    Rule("awards.read", {"admin": "any", "officer": "area", "leader": "area", "unit": "unit"},
         description="List and read awards: officers and leaders within their area, a unit its own collective awards"),
    Rule("awards.nominate", {**OFFICERS, "unit": "unit"},
         description="Manual nomination (e.g. the commemorative medal); a unit proposes itself (collective award)"),
    Rule("awards.review", dict(DECIDERS), description="The managing level has examined the dossier"),
    Rule("awards.approve", dict(DECIDERS), description="Approve with a decision number (quota enforced)"),
    Rule("awards.reject", dict(DECIDERS), description="Reject a pending proposal with a reason"),
    Rule("awards.grant", dict(DECIDERS), description="Issue and sign the certificate of an approved award"),
    Rule("awards.annul", dict(DECIDERS), description="Annul an approved or granted award (fraud) with a reason"),
    Rule("awards.stats", dict(DECIDERS), description="Figures for the dashboard, within the caller's area"),
    Rule("audit.read", {"admin": "any"}, description="The hash-chained audit trail (who decided what), newest first"),
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
# A leader decides at their own level and at every level of a lower rank; the province's People's Committee and
# its police (both rank 2) are different authorities, so neither decides at the other's level.
LEVEL_RANK = {"unit": 0, "commune": 1, "police_unit": 2, "province": 2, "ministry": 3}


def authorize_level(principal: Principal, level: str) -> None:
    """Refuse a decision at a level above the reach of the caller's token (403 forbidden_level)."""
    if principal.role == "leader" and not (
            level == principal.level or LEVEL_RANK.get(level, 99) < LEVEL_RANK.get(principal.level or "", -1)):
        raise Forbidden(f"level {level} is not decided by a {principal.level} leader",
                        code="forbidden_level", details={"level": level})
    if principal.role == "admin" or principal.area is None:
        return
    if level in NATIONAL_LEVELS:
        raise Forbidden(f"level {level} is decided nationally; an area-scoped token may not decide it",
                        code="forbidden_level", details={"level": level})
    if level in PROVINCIAL_LEVELS and "." in principal.area:
        raise Forbidden(f"level {level} is decided by the province; a commune-scoped token may not decide it",
                        code="forbidden_level", details={"level": level})
