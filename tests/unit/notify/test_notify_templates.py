"""Templates: every catalogue event renders on every templated channel in both languages, safely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.notify.domain import Templates, render, webhook_body
from services.notify.domain.templates import SMS_MAX_CHARS, TEMPLATED_CHANNELS
from shared.contracts.events import CATALOGUE, EventData
from shared.errors import Invalid, NotFound

SAMPLES: dict[str, dict[str, Any]] = {
    "UnitRegistered": {"unit_id": "U1", "name": "Công ty <A> & B", "kind": "enterprise", "area_code": "79.26743",
                       "in_scope": False},
    "UnitUpdated": {"unit_id": "U1", "changed": {"name": "New", "address": "x"}},
    "CycleRegistered": {"unit_id": "U1", "year": 2026, "registered_at": "2026-03-30T02:00:00Z", "late": True},
    "IncidentRecorded": {"incident_id": "I1", "unit_id": "U1", "year": 2026, "category": "illegal_strike",
                         "disqualifying": True, "occurred_at": "2026-05-01T01:00:00Z", "source": "agency/police"},
    "UnitSelfAssessed": {"unit_id": "U1", "year": 2026, "criteria_met": 4, "criteria_total": 5},
    "DossierSubmitted": {"unit_id": "U1", "year": 2026, "area_code": "79.26743", "unit_name": "Công ty <A> & B",
                         "submitted_at": "2026-03-30T02:00:00Z"},
    "UnitAppraised": {"unit_id": "U1", "year": 2026, "recommended": False},
    "UnitCertified": {"unit_id": "U1", "year": 2026, "rating": "excellent", "decision_no": "123/QĐ-UBND",
                      "decided_at": "2026-11-20T02:00:00Z", "decided_by_level": "commune", "consecutive_years": 3},
    "CertificationDenied": {"unit_id": "U1", "year": 2026, "reasons": ["disqualifying incident", "no model"]},
    "CertificationRevoked": {"unit_id": "U1", "year": 2026, "reason": "<script>alert(1)</script>",
                             "incident_id": "I1"},
    "ActivityReported": {"activity_id": "AC1", "unit_id": "U1", "kind": "propaganda_session",
                         "held_on": "2026-08-19", "participants": 120},
    "ActivityReportedV2": {"activity_id": "AC2", "unit_id": "U1", "kind": "banners_slogans", "held_on": "2026-08-19",
                           "year": 2026, "figures": {"items": 40}, "kinds_version": "activity-kinds-2021.1"},
    "RecognitionImported": {"unit_id": "U1", "year": 2024, "recognized": True, "decision_no": "12/QĐ-UBND",
                            "decided_on": "2024-12-20", "decided_by_level": "commune", "rating": "good",
                            "area_code": "79.26743"},
    "AwardHeldImported": {"award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": "U1",
                          "recipient_name": "Công ty A", "unit_id": "U1", "area_code": "79.26743", "year": 2024,
                          "decision_no": "7/QĐ-UBND", "decided_on": "2024-08-19"},
    "TipReceived": {"tip_id": "T1", "category": "theft", "channel": "web", "area_code": "79.26743", "unit_id": "U1",
                    "anonymous": True, "priority": "urgent", "received_at": "2026-11-22T03:00:00Z"},
    "TipTriaged": {"tip_id": "T1", "category": "theft", "priority": "normal", "assigned_area": "79.26743",
                   "due_at": "2026-12-12T03:00:00Z"},
    "TipMessagePosted": {"tip_id": "T1", "message_id": "M1", "author": "officer"},
    "TipDeadlineApproaching": {"tip_id": "T1", "deadline": "decide_20d", "due_at": "2026-12-12T03:00:00Z"},
    "TipOverdue": {"tip_id": "T1", "deadline": "forward_24h", "due_at": "2026-11-23T03:00:00Z"},
    "TipEscalated": {"tip_id": "T1", "level": "province", "escalated_at": "2026-11-23T03:30:00Z", "to_area": "79"},
    "TipVerified": {"tip_id": "T1", "valuable": True, "outcome": "prosecuted", "unit_id": "U1", "reward_ref": "R1"},
    "TipClosed": {"tip_id": "T1", "outcome": "prosecuted"},
    "AwardProposed": {"award_id": "A1", "award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": "U1",
                      "year": 2026, "basis": ["e1", "e2"], "level": "province"},
    "AwardApproved": {"award_id": "A1", "decision_no": "45/QĐ", "approved_by_level": "province"},
    "AwardRejected": {"award_id": "A1", "reason": "not enough consecutive years"},
    "AwardGranted": {"award_id": "A1", "certificate_id": "C1"},
    "AwardAnnulled": {"award_id": "A1", "reason": "recognition revoked"},
    "IncidentConfirmed": {"incident_id": "I1", "unit_id": "U1", "year": 2026, "category": "illegal_strike",
                          "disqualifying": True, "confirmed_at": "2026-05-02T03:00:00Z"},
    "IncidentWithdrawn": {"incident_id": "I1", "unit_id": "U1", "year": 2026, "category": "illegal_strike",
                          "reason": "<b>recorded by mistake</b>", "withdrawn_at": "2026-05-03T03:00:00Z"},
    "CertificationRestored": {"unit_id": "U1", "year": 2026, "incident_id": "I1", "reason": "recorded by mistake",
                              "restored_at": "2026-05-03T03:00:00Z"},
    "AwardRestored": {"award_id": "A1", "status": "granted", "reason": "recognition restored"},
    "NotificationDelivered": {"notification_id": "N1", "channel": "email", "cause_event_id": "E1"},
    "NotificationFailed": {"notification_id": "N1", "channel": "sms", "cause_event_id": "E1", "attempts": 6,
                           "reason": "gave up"},
}
# Fields a careless producer might add; they must never reach a notice.
REPORTER_TEXT = {"description": "REPORTER-FREE-TEXT", "reporter": {"name": "REPORTER-NAME", "phone": "0912345678"},
                 "location": "REPORTER-LOCATION"}


def envelope(model: type[EventData], **extra: Any) -> dict[str, Any]:
    data = SAMPLES[model.__name__] | extra
    return {"specversion": "1.0", "id": "evt-1", "source": "antq/test", "type": model.TYPE,
            "time": "2026-11-22T03:00:00Z", "data": data}


def test_samples_cover_the_whole_catalogue() -> None:
    assert set(SAMPLES) == {model.__name__ for model in CATALOGUE}
    for model in CATALOGUE:
        model.model_validate(SAMPLES[model.__name__])


@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.__name__)
@pytest.mark.parametrize("channel", TEMPLATED_CHANNELS)
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_event_renders_on_every_channel_in_every_language(model: type[EventData], channel: str,
                                                                lang: str) -> None:
    rendered = render(model.TYPE, channel, lang, envelope(model, **REPORTER_TEXT))  # type: ignore[arg-type]
    assert rendered.text.strip()
    assert "REPORTER" not in rendered.text and "0912345678" not in rendered.text
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.html and rendered.html.startswith("<!doctype html>")
        assert f'lang="{lang}"' in rendered.html
        assert "REPORTER" not in rendered.html and "REPORTER" not in rendered.subject
        assert rendered.link and rendered.link in rendered.text and f'href="{rendered.link}"' in rendered.html
    elif channel == "inbox":
        assert rendered.subject and rendered.html is None
    else:
        assert rendered.subject is None and len(rendered.text) <= SMS_MAX_CHARS


def test_vietnamese_and_english_differ_and_use_local_time() -> None:
    event = envelope(next(m for m in CATALOGUE if m.__name__ == "TipReceived"))
    vi = render("antq.tips.TipReceived.v1", "email", "vi", event)
    en = render("antq.tips.TipReceived.v1", "email", "en", event)
    assert vi.subject == "[KHẨN] Tin báo mới: Trộm cắp tài sản tại khu vực 79.26743"
    assert en.subject == "[URGENT] New tip: Theft in area 79.26743"
    assert "10:00 ngày 22/11/2026" in vi.text  # 03:00 UTC is 10:00 in Vietnam
    assert "2026-11-22 10:00" in en.text


def test_html_part_escapes_event_values_and_text_part_keeps_them_verbatim() -> None:
    revoked = envelope(next(m for m in CATALOGUE if m.__name__ == "CertificationRevoked"))
    rendered = render("antq.units.CertificationRevoked.v1", "email", "en", revoked)
    assert rendered.html is not None
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text
    registered = render("antq.units.UnitRegistered.v1", "email", "vi",
                        envelope(next(m for m in CATALOGUE if m.__name__ == "UnitRegistered")))
    assert "Công ty <A> & B" in registered.text
    assert "Công ty &lt;A&gt; &amp; B" in (registered.html or "")


def test_render_refuses_webhooks_unknown_types_and_languages() -> None:
    event = envelope(CATALOGUE[0])
    with pytest.raises(Invalid):
        render(CATALOGUE[0].TYPE, "webhook", "vi", event)
    with pytest.raises(Invalid):
        render(CATALOGUE[0].TYPE, "email", "fr", event)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        render("antq.tips.Unknown.v1", "email", "vi", event)


def test_a_channel_specific_file_overrides_the_shared_one(tmp_path: Path) -> None:
    (tmp_path / "en" / "sms").mkdir(parents=True)
    (tmp_path / "en" / "sms" / "TipOverdue.v1.j2").write_text(
        '{% extends "en/TipOverdue.v1.j2" %}{% block sms %}OVERDUE {{ e.tip_id }}{% endblock %}', encoding="utf-8")
    templates = Templates([tmp_path, Path(__file__).resolve().parents[3] / "services" / "notify" / "templates"])
    event = envelope(next(m for m in CATALOGUE if m.__name__ == "TipOverdue"))
    assert templates.render("antq.tips.TipOverdue.v1", "sms", "en", event).text == "OVERDUE T1 /tips/T1?lang=en"
    assert templates.render("antq.tips.TipOverdue.v1", "inbox", "en", event).subject == "[OVERDUE] The tip"


def test_webhook_body_is_the_cloudevent_with_catalogue_fields_only() -> None:
    event = envelope(next(m for m in CATALOGUE if m.__name__ == "TipReceived"), reporter_ref="rr-1", **REPORTER_TEXT)
    body = webhook_body(event)
    parsed = json.loads(body)
    assert parsed["id"] == "evt-1" and parsed["type"] == "antq.tips.TipReceived.v1"
    assert parsed["data"]["tip_id"] == "T1"
    assert not {"reporter_ref", "description", "reporter", "location"} & set(parsed["data"])
    assert webhook_body(event) == body  # stable bytes: the signature covers exactly these


def test_template_filters_accept_dates_and_datetimes() -> None:
    event = envelope(next(m for m in CATALOGUE if m.__name__ == "ActivityReported"))
    assert "19/08/2026" in render("antq.units.ActivityReported.v1", "inbox", "vi", event).text
    assert "on 2026-08-19" in render("antq.units.ActivityReported.v1", "inbox", "en", event).text


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_daily_digest_renders_every_item_in_both_languages(lang: str, channel: str) -> None:
    from datetime import date

    from services.notify.domain import render_digest

    items = [("Tin báo T1 <b>", "Tóm tắt một"), ("Award A1", "Summary two")]
    rendered = render_digest(channel, lang, date(2026, 11, 23), items)  # type: ignore[arg-type]
    if channel == "sms":
        assert rendered.subject is None and "2" in rendered.text and len(rendered.text) <= SMS_MAX_CHARS
        return
    assert rendered.subject and "2" in rendered.subject and "\n" not in rendered.subject
    assert "Tin báo T1 <b>" in rendered.text and "Summary two" in rendered.text
    assert rendered.html and "Tin báo T1 &lt;b&gt;" in rendered.html and f'lang="{lang}"' in rendered.html


def test_digest_is_not_rendered_for_the_inbox() -> None:
    from datetime import date

    from services.notify.domain import render_digest

    with pytest.raises(Invalid):
        render_digest("inbox", "vi", date(2026, 11, 23), [])


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_inbox_notice_in_one_render_equals_subject_and_summary_rendered_apart(lang: str, tmp_path: Path) -> None:
    """The inbox notice comes from the layout's "inbox" part (one render); a template set whose layout lacks
    that part (an operator's older copy) is rendered part by part. Both must give the same notice."""
    shipped = Path(__file__).resolve().parents[3] / "services" / "notify" / "templates"
    layout = (shipped / lang / "_layout.j2").read_text(encoding="utf-8")
    start = layout.index('{%- elif part == "inbox" -%}')
    end = layout.index('{%- elif part == "sms" -%}')
    (tmp_path / lang).mkdir()
    (tmp_path / lang / "_layout.j2").write_text(layout[:start] + layout[end:], encoding="utf-8")
    apart = Templates([tmp_path, shipped])
    for model in CATALOGUE:
        event = envelope(model)
        one = render(model.TYPE, "inbox", lang, event)  # type: ignore[arg-type]
        two = apart.render(model.TYPE, "inbox", lang, event)  # type: ignore[arg-type]
        assert one == two and one.subject and one.text, model.__name__
