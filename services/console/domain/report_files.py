"""The movement's report as files: an XLSX workbook (openpyxl) and a PDF laid out like a police summary report
(fpdf2, with DejaVu Sans from `fonts/` for the Vietnamese letters). Pure: a `reports.Report` in, bytes out.

The workbook has two sheets: the report as people read it ("Báo cáo"), and every number of the three services'
`/stats` answers by key for the year and the year before ("Số liệu"), exactly as the services gave them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from services.console.domain.reports import Report, ReportSection, area_name, authority, chart_rows, number
from shared.calendar import VN_TZ

FONTS = Path(__file__).resolve().parents[1] / "fonts"

WORDS: dict[str, dict[str, str]] = {
    "vi": {"sheet": "Báo cáo", "data": "Số liệu", "no": "STT", "figure": "Chỉ tiêu", "year": "Năm {y}",
           "change": "Tăng, giảm", "key": "Mã số liệu", "source": "Nguồn: GET /stats của các dịch vụ "
           "units, tips, awards", "made": "Lập lúc {at} (giờ Việt Nam, UTC+7)", "area": "Địa bàn: {area}",
           "period": "Kỳ báo cáo: từ ngày {start} đến ngày {end}", "final": "BÁO CÁO TỔNG KẾT",
           "interim": "BÁO CÁO SƠ KẾT",
           "subject": "Phong trào toàn dân bảo vệ an ninh Tổ quốc trong cơ quan, doanh nghiệp, nhà trường năm {y}",
           "results": "KẾT QUẢ THỰC HIỆN", "nation": "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
           "motto": "Độc lập - Tự do - Hạnh phúc", "dated": "{place}, ngày {d:%d} tháng {d:%m} năm {d:%Y}",
           "page": "Trang {n}", "recipients": "Nơi nhận:", "recipients_list": "- Ban Chỉ đạo 138 cấp trên;\n"
           "- Lưu: VT, đơn vị xây dựng phong trào.", "note": "Số liệu lấy trực tiếp từ hệ thống antq; so sánh với "
           "cùng kỳ năm {p}."},
    "en": {"sheet": "Report", "data": "Figures", "no": "No.", "figure": "Figure", "year": "Year {y}",
           "change": "Change", "key": "Figure key", "source": "Source: GET /stats of the units, tips and "
           "awards services", "made": "Made {at} (Vietnam time, UTC+7)", "area": "Area: {area}",
           "period": "Period: {start} to {end}", "final": "YEAR-END REPORT", "interim": "INTERIM REPORT",
           "subject": "The all-people movement to protect national security in agencies, enterprises and schools, "
                      "{y}", "results": "RESULTS", "nation": "SOCIALIST REPUBLIC OF VIETNAM",
           "motto": "Independence - Freedom - Happiness", "dated": "{place}, {d:%d/%m/%Y}", "page": "Page {n}",
           "recipients": "To:", "recipients_list": "- The higher-level steering committee 138;\n- Archive.",
           "note": "Figures taken directly from antq; compared with the same period of {p}."},
}


def _made(report: Report) -> str:
    return f"{report.made_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}"


def _period(report: Report) -> str:
    first, last = report.period
    return WORDS[report.lang]["period"].format(start=f"{first:%d/%m/%Y}", end=f"{last:%d/%m/%Y}")


_BOLD = Font(bold=True)
_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


def xlsx(report: Report) -> bytes:
    w = WORDS[report.lang]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = w["sheet"]
    _xlsx_heading(sheet, report, w)
    for s, section in enumerate(report.sections):
        _xlsx_section(sheet, s, section)
    sheet.append([])
    sheet.append([w["source"]])
    for col, width in zip("ABCDE", (6, 70, 14, 14, 16), strict=True):
        sheet.column_dimensions[col].width = width
    sheet.freeze_panes = "C9"
    data = _xlsx_figures(book.create_sheet(w["data"]), report, w)
    for ws in (sheet, data):
        _text_stays_text(ws)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_heading(sheet: Any, report: Report, w: dict[str, str]) -> None:
    """The report's title lines and the table's header row."""
    sheet.append([authority(report.area_code)])
    sheet.append([(w["final"] if report.final else w["interim"])])
    sheet.append([w["subject"].format(y=report.year)])
    sheet.append([w["area"].format(area=report.place())])
    sheet.append([_period(report)])
    sheet.append([w["made"].format(at=_made(report))])
    for r in range(1, 4):
        sheet.cell(r, 1).font = Font(bold=True, size=13 if r == 2 else 11)
    sheet.append([])
    header = [w["no"], w["figure"], w["year"].format(y=report.year), w["year"].format(y=report.previous_year),
              w["change"]]
    sheet.append(header)
    for c in range(1, 6):
        cell = sheet.cell(sheet.max_row, c)
        cell.font, cell.border = _BOLD, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _xlsx_section(sheet: Any, s: int, section: ReportSection) -> None:
    """One section of the table: its numbered title row, then its figures, boxed."""
    sheet.append([_ROMAN[s] if s < len(_ROMAN) else str(s + 1), section.title])
    for c in (1, 2):
        sheet.cell(sheet.max_row, c).font = _BOLD
    for n, row in enumerate(section.rows, start=1):
        sheet.append([n, ("   " if row.indent else "") + row.label, row.current, row.previous, row.change])
        for c in range(3, 6):
            sheet.cell(sheet.max_row, c).number_format = "0.0%" if row.share else "#,##0"
    for r in range(sheet.max_row - len(section.rows), sheet.max_row + 1):
        for c in range(1, 6):
            sheet.cell(r, c).border = _BOX


def _xlsx_figures(data: Any, report: Report, w: dict[str, str]) -> Any:
    """The second sheet: every number of the services' `/stats` answers by key, for the year and the one before."""
    data.append([w["key"], w["year"].format(y=report.year), w["year"].format(y=report.previous_year)])
    for c in range(1, 4):
        data.cell(1, c).font = _BOLD
    for key in report.figure_keys():
        data.append([key, report.current.get(key), report.previous.get(key)])
    for i, width in enumerate((48, 14, 14), start=1):
        data.column_dimensions[get_column_letter(i)].width = width
    return data


def _text_stays_text(ws: Any) -> None:
    """No text becomes a formula ("=..." from a service's key or name): text stays text."""
    for cells in ws.iter_rows():
        for cell in cells:
            if cell.data_type == "f":
                cell.data_type = "s"


class _Pdf(FPDF):
    def __init__(self, words: dict[str, str]):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.words = words
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(20, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 5, self.words["page"].format(n=self.page_no()), align="C")


def _chart(doc: FPDF, section: ReportSection, report: Report, legend: tuple[str, str]) -> None:
    """The section's chart as on the page: per figure the year's bar (solid) above the previous year's (hatched),
    each with its number, each pair scaled to its larger value: it prints in black and white."""
    rows = chart_rows(section)
    if not rows:
        return
    label_w, bar_w, bar_h, row_h = 78.0, 62.0, 3.2, 8.6
    if doc.get_y() + 8 + row_h * min(len(rows), 3) > doc.page_break_trigger:
        doc.add_page()
    doc.ln(2)
    doc.set_font("DejaVu", "", 7.5)
    x0 = doc.l_margin + label_w
    y = doc.get_y()
    doc.set_fill_color(40, 40, 40)
    doc.rect(x0, y + 0.6, 4, 2.8, style="DF")
    doc.text(x0 + 5.5, y + 3.2, legend[0])
    _hatched(doc, x0 + 34, y + 0.6, 4, 2.8)
    doc.text(x0 + 39.5, y + 3.2, legend[1])
    doc.set_y(y + 5)
    for row in rows:
        if doc.get_y() + row_h > doc.page_break_trigger:
            doc.add_page()
        y = doc.get_y()
        label = row.label
        if doc.get_string_width(label) > label_w - 3:
            while len(label) > 4 and doc.get_string_width(label + "…") > label_w - 3:
                label = label[:-1]
            label = label.rstrip() + "…"
        doc.text(doc.l_margin, y + 4.6, label)
        most = max(row.current or 0, row.previous or 0) or 1
        for j, value in enumerate((row.current, row.previous)):
            w = max(0.3, bar_w * (value or 0) / most)
            by = y + 0.6 + j * (bar_h + 0.8)
            if j == 0:
                doc.rect(x0, by, w, bar_h, style="DF")
            else:
                _hatched(doc, x0, by, w, bar_h)
            doc.text(x0 + w + 1.5, by + bar_h - 0.5, number(value, report.lang))
        doc.set_y(y + row_h)
    doc.set_fill_color(255, 255, 255)
    doc.ln(1)


def _hatched(doc: FPDF, x: float, y: float, w: float, h: float) -> None:
    """An outlined box filled with diagonal lines (the previous year's bars)."""
    doc.set_line_width(0.2)
    with doc.rect_clip(x, y, w, h):
        step = 1.2
        i = -h
        while i < w:
            doc.line(x + i, y + h, x + i + h, y)
            i += step
    doc.rect(x, y, w, h, style="D")


def pdf(report: Report) -> bytes:
    w = WORDS[report.lang]
    doc = _Pdf(w)
    doc.set_title(f"{w['final'] if report.final else w['interim']} {report.year} - {report.place()}")
    doc.set_creator("antq")
    doc.add_page()
    half = (doc.w - doc.l_margin - doc.r_margin) / 2
    top = doc.get_y()
    doc.set_font("DejaVu", "B", 10)
    doc.multi_cell(half - 5, 5, authority(report.area_code), align="C")
    doc.set_xy(doc.l_margin + half, top)
    doc.multi_cell(half, 5, w["nation"], align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    doc.multi_cell(half, 5, w["motto"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(3)
    doc.set_font("DejaVu", "", 10)
    place = area_name(report.area_code, report.lang).split(",")[-1].strip()
    doc.cell(0, 6, w["dated"].format(place=place, d=report.made_at.astimezone(VN_TZ)), align="R",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 14)
    doc.cell(0, 8, w["final"] if report.final else w["interim"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "B", 11)
    doc.multi_cell(0, 6, w["subject"].format(y=report.year), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "", 10)
    doc.cell(0, 6, w["area"].format(area=report.place()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.cell(0, 6, _period(report), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 11)
    doc.cell(0, 7, w["results"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    roman = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
    widths = (12, 86, 24, 24, 29)
    for s, section in enumerate(report.sections):
        doc.set_font("DejaVu", "B", 10)
        doc.ln(1)
        doc.multi_cell(0, 6, f"{roman[s] if s < len(roman) else s + 1}. {section.title}", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        doc.set_font("DejaVu", "", 9)
        with doc.table(col_widths=widths, text_align=("CENTER", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
                       line_height=5.2, first_row_as_headings=True) as table:
            table.row([w["no"], w["figure"], w["year"].format(y=report.year),
                       w["year"].format(y=report.previous_year), w["change"]])
            for n, row in enumerate(section.rows, start=1):
                table.row([str(n), ("  " if row.indent else "") + row.label,
                           number(row.current, report.lang, share=row.share),
                           number(row.previous, report.lang, share=row.share),
                           number(row.change, report.lang, share=row.share, signed=True)])
        _chart(doc, section, report, (w["year"].format(y=report.year), w["year"].format(y=report.previous_year)))
    doc.ln(4)
    doc.set_font("DejaVu", "", 9)
    doc.multi_cell(0, 5, w["note"].format(p=report.previous_year), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.multi_cell(0, 5, w["made"].format(at=_made(report)) + ". " + w["source"] + ".", new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 9)
    doc.cell(0, 5, w["recipients"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "", 9)
    doc.multi_cell(0, 5, w["recipients_list"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(doc.output())
