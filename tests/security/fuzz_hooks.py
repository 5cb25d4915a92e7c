"""schemathesis hooks of the OpenAPI checks (loaded with SCHEMATHESIS_HOOKS=tests.security.fuzz_hooks).

`schema_valid_request_passes_the_request_model`: a request generated from the document as valid must not be
refused by the service's request model (the 422 "the request does not match the schema" of shared.http). Such a
refusal means the document allows what the model does not: a missing bound, pattern or dependency between
fields (a date before 2000 was schema-valid; `anonymous: false` without a reporter).
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.core.failures import Failure

SCHEMA_MISMATCH = "the request does not match the schema"


def model_errors(body: Any) -> list[Any] | None:
    """The validation errors of a 422 body when the request model refused the request, else None."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details = error.get("details")
    if error.get("message") == SCHEMA_MISMATCH:
        return details if isinstance(details, list) else []
    return None


@schemathesis.check
def schema_valid_request_passes_the_request_model(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    errors = model_errors(body)
    if errors is None:
        return None
    where = "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg', '')}" for e in errors[:5])
    raise Failure(operation=case.operation.label, title="Schema-valid request refused by the request model",
                  message=f"the document allows what the request model refuses: {where}")
