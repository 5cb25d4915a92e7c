"""Renders a notice for an event, channel and language from the Jinja2 files under services/notify/templates.

Layout: `<lang>/<EventName>.v1.j2` per event type and language, extending `<lang>/_layout.j2`, which turns the
blocks `subject`, `summary` and `details` into each channel's parts. A file `<lang>/<channel>/<EventName>.v1.j2`,
when present, overrides it for one channel. Webhooks carry the CloudEvent itself (`webhook_body`), no template.

Only the fields of the catalogue model reach a template: the event data is validated through it first, and
unknown fields (a description, a reporter's name, anything a producer might add by mistake) are dropped, so
free text written by a reporter can never be rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.runtime import Context
from pydantic import BaseModel, ConfigDict

from services.notify.domain.channels import CHANNELS, ChannelName, traits
from services.notify.domain.model import Language
from services.notify.domain.names import (
    NO_NAMES,
    AreaLabel,
    Names,
    console_link,
    fallback_area_label,
    place_labeller,
)
from shared.calendar import VN_TZ
from shared.contracts.events import EVENT_TYPES, EventData
from shared.errors import Invalid, NotFound

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# Notify's copy of the other services' catalogue labels (tip and incident categories, award titles and levels);
# a test keeps it equal to theirs (tests/unit/notify/test_notify_catalogues.py).
CATALOGUES_FILE = TEMPLATES_DIR / "catalogues.yaml"
LABEL_FILES = ("catalogues.yaml", "labels.yaml")
LANGUAGES: tuple[Language, ...] = ("vi", "en")
TEMPLATED_CHANNELS: tuple[ChannelName, ...] = tuple(row.name for row in CHANNELS if row.templated)
SMS_MAX_CHARS = 300  # a few concatenated segments; Vietnamese diacritics force UCS-2 (67 chars a segment)
Part = Literal["subject", "short", "sms", "text", "html"]


class Rendered(BaseModel):
    """What a channel sends: email uses all three; inbox a subject (title) and text; SMS the text only."""

    model_config = ConfigDict(frozen=True)

    subject: str | None
    text: str
    html: str | None = None
    link: str | None = None  # the console page of what the notice is about


def _local(value: datetime) -> datetime:
    return value.astimezone(VN_TZ) if value.tzinfo else value


@pass_context
def _format_datetime(ctx: Context, value: datetime) -> str:
    local = _local(value)
    if ctx.get("lang") == "vi":
        return local.strftime("%H:%M ngày %d/%m/%Y") + " (giờ Việt Nam)"
    return local.strftime("%Y-%m-%d %H:%M") + " (Vietnam time)"


@pass_context
def _format_date(ctx: Context, value: date | datetime) -> str:
    day = _local(value).date() if isinstance(value, datetime) else value
    return day.strftime("%d/%m/%Y") if ctx.get("lang") == "vi" else day.isoformat()


class Templates:
    """The template set of one or more directories; earlier directories override later ones."""

    def __init__(self, search_path: Sequence[Path] = (TEMPLATES_DIR,), *,
                 place_label: AreaLabel = place_labeller(fallback_area_label), console_url: str = "") -> None:
        loader = FileSystemLoader([str(p) for p in search_path], encoding="utf-8")
        self.place_label = place_label
        self.console_url = console_url
        # The channels' words come from the table; a label file may still reword them.
        self.labels: dict[str, dict[str, dict[str, str]]] = {
            "vi": {"channel": {row.name: row.word_vi for row in CHANNELS}},
            "en": {"channel": {row.name: row.word_en for row in CHANNELS}},
        }
        for directory in reversed(search_path):
            for file_name in LABEL_FILES:
                labels_file = Path(directory) / file_name
                if labels_file.exists():
                    for lang, groups in (yaml.safe_load(labels_file.read_text(encoding="utf-8")) or {}).items():
                        for group, words in groups.items():
                            self.labels.setdefault(lang, {}).setdefault(group, {}).update(words)
        common: dict[str, Any] = {
            "loader": loader, "undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True,
            # Templates are files of the release (or of a mounted directory read at start): not re-read and
            # re-checked on disk for every notice.
            "auto_reload": False,
        }
        # Two environments over the same files: plain text must not be HTML-escaped, HTML must always be.
        self.text_env = Environment(autoescape=False, **common)
        self.html_env = Environment(autoescape=True, **common)
        self._chosen: dict[tuple[int, str, str, str], Template] = {}
        for env in (self.text_env, self.html_env):
            env.filters["dt"] = _format_datetime
            env.filters["day"] = _format_date

    def _label(self, lang: str) -> Any:
        groups = self.labels.get(lang, {})

        def label(group: str, code: object) -> str:
            return groups.get(group, {}).get(str(code), str(code))

        return label

    def render(
        self, event_type: str, channel: ChannelName, lang: Language, event: Mapping[str, Any] | BaseModel,
        names: Names = NO_NAMES,
    ) -> Rendered:
        message = traits(channel).message
        if message == "cloudevent":
            raise Invalid(f"{channel} carries the CloudEvent itself; use webhook_body", code="no_template")
        if lang not in LANGUAGES:
            raise Invalid(f"unsupported language {lang!r}", code="unsupported_language", details={"allowed": LANGUAGES})
        envelope = event.model_dump(mode="python") if isinstance(event, BaseModel) else dict(event)
        data = event_data(event_type, envelope.get("data", {}))
        name = event_type.split(".", 2)[2] + ".j2"
        candidates = [f"{lang}/{channel}/{name}", f"{lang}/{name}"]
        link = console_link(self.console_url, page_of(event_type, data), lang)
        label = self._label(lang)
        context = {
            "e": data,
            "event": {"id": envelope.get("id", ""), "type": event_type, "time": envelope.get("time")},
            "lang": lang,
            "channel": channel,
            "label": label,
            "link": link,
            **Wording(lang, names, label, self.place_label).helpers(),
        }

        def part(which: Part | Literal["inbox"], env: Environment, **extra: Any) -> str:
            key = (id(env), lang, channel, name)
            template = self._chosen.get(key)
            if template is None:
                try:
                    template = self._chosen[key] = env.select_template(candidates)
                except TemplateNotFound as exc:
                    raise NotFound(f"no template for {event_type} in {lang}", code="no_template") from exc
            return template.render(part=which, **context, **extra)

        if message == "notice":
            # Both parts in one render (the layout's "inbox" part); a template set without it renders twice.
            both = part("inbox", self.text_env, separator=_SEPARATOR)
            if _SEPARATOR in both:
                subject, _, short = both.partition(_SEPARATOR)
                return Rendered(subject=_one_line(subject), text=_one_line(short), link=link)
        subject = _one_line(part("subject", self.text_env))
        if message == "mail":
            text = _tidy(part("text", self.text_env))
            return Rendered(subject=subject, text=text, html=part("html", self.html_env).strip(), link=link)
        if message == "notice":
            return Rendered(subject=subject, text=_one_line(part("short", self.text_env)), link=link)
        # The link goes last and whole: a cut link leads nowhere, so the words give way to it.
        sms = _one_line(part("sms", self.text_env))
        room = SMS_MAX_CHARS - len(link) - 1
        if len(link) > SMS_MAX_CHARS // 2:
            return Rendered(subject=None, text=_shorten(sms, SMS_MAX_CHARS), link=link)
        return Rendered(subject=None, text=f"{_shorten(sms, room)} {link}", link=link)


    def render_digest(
        self, channel: ChannelName, lang: Language, day: date, items: Sequence[tuple[str, str]]
    ) -> Rendered:
        """One recipient's daily digest: `items` are the (title, summary) of each notice, oldest first."""
        if not traits(channel).digest:
            raise Invalid(f"no digest on the {channel} channel", code="no_template")
        if lang not in LANGUAGES:
            raise Invalid(f"unsupported language {lang!r}", code="unsupported_language", details={"allowed": LANGUAGES})
        name = f"{lang}/_digest.j2"
        context = {"items": list(items), "day": day, "lang": lang, "channel": channel,
                   "link": console_link(self.console_url, ("inbox",), lang)}
        subject = _one_line(self.text_env.get_template(name).render(part="subject", **context))
        if traits(channel).message == "short_text":
            sms = _one_line(self.text_env.get_template(name).render(part="sms", **context))
            return Rendered(subject=None, text=sms[:SMS_MAX_CHARS])
        text = _tidy(self.text_env.get_template(name).render(part="text", **context))
        html = self.html_env.get_template(name).render(part="html", **context).strip()
        return Rendered(subject=subject, text=text, html=html)


def page_of(event_type: str, data: EventData) -> tuple[str, ...]:
    """The console page a notice links to: the tip, the unit, the awards awaiting decision, else the inbox."""
    fields = data.model_dump()
    if event_type.startswith("antq.tips.") and fields.get("tip_id"):
        return ("tips", str(fields["tip_id"]))
    if event_type.startswith("antq.awards."):
        return ("awards",)
    if event_type.startswith("antq.units.") and fields.get("unit_id"):
        return ("units", str(fields["unit_id"]))
    return ("inbox",)


class Wording:
    """The words a template calls things by, in one language: units, places, tips, categories and awards."""

    def __init__(self, lang: str, names: Names, label: Any, place_label: AreaLabel) -> None:
        self.vi = lang == "vi"
        self.lang = lang
        self.names = names
        self.label = label
        self.place_label = place_label

    def helpers(self) -> dict[str, Any]:
        return {"unit": self.unit, "unit_at": self.unit_at, "place": self.place, "tip": self.tip,
                "category": self.category, "incident": self.incident, "award": self.award,
                "recipient": self.recipient, "award_level": self.award_level, "received": self.received,
                "denial": self.denial,
                "cap": _cap}

    def place(self, code: str | None) -> str:
        return self.place_label(code, self.lang)

    def unit(self, unit_id: str | None) -> str:
        entry = self.names.units.get(str(unit_id))
        if entry is not None and entry.name:
            return entry.name
        return "một đơn vị chưa có trong danh bạ" if self.vi else "a unit not yet in the directory"

    def unit_at(self, unit_id: str | None) -> str:
        """The unit's name with its kind and place: "Công ty A (doanh nghiệp, Phường Bến Thành, …)"."""
        entry = self.names.units.get(str(unit_id))
        if entry is None or not entry.name:
            return self.unit(unit_id)
        about = [self.label("unit_kind", entry.kind)] if entry.kind else []
        if entry.area_code:
            about.append(self.place(entry.area_code))
        return f"{entry.name} ({', '.join(about)})" if about else entry.name

    def category(self, code: str | None) -> str:
        return str(self.label("tip_category", code))

    def incident(self, code: str | None) -> str:
        return str(self.label("incident_category", code))

    def award_level(self, code: str | None) -> str:
        return str(self.label("award_level", code))

    def tip(self, tip_id: str | None, category: str | None = None, area: str | None = None) -> str:
        """"tin báo về Trộm cắp tài sản tại Phường Bến Thành, …": from the event's fields, else the directory."""
        entry = self.names.tips.get(str(tip_id))
        category = category or (entry.category if entry else None)
        area = area or (entry.area_code if entry else None)
        words = "tin báo" if self.vi else "the tip"
        if category:
            words += (" về " if self.vi else " about ") + self.category(category)
        if area:
            words += (" tại " if self.vi else " in ") + self.place(area)
        return words

    def denial(self, reason: str) -> str:
        """One reason of a `CertificationDenied` (`disqualifying_incident:<category>`, `criterion_not_met:<code>`,
        `appraisal:not_recommended`, `note:<text>` ...) in words."""
        kind, colon, value = reason.partition(":")
        if not colon:
            return reason
        if kind == "disqualifying_incident":
            value = self.incident(value)
        elif kind != "note":
            value = str(self.label("denial_value", value))
        return f"{_cap(str(self.label('denial_reason', kind)))}: {value}"

    def received(self, tip_id: str | None) -> datetime | None:
        """When the tip was received, as the directory knows it (for deadline notices)."""
        entry = self.names.tips.get(str(tip_id))
        return entry.received_at if entry else None

    def award(self, award_id: str | None, award_type: str | None = None, year: int | None = None) -> str:
        """"Giấy khen năm 2026": the award's title and year, from the event's fields, else the directory."""
        entry = self.names.awards.get(str(award_id))
        award_type = award_type or (entry.award_type if entry else None)
        year = year or (entry.year if entry else None)
        if not award_type:
            return "khen thưởng" if self.vi else "award"
        title = str(self.label("award_type", award_type))
        if year:
            title += f" năm {year}" if self.vi else f" ({year})"
        return title

    def recipient(self, award_id: str | None, kind: str | None = None, ref: str | None = None) -> str:
        """Whom an award is for: a unit by name; a person or a reporter in words only (a reporter's
        reference is a key to their tip and never shown)."""
        entry = self.names.awards.get(str(award_id))
        kind = kind or (entry.recipient_kind if entry else None)
        ref = ref or (entry.recipient_ref if entry else None)
        if kind == "unit":
            return self.unit_at(ref)
        if kind == "reporter":
            return "người báo tin có tin báo giá trị" if self.vi else "the reporter of a valuable tip"
        if kind == "person":
            return "một cá nhân" if self.vi else "an individual"
        return "người được đề nghị" if self.vi else "the nominee"


def _cap(text: str) -> str:
    """First letter upper case, the rest as it is (names keep their capitals)."""
    return text[:1].upper() + text[1:]


def _shorten(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(size - 1, 0)] + "…"


def event_data(event_type: str, data: Mapping[str, Any]) -> EventData:
    """The event's data through its catalogue model: known fields only, validated."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise NotFound(f"unknown event type {event_type!r}", code="unknown_event_type")
    return model.model_validate(data)


def webhook_body(event: Mapping[str, Any] | BaseModel) -> bytes:
    """The CloudEvent a webhook receives, as the exact bytes that are signed.

    Its `data` keeps only the catalogue's fields, so an extension meant for notify itself (a reporter's
    pseudonymous reference) never leaves the platform.
    """
    envelope = event.model_dump(mode="json", exclude_none=True) if isinstance(event, BaseModel) else dict(event)
    model = EVENT_TYPES.get(str(envelope.get("type", "")))
    if model is not None:
        envelope["data"] = model.model_validate(envelope.get("data", {})).model_dump(mode="json", exclude_none=True)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


_SEPARATOR = "\x1f"  # ASCII unit separator: between the subject and the summary of the "inbox" part


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    """Strip trailing spaces and runs of blank lines that conditional template lines leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


@lru_cache(maxsize=1)
def default_templates() -> Templates:
    return Templates()


def render_digest(channel: ChannelName, lang: Language, day: date, items: Sequence[tuple[str, str]]) -> Rendered:
    """The daily digest of one recipient on one channel."""
    return default_templates().render_digest(channel, lang, day, items)


def render(event_type: str, channel: ChannelName, lang: Language, event: Mapping[str, Any] | BaseModel,
           names: Names = NO_NAMES) -> Rendered:
    """Subject, text and HTML of the notice for one event on one channel in one language."""
    return default_templates().render(event_type, channel, lang, event, names)
