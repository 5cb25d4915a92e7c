"""The movement's report from the services' `/stats` answers: known figures by label, unknown ones by key, numbers
as people read them, the chart readable without colour, and the XLSX and PDF holding the same numbers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook
from pypdf import PdfReader

from services.console.domain import report_files, reports

MADE = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # after assessment year 2026 ended: a year-end report

UNITS = {"year": 2026, "area_code": "79", "kind": None,
         "units": {"total": 25_000, "in_scope": 24_990, "by_kind": {"agency": 1645, "enterprise": 21_500,
                                                                    "school": 1855}},
         "cycles": {"registered": 24_000, "recognised": 20_000, "recognition_rate": 0.8003,
                    "recognised_by_rating": {"good": 20_000}},
         "models": {"distinct_models": 779, "sites": 4600, "units_with_model": 4000},
         "activities": {"propaganda_sessions": 28_778, "propaganda_participants": 1_800_000,
                        "by_kind": {"propaganda_session": {"count": 28_778, "participants": 1_800_000},
                                    "ve_sinh_moi_truong": {"count": 3, "participants": 90, "hours": 12}}},
         "incidents": {"strikes_prevented": 40},
         "brand_new": {"figure": 7}}
TIPS = {"year": 2026, "period": {"from": "2025-11-16", "to": "2026-11-15"}, "received": 1464, "valuable": 828,
        "valuable_rate": 0.5656, "by_category": {"theft": 10, "new_category": 2}, "by_area": {"79.26743": 9}}
AWARDS = {"year": 2026, "totals": {"proposed": 20, "approved": 16, "granted": 10},
          "collectives": {"approved": 6}, "individuals": {"approved": 10}, "by_type": {"giay_khen": {"approved": 16}}}
BEFORE = {"units": {**UNITS, "activities": {"propaganda_sessions": 2000, "propaganda_participants": 150_000}},
          "tips": {"received": 1000, "valuable": 700}}


def _report(lang: str = "vi") -> reports.Report:
    return reports.build({"units": UNITS, "tips": TIPS, "awards": AWARDS}, BEFORE, year=2026, area_code="79",
                         lang=lang, made_at=MADE, names={"category": {"theft": "Trộm cắp tài sản"}})


def _rows(report: reports.Report) -> dict[str, reports.Row]:
    return {row.key: row for _, row in reports.iter_rows(report)}


def test_flatten_keeps_every_number_by_key_and_drops_the_query_echo() -> None:
    flat = reports.flatten("tips", TIPS)
    assert flat["tips.received"] == 1464 and flat["tips.by_area.79.26743"] == 9
    assert not any(k.startswith(("tips.year", "tips.period")) for k in flat)


def test_known_figures_get_labels_and_unknown_ones_are_shown_by_key() -> None:
    rows = _rows(_report())
    assert rows["units.activities.propaganda_participants"].label == "Lượt người tham dự tuyên truyền"
    assert (rows["units.activities.propaganda_participants"].current,
            rows["units.activities.propaganda_participants"].previous) == (1_800_000, 150_000)
    assert rows["tips.by_category.theft"].label.endswith("Trộm cắp tài sản")
    assert rows["tips.by_category.new_category"].label.endswith("new_category")  # an unknown code: the code
    # A new activity kind of the units service: a line per metric, named by its key.
    assert "ve_sinh_moi_truong" in rows["units.activities.by_kind.ve_sinh_moi_truong.count"].label
    # ... and a new metric of a kind, named by its key in the same section.
    assert rows["units.activities.by_kind.ve_sinh_moi_truong.hours"].label.endswith("(hours)")
    # A figure no section names is printed with its key, in the last section.
    other = _report().sections[-1]
    assert other.code == "other" and [r.key for r in other.rows] == ["units.brand_new.figure"]
    assert "tips.by_area.79.26743" not in rows  # detail kept for the data sheet only
    assert rows["tips.valuable"].change == 128
    assert rows["awards.collectives.approved"].previous is None  # the year before had no awards answer


def test_numbers_read_as_people_write_them() -> None:
    assert reports.number(1_800_000, "vi") == "1.800.000"
    assert reports.number(1_800_000, "en") == "1,800,000"
    assert reports.number(0.5656, "vi", share=True) == "56,6 %"
    assert reports.number(128, "vi", signed=True) == "+128"
    assert reports.number(0, "vi", signed=True) == "0"
    assert reports.number(None, "vi") == "—"


def test_the_chart_reads_without_colour() -> None:
    report = _report()
    section = next(s for s in report.sections if s.code == "activities")
    svg = reports.chart_svg(section, report, title="Biểu đồ <tuyên truyền>", legend=("Năm 2026", "Năm 2025"))
    assert svg is not None
    assert "&lt;tuyên truyền&gt;" in svg  # text is escaped
    assert 'fill="url(#chart-activities-hatch)"' in svg  # the previous year is hatched, not another colour
    assert ">1.800.000<" in svg and ">150.000<" in svg  # every bar has its number written beside it


def test_the_workbook_holds_every_figure_of_stats_exactly() -> None:
    report = _report()
    book = load_workbook(io.BytesIO(report_files.xlsx(report)))
    data = {r[0]: (r[1], r[2]) for r in book["Số liệu"].iter_rows(min_row=2, values_only=True)}
    expected = {**reports.flatten("units", UNITS), **reports.flatten("tips", TIPS),
                **reports.flatten("awards", AWARDS)}
    assert {k: v[0] for k, v in data.items() if v[0] is not None} == expected
    assert data["tips.valuable"] == (828, 700)
    labels = {r[1].strip(): r[2] for r in book["Báo cáo"].iter_rows(values_only=True)
              if isinstance(r[0], int) and isinstance(r[1], str)}
    assert labels["Tin có giá trị"] == 828 and labels["Tỷ lệ tin có giá trị"] == 0.5656
    assert book["Báo cáo"]["A2"].value == "BÁO CÁO TỔNG KẾT"


def test_the_pdf_is_a_summary_report_with_its_vietnamese_words_intact() -> None:
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(report_files.pdf(_report()))).pages)
    for words in ("CÔNG AN THÀNH PHỐ HỒ CHÍ MINH", "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", "BÁO CÁO TỔNG KẾT",
                  "Độc lập - Tự do - Hạnh phúc", "Điểm nhân rộng mô hình", "units.brand_new.figure"):
        assert words in text
    line = next(line for line in text.splitlines() if "Lượt người tham dự tuyên truyền" in line)
    assert line.split("Lượt người tham dự tuyên truyền", 1)[1].split() == ["1.800.000", "150.000", "+1.650.000"]
    english = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(report_files.pdf(_report("en")))).pages)
    assert "YEAR-END REPORT" in english and "1,800,000" in english


def test_no_text_becomes_a_formula_in_the_workbook() -> None:
    report = _report()
    report.sections[0].rows.append(reports.Row("tips.by_category.=1+1", '=HYPERLINK("http://x","y")', 1, 0))
    book = load_workbook(io.BytesIO(report_files.xlsx(report)))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)


def test_a_breakdown_answered_as_plain_numbers_is_still_printed_by_name() -> None:
    units = {**UNITS, "activities": {"by_kind": {"drill": 4, "tuan_tra": 2}}}
    rows = _rows(reports.build({"units": units}, {}, year=2026, area_code="79", lang="vi", made_at=MADE))
    assert rows["units.activities.by_kind.drill"].label == "Hoạt động theo loại: Diễn tập"
    assert rows["units.activities.by_kind.tuan_tra"].current == 2


def test_the_report_says_when_the_units_figures_were_computed_in_vietnam_time() -> None:
    at = {**UNITS, "computed_at": "2026-12-03T06:59:30Z"}
    report = reports.build({"units": at, "tips": TIPS}, BEFORE, year=2026, area_code="79", lang="vi", made_at=MADE)
    assert report.figures_at == datetime(2026, 12, 3, 6, 59, 30, tzinfo=UTC)
    assert report.figures_at_text() == "13:59 03/12/2026"
    assert "units.computed_at" not in report.current  # a time, not a figure
    # Not said (an older service), or not a time with its zone: nothing is shown.
    for value in (None, "yesterday", "2026-12-03T06:59:30", 1234):
        stats = {**UNITS, "computed_at": value}
        assert reports.build({"units": stats}, {}, year=2026, area_code="79", lang="vi",
                             made_at=MADE).figures_at_text() is None
