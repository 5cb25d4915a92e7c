"""The pure domain of the awards service: rules as data, rule evaluation, approval workflow and certificates."""

from . import status_list
from .certificates import (
    Issuer,
    Keyring,
    VerificationResult,
    build_credential,
    certificate_id_of,
    qr_svg,
    sign_certificate,
    verify_certificate,
)
from .evaluation import (
    CertificationRecord,
    Nomination,
    PriorAward,
    Proposal,
    TipFacts,
    UnitFacts,
    award_id_for_key,
    check_standing,
    evaluate_tip,
    evaluate_unit,
    new_proposals,
    proposal_key,
    validate_nomination,
)
from .rules import RuleLibrary, RuleSet, rule_library, rules_in_force
from .workflow import (
    TRANSITIONS,
    AuditEntry,
    Award,
    Step,
    annul,
    approve,
    grant,
    hold,
    propose,
    quota_usage,
    reject,
    restore,
    restore_on_recognition,
    review,
    withdraw_on_revocation,
)

__all__ = [
    "status_list",
    "TRANSITIONS", "AuditEntry", "Award", "CertificationRecord", "Issuer", "Keyring", "Nomination",
    "PriorAward", "Proposal", "RuleLibrary", "RuleSet", "Step", "TipFacts", "UnitFacts", "VerificationResult", "annul",
    "approve", "award_id_for_key", "build_credential", "certificate_id_of", "check_standing", "evaluate_tip",
    "evaluate_unit", "grant", "hold", "new_proposals", "proposal_key", "propose", "qr_svg", "quota_usage", "reject",
    "restore", "restore_on_recognition", "review",
    "rule_library", "rules_in_force", "sign_certificate", "validate_nomination", "verify_certificate",
    "withdraw_on_revocation",
]
