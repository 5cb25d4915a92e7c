"""Routing: default rules by area, role and unit; subscriptions with wildcards; preferences; reporters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.notify.domain import (
    DeliveryIntent,
    Directory,
    Preferences,
    Recipient,
    Subscription,
    area_covers,
    route,
    type_matches,
)

TIP_RECEIVED = "antq.tips.TipReceived.v1"


def tip(priority: str = "normal", area: str | None = "79.26743", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"tip_id": "T9", "category": "theft", "channel": "web", "anonymous": True,
                            "priority": priority, "received_at": datetime(2026, 11, 22, 3, tzinfo=UTC).isoformat()}
    if area:
        data["area_code"] = area
    data.update(extra)
    return data


def pairs(intents: list[DeliveryIntent]) -> set[tuple[str, str]]:
    return {(i.recipient_id, i.channel) for i in intents}


# --- area hierarchy and patterns ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scope", "area", "covered"),
    [
        ("79", "79", True),
        ("79", "79.26743", True),
        ("79.26743", "79.26743", True),
        ("79.26743", "79", False),
        ("79.26743", "79.26737", False),
        ("7", "79.26743", False),
        ("79", "790.1", False),
        (None, "01.00004", True),
        (None, None, True),
        ("79", None, False),
    ],
)
def test_area_scope_covers_its_own_code_and_every_code_below_it(scope: str | None, area: str | None,
                                                                 covered: bool) -> None:
    assert area_covers(scope, area) is covered


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        ("antq.tips.TipReceived.v1", TIP_RECEIVED, True),
        ("antq.tips.TipReceived.v2", TIP_RECEIVED, False),
        ("antq.tips.*", TIP_RECEIVED, True),
        ("antq.tips.>", TIP_RECEIVED, True),
        ("antq.units.*", TIP_RECEIVED, False),
        ("antq.*.TipReceived.v1", TIP_RECEIVED, True),
        ("antq.*.TipOverdue.v1", TIP_RECEIVED, False),
        ("*", TIP_RECEIVED, True),
        ("antq.tips", TIP_RECEIVED, False),
        ("antq.tips.TipReceived.v1.extra", TIP_RECEIVED, False),
    ],
)
def test_event_type_patterns_match_exactly_or_by_wildcard(pattern: str, event_type: str, matches: bool) -> None:
    assert type_matches(pattern, event_type) is matches


def test_subscription_refuses_a_malformed_pattern() -> None:
    with pytest.raises(ValidationError):
        Subscription(subscription_id="s", owner="officer:x", event_types=("antq..tips",), channel="inbox")
    with pytest.raises(ValidationError):
        Subscription(subscription_id="s", owner="officer:x", event_types=("antq.>.tips",), channel="inbox")


# --- default rules -----------------------------------------------------------------------------------------------
def test_tip_received_reaches_inbox_of_officers_whose_area_covers_the_tip(directory: Directory) -> None:
    intents = route(TIP_RECEIVED, tip(), [], directory, {})
    assert pairs(intents) == {
        ("officer:province79", "inbox"), ("officer:commune26743", "inbox"), ("admin:national", "inbox"),
    }
    assert all(i.mode == "immediate" and not i.critical for i in intents)


def test_urgent_tip_also_emails_area_officers_and_is_critical(directory: Directory) -> None:
    intents = route(TIP_RECEIVED, tip("urgent"), [], directory, {})
    assert ("officer:commune26743", "email") in pairs(intents)
    assert ("officer:province79", "email") in pairs(intents)
    # the national admin has no email address: no email delivery is produced for them
    assert ("admin:national", "email") not in pairs(intents)
    assert all(i.critical for i in intents)
    email = next(i for i in intents if i.recipient_id == "officer:commune26743" and i.channel == "email")
    assert email.target == "c26743@police.example"


def test_tip_without_area_reaches_the_province_officers_of_the_intake_desk(directory: Directory) -> None:
    assert pairs(route(TIP_RECEIVED, tip(area=None), [], directory, {})) == {
        ("officer:province79", "inbox"), ("officer:province01", "inbox"), ("admin:national", "inbox")}


def test_tip_without_area_reaches_the_configured_intake_desk_area(directory: Directory) -> None:
    desk = dataclasses.replace(directory, intake_desk="79.26743")
    assert pairs(route(TIP_RECEIVED, tip(area=None), [], desk, {})) == {
        ("officer:province79", "inbox"), ("officer:commune26743", "inbox"), ("admin:national", "inbox")}


def test_tip_area_falls_back_to_the_unit_s_area(directory: Directory) -> None:
    intents = route(TIP_RECEIVED, tip(area=None, unit_id="U2"), [], directory, {})
    assert pairs(intents) == {("officer:province01", "inbox"), ("admin:national", "inbox")}


def test_overdue_tip_is_routed_to_officers_of_the_area_known_from_earlier_events(directory: Directory) -> None:
    data = {"tip_id": "T1", "deadline": "forward_24h", "due_at": "2026-11-23T03:00:00Z"}
    intents = route("antq.tips.TipOverdue.v1", data, [], directory, {})
    assert pairs(intents) == {
        ("officer:province79", "inbox"), ("officer:province79", "email"),
        ("officer:commune26743", "inbox"), ("officer:commune26743", "email"),
        ("admin:national", "inbox"),
    }
    assert all(i.critical for i in intents)


def test_deadline_approaching_goes_to_area_officers_and_is_not_critical(directory: Directory) -> None:
    data = {"tip_id": "T1", "deadline": "decide_20d", "due_at": "2026-12-10T03:00:00Z"}
    intents = route("antq.tips.TipDeadlineApproaching.v1", data, [], directory, {})
    assert ("officer:commune26743", "inbox") in pairs(intents)
    assert ("officer:commune26737", "inbox") not in pairs(intents)
    assert not any(i.critical for i in intents)


def test_revocation_reaches_area_officers_and_the_unit(directory: Directory) -> None:
    data = {"unit_id": "U1", "year": 2026, "reason": "illegal strike confirmed"}
    intents = route("antq.units.CertificationRevoked.v1", data, [], directory, {})
    assert {("unit:U1", "inbox"), ("unit:U1", "email"), ("officer:commune26743", "email")} <= pairs(intents)
    assert not any(i.recipient_id in ("unit:U2", "officer:province01") for i in intents)
    assert all(i.critical for i in intents)


def test_award_proposal_reaches_the_approvers_of_its_level(directory: Directory) -> None:
    data = {"award_id": "A1", "award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": "U1",
            "year": 2026, "basis": ["e1", "e2"], "level": "commune"}
    intents = route("antq.awards.AwardProposed.v1", data, [], directory, {})
    recipients = {i.recipient_id for i in intents}
    assert "officer:commune26743" in recipients
    assert "officer:province79" not in recipients  # approves province-level awards only
    assert ("unit:U1", "inbox") in pairs(intents)  # the proposed unit hears of it too


def test_officer_reply_reaches_the_anonymous_reporter_by_reference_in_the_inbox_only(directory: Directory) -> None:
    data = {"tip_id": "T1", "message_id": "M1", "author": "officer"}
    intents = route("antq.tips.TipMessagePosted.v1", data, [], directory, {})
    assert pairs(intents) == {("reporter:rr-5f2c", "inbox")}
    assert intents[0].recipient_kind == "reporter"
    assert intents[0].target is None


def test_reporter_reference_carried_by_the_event_wins(directory: Directory) -> None:
    data = {"tip_id": "T1", "valuable": True, "outcome": "prosecuted", "reporter_ref": "rr-event"}
    assert pairs(route("antq.tips.TipVerified.v1", data, [], directory, {})) == {("reporter:rr-event", "inbox")}


def test_reporter_is_never_reached_by_a_push_channel_whatever_the_rules(directory: Directory) -> None:
    from services.notify.domain.routing import Rule, RuleSet

    rules = RuleSet(version="t", rules=(Rule(id="r", event="antq.tips.TipClosed.v1", audience="reporter",
                                             channels=("inbox", "email", "sms", "webhook")),))
    data = {"tip_id": "T1", "outcome": "unfounded"}
    assert pairs(route("antq.tips.TipClosed.v1", data, [], directory, {}, rules=rules)) == {
        ("reporter:rr-5f2c", "inbox")}


def test_notify_s_own_events_are_never_routed(directory: Directory) -> None:
    everything = Subscription(subscription_id="all", owner="admin:national", event_types=("*",), channel="inbox")
    data = {"notification_id": "n", "channel": "email", "cause_event_id": "e"}
    assert route("antq.notify.NotificationDelivered.v1", data, [everything], directory, {}) == []


# --- subscriptions -----------------------------------------------------------------------------------------------
def test_wildcard_webhook_subscription_gets_every_tips_event_once_per_endpoint(directory: Directory) -> None:
    subs = [
        Subscription(subscription_id="w1", owner="officer:national-desk", event_types=("antq.tips.*",),
                     channel="webhook", target="https://agency.example/hook"),
        Subscription(subscription_id="w2", owner="officer:national-desk", event_types=("antq.tips.*",),
                     channel="webhook", target="https://backup.agency.example/hook"),
        Subscription(subscription_id="w3", owner="officer:national-desk", event_types=("antq.units.*",),
                     channel="webhook", target="https://agency.example/units"),
    ]
    intents = [i for i in route(TIP_RECEIVED, tip(), subs, directory, {}) if i.channel == "webhook"]
    assert {(i.recipient_id, i.target) for i in intents} == {
        ("webhook:w1", "https://agency.example/hook"), ("webhook:w2", "https://backup.agency.example/hook")}
    assert all(i.mode == "immediate" and i.recipient_kind == "external" for i in intents)


def test_subscription_narrowed_by_area_unit_and_priority(directory: Directory) -> None:
    sub = Subscription(subscription_id="s1", owner="officer:province01", event_types=(TIP_RECEIVED,),
                       area_code="79", min_priority="urgent", channel="sms", target="+84900000001")
    assert not any(i.channel == "sms" for i in route(TIP_RECEIVED, tip("normal"), [sub], directory, {}))
    assert any(i.channel == "sms" for i in route(TIP_RECEIVED, tip("urgent"), [sub], directory, {}))
    assert not any(i.channel == "sms" for i in route(TIP_RECEIVED, tip("urgent", area="01.1"), [sub], directory, {}))

    by_unit = sub.model_copy(update={"area_code": None, "min_priority": None, "unit_id": "U1"})
    assert any(i.channel == "sms" for i in route(TIP_RECEIVED, tip(unit_id="U1"), [by_unit], directory, {}))
    assert not any(i.channel == "sms" for i in route(TIP_RECEIVED, tip(unit_id="U2"), [by_unit], directory, {}))


def test_subscription_and_default_rule_for_the_same_channel_give_one_delivery(directory: Directory) -> None:
    sub = Subscription(subscription_id="s1", owner="officer:commune26743", event_types=("antq.tips.*",),
                       channel="inbox")
    intents = route(TIP_RECEIVED, tip(), [sub], directory, {})
    assert [i.channel for i in intents if i.recipient_id == "officer:commune26743"] == ["inbox"]


def test_subscription_of_an_unknown_owner_is_ignored_except_for_webhooks(directory: Directory) -> None:
    sub = Subscription(subscription_id="s1", owner="officer:ghost", event_types=("*",), channel="email",
                       target="ghost@example.org")
    assert not any(i.recipient_id == "officer:ghost" for i in route(TIP_RECEIVED, tip(), [sub], directory, {}))


# --- preferences -------------------------------------------------------------------------------------------------
def test_channel_preference_filters_rule_deliveries_but_critical_always_reaches_the_inbox(
    directory: Directory,
) -> None:
    prefs = {"officer:commune26743": Preferences(channels=frozenset({"email"}))}
    normal = route(TIP_RECEIVED, tip("normal"), [], directory, prefs)
    assert not any(i.recipient_id == "officer:commune26743" for i in normal)
    urgent = route(TIP_RECEIVED, tip("urgent"), [], directory, prefs)
    assert {i.channel for i in urgent if i.recipient_id == "officer:commune26743"} == {"inbox", "email"}


def test_digest_preference_applies_to_push_channels_only_and_never_to_critical_events(directory: Directory) -> None:
    prefs = {"officer:commune26743": Preferences(mode="digest", language="en")}
    data = {"tip_id": "T1", "deadline": "decide_20d", "due_at": "2026-12-10T03:00:00Z"}
    intents = {i.channel: i for i in route("antq.tips.TipDeadlineApproaching.v1", data, [], directory, prefs)
               if i.recipient_id == "officer:commune26743"}
    assert intents["email"].mode == "digest"
    assert intents["inbox"].mode == "immediate"
    assert intents["email"].language == "en"
    overdue = route("antq.tips.TipOverdue.v1", data | {"deadline": "forward_24h"}, [], directory, prefs)
    assert all(i.mode == "immediate" for i in overdue)


def test_routing_is_deterministic_and_produces_one_intent_per_recipient_and_channel(directory: Directory) -> None:
    first = route(TIP_RECEIVED, tip("urgent"), [], directory, {})
    assert first == route(TIP_RECEIVED, tip("urgent"), [], directory, {})
    assert len(pairs(first)) == len(first)


def test_reporter_recipient_cannot_carry_contact_data() -> None:
    with pytest.raises(ValidationError):
        Recipient(recipient_id="reporter:x", kind="reporter", email="someone@example.org")
