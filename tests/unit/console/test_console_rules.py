"""The console's pure rules: accounts, the password rule, lockout, session expiry, the queue's filters and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.domain import queue
from services.console.domain.accounts import (
    Account,
    AccountError,
    Lockout,
    SessionRules,
    password_problems,
    validate_account,
)
from services.console.handlers import csrf_for, same_token, session_hash

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("password", ["short1!", "aaaaaaaaaaaaaaaa", "1234567890123", "!!!!!!!!!!!!!!", ""])
def test_passwords_that_are_short_or_of_one_kind_are_refused(password: str) -> None:
    assert password_problems(password)


@pytest.mark.parametrize("password", ["correct horse battery", "mật khẩu đủ dài 2026", "abcdefghijk1"])
def test_passwords_of_twelve_characters_and_two_kinds_are_accepted(password: str) -> None:
    assert password_problems(password) == []


def test_the_username_is_not_a_password() -> None:
    assert "not the username" in password_problems("officer.79.hcm", username="OFFICER.79.HCM")


@pytest.mark.parametrize(("account", "problem"), [
    (Account("Bad Name", "officer", area="79"), "username"),
    (Account("o79", "officer"), "--area"),
    (Account("u1", "unit"), "--unit"),
    (Account("l1", "leader", area="79"), "--level"),
    (Account("l1", "leader", level="province"), "--area"),
    (Account("o79", "officer", area="79", level="province"), "leader accounts only"),
    (Account("ag1", "agency"), "role"),
])
def test_accounts_carry_what_their_tokens_need(account: Account, problem: str) -> None:
    with pytest.raises(AccountError, match=problem):
        validate_account(account)


def test_a_ministry_leader_needs_no_area() -> None:
    assert validate_account(Account("minister", "leader", level="ministry")).level == "ministry"


def test_five_failures_in_a_row_lock_the_account_for_fifteen_minutes() -> None:
    rule, account = Lockout(failures=5, minutes=15), Account("o79", "officer", area="79")
    for _ in range(4):
        account = rule.after_failure(account, NOW)
        assert not rule.is_locked(account, NOW)
    account = rule.after_failure(account, NOW)
    assert rule.is_locked(account, NOW + timedelta(minutes=14, seconds=59))
    assert not rule.is_locked(account, NOW + timedelta(minutes=15))


def test_failures_while_locked_do_not_extend_the_lock_and_a_success_resets_the_count() -> None:
    rule, account = Lockout(failures=2, minutes=15), Account("o79", "officer", area="79")
    locked = rule.after_failure(rule.after_failure(account, NOW), NOW)
    assert rule.after_failure(locked, NOW + timedelta(minutes=10)).locked_until == locked.locked_until
    again = rule.after_failure(rule.after_success(rule.after_failure(account, NOW)), NOW)
    assert again.failed_attempts == 1 and not rule.is_locked(again, NOW)


def test_a_session_ends_after_thirty_idle_minutes_or_twelve_hours() -> None:
    rules = SessionRules(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    assert not rules.expired(created_at=NOW, last_seen_at=NOW, now=NOW + timedelta(minutes=29))
    assert rules.expired(created_at=NOW, last_seen_at=NOW, now=NOW + timedelta(minutes=30))
    busy = NOW + timedelta(hours=11, minutes=59)
    assert not rules.expired(created_at=NOW, last_seen_at=busy, now=busy)
    assert rules.expired(created_at=NOW, last_seen_at=busy, now=NOW + timedelta(hours=12))


def test_the_csrf_token_is_bound_to_the_cookie_and_not_derivable_from_the_stored_hash() -> None:
    cookie, other = "a" * 43, "b" * 43
    assert csrf_for(cookie) == csrf_for(cookie) != csrf_for(other)
    assert csrf_for(cookie) != session_hash(cookie)
    assert same_token(csrf_for(cookie), csrf_for(cookie))
    assert not same_token(csrf_for(cookie), None) and not same_token(csrf_for(cookie), csrf_for(other))


def test_the_pages_filters_become_the_tips_apis_parameters() -> None:
    pick = queue.Filters.parse({"state": "open", "urgency": "urgent", "deadline": "due5", "assignment": "mine",
                                "channel": "agency", "bogus": "x"})
    assert pick.api_params() == {"status": "open", "priority": "urgent", "due_within_days": 5, "assigned": "me",
                                 "channel": "agency"}
    assert queue.Filters(deadline="overdue", assignment="unassigned").api_params() == {"overdue": "true",
                                                                                      "assigned": "none"}
    assert queue.Filters().api_params() == {}


def test_the_tips_apis_counts_become_each_filter_options_count() -> None:
    counts = queue.option_counts({"total": 4, "status": {"open": 3, "received": 2}, "priority": {"urgent": 1},
                                  "channel": {"api": 4}, "assigned": {"me": 1, "none": 3},
                                  "deadline": {"overdue": 1, "due_soon": 2}})
    assert counts["deadline"] == {"overdue": 1, "due5": 2}
    assert counts["assignment"] == {"unassigned": 3, "mine": 1}
    assert counts["state"]["open"] == 3 and counts["state"]["closed"] == 0 and counts["channel"]["api"] == 4


def test_a_downloaded_attachment_keeps_its_type_only_when_a_browser_cannot_run_it() -> None:
    from services.console.web.pages import download_headers

    assert download_headers("ảnh.png", "image/png; charset=x")["Content-Type"] == "image/png"
    for risky in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript", None):
        assert download_headers("a", risky)["Content-Type"] == "application/octet-stream"
    headers = download_headers('bi\u00ean "b\u1ea3n".pdf', "application/pdf")
    assert headers["Content-Disposition"] == ("attachment; filename=\"bi_n _b_n_.pdf\"; "
                                              "filename*=UTF-8''bi%C3%AAn%20%22b%E1%BA%A3n%22.pdf")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_filters_ignore_unknown_values() -> None:
    assert queue.Filters.parse({"state": "nonsense"}) == queue.Filters()
