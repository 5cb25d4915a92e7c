"""Every notice a person reads (inbox, email, SMS, digest), for every event type in both languages, names what
it is about: no bare id, no raw category code, no UTC time; the unit, place, category and award by name."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.awards.domain.rules import RuleLibrary
from services.notify.domain.names import AwardEntry, Names, TipEntry, UnitEntry
from services.notify.domain.templates import TEMPLATED_CHANNELS, Rendered, Templates
from services.tips.domain.rules import available_versions, load_categories
from services.units.domain.frameworks import load_frameworks
from shared.contracts.events import CATALOGUE, EventData

TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "services" / "notify" / "templates"
UNIT, OTHER_UNIT, TIP, AWARD = (str(uuid.UUID(int=n)) for n in (0xA44EEB90, 0xB55, 0x94192113, 0xC0FFEE))


def _id() -> str:
    return str(uuid.uuid4())


SAMPLES: dict[str, dict[str, Any]] = {
    "UnitRegistered": {"unit_id": UNIT, "name": "Công ty May Sài Gòn", "kind": "enterprise",
                       "area_code": "79.26743", "in_scope": True},
    "UnitUpdated": {"unit_id": UNIT, "changed": {"name": "Công ty May Sài Gòn", "area_code": "79.26743"}},
    "CycleRegistered": {"unit_id": UNIT, "year": 2026, "registered_at": "2026-03-30T02:00:00Z", "late": False},
    "IncidentRecorded": {"incident_id": _id(), "unit_id": UNIT, "year": 2026, "category": "illegal_strike",
                         "disqualifying": True, "occurred_at": "2026-05-01T01:00:00Z", "source": "http"},
    "UnitSelfAssessed": {"unit_id": UNIT, "year": 2026, "criteria_met": 4, "criteria_total": 5},
    "UnitAppraised": {"unit_id": UNIT, "year": 2026, "recommended": True},
    "DossierSubmitted": {"unit_id": UNIT, "year": 2026, "area_code": "79.26743", "unit_name": "Công ty TNHH Minh Phát",
                         "submitted_at": "2026-11-10T02:00:00Z"},
    "UnitCertified": {"unit_id": UNIT, "year": 2026, "rating": "good", "decision_no": "123/QĐ-UBND",
                      "decided_at": "2026-11-20T02:00:00Z", "decided_by_level": "commune", "consecutive_years": 3},
    "CertificationDenied": {"unit_id": UNIT, "year": 2026, "reasons": ["disqualifying_incident:illegal_strike",
                                                                  "appraisal:not_recommended", "note:Hồ sơ thiếu"]},
    "CertificationRevoked": {"unit_id": UNIT, "year": 2026, "reason": "Đình công trái pháp luật",
                             "incident_id": _id()},
    "ActivityReported": {"activity_id": _id(), "unit_id": UNIT, "kind": "drill", "held_on": "2026-08-19",
                         "participants": 120},
    "ActivityReportedV2": {"activity_id": _id(), "unit_id": UNIT, "kind": "news_items", "held_on": "2026-08-19",
                           "year": 2026, "figures": {"items": 12}, "kinds_version": "activity-kinds-2021.1"},
    "RecognitionImported": {"unit_id": UNIT, "year": 2024, "recognized": True, "decision_no": "12/QĐ-UBND",
                            "decided_on": "2024-12-20", "decided_by_level": "commune", "area_code": "79.26743"},
    "AwardHeldImported": {"award_type": "giay_khen", "recipient_kind": "unit", "recipient_ref": UNIT,
                          "unit_id": UNIT, "area_code": "79.26743", "year": 2024, "decision_no": "7/QĐ-UBND"},
    "TipReceived": {"tip_id": TIP, "category": "theft", "channel": "web", "area_code": "79.26743",
                    "unit_id": UNIT, "anonymous": True, "priority": "urgent", "received_at": "2026-11-22T03:00:00Z"},
    "TipTriaged": {"tip_id": TIP, "category": "theft", "priority": "normal", "assigned_area": "79.26743",
                   "due_at": "2026-12-12T03:00:00Z"},
    "TipMessagePosted": {"tip_id": TIP, "message_id": _id(), "author": "reporter"},
    "TipEscalated": {"tip_id": TIP, "level": "province", "escalated_at": "2026-11-22T03:30:00Z", "to_area": "79"},
    "TipDeadlineApproaching": {"tip_id": TIP, "deadline": "decide_20d", "due_at": "2026-12-12T03:00:00Z"},
    "TipOverdue": {"tip_id": TIP, "deadline": "forward_24h", "due_at": "2026-11-23T03:00:00Z"},
    "TipVerified": {"tip_id": TIP, "valuable": True, "outcome": "prosecuted", "unit_id": UNIT,
                    "reward_ref": _id()},
    "TipClosed": {"tip_id": TIP, "outcome": "prosecuted"},
    "AwardProposed": {"award_id": AWARD, "award_type": "giay_khen", "recipient_kind": "unit",
                      "recipient_ref": UNIT, "year": 2026, "basis": [_id(), _id()], "level": "commune"},
    "AwardApproved": {"award_id": AWARD, "decision_no": "45/QĐ-UBND", "approved_by_level": "commune"},
    "AwardRejected": {"award_id": AWARD, "reason": "Chưa đủ số năm liên tục"},
    "AwardGranted": {"award_id": AWARD, "certificate_id": _id()},
    "AwardAnnulled": {"award_id": AWARD, "reason": "Công nhận bị thu hồi"},
    "IncidentConfirmed": {"incident_id": _id(), "unit_id": UNIT, "year": 2026, "category": "illegal_strike",
                          "disqualifying": True, "confirmed_at": "2026-05-02T03:00:00Z"},
    "IncidentWithdrawn": {"incident_id": _id(), "unit_id": UNIT, "year": 2026, "category": "illegal_strike",
                          "reason": "Ghi nhầm đơn vị", "withdrawn_at": "2026-05-03T03:00:00Z"},
    "CertificationRestored": {"unit_id": UNIT, "year": 2026, "incident_id": _id(), "reason": "Ghi nhầm đơn vị",
                              "restored_at": "2026-05-03T03:00:00Z"},
    "AwardRestored": {"award_id": AWARD, "status": "granted", "reason": "Công nhận được khôi phục"},
    "NotificationDelivered": {"notification_id": _id(), "channel": "email", "cause_event_id": _id()},
    "NotificationFailed": {"notification_id": _id(), "channel": "sms", "cause_event_id": _id(), "attempts": 6,
                           "reason": "gave up"},
}

# What notify's read model knows by the time these events are notified (from UnitRegistered, TipReceived and
# AwardProposed), and the place names of the national list.
NAMES = Names(units={UNIT: UnitEntry(name="Công ty May Sài Gòn", kind="enterprise", area_code="79.26743")},
              tips={TIP: TipEntry(category="theft", area_code="79.26743",
                                  received_at=datetime(2026, 11, 22, 3, tzinfo=UTC))},
              awards={AWARD: AwardEntry(award_type="giay_khen", year=2026, recipient_kind="unit",
                                        recipient_ref=UNIT)})
PLACES = {"vi": "Phường Bến Thành, Thành phố Hồ Chí Minh", "en": "Ben Thanh Ward, Ho Chi Minh City"}


def place_label(code: str | None, lang: str) -> str:
    assert code == "79.26743"
    return PLACES[lang]


TEMPLATES = Templates((TEMPLATES_DIR,), place_label=place_label, console_url="https://console.example.gov.vn")

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
URL_RE = re.compile(r"https?://[^\s\"'<>]+")
UTC_RE = re.compile(r"\bUTC\b|\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]00:?00)\b|\bGMT\b")


def catalogue_codes() -> set[str]:
    """The raw codes of the tips' categories, the units' incident categories and the awards' types."""
    codes = {c.code for v in available_versions("categories") for c in load_categories(v).categories}
    codes |= {i.code for lst in load_frameworks().incident_lists.values() for i in lst.categories}
    codes |= {code for national in RuleLibrary().national for code in national.body["award_types"]}
    return codes


CODES = catalogue_codes()
CODE_RE = re.compile(r"(?<![\w/])(" + "|".join(sorted(map(re.escape, CODES), key=len, reverse=True)) + r")(?![\w/])")


def unreadable(text: str) -> list[str]:
    """What a person should not have to read: ids outside links, raw catalogue codes, UTC times."""
    words = URL_RE.sub(" ", text)  # an id inside a link to the console is where the link leads, not text
    return UUID_RE.findall(words) + CODE_RE.findall(words) + [m.group(0) for m in UTC_RE.finditer(text)]


def envelope(model: type[EventData]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": _id(), "source": "antq/test", "type": model.TYPE,
            "time": "2026-11-22T03:00:00Z", "data": SAMPLES[model.__name__]}


def parts(rendered: Rendered) -> list[str]:
    return [p for p in (rendered.subject, rendered.text, rendered.html) if p]


def test_the_fixtures_cover_every_event_type_and_use_real_ids() -> None:
    assert set(SAMPLES) == {model.__name__ for model in CATALOGUE}
    for model in CATALOGUE:
        model.model_validate(SAMPLES[model.__name__])
    assert "theft" in CODES and "illegal_strike" in CODES and "giay_khen" in CODES
    assert unreadable(f"Tin báo mới {TIP} loại theft lúc 2026-11-22T03:00:00Z") == [TIP, "theft",
                                                                                     "2026-11-22T03:00:00Z"]


@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.__name__)
@pytest.mark.parametrize("channel", TEMPLATED_CHANNELS)
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_notice_reads_without_ids_codes_or_utc(model: type[EventData], channel: str, lang: str) -> None:
    rendered = TEMPLATES.render(model.TYPE, channel, lang, envelope(model), NAMES)  # type: ignore[arg-type]
    for text in parts(rendered):
        assert unreadable(text) == [], (model.__name__, channel, lang, text)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_notices_name_the_unit_the_place_the_category_and_the_award(lang: str) -> None:
    def email(name: str) -> str:
        model = next(m for m in CATALOGUE if m.__name__ == name)
        rendered = TEMPLATES.render(model.TYPE, "email", lang, envelope(model), NAMES)  # type: ignore[arg-type]
        return f"{rendered.subject}\n{rendered.text}"

    incident = email("IncidentRecorded")
    assert "Công ty May Sài Gòn" in incident and PLACES[lang] in incident
    assert ("Đình công, ngừng việc trái pháp luật" if lang == "vi" else "Illegal strike or work stoppage") in incident
    tip = email("TipOverdue")  # the event carries only the tip's id: the rest is notify's directory
    assert ("Trộm cắp tài sản" if lang == "vi" else "Theft") in tip and PLACES[lang] in tip
    assert f"https://console.example.gov.vn/tips/{TIP}" in tip
    assert ("Tiếp nhận lúc: 10:00 ngày 22/11/2026" if lang == "vi" else "Received at: 2026-11-22 10:00") in tip
    award = email("AwardGranted")
    assert ("Giấy khen năm 2026" if lang == "vi" else "Certificate of merit (2026)") in award
    assert "Công ty May Sài Gòn" in award and "https://console.example.gov.vn/awards" in award
    assert f"https://console.example.gov.vn/units/{UNIT}" in email("UnitCertified")
    denied = email("CertificationDenied")
    assert ("Có vụ việc làm mất điều kiện công nhận: Đình công, ngừng việc trái pháp luật" if lang == "vi"
            else "Disqualifying incident: Illegal strike or work stoppage") in denied
    times = email("TipReceived")
    assert ("10:00 ngày 22/11/2026 (giờ Việt Nam)" if lang == "vi" else "2026-11-22 10:00 (Vietnam time)") in times


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_unit_the_directory_does_not_know_yet_is_described_not_shown_as_an_id(lang: str) -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "IncidentRecorded")
    data = {**SAMPLES["IncidentRecorded"], "unit_id": OTHER_UNIT}
    rendered = TEMPLATES.render(model.TYPE, "email", lang, {**envelope(model), "data": data}, NAMES)
    assert all(unreadable(text) == [] for text in parts(rendered))
    assert ("chưa có trong danh bạ" if lang == "vi" else "not yet in the directory") in rendered.text


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_daily_digest_reads_without_ids_codes_or_utc(lang: str, channel: str) -> None:
    items = []
    for model in CATALOGUE:
        notice = TEMPLATES.render(model.TYPE, "inbox", lang, envelope(model), NAMES)  # type: ignore[arg-type]
        items.append((notice.subject or "", notice.text))
    digest = TEMPLATES.render_digest(channel, lang, date(2026, 11, 23), items)  # type: ignore[arg-type]
    for text in parts(digest):
        assert unreadable(text) == [], text
    if channel == "email":
        assert "Công ty May Sài Gòn" in digest.text and "https://console.example.gov.vn/inbox" in digest.text


def test_an_sms_keeps_its_console_link_whole() -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "TipReceived")
    data = {**SAMPLES["TipReceived"]}
    long_names = Names(units=NAMES.units, tips=NAMES.tips, awards=NAMES.awards)
    rendered = Templates((TEMPLATES_DIR,), place_label=lambda code, lang: "Xã " + "Rất Dài " * 60,
                         console_url="https://console.example.gov.vn").render(
        model.TYPE, "sms", "vi", {**envelope(model), "data": data}, long_names)
    assert len(rendered.text) <= 300 and rendered.text.endswith(f"https://console.example.gov.vn/tips/{TIP}")


def test_a_name_from_the_directory_is_escaped_in_html_and_kept_to_one_line_in_the_subject() -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "CertificationRevoked")
    hostile = Names(units={UNIT: UnitEntry(name='Cty <script>x</script>\r\nBcc: all@example.org', kind="school",
                                           area_code="79.26743")})
    rendered = TEMPLATES.render(model.TYPE, "email", "vi", envelope(model), hostile)
    assert rendered.subject and "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.html and "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


def test_the_console_link_stays_on_the_console_whatever_the_id() -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "TipClosed")
    event = {**envelope(model), "data": {"tip_id": "../../x?@evil.example/#", "outcome": "prosecuted"}}
    rendered = TEMPLATES.render(model.TYPE, "inbox", "vi", event, NAMES)
    assert rendered.link == "https://console.example.gov.vn/tips/..%2F..%2Fx%3F%40evil.example%2F%23"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_reporters_reference_is_never_shown_as_an_awards_recipient(lang: str) -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "AwardProposed")
    data = {**SAMPLES["AwardProposed"], "award_type": "tip_reward", "recipient_kind": "reporter",
            "recipient_ref": "rr-secret-reference"}
    rendered = TEMPLATES.render(model.TYPE, "email", lang, {**envelope(model), "data": data}, NAMES)
    assert all("rr-secret-reference" not in text for text in parts(rendered))
    assert ("người báo tin" if lang == "vi" else "the reporter") in rendered.text
