"""Who may do what with tips: the service's rows of the role × action × scope policy."""

from __future__ import annotations

from shared.areas import serves_intake_desk
from shared.auth import Principal
from shared.policy import OFFICERS, Policy, Rule, Scope

# Revealing a reporter's identity: admins anywhere, and officers for tips in their own area (the officers who
# handle the case and may need to contact or protect the reporter). Every reveal needs a reason and is written
# to the hash-chained audit trail. To restrict it to admins, give this rule {"admin": "any"} only.
REVEAL_GRANTS: dict[str, Scope] = {"admin": "any", "officer": "area"}

POLICY = Policy([
    Rule("tips.categories", public=True, description="Read the versioned list of tip categories"),
    Rule("tips.submit", public=True, description="Submit a tip (anyone, anonymous allowed)"),
    Rule("tips.submit_for_reporter", grants=OFFICERS,
         description="Enter a tip a reporter gave by phone or at the desk: held by a per-person limit, not the "
                     "public per-address one"),
    Rule("tips.commune_units", public=True,
         description="List a commune's units (name and kind) for the submission form"),
    Rule("tips.follow_up", public=True, description="Read a tip's status and messages with its receipt"),
    Rule("tips.reporter_message", public=True, description="Write to the officers with the receipt"),
    Rule("tips.inbound_keys", public=True, description="Read the public keys agencies seal reporter identities to"),
    Rule("tips.list", grants=OFFICERS, description="The officer queue, scoped to the officer's area"),
    Rule("tips.read", grants=OFFICERS, description="One tip with its messages, notes and duplicate links"),
    Rule("tips.triage", grants=OFFICERS, description="Forward a tip: category, priority, assignment"),
    Rule("tips.begin_verification", grants=OFFICERS, description="Start verifying a triaged tip"),
    Rule("tips.verify", grants=OFFICERS, description="Record the decision or dismissal and `valuable`"),
    Rule("tips.extend", grants=OFFICERS, description="Extend the decide period (with a reason)"),
    Rule("tips.close", grants=OFFICERS, description="Close a decided or dismissed tip"),
    Rule("tips.officer_message", grants=OFFICERS, description="Reply to the reporter or keep an internal note"),
    Rule("tips.confirm_duplicate", grants=OFFICERS, description="Confirm that two tips report the same thing"),
    Rule("tips.read_attachment", grants=OFFICERS, description="Download a tip's attachment"),
    Rule("tips.stats", {"admin": "any", "officer": "area", "leader": "area", "agency": "any"},
         description="Report figures (counts only; officers and leaders their own area by default)"),
    Rule("tips.reveal_reporter", grants=dict(REVEAL_GRANTS), description="Reveal a reporter's identity"),
    Rule("audit.read", {"admin": "any"},
         description="The hash-chained audit trail (who revealed which tip's reporter, and why), newest first"),
])


def authorize_on(principal: Principal, action: str, *, area: str | None, desk: str | None = None) -> None:
    """The full check once the tip's area is known (an officer of "79" covers "79.26743"). A tip with no area
    is the intake desk's (`desk`: the configured desk area, None for province-level officers)."""
    if area is None and principal.role == "officer" and serves_intake_desk(principal.area, desk):
        POLICY.require(principal, action)
        return
    POLICY.authorize(principal, action, area=area)
