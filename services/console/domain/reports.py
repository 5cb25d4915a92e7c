"""The movement's report: the figures of the units, tips and awards services' `GET /stats` for a year and an area,
side by side with the previous year, as a police summary report (*báo cáo sơ kết / tổng kết*).

Pure: it takes the three `/stats` answers (plain JSON) and builds the report's lines; `report_files` prints them
to XLSX and PDF and `chart_svg` draws them. No figure is computed here: every number is one of the services'.

The figures a report prints are named in one table, `SECTIONS` (a known key's label in Vietnamese and English).
A figure the table does not name (a service answering a new key) is still printed, with its key, in the last
section, so a new figure never breaks the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared import places
from shared.calendar import VN_TZ, assessment_period

SOURCES = ("units", "tips", "awards")
Number = int | float


def flatten(source: str, stats: Mapping[str, Any]) -> dict[str, Number]:
    """Every number of one `/stats` answer by its dotted key, prefixed with the service ("units.cycles.recognised",
    "tips.by_category.theft"); the query's echo (year, area, kind, category, period) is not a figure."""
    out: dict[str, Number] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            out[prefix] = value
        elif isinstance(value, Mapping):
            for key, child in value.items():
                walk(f"{prefix}.{key}", child)

    for key, value in stats.items():
        if key not in ("year", "area_code", "kind", "category", "period"):
            walk(f"{source}.{key}", value)
    return out


# --- what the report prints ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One known figure: its key in the flattened `/stats`, its label, whether it is a share (0..1)."""

    key: str
    vi: str
    en: str
    share: bool = False
    chart: bool = True


@dataclass(frozen=True)
class Breakdown:
    """A figure broken down by the keys of one mapping (unit kinds, tip categories, activity kinds...): one line
    per key found, named by `names` (a group of `NAMES`) or, for an unknown key, by the key itself. `metric`
    picks one number of each child when the children are mappings themselves (awards' counts by type)."""

    prefix: str
    vi: str
    en: str
    names: str
    metrics: tuple[tuple[str, str, str], ...] = ()  # (metric key, vi, en) of mapping children
    other_metrics: bool = False  # also a line for each metric a child has beyond `metrics`, named by its key


@dataclass(frozen=True)
class Section:
    code: str
    vi: str
    en: str
    items: tuple[Line | Breakdown, ...]


SECTIONS: tuple[Section, ...] = (
    Section("units", "Cơ quan, doanh nghiệp, nhà trường thuộc diện", "Agencies, enterprises and schools in scope", (
        Line("units.units.in_scope", "Đơn vị thuộc diện xây dựng phong trào", "Units in scope of the movement"),
        Breakdown("units.units.by_kind", "Đơn vị theo loại hình", "Units by kind", "unit_kind"),
        Line("units.cycles.registered", "Đơn vị đăng ký đạt chuẩn “An toàn về ANTT”",
             "Units registered for the “safe for security and order” standard"),
        Line("units.cycles.recognised", "Đơn vị được công nhận đạt chuẩn “An toàn về ANTT”",
             "Units recognised “safe for security and order”"),
        Breakdown("units.cycles.recognised_by_rating", "Công nhận theo xếp loại", "Recognised, by rating", "rating"),
        Line("units.cycles.not_recognised", "Đơn vị không được công nhận", "Units not recognised"),
        Line("units.cycles.revoked", "Công nhận bị thu hồi", "Recognitions revoked"),
        Line("units.cycles.registration_rate", "Tỷ lệ đăng ký", "Registration rate", share=True, chart=False),
        Line("units.cycles.recognition_rate", "Tỷ lệ được công nhận", "Recognition rate", share=True, chart=False),
    )),
    Section("activities", "Tuyên truyền, vận động", "Propaganda and mobilisation", (
        Line("units.activities.propaganda_sessions", "Buổi tuyên truyền, phổ biến pháp luật",
             "Propaganda and legal-education sessions"),
        Line("units.activities.propaganda_participants", "Lượt người tham dự tuyên truyền",
             "Participants in propaganda sessions"),
        Line("units.activities.commitments_signed", "Lượt ký cam kết", "Commitments signed"),
        Breakdown("units.activities.by_kind", "Hoạt động theo loại", "Activities by kind", "activity_kind",
                  metrics=(("count", "số buổi", "sessions"), ("participants", "lượt người", "participants")),
                  other_metrics=True),
    )),
    Section("models", "Mô hình tự quản, tự phòng", "Self-management models", (
        Line("units.models.distinct_models", "Mô hình", "Models"),
        Line("units.models.sites", "Điểm nhân rộng mô hình", "Sites running a model"),
        Line("units.models.units_with_model", "Đơn vị có mô hình", "Units running a model"),
    )),
    Section("tips", "Cung cấp nguồn tin về tội phạm", "Tips about crime", (
        Line("tips.received", "Tin báo, tố giác tiếp nhận", "Tips received"),
        Line("tips.verified", "Tin đã xác minh", "Tips verified"),
        Line("tips.valuable", "Tin có giá trị", "Valuable tips"),
        Line("tips.valuable_rate", "Tỷ lệ tin có giá trị", "Share of valuable tips", share=True, chart=False),
        Line("tips.overdue_now", "Tin đang quá hạn giải quyết", "Tips overdue now"),
        Breakdown("tips.by_category", "Tin báo theo loại vụ việc", "Tips by category", "category"),
    )),
    Section("incidents", "Vụ việc tại đơn vị", "Incidents at units", (
        Line("units.incidents.total", "Vụ việc xảy ra", "Incidents"),
        Line("units.incidents.disqualifying", "Vụ việc làm mất chuẩn ANTT", "Disqualifying incidents"),
        Line("units.incidents.strikes_prevented", "Vụ đình công được ngăn chặn", "Strikes prevented"),
        Line("units.incidents.strikes_stabilised", "Vụ ngừng việc được ổn định", "Strikes stabilised"),
    )),
    Section("awards", "Khen thưởng", "Commendations", (
        Line("awards.collectives.approved", "Tập thể được khen thưởng", "Collectives commended"),
        Line("awards.individuals.approved", "Cá nhân được khen thưởng", "Individuals commended"),
        Line("awards.totals.proposed", "Đề nghị khen thưởng", "Awards proposed"),
        Line("awards.totals.granted", "Đã trao giấy khen, bằng khen", "Certificates granted"),
        Line("awards.totals.annulled", "Khen thưởng bị huỷ", "Awards annulled"),
        Breakdown("awards.by_type", "Khen thưởng theo hình thức", "Commendations by form", "award_type",
                  metrics=(("approved", "", ""),)),
    )),
)

# Breakdowns kept for the data sheet only (by area, by year, by status...): printed in full there, not in the
# report's sections, so the report stays a summary.
DETAIL_ONLY: tuple[str, ...] = (
    "units.units.total", "units.units.active", "units.units.dissolved", "units.units.out_of_scope",
    "units.units.out_of_scope_by_rule", "units.cycles.registered_late", "units.cycles.by_state",
    "units.cycles.not_recognised_by_", "units.incidents.by_category",
    "tips.anonymous", "tips.with_unit", "tips.by_unit_kind", "tips.by_channel", "tips.by_priority", "tips.by_area",
    "tips.by_status", "tips.valuable_by_category", "tips.by_outcome", "tips.missed_",
    "awards.totals.", "awards.collectives.", "awards.individuals.", "awards.by_type.", "awards.by_level",
    "awards.by_area", "awards.by_year", "awards.by_recipient_kind",
)

OTHER = Section("other", "Số liệu khác (theo mã)", "Other figures (by key)", ())

# Names of the keys of breakdowns, for those the services answer as codes.
NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "unit_kind": {"agency": ("Cơ quan", "Agencies"), "enterprise": ("Doanh nghiệp", "Enterprises"),
                  "school": ("Nhà trường, cơ sở giáo dục", "Schools")},
    "rating": {"excellent": ("Xuất sắc", "Excellent"), "good": ("Khá", "Good"), "pass": ("Đạt", "Pass"),
               "unrated": ("Không xếp loại", "Unrated")},
    "activity_kind": {"propaganda_session": ("Tuyên truyền", "Propaganda"), "training": ("Tập huấn", "Training"),
                      "commitment_drive": ("Ký cam kết", "Commitment drive"), "drill": ("Diễn tập", "Drill")},
    "award_type": {},  # filled from the awards rules' names when the page knows them; else the code
}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    current: Number | None
    previous: Number | None
    share: bool = False
    chart: bool = True
    indent: bool = False

    @property
    def change(self) -> Number | None:
        if self.current is None or self.previous is None:
            return None
        diff = self.current - self.previous
        return round(diff, 4) if isinstance(diff, float) else diff


@dataclass
class ReportSection:
    code: str
    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Report:
    year: int
    area_code: str | None
    lang: str
    made_at: datetime
    sections: list[ReportSection]
    current: dict[str, Number]   # every figure of the year (the data sheet)
    previous: dict[str, Number]  # every figure of the previous year
    # When the units service computed the year's figures (its `/stats` `computed_at`: a nation's or a province's
    # come from a snapshot up to a minute old); None when it did not say.
    figures_at: datetime | None = None

    @property
    def previous_year(self) -> int:
        return self.year - 1

    @property
    def final(self) -> bool:
        """A year-end report (*tổng kết*) once the assessment year is over, an interim one (*sơ kết*) before."""
        return self.made_at.astimezone(VN_TZ).date() > assessment_period(self.year)[1]

    @property
    def period(self) -> tuple[date, date]:
        first, last = assessment_period(self.year)
        today = self.made_at.astimezone(VN_TZ).date()
        return first, min(last, today)

    def place(self) -> str:
        return area_name(self.area_code, self.lang)

    def figures_at_text(self) -> str | None:
        """"14:05 03/12/2026" in Vietnam time, or None."""
        return f"{self.figures_at.astimezone(VN_TZ):%H:%M %d/%m/%Y}" if self.figures_at is not None else None

    def figure_keys(self) -> list[str]:
        return sorted(set(self.current) | set(self.previous))


def area_name(code: str | None, lang: str) -> str:
    if not code:
        return "Toàn quốc" if lang == "vi" else "Nationwide"
    return places.area_label(code, lang)


def authority(code: str | None) -> str:
    """The reporting police authority as a report's heading names it: "CÔNG AN THÀNH PHỐ HỒ CHÍ MINH"."""
    found = places.place(code) if code else None
    if found is None:
        return "BỘ CÔNG AN"
    return f"CÔNG AN {found.name}".upper()


def _label(item: Line | Breakdown, lang: str) -> str:
    return item.vi if lang == "vi" else item.en


def name_of(group: str, key: str, lang: str, extra: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """A breakdown key's name: from the page's own lists (categories...), then `NAMES`, else the key itself."""
    known = (extra or {}).get(group, {}).get(key)
    if known:
        return known if isinstance(known, str) else str(known)
    pair = NAMES.get(group, {}).get(key)
    if pair:
        return pair[0] if lang == "vi" else pair[1]
    return key


def _children(flat: Mapping[str, Number], prefix: str) -> list[str]:
    """The keys one level below `prefix` in a flattened answer, in first-seen order."""
    seen: dict[str, None] = {}
    for key in flat:
        if key.startswith(prefix + "."):
            seen.setdefault(key[len(prefix) + 1:].split(".", 1)[0], None)
    return list(seen)


def build(stats: Mapping[str, Mapping[str, Any]], previous: Mapping[str, Mapping[str, Any]], *, year: int,
          area_code: str | None, lang: str, made_at: datetime,
          names: Mapping[str, Mapping[str, str]] | None = None) -> Report:
    """The report from the three services' `/stats` of the year and of the year before (by service name)."""
    now: dict[str, Number] = {}
    before: dict[str, Number] = {}
    for source in SOURCES:
        now.update(flatten(source, stats.get(source, {})))
        before.update(flatten(source, previous.get(source, {})))
    keys = list(dict.fromkeys([*now, *before]))
    shown: set[str] = set()
    sections: list[ReportSection] = []
    for section in SECTIONS:
        out = ReportSection(section.code, section.vi if lang == "vi" else section.en)
        for item in section.items:
            if isinstance(item, Line):
                if item.key in now or item.key in before:
                    out.rows.append(Row(item.key, _label(item, lang), now.get(item.key), before.get(item.key),
                                        share=item.share, chart=item.chart))
                    shown.add(item.key)
                continue
            for child in _children({k: 0 for k in keys}, item.prefix):
                name = name_of(item.names, child, lang, names)
                base = f"{item.prefix}.{child}"
                leaf = base in now or base in before  # a number per key, not a mapping of metrics
                metrics = (("", "", ""),) if leaf or not item.metrics else item.metrics
                if item.other_metrics and not leaf:
                    known = {m for m, _, _ in metrics}
                    metrics = (*metrics, *((m, m, m) for m in _children({k: 0 for k in keys}, base)
                                           if m not in known))
                for metric, vi, en in metrics:
                    key = f"{base}.{metric}" if metric else base
                    if key not in now and key not in before:
                        continue
                    what = vi if lang == "vi" else en
                    label = f"{_label(item, lang)}: {name}" + (f" ({what})" if what else "")
                    out.rows.append(Row(key, label, now.get(key), before.get(key), indent=True))
                    shown.add(key)
        if out.rows:
            sections.append(out)
    other = ReportSection(OTHER.code, OTHER.vi if lang == "vi" else OTHER.en)
    for key in keys:
        if key not in shown and not key.startswith(DETAIL_ONLY):
            other.rows.append(Row(key, key, now.get(key), before.get(key), chart=False))
    if other.rows:
        sections.append(other)
    return Report(year=year, area_code=area_code, lang=lang, made_at=made_at, sections=sections, current=now,
                  previous=before, figures_at=_instant(stats.get("units", {}).get("computed_at")))


def _instant(value: Any) -> datetime | None:
    """An aware time from a `/stats` answer's `computed_at`, or None (absent, or not a time with a zone)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# --- how numbers read ----------------------------------------------------------------------------------------
def number(value: Number | None, lang: str, *, share: bool = False, signed: bool = False) -> str:
    """25.000 (vi) / 25,000 (en); shares as 85,0 % / 85.0 %; "—" for a figure the service did not answer."""
    if value is None:
        return "—"
    signed = signed and value != 0
    if share:
        text = f"{value * 100:{'+' if signed else ''},.1f} %"
    elif isinstance(value, float) and not value.is_integer():
        text = f"{value:{'+' if signed else ''},.2f}"
    else:
        text = f"{int(value):{'+' if signed else ''},}"
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def iter_rows(report: Report) -> Iterator[tuple[ReportSection, Row]]:
    for section in report.sections:
        for row in section.rows:
            yield section, row


# --- the chart -----------------------------------------------------------------------------------------------
BAR_W = 300


def chart_rows(section: ReportSection) -> list[Row]:
    """The lines of a section a chart draws: counts (not shares) that are not zero in both years."""
    return [r for r in section.rows if r.chart and not r.share and (r.current or r.previous)]


def chart_svg(section: ReportSection, report: Report, *, title: str, legend: tuple[str, str]) -> str | None:
    """One section's figures as paired horizontal bars, the year (solid) above the previous year (hatched), each
    bar with its number written beside it and each pair scaled to its own larger value: it reads in black and
    white, and the figures of different sizes (units and participants) each stay legible. None: nothing to draw."""
    rows = chart_rows(section)
    if not rows:
        return None
    from html import escape

    label_w, row_h, top = 330, 46, 34
    width, height = label_w + BAR_W + 110, top + row_h * len(rows) + 8
    ident = f"chart-{section.code}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-title" id="{ident}" font-family="sans-serif" font-size="13">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<defs><pattern id="{ident}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#222" stroke-width="2.5"/></pattern></defs>',
        f'<rect x="{label_w}" y="6" width="14" height="12" fill="#1f3a5f" stroke="#000"/>'
        f'<text x="{label_w + 20}" y="16">{escape(legend[0])}</text>',
        f'<rect x="{label_w + 130}" y="6" width="14" height="12" fill="url(#{ident}-hatch)" stroke="#000"/>'
        f'<text x="{label_w + 150}" y="16">{escape(legend[1])}</text>',
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        most = max(row.current or 0, row.previous or 0) or 1
        label = row.label if len(row.label) <= 46 else row.label[:45] + "…"
        parts.append(f'<text x="0" y="{y + 22}">{escape(label)}</text>')
        for j, (value, fill) in enumerate(((row.current, "#1f3a5f"), (row.previous, f"url(#{ident}-hatch)"))):
            w = max(1.0, BAR_W * (value or 0) / most)
            by = y + 3 + j * 19
            parts.append(f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="16" fill="{fill}" stroke="#000"/>')
            parts.append(f'<text x="{label_w + w + 6:.1f}" y="{by + 13}">'
                         f'{escape(number(value, report.lang))}</text>')
    parts.append("</svg>")
    return "".join(parts)
