"""What vulture (`make lint`) cannot see being used: names that frameworks, protocols and serialisation call.

Each group says who uses its names. A name belongs here only when something outside the project's own calls
reads it; dead code is removed instead. Regenerate the raw list with `vulture --make-whitelist`."""
# ruff: noqa

_ = object()

# --- SQLAlchemy: TypeDecorator hooks and attributes, and the sqlite3 connection setting of an event listener
# services/units/store.py
impl
cache_ok
# shared/db.py
impl
cache_ok
_.process_bind_param
_.process_result_value
_.isolation_level

# --- Protocols of other libraries: joserfc's key (get_alg), httpcore's network backend (connect_unix_socket), pydantic's model hook (model_post_init), the async context manager protocol (tb)
# services/awards/domain/certificates.py
_.get_alg
# services/notify/channels/targets.py
_.connect_unix_socket
# services/units/domain/frameworks.py
model_post_init
# shared/db.py
tb

# --- Test servers: aiosmtpd handlers (handle_*), http.server handlers (do_*, log_message, daemon_threads), uvicorn's stop flag (should_exit)
# tests/console_world.py
_.should_exit
# tests/integration/notify/conftest.py
_.handle_DATA
_.do_POST
_.log_message
_.daemon_threads
# tests/integration/notify/test_notify_channels_real.py
_.handle_RCPT
_.handle_DATA
_.do_POST
_.log_message
# tests/security/live.py
_.should_exit
# tests/security/test_oidc.py
_.do_GET
_.log_message
# tests/support/oidc_provider.py
_.should_exit

# --- Dead: delete with the line it names at merge (services/tips is its helper's): `RECEIPT_BITS` is used nowhere
# services/tips/domain/secrecy.py
RECEIPT_BITS

# --- Pydantic and dataclass fields: read by serialisation (API responses, events, settings from the environment, stored aggregates, the statistics), never by name in Python
# services/awards/api.py
granted_at
reward_status
certified_event_id
# services/awards/domain/rules.py
base_version
# services/awards/domain/workflow.py
granted_at
# services/notify/api.py
delivered_at
failed_at
error_kind
# services/tips/api.py
category_label_vi
category_label_en
timeline
can_reply
author_sub
has_identity
deadlines
escalation_level
duplicates
by_channel
by_priority
valuable_rate
valuable_by_category
by_outcome
missed_deadline
missed_by_deadline
# services/tips/domain/rules.py
legal_basis
# services/tips/web/__init__.py
kind_label
truncated
# services/units/api.py
district_code
security_focal
security_force_part_time
next_steps
cycle_state
uploaded_by
imported_at
imported_by
# services/units/domain/activities.py
kinds_version
reported_at
# services/units/domain/cycle.py
recorded_at
restored_at
self_assessed_at
# services/units/domain/evidence.py
uploaded_by
# services/units/domain/incidents.py
recorded_at
withdrawn_at
# services/units/domain/stats.py
dissolved
registered_late
not_recognised_by_incident
recognition_rate
strikes_stabilised
_.dissolved
_.registered_late
_.not_recognised_by_incident
_.recognition_rate
_.strikes_stabilised
# services/units/domain/units.py
district_code
security_focal
security_force_part_time
# services/units/handlers.py
unchanged
# services/units/store.py
_.dissolved
_.registered_late
_.recognition_rate
_.strikes_stabilised
# shared/contracts/envelope.py
specversion
datacontenttype
# shared/contracts/events.py
withdrawn_at
restored_at
kinds_version
accepted_at
receipt_withheld
reason_code
rejected_at
# shared/settings.py (read from ANTQ_LOCAL_AREAS_FILE by pydantic-settings, checked by its validator)
local_areas_file

# --- Response fields read by serialisation (FastAPI response models)
# services/awards/api.py
left
# services/units/api.py
not_registered
awaiting_appraisal
awaiting_decision

# --- openpyxl cell and sheet styling (attributes the library reads when it writes the workbook), fpdf2's page hook
# services/console/report_files.py
_.font
_.border
_.alignment
_.number_format
_.freeze_panes
_.footer

# --- Read by the Jinja2 templates
# services/console/unit_imports.py (units_import.html)
_.percent

# --- schemathesis hooks (registered by decorator, loaded through SCHEMATHESIS_HOOKS)
# tests/security/fuzz_hooks.py
schema_valid_request_passes_the_request_model
