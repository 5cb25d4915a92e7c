"""The personal-data guard finds a reporter's values in outgoing payloads, however they are spelled."""

from __future__ import annotations

from datetime import UTC, datetime

from services.tips.domain import contains_personal_data, find_personal_data
from shared.contracts.events import ReporterIdentity, TipReceived

REPORTER = ReporterIdentity(name="Nguyễn Văn An", phone="0912 345 678", email="An.Nguyen@example.vn",
                            id_number="001099012345")


def clean_event() -> TipReceived:
    return TipReceived(tip_id="0b9c1234-5678-4912-a345-6789a1b2c3d4", category="theft", channel="web",
                       anonymous=True, priority="normal", received_at=datetime(2026, 11, 22, tzinfo=UTC))


def test_catalogue_event_without_reporter_data_is_clean_even_if_its_id_digits_spell_the_phone() -> None:
    # Digits scattered between letters of a UUID concatenate to "0912345678..." but are not a phone number.
    assert not contains_personal_data(clean_event(), REPORTER)
    assert not contains_personal_data({"data": clean_event().model_dump(mode="json")}, REPORTER)


def test_name_is_found_without_diacritics_and_in_capitals() -> None:
    leaks = find_personal_data({"msg": "tip from NGUYEN VAN AN"}, REPORTER)
    assert [(leak.path, leak.field) for leak in leaks] == [("msg", "name")]


def test_phone_is_found_in_international_form() -> None:
    assert contains_personal_data("sms to +84 912-345-678 sent", REPORTER)


def test_email_and_id_number_are_found_in_nested_structures() -> None:
    payload = {"notification": {"to": ["an.nguyen@EXAMPLE.vn"]}, "log": [{"extra": {"id": 1099012345}}]}
    fields = {leak.field for leak in find_personal_data(payload, REPORTER)}
    assert fields == {"email", "id_number"}


def test_values_in_keys_and_bytes_are_found() -> None:
    assert contains_personal_data({"Nguyễn Văn An": 1}, REPORTER)
    assert contains_personal_data("Nguyễn Văn An".encode(), REPORTER)


def test_identity_may_be_given_as_plain_strings_and_short_values_are_ignored() -> None:
    assert contains_personal_data({"k": "secret-code-42"}, ["secret-code-42"])
    assert not contains_personal_data({"k": "an"}, {"name": "An"})
    assert not contains_personal_data({"k": "anything"}, None)
