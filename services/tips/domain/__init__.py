"""Pure rules of the tips service: lifecycle, legal deadlines, triage, receipts and identity secrecy.

Imports only the standard library, pydantic, yaml, argon2-cffi, cryptography, joserfc and `shared`; time is passed in.
"""

from __future__ import annotations

from .attachments import AttachmentMeta, attachment_problems, validate_attachments
from .deadlines import (
    DeadlineEvent,
    DeadlineInstance,
    DeadlineMarker,
    DeadlineState,
    Extension,
    add_months,
    current_deadline,
    deadline_instances,
    decide_due,
    forward_due,
    is_overdue,
    max_extension_due,
    next_wakeup,
    owed_deadline_events,
    plan_extension,
)
from .duplicates import DuplicateCandidate, TipFingerprint, candidate_window, find_duplicates, fold, text_similarity
from .guard import Leak, contains_personal_data, find_personal_data
from .lifecycle import (
    ALLOWED,
    DECISION_OUTCOMES,
    DISMISSAL_OUTCOMES,
    OPEN_STATUSES,
    SUSPENSION_REASONS,
    Decision,
    Tip,
    TipStatus,
    begin_verification,
    close,
    extend,
    post_message,
    priority_for,
    receive_tip,
    triage,
    verify,
)
from .rules import (
    AttachmentRules,
    Category,
    CategorySet,
    DeadlineRules,
    TriageRules,
    available_versions,
    load_attachment_rules,
    load_categories,
    load_deadline_rules,
    load_triage_rules,
)
from .sealed import InboundKeyring, UndecryptableIdentity, seal
from .secrecy import (
    FAST_FOR_TESTS,
    PRODUCTION,
    Argon2Profile,
    IdentityCipher,
    IdentityDecryptError,
    Receipt,
    hash_receipt,
    new_receipt,
    parse_receipt,
    receipt_needs_rehash,
    reward_ref,
    verify_receipt,
)

__all__ = [
    "ALLOWED", "DECISION_OUTCOMES", "DISMISSAL_OUTCOMES", "FAST_FOR_TESTS", "OPEN_STATUSES", "PRODUCTION",
    "SUSPENSION_REASONS", "Argon2Profile", "AttachmentMeta", "AttachmentRules", "Category", "CategorySet",
    "DeadlineEvent", "DeadlineInstance", "DeadlineMarker", "DeadlineRules", "DeadlineState", "Decision",
    "DuplicateCandidate", "Extension", "IdentityCipher", "IdentityDecryptError", "InboundKeyring", "Leak",
    "Receipt", "Tip", "TipFingerprint", "TipStatus", "TriageRules", "UndecryptableIdentity", "add_months",
    "attachment_problems", "available_versions", "begin_verification", "candidate_window", "close",
    "contains_personal_data", "current_deadline", "deadline_instances", "decide_due", "extend", "find_duplicates",
    "find_personal_data", "fold", "forward_due", "hash_receipt", "is_overdue", "load_attachment_rules",
    "load_categories", "load_deadline_rules", "load_triage_rules", "max_extension_due", "new_receipt",
    "next_wakeup", "owed_deadline_events", "parse_receipt", "plan_extension", "post_message", "priority_for",
    "receipt_needs_rehash", "receive_tip", "reward_ref", "seal", "text_similarity", "triage", "validate_attachments",
    "verify", "verify_receipt",
]
