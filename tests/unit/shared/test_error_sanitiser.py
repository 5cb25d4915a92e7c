"""shared/errors.py's sanitiser: a validation error becomes field paths, pydantic's message and type; never an input
value (it may be a reporter's identity), never a URL, never the error's context objects."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import Problem, field_names, problems, reason, safe_details

EMAIL = "nguyen.van.a@example.vn"
PHONE = "0901234567"
NAME = "Trần Thị Bích"


class Address(BaseModel):
    street: str = Field(min_length=50)
    ward: int


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=3)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$")  # a str field holding an e-mail address
    contact: str

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str) -> str:
        if not v.startswith("+84"):
            raise ValueError(f"{v} is not a phone number we can call")  # a validator that quotes its input
        return v


class Tip(BaseModel):
    reporter: Reporter
    address: Address
    tags: list[Annotated[str, Field(max_length=3)]]
    notes: dict[str, int]


BAD_TIP = {
    "reporter": {"name": NAME, "email": f"not an address {EMAIL}x@", "contact": PHONE, EMAIL: "extra"},
    "address": {"street": NAME, "ward": EMAIL},
    "tags": ["ok", PHONE, EMAIL],
    "notes": {EMAIL: NAME},
}
SECRETS = (EMAIL, PHONE, NAME, "not an address")


def _error() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Tip.model_validate(BAD_TIP)
    return caught.value


def _all_outputs(exc: ValidationError | RequestValidationError) -> str:
    return json.dumps([safe_details(exc), field_names(exc), reason(exc), [tuple(p) for p in problems(exc)]],
                      ensure_ascii=False)


def test_no_input_value_and_no_url_in_any_output() -> None:
    exc = _error()
    assert any(EMAIL in json.dumps(e.get("input"), ensure_ascii=False) for e in exc.errors())  # the input is there
    text = _all_outputs(exc)
    for secret in SECRETS:
        assert secret not in text
    assert "http" not in text and "errors.pydantic.dev" not in text


def test_paths_keep_fields_and_list_indexes_and_hide_client_chosen_keys() -> None:
    found = {p.loc: p for p in problems(_error())}
    assert ("reporter", "name") in found
    assert ("reporter", "email") in found
    assert ("address", "street") in found and ("address", "ward") in found
    assert ("tags", 1) in found and ("tags", 2) in found  # a list item: its index, not its value
    assert ("reporter", "*") in found  # an unexpected key that is an e-mail address
    assert ("notes", "*") in found  # a dict key chosen by the client
    assert found[("tags", 1)].type == "string_too_long"


def test_pydantic_templates_kept_and_a_quoting_validator_withheld() -> None:
    found = {p.loc: p for p in problems(_error())}
    assert found[("reporter", "name")].message == "String should have at most 3 characters"
    assert found[("reporter", "contact")] == Problem(("reporter", "contact"), "invalid value", "value_error")


def test_a_validator_message_that_does_not_quote_the_input_is_kept() -> None:
    class Quiet(BaseModel):
        contact: str

        @field_validator("contact")
        @classmethod
        def _contact(cls, v: str) -> str:
            raise ValueError("not a phone number")

    with pytest.raises(ValidationError) as caught:
        Quiet(contact=PHONE)
    assert reason(caught.value) == "contact: Value error, not a phone number"


def test_a_valid_tip_is_not_refused() -> None:
    tip = Tip.model_validate({"reporter": {"name": "An", "email": "an@example.vn", "contact": "+84901234567"},
                              "address": {"street": "s" * 50, "ward": 1}, "tags": ["ok"], "notes": {"a": 1}})
    assert (tip.reporter.contact, tip.address.street, tip.tags) == ("+84901234567", "s" * 50, ["ok"])


def test_shapes() -> None:
    exc = _error()
    details = safe_details(exc, prefix=("body",))
    assert all(set(d) == {"loc", "msg", "type"} and d["loc"][0] == "body" for d in details)
    assert field_names(exc) == sorted(set(field_names(exc)))
    assert reason(exc, limit=20) == reason(exc)[:20]
    assert Problem((), "m", "t").field == "<root>"


def test_fastapi_request_errors_go_through_the_same_sanitiser() -> None:
    exc = RequestValidationError([{"loc": ("body", "reporter", EMAIL), "msg": f"Value error, {EMAIL} is taken",
                                   "type": "value_error", "input": EMAIL, "url": "https://errors.pydantic.dev/x"}])
    assert safe_details(exc) == [{"loc": ["body", "reporter", "*"], "msg": "invalid value", "type": "value_error"}]
