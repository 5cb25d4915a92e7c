"""Notification ids stay exactly what uuid5 gives: a redelivered event must map to the same id forever."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.identity import NOTIFICATION_NAMESPACE, notification_id


@given(st.text(max_size=80), st.text(max_size=80), st.sampled_from(["inbox", "email", "webhook", "sms"]))
def test_notification_id_is_uuid5_of_the_length_prefixed_fields(cause: str, recipient: str, channel: str) -> None:
    name = f"{len(cause)}:{cause}|{len(recipient)}:{recipient}|{channel}"
    assert notification_id(cause, recipient, channel) == str(uuid.uuid5(NOTIFICATION_NAMESPACE, name))


def test_a_known_id_never_changes() -> None:
    assert notification_id("evt-1", "desk:79", "inbox") == str(uuid.uuid5(NOTIFICATION_NAMESPACE,
                                                                           "5:evt-1|7:desk:79|inbox"))
