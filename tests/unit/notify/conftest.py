"""Shared fixtures of the notify unit tests: a small directory of officers, unit contacts and tips in province 79."""

from __future__ import annotations

import pytest

from services.notify.domain import Directory, Recipient


@pytest.fixture
def directory() -> Directory:
    return Directory(
        recipients=(
            Recipient(recipient_id="officer:province79", kind="officer", role="officer", area_code="79",
                      email="p79@police.example", approves_levels=frozenset({"province"})),
            Recipient(recipient_id="officer:commune26743", kind="officer", role="officer", area_code="79.26743",
                      email="c26743@police.example", approves_levels=frozenset({"commune"})),
            Recipient(recipient_id="officer:commune26737", kind="officer", role="officer", area_code="79.26737",
                      email="c26737@police.example"),
            Recipient(recipient_id="officer:province01", kind="officer", role="officer", area_code="01",
                      email="p01@police.example"),
            Recipient(recipient_id="admin:national", kind="officer", role="admin", area_code=None),
            Recipient(recipient_id="unit:U1", kind="unit_contact", unit_id="U1", email="security@u1.example"),
            Recipient(recipient_id="unit:U2", kind="unit_contact", unit_id="U2"),
        ),
        unit_areas={"U1": "79.26743", "U2": "01.00004"},
        tip_areas={"T1": "79.26743"},
        tip_reporters={"T1": "rr-5f2c"},
    )
