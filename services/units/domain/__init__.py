"""The pure domain of the units service: registry rules, criteria frameworks, the yearly ANTT cycle, statistics."""

from .activities import Activity, ActivityFields, record_activity
from .calendar import (
    VN_TZ,
    assessment_period,
    assessment_year_of,
    is_late_registration,
    local_date,
    registration_deadline,
)
from .cycle import (
    ALLOWED,
    Appraisal,
    CriterionResult,
    Cycle,
    CycleState,
    Decision,
    IncidentRef,
    Outcome,
    Revocation,
    appraise,
    consecutive_years,
    decide,
    denial_reasons,
    note_incident,
    reason_kind,
    recognised_years,
    record_criterion,
    refuse_second_registration,
    register,
    revoke,
    self_assess,
    submit,
)
from .frameworks import (
    Criterion,
    Framework,
    FrameworkCatalogue,
    IncidentCategory,
    framework_by_code,
    framework_in_force,
    load_frameworks,
)
from .incidents import Incident, record_incident
from .scope import ScopeDecision, decide_scope, load_scope_rules
from .stats import STRIKES_PREVENTED, STRIKES_STABILISED, Stats, StatsQuery, area_covers, compute_stats
from .units import (
    IMMUTABLE,
    PATCHABLE,
    PERSONAL_FIELDS,
    Contact,
    ImportRow,
    RowError,
    Unit,
    UnitFields,
    apply_patch,
    create_unit,
    event_changes,
    make_area_code,
    split_area_code,
    validate_import_row,
)

__all__ = [
    "ALLOWED", "IMMUTABLE", "PATCHABLE", "PERSONAL_FIELDS", "STRIKES_PREVENTED", "STRIKES_STABILISED", "VN_TZ", "Activity", "ActivityFields", "Appraisal", "Contact", "Criterion", "CriterionResult",
    "Cycle", "CycleState", "Decision", "Framework", "FrameworkCatalogue", "ImportRow", "Incident",
    "IncidentCategory", "IncidentRef", "Outcome", "Revocation", "RowError", "ScopeDecision", "Stats", "StatsQuery",
    "Unit", "UnitFields", "apply_patch", "appraise", "area_covers", "assessment_period", "assessment_year_of", "compute_stats",
    "consecutive_years", "create_unit", "decide", "decide_scope", "denial_reasons", "event_changes", "framework_by_code",
    "framework_in_force", "is_late_registration", "load_frameworks", "load_scope_rules", "local_date",
    "make_area_code", "note_incident", "reason_kind", "recognised_years", "record_activity", "record_criterion", "record_incident",
    "refuse_second_registration", "register", "registration_deadline", "revoke", "self_assess", "split_area_code", "submit",
    "validate_import_row",
]
